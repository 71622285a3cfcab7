//! `image.saliency`: where the eye goes first — the local maxima of a
//! spectral-residual saliency map (Hou & Zhang, CVPR 2007), strongest
//! first, in pixels of the upright image.
//!
//! The steps, in order:
//!
//! 1. [`drake_imaging::load`] — fetch, pixel cap from the headers, decode,
//!    EXIF orientation, shrunk to [`limits::WORKING_SIDE`] px on the long
//!    side;
//! 2. [`spectral::saliency_map`] — grey levels (transparency on white),
//!    the spectral residual, blurred, scaled to 0–1;
//! 3. [`peaks::peaks`] — its local maxima, strongest first, at most
//!    [`limits::MAX_POINTS`], mapped to the centre of their map cell in
//!    the full upright image.

drake_sdk::task!(ImageSaliency);

pub mod limits;
pub mod peaks;
pub mod spectral;

use drake_imaging::Size;
use drake_sdk::{Ctx, Task, TaskError, Value, Values};
use schemars::JsonSchema;
use serde::Deserialize;

/// The `image.saliency` task.
pub struct ImageSaliency;

/// Parameters of `image.saliency`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the image (JPEG, PNG, GIF or WebP; the first frame of an
    /// animation).
    pub url: String,
}

/// Transparent pixels are seen over white, as a viewer on a page shows
/// them.
const BACKGROUND: [u8; 3] = [255, 255, 255];

impl Task for ImageSaliency {
    const NAME: &'static str = "image.saliency";
    const SUMMARY: &'static str =
        "Find the salient points of an image (spectral residual saliency), strongest first.";
    const VALUES: &'static [&'static str] = &["points"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let side = limits::WORKING_SIDE;
        let picture = drake_imaging::load(ctx, &p.url, "url", Size::Within(side, side))?;
        ctx.progress(50);
        let map = spectral::saliency_map(&picture.luma(BACKGROUND));
        let (sx, sy) = picture.scale();
        let points: Vec<Value> = peaks::peaks(&map)
            .into_iter()
            .map(|p| {
                // The centre of the map cell, in full-image pixels.
                let x = ((f64::from(p.x) + 0.5) * sx).floor() as u32;
                let y = ((f64::from(p.y) + 0.5) * sy).floor() as u32;
                serde_json::json!({
                    "x": x.min(picture.width - 1),
                    "y": y.min(picture.height - 1),
                    "value": (f64::from(p.value) * 1e4).round() / 1e4,
                })
            })
            .collect();
        Ok(drake_sdk::values([("points", points.into())]))
    }
}
