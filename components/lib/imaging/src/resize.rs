//! Resample to a size in the stored frame, with `fast_image_resize`
//! (Lanczos3, SIMD on wasm32 via simd128) — fitting the whole image, or
//! filling the box and cropping the overflow evenly.
//!
//! Alpha is premultiplied *in place* before the filter and divided out of
//! the small result after it, so transparent pixels do not bleed their
//! colour into the edges, without the full-size premultiplied copy the
//! library would otherwise allocate.

use drake_sdk::TaskError;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

/// Resample `img` to `size`; `crop` fills the box and centre-crops. The
/// image comes back unchanged when it already has that size.
pub fn resize(img: DynamicImage, size: (u32, u32), crop: bool) -> Result<DynamicImage, TaskError> {
    if (img.width(), img.height()) == size {
        return Ok(img);
    }
    let img = match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.into_rgba8()),
        other => DynamicImage::ImageRgb8(other.into_rgb8()),
    };
    let (pixel_type, alpha) = match &img {
        DynamicImage::ImageLuma8(_) => (PixelType::U8, false),
        DynamicImage::ImageLumaA8(_) => (PixelType::U8x2, true),
        DynamicImage::ImageRgb8(_) => (PixelType::U8x3, false),
        _ => (PixelType::U8x4, true),
    };
    let color = img.color();
    let failed = |e: &dyn std::fmt::Display| TaskError::Failed(format!("resize failed: {e}"));

    let mut src = Image::from_vec_u8(img.width(), img.height(), img.into_bytes(), pixel_type)
        .map_err(|e| failed(&e))?;
    let mul_div = MulDiv::new();
    if alpha {
        mul_div
            .multiply_alpha_inplace(&mut src)
            .map_err(|e| failed(&e))?;
    }
    let mut dst = Image::new(size.0, size.1, pixel_type);
    let mut options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(false);
    if crop {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| failed(&e))?;
    drop(src);
    if alpha {
        mul_div
            .divide_alpha_inplace(&mut dst)
            .map_err(|e| failed(&e))?;
    }

    let (w, h) = (dst.width(), dst.height());
    let buf = dst.into_vec();
    let out = match color {
        image::ColorType::L8 => image::GrayImage::from_raw(w, h, buf).map(DynamicImage::ImageLuma8),
        image::ColorType::La8 => {
            image::GrayAlphaImage::from_raw(w, h, buf).map(DynamicImage::ImageLumaA8)
        }
        image::ColorType::Rgb8 => image::RgbImage::from_raw(w, h, buf).map(DynamicImage::ImageRgb8),
        _ => image::RgbaImage::from_raw(w, h, buf).map(DynamicImage::ImageRgba8),
    };
    out.ok_or_else(|| TaskError::Failed("resize failed: buffer size".to_owned()))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_types_are_kept() {
        for img in [
            DynamicImage::ImageLuma8(image::GrayImage::new(40, 30)),
            DynamicImage::ImageLumaA8(image::GrayAlphaImage::new(40, 30)),
            DynamicImage::ImageRgb8(image::RgbImage::new(40, 30)),
            DynamicImage::ImageRgba8(image::RgbaImage::new(40, 30)),
        ] {
            let color = img.color();
            let out = resize(img, (10, 7), false).unwrap();
            assert_eq!((out.width(), out.height(), out.color()), (10, 7, color));
        }
        let out = resize(
            DynamicImage::ImageRgb16(image::ImageBuffer::new(4, 4)),
            (2, 2),
            true,
        );
        assert_eq!(out.unwrap().color(), image::ColorType::Rgb8);
    }

    #[test]
    fn crop_keeps_the_centre() {
        // Left third red, middle green, right third blue; a square crop of
        // the 3:1 image keeps only green.
        let img = image::RgbImage::from_fn(300, 100, |x, _| match x / 100 {
            0 => image::Rgb([255, 0, 0]),
            1 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        let out = resize(DynamicImage::ImageRgb8(img.clone()), (20, 20), true).unwrap();
        let out = out.to_rgb8();
        assert!(out.pixels().all(|p| p[1] > 200 && p[0] < 40 && p[2] < 40));
        let fit = resize(DynamicImage::ImageRgb8(img), (30, 10), false)
            .unwrap()
            .to_rgb8();
        assert!(fit.get_pixel(0, 5)[0] > 200 && fit.get_pixel(29, 5)[2] > 200);
    }

    #[test]
    fn transparent_pixels_do_not_bleed() {
        // Opaque white next to transparent black: the edge stays white.
        let img = image::RgbaImage::from_fn(64, 64, |x, _| {
            if x < 32 {
                image::Rgba([255, 255, 255, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let out = resize(DynamicImage::ImageRgba8(img), (16, 16), false)
            .unwrap()
            .to_rgba8();
        for p in out.pixels().filter(|p| p[3] > 16) {
            assert!(p[0] > 240, "{p:?}");
        }
    }
}
