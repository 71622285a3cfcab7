//! The detector: SeetaFace frontal (funnel-structured cascade: LAB boosted
//! classifiers, then SURF MLPs) through `rustface`, on the grey levels of
//! the working image, with the boxes mapped back to the full upright image.
//!
//! ## Confidence
//!
//! The detector's score is unbounded: after non-maximum suppression it is
//! the *sum* of the MLP scores of the overlapping windows merged into the
//! box, so a clear face found at many positions and scales scores high
//! (20–60), a doubtful one near the threshold ([`SCORE_THRESHOLD`]). It is
//! mapped to 0–1 by `s / (s + HALF_CONFIDENCE_SCORE)`: monotonic (the order
//! is the detector's), 0 at 0, ½ at [`HALF_CONFIDENCE_SCORE`], → 1 as the
//! score grows; the threshold itself maps to about 0.17.

use std::io::Cursor;

use drake_imaging::Picture;
use drake_sdk::{TaskError, Value};
use rustface::ImageData;

use crate::limits::{
    HALF_CONFIDENCE_SCORE, MIN_FACE, MIN_WORKING_SIDE, PYRAMID_SCALE, SCORE_THRESHOLD, WINDOW_STEP,
};

/// The SeetaFace frontal model (1.2 MB, BSD-2-Clause, see
/// `NOTICE-seetaface`), from the `rustface` crate package (`build.rs`
/// finds it).
static MODEL: &[u8] = include_bytes!(env!("DRAKE_SEETA_MODEL"));

/// Transparent pixels are seen over white, as a viewer on a page shows
/// them.
const BACKGROUND: [u8; 3] = [255, 255, 255];

/// A face, in pixels of the full upright image.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// 0–1, see the module doc.
    pub confidence: f64,
}

impl Face {
    /// The JSON object of the `faces` list.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            // Six decimals: more is noise, and stable output diffs well.
            "confidence": (self.confidence * 1e6).round() / 1e6,
            "type": "frontal",
        })
    }
}

/// The detector score mapped to 0–1 (see the module doc).
pub fn confidence(score: f64) -> f64 {
    if score.is_nan() || score <= 0.0 {
        return 0.0;
    }
    score / (score + HALF_CONFIDENCE_SCORE)
}

/// The faces of `picture`, most confident first.
pub fn faces(picture: &Picture) -> Result<Vec<Face>, TaskError> {
    let grey = picture.luma(BACKGROUND);
    let (w, h) = grey.dimensions();
    if w.min(h) < MIN_WORKING_SIDE {
        return Ok(Vec::new());
    }
    let model = rustface::read_model(Cursor::new(MODEL))
        .map_err(|e| TaskError::Failed(format!("the face model could not be loaded: {e}")))?;
    let mut detector = rustface::create_detector_with_model(model);
    detector.set_min_face_size(MIN_FACE);
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(PYRAMID_SCALE);
    detector.set_slide_window_step(WINDOW_STEP, WINDOW_STEP);
    let found = detector.detect(&ImageData::new(grey.as_raw(), w, h));

    let (sx, sy) = picture.scale();
    let mut faces: Vec<Face> = found
        .iter()
        .filter_map(|f| {
            let b = f.bbox();
            // Boxes may overhang the image edge: clamp in working pixels,
            // then scale to the full image.
            let x0 = f64::from(b.x().max(0));
            let y0 = f64::from(b.y().max(0));
            let x1 = (f64::from(b.x()) + f64::from(b.width())).min(f64::from(w));
            let y1 = (f64::from(b.y()) + f64::from(b.height())).min(f64::from(h));
            if x1 <= x0 || y1 <= y0 {
                return None;
            }
            let (fx0, fy0) = ((x0 * sx).round() as u32, (y0 * sy).round() as u32);
            let (fx1, fy1) = (
                ((x1 * sx).round() as u32).min(picture.width),
                ((y1 * sy).round() as u32).min(picture.height),
            );
            Some(Face {
                x: fx0,
                y: fy0,
                width: fx1.saturating_sub(fx0).max(1),
                height: fy1.saturating_sub(fy0).max(1),
                confidence: confidence(f.score()),
            })
        })
        .collect();
    faces.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.y.cmp(&b.y))
            .then(a.x.cmp(&b.x))
    });
    Ok(faces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_monotonic_in_0_1() {
        assert_eq!(confidence(0.0), 0.0);
        assert_eq!(confidence(-3.0), 0.0);
        assert_eq!(confidence(f64::NAN), 0.0);
        assert_eq!(confidence(HALF_CONFIDENCE_SCORE), 0.5);
        let mut last = 0.0;
        for s in 1..200 {
            let c = confidence(f64::from(s) / 2.0);
            assert!(c > last && c < 1.0);
            last = c;
        }
    }

    #[test]
    fn the_model_loads() {
        assert!(rustface::read_model(Cursor::new(MODEL)).is_ok());
    }
}
