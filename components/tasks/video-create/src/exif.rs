//! The EXIF orientation of a JPEG, from its first bytes: phone photos are
//! stored sideways with a tag saying how to turn them. ffmpeg turns them
//! upright while decoding (its JPEG decoder exports the tag, the command
//! line applies it), but ffprobe reports the stored size: layouts that
//! depend on the aspect ratio need the size as seen.

/// The orientation tag (1–8; 1 = as stored) of a JPEG whose headers are
/// in `head`, or 1 when there is none or it cannot be read.
pub fn orientation(head: &[u8]) -> u8 {
    jpeg_exif(head).and_then(tiff_orientation).unwrap_or(1)
}

/// The TIFF block of the first APP1 `Exif` segment.
fn jpeg_exif(b: &[u8]) -> Option<&[u8]> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= b.len() {
        if b[at] != 0xFF {
            return None;
        }
        let marker = b[at + 1];
        // Start of scan or end of image: no EXIF before the pixels.
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]]));
        let body = b.get(at + 4..at + 2 + len)?;
        if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
            return Some(&body[6..]);
        }
        at += 2 + len;
    }
    None
}

/// Tag 0x0112 of IFD0.
fn tiff_orientation(t: &[u8]) -> Option<u8> {
    let little = match t.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let v = [*t.get(i)?, *t.get(i + 1)?];
        Some(if little {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let v = [*t.get(i)?, *t.get(i + 1)?, *t.get(i + 2)?, *t.get(i + 3)?];
        Some(if little {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    (0..count.min(256)).find_map(|i| {
        let entry = ifd + 2 + i * 12;
        (u16_at(entry)? == 0x0112)
            .then(|| u16_at(entry + 8))
            .flatten()
            .and_then(|v| u8::try_from(v).ok())
            .filter(|v| (1..=8).contains(v))
    })
}

/// Whether a picture of `orientation` is seen with its sides swapped.
pub fn swaps_sides(orientation: u8) -> bool {
    (5..=8).contains(&orientation)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG start with an APP1 Exif block holding `orientation`.
    fn jpeg(orientation: u16, little: bool) -> Vec<u8> {
        let mut tiff: Vec<u8> = if little {
            b"II*\0".to_vec()
        } else {
            b"MM\0*".to_vec()
        };
        let w16 = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let w32 = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        tiff.extend(w32(8));
        tiff.extend(w16(1));
        tiff.extend(w16(0x0112));
        tiff.extend(w16(3));
        tiff.extend(w32(1));
        tiff.extend(w16(orientation));
        tiff.extend([0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff);
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xE1];
        out.extend(u16::try_from(app1.len() + 2).unwrap_or(0).to_be_bytes());
        out.extend(app1);
        out.extend([0xFF, 0xDA, 0, 2]);
        out
    }

    #[test]
    fn reads_both_byte_orders_and_defaults_to_upright() {
        assert_eq!(orientation(&jpeg(6, true)), 6);
        assert_eq!(orientation(&jpeg(8, false)), 8);
        assert_eq!(orientation(&jpeg(9, true)), 1);
        assert_eq!(orientation(b"\xFF\xD8\xFF\xDA"), 1);
        assert_eq!(orientation(b"not a jpeg"), 1);
        assert_eq!(orientation(&jpeg(6, true)[..20]), 1);
        assert!(swaps_sides(6) && !swaps_sides(3));
    }
}
