//! Step 5: the thumbnail geometry, decided in the viewed frame — the source
//! after its EXIF orientation and the `rotation` parameter — and mapped back
//! to the stored frame the pixels are resized in (see the module docs of
//! `steps` for why).
//!
//! The box is followed exactly, **upscaling included**: a client that asks
//! for `width=800` of a 400-pixel image gets 800 pixels, as it asked (the
//! thumbnail caps in `limits` still apply).

use image::metadata::Orientation;

use crate::Rotation;

/// The geometry of one thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Source size as stored in the file.
    pub stored: (u32, u32),
    /// Source size as shot (after the EXIF orientation): `original_width`,
    /// `original_height`.
    pub original: (u32, u32),
    /// Thumbnail size as delivered.
    pub output: (u32, u32),
    /// Thumbnail size before turning (`output`, swapped when the turns swap
    /// the sides): what the resize produces.
    pub stored_output: (u32, u32),
    /// Fill the box and centre-crop (only when both sides were given).
    pub crop: bool,
    /// The EXIF orientation to apply after the resize.
    pub orientation: Orientation,
    /// The extra rotation to apply after the orientation.
    pub rotation: Rotation,
}

impl Plan {
    /// Whether any resampling is needed (the cap on resized thumbnails).
    pub fn resized(&self) -> bool {
        self.stored_output != self.stored
    }
}

/// Whether an EXIF orientation swaps width and height.
pub fn swaps(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Plan a thumbnail of a `stored` source for the parameters.
pub fn plan(
    stored: (u32, u32),
    orientation: Orientation,
    rotation: Rotation,
    width: Option<u32>,
    height: Option<u32>,
    crop: bool,
) -> Plan {
    let swap = |(w, h): (u32, u32), yes: bool| if yes { (h, w) } else { (w, h) };
    let original = swap(stored, swaps(orientation));
    let viewed = swap(original, rotation.is_quarter());
    let output = fit(viewed, width, height, crop);
    Plan {
        stored,
        original,
        output,
        stored_output: swap(output, swaps(orientation) != rotation.is_quarter()),
        crop: crop && width.is_some() && height.is_some(),
        orientation,
        rotation,
    }
}

/// The thumbnail size for a `source` (viewed) and the requested box.
fn fit(source: (u32, u32), width: Option<u32>, height: Option<u32>, crop: bool) -> (u32, u32) {
    let (sw, sh) = (u64::from(source.0), u64::from(source.1));
    match (width, height) {
        (None, None) => source,
        (Some(w), None) => (w, scale(sh, u64::from(w), sw)),
        (None, Some(h)) => (scale(sw, u64::from(h), sh), h),
        (Some(w), Some(h)) if crop => (w, h),
        (Some(w), Some(h)) => {
            // Width-limited when w/sw <= h/sh.
            if u64::from(w) * sh <= u64::from(h) * sw {
                (w, scale(sh, u64::from(w), sw).min(h))
            } else {
                (scale(sw, u64::from(h), sh).min(w), h)
            }
        }
    }
}

/// `len * num / den`, rounded, at least 1, saturated to `u32`.
fn scale(len: u64, num: u64, den: u64) -> u32 {
    let v = (2 * len * num + den) / (2 * den.max(1));
    u32::try_from(v.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stored: (u32, u32), w: Option<u32>, h: Option<u32>, crop: bool) -> (u32, u32) {
        plan(stored, Orientation::NoTransforms, Rotation::R0, w, h, crop).output
    }

    #[test]
    fn fit_and_crop() {
        assert_eq!(out((400, 300), Some(100), Some(100), false), (100, 75));
        assert_eq!(out((400, 300), Some(100), Some(100), true), (100, 100));
        assert_eq!(out((300, 400), Some(100), Some(100), false), (75, 100));
        assert_eq!(out((400, 300), Some(100), None, false), (100, 75));
        assert_eq!(out((400, 300), None, Some(150), true), (200, 150));
        assert_eq!(out((400, 300), None, None, true), (400, 300));
        // Upscaling follows the box.
        assert_eq!(out((400, 300), Some(800), None, false), (800, 600));
        // Extreme ratios keep at least one pixel.
        assert_eq!(out((10_000, 1), Some(10), None, false), (10, 1));
        // Huge requests saturate (the output cap rejects them later).
        assert_eq!(out((1, 70_000), Some(65_535), None, false).1, u32::MAX);
    }

    #[test]
    fn turns_swap_the_frame() {
        let p = plan(
            (400, 300),
            Orientation::Rotate90,
            Rotation::R0,
            Some(100),
            None,
            false,
        );
        assert_eq!(p.original, (300, 400));
        assert_eq!(p.output, (100, 133));
        assert_eq!(p.stored_output, (133, 100));
        let p = plan(
            (400, 300),
            Orientation::Rotate90,
            Rotation::R90,
            Some(100),
            None,
            false,
        );
        assert_eq!(p.original, (300, 400));
        assert_eq!(p.output, (100, 75));
        assert_eq!(p.stored_output, (100, 75));
        let p = plan(
            (400, 300),
            Orientation::FlipHorizontal,
            Rotation::R270,
            None,
            None,
            false,
        );
        assert_eq!(
            (p.output, p.stored_output, p.resized()),
            ((300, 400), (400, 300), false)
        );
        assert!(
            plan(
                (4, 3),
                Orientation::NoTransforms,
                Rotation::R0,
                Some(4),
                Some(9),
                true
            )
            .crop
        );
        assert!(
            !plan(
                (4, 3),
                Orientation::NoTransforms,
                Rotation::R0,
                Some(4),
                None,
                true
            )
            .crop
        );
    }
}
