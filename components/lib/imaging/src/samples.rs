//! Edge-case and hostile inputs shared by the image tasks' tests (feature
//! `samples`): every task must answer each with a result or a readable
//! error — never a panic.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// What a task must answer for a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A result.
    Ok,
    /// [`drake_sdk::TaskError::InvalidInput`].
    Invalid,
    /// [`drake_sdk::TaskError::Limit`].
    Limit,
    /// A result or an invalid-input error (damaged files some decoders
    /// repair and others reject).
    OkOrInvalid,
}

/// `img` encoded as `format`.
pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    // Encoding an in-memory image of a supported type does not fail.
    if img.write_to(&mut out, format).is_err() {
        return Vec::new();
    }
    out.into_inner()
}

/// A gradient, so resizes and turns are visible.
pub fn gradient(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128])
    }))
}

/// A little-endian TIFF block with one IFD0 entry: Orientation.
pub fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut t = b"II*\0\x08\0\0\0".to_vec();
    t.extend(1u16.to_le_bytes()); // one entry
    t.extend(0x0112u16.to_le_bytes()); // Orientation
    t.extend(3u16.to_le_bytes()); // SHORT
    t.extend(1u32.to_le_bytes()); // count
    t.extend(orientation.to_le_bytes());
    t.extend([0, 0]); // value padding
    t.extend(0u32.to_le_bytes()); // no next IFD
    t
}

/// `jpeg` with an APP1 Exif segment (EXIF orientation `orientation`)
/// inserted after SOI.
pub fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif_orientation(orientation));
    let mut out = jpeg[..2.min(jpeg.len())].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend(&jpeg[2.min(jpeg.len())..]);
    out
}

/// A PNG signature and IHDR claiming `w`x`h` (nothing after it).
pub fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend(w.to_be_bytes());
    b.extend(h.to_be_bytes());
    b.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b
}

/// A two-frame animated GIF (red then blue), 40x30.
pub fn animated_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut out);
        for c in [[255, 0, 0, 255], [0, 0, 255, 255]] {
            let frame = image::Frame::new(RgbaImage::from_pixel(40, 30, Rgba(c)));
            if enc.encode_frame(frame).is_err() {
                return Vec::new();
            }
        }
    }
    out
}

/// Every edge case with what a task must answer.
pub fn edge_cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let jpeg = encode(&gradient(64, 48), ImageFormat::Jpeg);
    let png = encode(&gradient(64, 48), ImageFormat::Png);
    let transparent = DynamicImage::ImageRgba8(RgbaImage::from_fn(60, 40, |x, _| {
        Rgba([200, 30, 30, if x < 30 { 0 } else { 255 }])
    }));
    vec![
        ("not an image", b"hello, world".to_vec(), Expect::Invalid),
        ("empty file", Vec::new(), Expect::Invalid),
        (
            "html",
            b"<!doctype html><html></html>".to_vec(),
            Expect::Invalid,
        ),
        ("jpeg magic only", jpeg[..4].to_vec(), Expect::Invalid),
        ("jpeg headers only", jpeg[..200].to_vec(), Expect::Invalid),
        (
            "truncated jpeg",
            jpeg[..jpeg.len() / 2].to_vec(),
            Expect::Invalid,
        ),
        (
            "jpeg without its end marker",
            jpeg[..jpeg.len() - 2].to_vec(),
            Expect::Ok,
        ),
        (
            "truncated png",
            png[..png.len() / 2].to_vec(),
            Expect::Invalid,
        ),
        ("png bomb", png_header(100_000, 100_000), Expect::Limit),
        (
            "gif bomb",
            b"GIF89a\xff\xff\xff\xff\0\0\0".to_vec(),
            Expect::Limit,
        ),
        ("zero-size png", png_header(0, 10), Expect::Invalid),
        (
            "zero-size gif",
            b"GIF89a\0\0\x05\0\0\0\0".to_vec(),
            Expect::Invalid,
        ),
        (
            "1x1 png",
            encode(&gradient(1, 1), ImageFormat::Png),
            Expect::Ok,
        ),
        (
            "4000x1 png",
            encode(&gradient(4000, 1), ImageFormat::Png),
            Expect::Ok,
        ),
        (
            "1x4000 png",
            encode(&gradient(1, 4000), ImageFormat::Png),
            Expect::Ok,
        ),
        (
            "transparent png",
            encode(&transparent, ImageFormat::Png),
            Expect::Ok,
        ),
        ("animated gif", animated_gif(), Expect::Ok),
        (
            "webp",
            encode(&gradient(30, 20), ImageFormat::WebP),
            Expect::Ok,
        ),
        ("rotated jpeg", with_orientation(&jpeg, 6), Expect::Ok),
    ]
}
