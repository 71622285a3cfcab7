//! drake-imaging: the first steps every image task shares, so image.face,
//! image.saliency, image.smartcrop and image.gif only write their own
//! analysis or encoding. One call, [`load`], does them in this order:
//!
//! 1. [`fetch`] — download, capped at [`limits::MAX_INPUT_BYTES`];
//! 2. [`probe::probe`] — format and size from the headers only;
//! 3. [`limits::check_source`] — the pixel cap, before anything is decoded;
//! 4. [`open`] — decoder ready, EXIF orientation and ICC profile read;
//! 5. [`Opened::decode`] — the first frame, resampled to the working
//!    [`Size`] the task asks for (a JPEG straight from the DCT at 1/2, 1/4
//!    or 1/8 when that is still at least the working size), converted to sRGB
//!    and turned upright from its EXIF orientation.
//!
//! The result is a [`Picture`]: RGBA pixels *as shot* (upright) at the
//! working size, and the full as-shot size, which is the frame of every
//! coordinate a task reports. Resampling happens in the stored frame before
//! the turn (turns commute with a resize), so a big source is never copied
//! just to turn it.
//!
//! image.thumb uses the same steps one by one ([`decode`] for animations,
//! [`resize`] with its crop).

pub mod limits;
pub mod probe;
#[cfg(feature = "samples")]
pub mod samples;

pub mod avif;
pub mod colour;
pub mod decode;
pub mod jpeg_dc;
pub mod native;
pub mod resize;

use drake_sdk::{Ctx, TaskError};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};

use crate::decode::Source;
use crate::probe::Header;

/// How large the working image is, in the as-shot (upright) frame. The
/// aspect ratio is always kept; each side is at least 1 px.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The full size (the source cap bounds it).
    Full,
    /// Shrunk (never enlarged) to fit inside this width and height.
    Within(u32, u32),
    /// Scaled up or down to fit inside this width and height (the largest
    /// size that fits).
    Fit(u32, u32),
}

/// An image ready for a task.
pub struct Picture {
    /// The pixels, upright, in sRGB, at the working size. Alpha is kept
    /// (opaque formats give 255).
    pub image: RgbaImage,
    /// Full width as shot (after the EXIF orientation), in pixels.
    pub width: u32,
    /// Full height as shot, in pixels.
    pub height: u32,
}

impl Picture {
    /// Full-size pixels per working pixel, horizontally and vertically.
    pub fn scale(&self) -> (f64, f64) {
        (
            f64::from(self.width) / f64::from(self.image.width().max(1)),
            f64::from(self.height) / f64::from(self.image.height().max(1)),
        )
    }

    /// The pixels composited over an opaque `background`.
    pub fn flatten(&self, background: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(self.image.width(), self.image.height(), |x, y| {
            image::Rgb(over(self.image.get_pixel(x, y).0, background))
        })
    }

    /// Luma (Rec. 601 weights) of the pixels composited over `background`.
    pub fn luma(&self, background: [u8; 3]) -> GrayImage {
        GrayImage::from_fn(self.image.width(), self.image.height(), |x, y| {
            let [r, g, b] = over(self.image.get_pixel(x, y).0, background);
            let l = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000;
            image::Luma([l.min(255) as u8])
        })
    }
}

/// `px` (straight alpha) over an opaque background.
fn over(px: [u8; 4], background: [u8; 3]) -> [u8; 3] {
    let a = u32::from(px[3]);
    let mix = |c: u8, bg: u8| ((u32::from(c) * a + u32::from(bg) * (255 - a) + 127) / 255) as u8;
    [
        mix(px[0], background[0]),
        mix(px[1], background[1]),
        mix(px[2], background[2]),
    ]
}

/// Fetch, check and decode the image at `url` (parameter `param`, named in
/// errors) at the working `size`: steps 1–5 in one call.
pub fn load(ctx: &mut dyn Ctx, url: &str, param: &str, size: Size) -> Result<Picture, TaskError> {
    let bytes = fetch(ctx, url, param)?;
    open(bytes)?.decode(ctx, size)
}

/// Step 1: the whole file, under [`limits::MAX_INPUT_BYTES`].
pub fn fetch(ctx: &mut dyn Ctx, url: &str, param: &str) -> Result<Vec<u8>, TaskError> {
    let input = ctx
        .fetch(url, Some(limits::MAX_INPUT_BYTES))
        .map_err(|e| e.into_task_error(param))?;
    Ok(input.read_all())
}

/// An image whose headers and metadata are read and checked, pixels not
/// yet decoded.
pub struct Opened {
    source: Source,
    header: Header,
}

/// Steps 2–4: probe `bytes`, check the pixel cap, open the decoder.
pub fn open(bytes: Vec<u8>) -> Result<Opened, TaskError> {
    let header = probe::probe(&bytes)?;
    limits::check_source(header.width, header.height, header.progressive)?;
    let source = Source::open(bytes, &header)?;
    Ok(Opened { source, header })
}

