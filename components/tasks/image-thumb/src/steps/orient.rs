//! Step 7d: turn the (small) resized image upright: the EXIF orientation
//! first (mirrored ones included), then the `rotation` parameter,
//! counter-clockwise.

use image::DynamicImage;
use image::metadata::Orientation;

use crate::Rotation;

/// Apply `orientation`, then `rotation` degrees counter-clockwise.
pub fn orient(mut img: DynamicImage, orientation: Orientation, rotation: Rotation) -> DynamicImage {
    img.apply_orientation(orientation);
    // `image` turns clockwise: a quarter turn counter-clockwise is three
    // clockwise.
    match rotation {
        Rotation::R0 => img,
        Rotation::R90 => img.rotate270(),
        Rotation::R180 => img.rotate180(),
        Rotation::R270 => img.rotate90(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    const RED: image::Rgb<u8> = image::Rgb([255, 0, 0]);

    /// A 3x2 image with a red top-left pixel; where does it end up?
    fn red_corner(orientation: Orientation, rotation: Rotation) -> (u32, u32, u32, u32) {
        let mut img = image::RgbImage::new(3, 2);
        img.put_pixel(0, 0, RED);
        let out = orient(DynamicImage::ImageRgb8(img), orientation, rotation).to_rgb8();
        let (x, y, _) = out.enumerate_pixels().find(|(_, _, p)| **p == RED).unwrap();
        (out.width(), out.height(), x, y)
    }

    #[test]
    fn rotation_is_counter_clockwise() {
        assert_eq!(
            red_corner(Orientation::NoTransforms, Rotation::R0),
            (3, 2, 0, 0)
        );
        // A quarter turn counter-clockwise takes the top-left corner to the
        // bottom-left.
        assert_eq!(
            red_corner(Orientation::NoTransforms, Rotation::R90),
            (2, 3, 0, 2)
        );
        assert_eq!(
            red_corner(Orientation::NoTransforms, Rotation::R180),
            (3, 2, 2, 1)
        );
        assert_eq!(
            red_corner(Orientation::NoTransforms, Rotation::R270),
            (2, 3, 1, 0)
        );
    }

    #[test]
    fn exif_orientations() {
        // 6: the camera was turned clockwise; turn 90° clockwise to view.
        assert_eq!(
            red_corner(Orientation::from_exif(6).unwrap(), Rotation::R0),
            (2, 3, 1, 0)
        );
        // 2: mirrored left-right.
        assert_eq!(
            red_corner(Orientation::from_exif(2).unwrap(), Rotation::R0),
            (3, 2, 2, 0)
        );
        // 5: transpose (mirror along the main diagonal).
        assert_eq!(
            red_corner(Orientation::from_exif(5).unwrap(), Rotation::R0),
            (2, 3, 0, 0)
        );
        // 7: transverse.
        assert_eq!(
            red_corner(Orientation::from_exif(7).unwrap(), Rotation::R0),
            (2, 3, 1, 2)
        );
        // 6 then 90° counter-clockwise: back to the stored frame.
        assert_eq!(
            red_corner(Orientation::from_exif(6).unwrap(), Rotation::R90),
            (3, 2, 0, 0)
        );
    }
}
