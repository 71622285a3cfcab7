//! Whether a GIF uses a transparent colour, found by walking its blocks
//! without decompressing any image data.
//!
//! A GIF frame is transparent when the Graphic Control Extension before it
//! sets the "transparent colour" flag. Walking the file costs one jump per
//! 255-byte sub-block, so every frame is looked at, not just the first.

/// True when any frame declares a transparent colour. Truncated or odd
/// files answer with what was seen before the damage.
pub fn has_transparency(bytes: &[u8]) -> bool {
    walk(bytes).unwrap_or(false)
}

/// `None` when the data ends early (treated as "no transparency seen").
fn walk(bytes: &[u8]) -> Option<bool> {
    // Header (6) + logical screen descriptor (7).
    let packed = *bytes.get(10)?;
    let mut pos = 13 + color_table_len(packed);
    loop {
        match *bytes.get(pos)? {
            // Extension: label, then data sub-blocks.
            0x21 => {
                let label = *bytes.get(pos + 1)?;
                pos += 2;
                if label == 0xF9 {
                    // Graphic Control Extension: size (4), packed fields, …
                    let gce_packed = *bytes.get(pos + 1)?;
                    if gce_packed & 0x01 != 0 {
                        return Some(true);
                    }
                }
                pos = skip_sub_blocks(bytes, pos)?;
            }
            // Image descriptor (10 bytes), local colour table, LZW code
            // size, then image data sub-blocks.
            0x2C => {
                let packed = *bytes.get(pos + 9)?;
                pos += 10 + color_table_len(packed) + 1;
                pos = skip_sub_blocks(bytes, pos)?;
            }
            // Trailer, or anything unexpected: stop.
            _ => return Some(false),
        }
    }
}

/// Bytes of the colour table announced by a packed field (0 when absent).
fn color_table_len(packed: u8) -> usize {
    if packed & 0x80 != 0 {
        3 * (1usize << ((packed & 0x07) + 1))
    } else {
        0
    }
}

/// Position after a run of sub-blocks ending with a zero-length block.
fn skip_sub_blocks(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = usize::from(*bytes.get(pos)?);
        pos += 1;
        if len == 0 {
            return Some(pos);
        }
        pos += len;
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn gif(frame_transparent: bool) -> Vec<u8> {
        let mut img = image::RgbaImage::from_pixel(4, 4, image::Rgba([10, 20, 30, 255]));
        if frame_transparent {
            img.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        }
        let mut out = Vec::new();
        image::codecs::gif::GifEncoder::new(&mut out)
            .encode(img.as_raw(), 4, 4, image::ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    #[test]
    fn transparent_colour_is_found() {
        assert!(has_transparency(&gif(true)));
        assert!(!has_transparency(&gif(false)));
    }

    #[test]
    fn damaged_files_do_not_panic() {
        let g = gif(true);
        for cut in 0..g.len() {
            let _ = has_transparency(&g[..cut]);
        }
        assert!(!has_transparency(b"GIF89a"));
    }
}