impl Opened {
    /// The full size as shot (after the EXIF orientation).
    pub fn shot_size(&self) -> (u32, u32) {
        let (w, h) = (self.header.width, self.header.height);
        if swaps_sides(self.source.orientation) {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Step 5: decode the first frame at the working `size`, in sRGB,
    /// upright.
    pub fn decode(self, ctx: &mut dyn Ctx, size: Size) -> Result<Picture, TaskError> {
        let (width, height) = self.shot_size();
        let (tw, th) = working_size((width, height), size);
        let orientation = self.source.orientation;
        let stored = (self.header.width, self.header.height);
        let target = if swaps_sides(orientation) {
            (th, tw)
        } else {
            (tw, th)
        };
        let icc = self.source.icc_profile();
        let img = self.source.decode_first(ctx, stored, target)?;
        let img = resize::resize(img, target, false)?;
        let img = colour::to_srgb(img, icc.as_ref());
        let mut img = DynamicImage::ImageRgba8(img.into_rgba8());
        img.apply_orientation(orientation);
        Ok(Picture {
            image: img.into_rgba8(),
            width,
            height,
        })
    }
}

/// Whether the orientation swaps width and height (the quarter turns).
fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The working size (as shot) of a `full`-size image for `size`.
pub fn working_size(full: (u32, u32), size: Size) -> (u32, u32) {
    let (w, h) = (f64::from(full.0.max(1)), f64::from(full.1.max(1)));
    let (bw, bh, enlarge) = match size {
        Size::Full => return full,
        Size::Within(bw, bh) => (bw.max(1), bh.max(1), false),
        Size::Fit(bw, bh) => (bw.max(1), bh.max(1), true),
    };
    let mut scale = (f64::from(bw) / w).min(f64::from(bh) / h);
    if !enlarge {
        scale = scale.min(1.0);
    }
    let side = |len: f64, max: u32| ((len * scale).round() as u32).clamp(1, max);
    (side(w, bw), side(h, bh))
}

/// Encode an RGB picture as `format` (JPEG at quality 90, or PNG).
pub fn encode_rgb(
    img: &RgbImage,
    format: drake_sdk::media::StillFormat,
) -> Result<Vec<u8>, TaskError> {
    use image::ImageEncoder as _;
    match format {
        drake_sdk::media::StillFormat::Jpeg => encode_jpeg(img, 90),
        drake_sdk::media::StillFormat::Png => {
            let mut out = Vec::new();
            let (w, h) = img.dimensions();
            image::codecs::png::PngEncoder::new(&mut out)
                .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
                .map_err(|e| TaskError::Failed(format!("encoding the image: {e}")))?;
            Ok(out)
        }
    }
}

/// Encode an RGB picture as a baseline JPEG at `quality` (1–100) with
/// `jpeg-encoder`: the Annex K tables scaled as libjpeg scales them, and
/// chroma at 4:2:0 below quality 90 (4:4:4 from 90), libjpeg's and sharp's
/// defaults. It takes ~40% of the `image` encoder's time (4:4:4 always):
/// 7.5 against 16.5 ms for a 1024×576 photo, natively. Huffman tables are
/// the standard ones: optimised ones save 2–3% of the bytes for 15–20%
/// more time, and a thumbnail is made on request.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, TaskError> {
    let (w, h) = img.dimensions();
    let side = |n: u32| {
        u16::try_from(n).map_err(|_| {
            TaskError::InvalidInput(format!(
                "a JPEG is at most 65535 pixels a side; this one would be {w}×{h}"
            ))
        })
    };
    let (jw, jh) = (side(w)?, side(h)?);
    let mut out = Vec::with_capacity(img.as_raw().len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(img.as_raw(), jw, jh, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| TaskError::Failed(format!("encoding the JPEG: {e}")))?;
    Ok(out)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    /// Each component's sampling factors (H << 4 | V) in a JPEG's frame
    /// header.
    fn sampling(jpeg: &[u8]) -> Vec<u8> {
        let sof = (0..jpeg.len() - 1)
            .find(|&i| jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0)
            .unwrap();
        let n = usize::from(jpeg[sof + 9]);
        (0..n).map(|c| jpeg[sof + 11 + 3 * c]).collect()
    }

    #[test]
    fn jpeg_chroma_is_halved_below_quality_90() {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        // 4:2:0 at quality 85, as libjpeg and sharp write it.
        assert_eq!(
            sampling(&encode_jpeg(&img, 85).unwrap()),
            [0x22, 0x11, 0x11]
        );
        // 4:4:4 from quality 90.
        assert_eq!(sampling(&encode_jpeg(&img, 90).unwrap()), [0x11; 3]);
        let back = image::load_from_memory(&encode_jpeg(&img, 85).unwrap()).unwrap();
        assert_eq!((back.width(), back.height()), (64, 48));
        let wide = RgbImage::new(65_536, 1);
        assert!(matches!(
            encode_jpeg(&wide, 85),
            Err(TaskError::InvalidInput(_))
        ));
    }

    #[test]
    fn working_sizes() {
        assert_eq!(working_size((4000, 3000), Size::Full), (4000, 3000));
        assert_eq!(working_size((4000, 3000), Size::Within(64, 64)), (64, 48));
        assert_eq!(working_size((40, 30), Size::Within(64, 64)), (40, 30));
        assert_eq!(working_size((40, 30), Size::Fit(64, 64)), (64, 48));
        assert_eq!(working_size((4000, 1), Size::Within(64, 64)), (64, 1));
        assert_eq!(working_size((1, 4000), Size::Fit(100, 100)), (1, 100));
        assert_eq!(working_size((300, 100), Size::Fit(200, 200)), (200, 67));
    }

    #[test]
    fn flatten_and_luma() {
        let pic = Picture {
            image: RgbaImage::from_pixel(1, 1, image::Rgba([0, 0, 0, 0])),
            width: 1,
            height: 1,
        };
        assert_eq!(pic.flatten([255, 255, 255]).get_pixel(0, 0).0, [255; 3]);
        assert_eq!(pic.luma([255, 255, 255]).get_pixel(0, 0).0, [255]);
        let pic = Picture {
            image: RgbaImage::from_pixel(1, 1, image::Rgba([255, 0, 0, 255])),
            width: 1,
            height: 1,
        };
        assert_eq!(pic.luma([0, 0, 0]).get_pixel(0, 0).0, [76]);
    }
}
