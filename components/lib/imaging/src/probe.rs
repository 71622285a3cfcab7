//! Format and pixel size from the first bytes and the headers, with no
//! decoder involved, so the pixel cap is checked before any allocation that
//! depends on the size (a 12-byte header may claim 80000x60000). (Same
//! code as image.thumb's `steps/probe.rs`.)

use drake_sdk::TaskError;

/// A supported source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// AV1 in HEIF: the container is read in the guest, the AV1 data is
    /// decoded natively ([`crate::native`]).
    Avif,
}

/// What the headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// Stored width (GIF and animated WebP: the canvas).
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// A progressive JPEG (its decoder needs more memory).
    pub progressive: bool,
    /// JPEG sample precision in bits (8 for every other format).
    pub precision: u8,
}

/// Sniff the format and read the size.
pub fn probe(bytes: &[u8]) -> Result<Header, TaskError> {
    let header = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        gif(bytes)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        webp(bytes)
    } else if crate::avif::sniff(bytes) {
        let avif = crate::avif::parse(bytes)
            .map_err(|e| TaskError::InvalidInput(format!("the image could not be decoded: {e}")))?;
        Some(Header {
            kind: Kind::Avif,
            width: avif.width,
            height: avif.height,
            progressive: false,
            precision: avif.depth,
        })
    } else {
        return Err(TaskError::InvalidInput(
            "the file is not a supported image (jpeg, png, gif, webp, avif)".to_owned(),
        ));
    };
    let header = header.ok_or_else(|| {
        TaskError::InvalidInput(
            "the image could not be decoded: damaged or truncated headers".into(),
        )
    })?;
    if header.width == 0 || header.height == 0 {
        return Err(TaskError::InvalidInput(
            "the image has no pixels".to_owned(),
        ));
    }
    Ok(header)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        0,
    ]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn still(kind: Kind, width: u32, height: u32) -> Header {
    Header {
        kind,
        width,
        height,
        progressive: false,
        precision: 8,
    }
}

/// Walk the marker segments up to the first SOFn.
fn jpeg(b: &[u8]) -> Option<Header> {
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if *b.get(pos)? != 0xFF {
            return None;
        }
        while *b.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *b.get(pos)?;
        pos += 1;
        match marker {
            // Stand-alone markers: no length.
            0x01 | 0xD0..=0xD7 => continue,
            // End of image or start of scan before any frame header.
            0xD9 | 0xDA => return None,
            // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some(Header {
                    kind: Kind::Jpeg,
                    precision: *b.get(pos + 2)?,
                    height: be16(b, pos + 3)?,
                    width: be16(b, pos + 5)?,
                    progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
                });
            }
            _ => {
                let len = usize::try_from(be16(b, pos)?).ok()?;
                if len < 2 {
                    return None;
                }
                pos += len;
            }
        }
    }
}

/// IHDR must be the first chunk.
fn png(b: &[u8]) -> Option<Header> {
    if b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some(still(Kind::Png, be32(b, 16)?, be32(b, 20)?))
}

/// The logical screen (every frame is drawn on it).
fn gif(b: &[u8]) -> Option<Header> {
    Some(still(Kind::Gif, le16(b, 6)?, le16(b, 8)?))
}

/// The first chunk: VP8X (extended: canvas size), VP8L (lossless) or VP8
/// (lossy key frame).
fn webp(b: &[u8]) -> Option<Header> {
    let (width, height) = match b.get(12..16)? {
        b"VP8X" => (le24(b, 24)? + 1, le24(b, 27)? + 1),
        b"VP8L" => {
            if *b.get(20)? != 0x2F {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8 " => {
            if b.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            (le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF)
        }
        _ => return None,
    };
    Some(still(Kind::Webp, width, height))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn sizes_of_every_format() {
        let rgb = image::DynamicImage::ImageRgb8(image::RgbImage::new(37, 21));
        let rgba = image::DynamicImage::ImageRgba8(image::RgbaImage::new(37, 21));
        for (img, format, kind) in [
            (rgb.clone(), image::ImageFormat::Jpeg, Kind::Jpeg),
            (rgb.clone(), image::ImageFormat::Png, Kind::Png),
            (rgba.clone(), image::ImageFormat::Gif, Kind::Gif),
            (rgba.clone(), image::ImageFormat::WebP, Kind::Webp),
        ] {
            let h = probe(&encode(img, format)).unwrap();
            assert_eq!((h.kind, h.width, h.height), (kind, 37, 21), "{format:?}");
        }
    }

    #[test]
    fn vp8_and_vp8x_headers() {
        // Lossy key frame: tag, start code, 14-bit sizes.
        let mut b = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0".to_vec();
        b.extend([0, 0, 0, 0x9D, 0x01, 0x2A]);
        b.extend(300u16.to_le_bytes());
        b.extend(200u16.to_le_bytes());
        assert_eq!(probe(&b).unwrap().width, 300);
        assert_eq!(probe(&b).unwrap().height, 200);
        // Extended: 24-bit canvas size minus one.
        let mut b = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x10\0\0\0".to_vec();
        b.extend([0x3F, 0x9C, 0x00, 0x2F, 0x75, 0x00]); // 39999+1, 29999+1
        let h = probe(&b).unwrap();
        assert_eq!((h.width, h.height), (40_000, 30_000));
    }

    #[test]
    fn damaged_headers() {
        let jpeg = encode(
            image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8)),
            image::ImageFormat::Jpeg,
        );
        for cut in 0..jpeg.len() {
            // Never a panic; short prefixes are errors.
            let _ = probe(&jpeg[..cut]);
        }
        assert!(probe(&jpeg[..20]).is_err());
        assert!(probe(b"GIF89a\x01").is_err());
        assert!(probe(b"GIF89a\0\0\x05\0").is_err(), "zero width");
        assert!(
            matches!(probe(b"hello"), Err(TaskError::InvalidInput(m)) if m.contains("supported"))
        );
    }
}
