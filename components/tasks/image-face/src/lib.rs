//! `image.face`: the frontal faces in an image, found by the SeetaFace
//! funnel-structured cascade (the `rustface` port, model embedded in the
//! component), as boxes in the upright image with a 0–1 confidence.
//!
//! The steps, in order:
//!
//! 1. [`drake_imaging::load`] — fetch, pixel cap from the headers, decode,
//!    EXIF orientation, shrunk to at most [`limits::MAX_WORKING_SIDE`];
//! 2. `detect::faces` — grey levels (transparency on white), the cascade,
//!    boxes scaled back to the full upright image and clamped to it;
//! 3. the list, most confident first.

drake_sdk::task!(ImageFace);

mod detect;
pub mod limits;

use drake_imaging::Size;
use drake_sdk::{Ctx, Task, TaskError, Value, Values};
use schemars::JsonSchema;
use serde::Deserialize;

pub use detect::{Face, confidence};

/// The `image.face` task.
pub struct ImageFace;

/// Parameters of `image.face`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the image (JPEG, PNG, GIF or WebP; the first frame of an
    /// animation).
    pub url: String,
}

impl Task for ImageFace {
    const NAME: &'static str = "image.face";
    const SUMMARY: &'static str =
        "Find the frontal faces in an image: boxes in pixels with a 0-1 confidence.";
    const VALUES: &'static [&'static str] = &["faces"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let side = limits::MAX_WORKING_SIDE;
        let picture = drake_imaging::load(ctx, &p.url, "url", Size::Within(side, side))?;
        ctx.progress(30);
        let faces = detect::faces(&picture)?;
        let faces: Vec<Value> = faces.iter().map(Face::to_json).collect();
        Ok(drake_sdk::values([("faces", faces.into())]))
    }
}
