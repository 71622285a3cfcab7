//! `image.smartcrop`: the most (or least) interesting boxes of a given
//! aspect ratio in an image, for cropping. "Interesting" is local entropy:
//! detail, edges and texture, as opposed to flat background.
//!
//! The steps, in order:
//!
//! 1. [`drake_imaging::load`] — fetch, pixel cap from the headers, decode,
//!    EXIF orientation, shrunk to [`limits::WORKING_SIDE`] px on the long
//!    side (boxes are still placed and sized in full-image pixels);
//! 2. [`boxes::box_size`] and [`boxes::step`] — the box size and the
//!    sliding step, from the full upright size and the parameters (their
//!    reading is documented in [`boxes`]);
//! 3. [`entropy::Entropy`] — the local entropy of the grey levels
//!    (transparency on white) and its summed-area table;
//! 4. every window position scored by its mean entropy (0–1; boxes all
//!    have one size, so mean and sum rank alike), then
//!    [`boxes::choose`] keeps non-overlapping ones greedily.
//!
//! An image too small for one box of the ratio (a 1x1 image and a 16:9
//! box) has no box: `points` is empty.

drake_sdk::task!(ImageSmartcrop);

pub mod boxes;
pub mod entropy;
pub mod limits;

use drake_imaging::Size;
use drake_sdk::{Ctx, Task, TaskError, Value, Values};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::boxes::Window;
use crate::entropy::Entropy;

/// The `image.smartcrop` task.
pub struct ImageSmartcrop;

/// Parameters of `image.smartcrop`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the image (JPEG, PNG, GIF or WebP; the first frame of an
    /// animation).
    pub url: String,
    /// Width / height of the boxes. Sizes are whole pixels: the shorter
    /// side is free and the longer one is the shorter times the ratio (or
    /// its inverse), rounded.
    #[serde(default = "default_aspect_ratio")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub aspect_ratio: f64,
    /// Most boxes returned (fewer when no more fit without overlapping).
    #[serde(default = "default_boxes_number")]
    #[schemars(range(min = 1, max = 1000))]
    pub boxes_number: u32,
    /// Distance between neighbouring window positions, as a fraction of
    /// the image diagonal (at least one pixel).
    #[serde(default = "default_step_ratio")]
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 1))]
    pub step_ratio: f64,
    /// Diagonal of the boxes as a fraction of the image diagonal (boxes
    /// that would not fit are shrunk to fit, ratio kept).
    #[serde(default = "default_diag_ratio")]
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 1))]
    pub diag_ratio: f64,
    /// `true` lists the least interesting boxes first (chosen greedily
    /// from the least interesting).
    #[serde(default)]
    pub reverse: bool,
}

fn default_aspect_ratio() -> f64 {
    1.777_777_777_777_777_7
}

fn default_boxes_number() -> u32 {
    10
}

fn default_step_ratio() -> f64 {
    0.03
}

fn default_diag_ratio() -> f64 {
    0.3
}

/// Transparent pixels are seen over white, as a viewer on a page shows
/// them.
const BACKGROUND: [u8; 3] = [255, 255, 255];

impl Task for ImageSmartcrop {
    const NAME: &'static str = "image.smartcrop";
    const SUMMARY: &'static str =
        "Find the most interesting non-overlapping boxes of an aspect ratio in an image.";
    const VALUES: &'static [&'static str] = &["points"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let side = limits::WORKING_SIDE;
        let picture = drake_imaging::load(ctx, &p.url, "url", Size::Within(side, side))?;
        ctx.progress(50);
        let full = (picture.width, picture.height);
        let Some(size) = boxes::box_size(full, p.aspect_ratio, p.diag_ratio) else {
            return Ok(drake_sdk::values([("points", Value::Array(Vec::new()))]));
        };
        let step = boxes::step(full, p.step_ratio);
        let entropy = Entropy::new(&picture.luma(BACKGROUND));
        let (sx, sy) = picture.scale();
        // Full-image pixels to working pixels, rounded to the nearest edge.
        let wx = |x: u32| (f64::from(x) / sx).round() as usize;
        let wy = |y: u32| (f64::from(y) / sy).round() as usize;
        let xs = boxes::positions(full.0, size.0, step);
        let ys = boxes::positions(full.1, size.1, step);
        let mut windows = Vec::with_capacity(xs.len() * ys.len());
        for &y in &ys {
            for &x in &xs {
                let (x0, y0) = (wx(x), wy(y));
                // At least one working pixel, so tiny boxes still score.
                let x1 = wx(x + size.0).max(x0 + 1);
                let y1 = wy(y + size.1).max(y0 + 1);
                windows.push(Window {
                    x,
                    y,
                    score: entropy.mean(x0, y0, x1, y1),
                });
            }
        }
        let count = p.boxes_number.min(limits::MAX_BOXES) as usize;
        let points: Vec<Value> = boxes::choose(windows, size, count, p.reverse)
            .into_iter()
            .map(|w| {
                serde_json::json!({
                    "x": w.x,
                    "y": w.y,
                    "width": size.0,
                    "height": size.1,
                    "score": (w.score * 1e4).round() / 1e4,
                })
            })
            .collect();
        Ok(drake_sdk::values([("points", points.into())]))
    }
}
