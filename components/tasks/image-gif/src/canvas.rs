//! A frame on the animation's canvas: the image, already fitted inside the
//! canvas (aspect ratio kept, scaled up or down), centred; the uncovered
//! bands are [`LETTERBOX`] and transparent pixels are shown over
//! [`BACKGROUND`]. Every frame is opaque and covers the whole canvas, so no
//! frame shows through another whatever a viewer does with disposal.

use drake_imaging::Picture;
use image::{Rgb, RgbImage};

/// The bands around a frame whose aspect ratio differs from the canvas:
/// black, as a video player letterboxes.
pub const LETTERBOX: [u8; 3] = [0, 0, 0];

/// Transparent pixels are seen over white, as a viewer on a page shows
/// them (and as image.thumb flattens them).
pub const BACKGROUND: [u8; 3] = [255, 255, 255];

/// `picture` (at most `size`) centred on a `size` canvas.
pub fn letterbox(picture: &Picture, size: (u32, u32)) -> RgbImage {
    let flat = picture.flatten(BACKGROUND);
    if flat.dimensions() == size {
        return flat;
    }
    let mut canvas = RgbImage::from_pixel(size.0, size.1, Rgb(LETTERBOX));
    let left = size.0.saturating_sub(flat.width()) / 2;
    let top = size.1.saturating_sub(flat.height()) / 2;
    image::imageops::replace(&mut canvas, &flat, i64::from(left), i64::from(top));
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centred_with_bands() {
        let picture = Picture {
            image: image::RgbaImage::from_pixel(4, 2, image::Rgba([255, 0, 0, 255])),
            width: 4,
            height: 2,
        };
        let out = letterbox(&picture, (4, 4));
        assert_eq!(out.get_pixel(0, 0).0, LETTERBOX);
        assert_eq!(out.get_pixel(0, 1).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(3, 2).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(3, 3).0, LETTERBOX);
        let clear = Picture {
            image: image::RgbaImage::new(2, 2),
            width: 2,
            height: 2,
        };
        assert_eq!(letterbox(&clear, (2, 2)).get_pixel(1, 1).0, BACKGROUND);
    }
}
