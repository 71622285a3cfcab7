//! Step 8: write the thumbnail as JPEG, PNG, GIF, WebP or AVIF, or an
//! animation as an animated GIF or WebP keeping each frame's delay and the
//! loop count. JPEG, PNG and GIF are encoded in the guest; WebP and AVIF by
//! native encoders behind the ffmpeg capability ([`drake_imaging::native`]).

use drake_imaging::native;
use drake_sdk::{Ctx, TaskError};
use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::png::PngEncoder;
use image::metadata::LoopCount;
use image::{Delay, DynamicImage, ExtendedColorType, ImageEncoder};

use crate::Format;

/// JPEG quality: 85 is the usual web trade-off — artefacts hard to see,
/// files about half the size of quality 95.
const JPEG_QUALITY: u8 = 85;

/// GIF palette quantiser speed (1–30): 10 is the `gif` crate's suggested
/// balance; 1 is several times slower for a barely better palette.
const GIF_SPEED: i32 = 10;

fn failed(e: impl std::fmt::Display) -> TaskError {
    TaskError::Failed(format!("the thumbnail could not be encoded: {e}"))
}

/// Encode one image (Rgb8 or Rgba8).
pub fn still(ctx: &mut dyn Ctx, img: DynamicImage, format: Format) -> Result<Vec<u8>, TaskError> {
    let (w, h) = (img.width(), img.height());
    let mut out = Vec::new();
    match format {
        Format::Jpeg => {
            // JPEG has no alpha: flatten on white, as browsers show it.
            let rgb = flatten_on_white(img);
            return drake_imaging::encode_jpeg(&rgb, JPEG_QUALITY);
        }
        Format::Png => {
            let (bytes, color) = match &img {
                DynamicImage::ImageRgba8(rgba) => (rgba.as_raw(), ExtendedColorType::Rgba8),
                DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), ExtendedColorType::Rgb8),
                _ => return Err(failed("unexpected pixel layout")),
            };
            PngEncoder::new(&mut out)
                .write_image(bytes, w, h, color)
                .map_err(failed)?;
        }
        Format::Gif => {
            let mut gif = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
            gif.encode_frame(image::Frame::new(img.to_rgba8()))
                .map_err(failed)?;
        }
        Format::Webp => return native::webp(ctx, img),
        Format::Avif => return native::avif(ctx, img),
    }
    Ok(out)
}

/// Encode `frames` (thumbnails with their delays) as an animated GIF, or an
/// animated WebP when `format` is WebP.
pub fn animation(
    ctx: &mut dyn Ctx,
    format: Format,
    loop_count: LoopCount,
    frames: impl Iterator<Item = Result<(DynamicImage, Delay), TaskError>>,
) -> Result<Vec<u8>, TaskError> {
    if format == Format::Webp {
        // Thumbnails are small and capped in number: kept, then encoded at
        // once (the APNG handed to libwebp needs the frame count first).
        let frames = frames
            .map(|f| f.map(|(img, delay)| (img.into_rgba8(), delay)))
            .collect::<Result<Vec<_>, _>>()?;
        if frames.is_empty() {
            return Err(no_frames());
        }
        return native::webp_animation(ctx, loop_count, &frames);
    }
    let mut out = Vec::new();
    let mut count = 0;
    {
        let mut gif = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
        let repeat = match loop_count {
            LoopCount::Infinite => Repeat::Infinite,
            LoopCount::Finite(n) => Repeat::Finite(u16::try_from(n.get()).unwrap_or(u16::MAX)),
        };
        gif.set_repeat(repeat).map_err(failed)?;
        for frame in frames {
            let (img, delay) = frame?;
            gif.encode_frame(image::Frame::from_parts(img.into_rgba8(), 0, 0, delay))
                .map_err(failed)?;
            count += 1;
        }
        // Dropping the encoder writes the GIF trailer.
    }
    if count == 0 {
        return Err(no_frames());
    }
    Ok(out)
}

fn no_frames() -> TaskError {
    TaskError::InvalidInput("the image could not be decoded: it has no frames".to_owned())
}

/// Rgb8 with any transparency composited over white (an Rgb8 image is
/// moved through, not copied).
fn flatten_on_white(img: DynamicImage) -> image::RgbImage {
    match img {
        DynamicImage::ImageRgba8(rgba) => {
            let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
            for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
                let a = u32::from(src[3]);
                for c in 0..3 {
                    dst[c] = ((u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
                }
            }
            rgb
        }
        other => other.into_rgb8(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn transparency_becomes_white_in_jpeg() {
        let mut rgba = image::RgbaImage::from_pixel(2, 1, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([0, 0, 0, 255]));
        let rgb = flatten_on_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 0]);
    }

    #[test]
    fn an_empty_animation_is_an_input_error() {
        let mut ctx = drake_sdk::FakeCtx::default();
        for format in [Format::Gif, Format::Webp] {
            let err =
                animation(&mut ctx, format, LoopCount::Infinite, std::iter::empty()).unwrap_err();
            assert!(matches!(err, TaskError::InvalidInput(_)));
        }
    }
}
