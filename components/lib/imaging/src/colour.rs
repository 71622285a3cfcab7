//! Colour to sRGB. A source with an RGB or grey ICC profile is converted
//! through it (with `moxcms`, which `image` already uses), so analyses see
//! the colours a viewer shows and a GIF (which cannot carry a profile)
//! looks right. The output is always Rgb8 or Rgba8. A profile that does
//! not parse, or does not match the pixels, is ignored rather than failing
//! the task. (CMYK is converted at decode time.) Same code as image.thumb's
//! `steps/colour.rs`.

use image::DynamicImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// `img` (L8, La8, Rgb8 or Rgba8) in sRGB, as Rgb8 or Rgba8.
pub fn to_srgb(img: DynamicImage, icc: Option<&ColorProfile>) -> DynamicImage {
    match icc.and_then(|profile| convert(&img, profile)) {
        Some(converted) => converted,
        None => plain(img),
    }
}

/// Rgb8 or Rgba8 without colour conversion.
fn plain(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.into_rgba8()),
        other => DynamicImage::ImageRgb8(other.into_rgb8()),
    }
}

fn convert(img: &DynamicImage, profile: &ColorProfile) -> Option<DynamicImage> {
    let (from, to) = match (img, profile.color_space) {
        (DynamicImage::ImageRgb8(_), DataColorSpace::Rgb) => (Layout::Rgb, Layout::Rgb),
        (DynamicImage::ImageRgba8(_), DataColorSpace::Rgb) => (Layout::Rgba, Layout::Rgba),
        (DynamicImage::ImageLuma8(_), DataColorSpace::Gray) => (Layout::Gray, Layout::Rgb),
        (DynamicImage::ImageLumaA8(_), DataColorSpace::Gray) => (Layout::GrayAlpha, Layout::Rgba),
        _ => return None,
    };
    let transform = profile
        .create_transform_8bit(
            from,
            &ColorProfile::new_srgb(),
            to,
            TransformOptions::default(),
        )
        .ok()?;
    let (w, h) = (img.width(), img.height());
    let channels = if to == Layout::Rgba { 4 } else { 3 };
    let mut out = vec![0u8; w as usize * h as usize * channels];
    transform.transform(img.as_bytes(), &mut out).ok()?;
    if to == Layout::Rgba {
        image::RgbaImage::from_raw(w, h, out).map(DynamicImage::ImageRgba8)
    } else {
        image::RgbImage::from_raw(w, h, out).map(DynamicImage::ImageRgb8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_rgb_or_rgba() {
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(2, 2, image::Luma([9])));
        let out = to_srgb(grey, None);
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [9, 9, 9]);
        let la = DynamicImage::ImageLumaA8(image::GrayAlphaImage::new(2, 2));
        assert_eq!(to_srgb(la, None).color(), image::ColorType::Rgba8);
    }

    #[test]
    fn a_wide_gamut_profile_is_converted() {
        // A muted Display P3 orange is more saturated in sRGB numbers.
        let p3 = ColorProfile::new_display_p3();
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1,
            1,
            image::Rgb([180, 120, 90]),
        ));
        let [r, g, b] = to_srgb(img, Some(&p3)).to_rgb8().get_pixel(0, 0).0;
        assert!(r > 185 && b < 88, "{r} {g} {b}");
        // sRGB to sRGB is (nearly) the identity.
        let srgb = ColorProfile::new_srgb();
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1,
            1,
            image::Rgb([10, 128, 240]),
        ));
        let [r, g, b] = to_srgb(img, Some(&srgb)).to_rgb8().get_pixel(0, 0).0;
        assert!(r.abs_diff(10) <= 1 && g.abs_diff(128) <= 1 && b.abs_diff(240) <= 1);
        // A grey profile on RGB pixels is ignored.
        let grey = ColorProfile::new_gray_with_gamma(2.2);
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(1, 1, image::Rgb([1, 2, 3])));
        assert_eq!(
            to_srgb(img, Some(&grey)).to_rgb8().get_pixel(0, 0).0,
            [1, 2, 3]
        );
    }
}
