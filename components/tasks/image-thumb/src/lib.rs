//! `image.thumb`: a thumbnail of a JPEG, PNG, GIF, WebP or AVIF image,
//! fitted in or cropped to a box, turned upright from its EXIF orientation,
//! optionally rotated and marked with a "play" icon, written as JPEG, PNG,
//! GIF, WebP or AVIF.
//!
//! This file holds the parameters; `steps` is the pipeline (its order is
//! listed once, in `steps/mod.rs`) and `limits` every cap with its reason.

drake_sdk::task!(ImageThumb);

pub mod limits;
mod steps;

use drake_sdk::{Ctx, Task, TaskError, Values};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `image.thumb` task.
pub struct ImageThumb;

/// Parameters of `image.thumb`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the image (JPEG, PNG, GIF, WebP or AVIF).
    pub url: String,
    /// Width of the box in pixels. Without `height`, the height follows the
    /// aspect ratio; without both, the thumbnail keeps the source size.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub width: Option<u32>,
    /// Height of the box in pixels. Without `width`, the width follows the
    /// aspect ratio.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub height: Option<u32>,
    /// With both `width` and `height`: `false` fits the whole image inside
    /// the box (one side may be shorter), `true` fills the box exactly and
    /// crops the overflow evenly on both sides.
    #[serde(default)]
    pub crop: bool,
    /// Extra rotation in degrees counter-clockwise, applied after the EXIF
    /// orientation and before sizing (the box applies to the rotated image).
    #[serde(default)]
    pub rotation: Rotation,
    /// Draw a translucent "play" icon in the centre (video posters).
    #[serde(default)]
    pub poster: bool,
    /// Output format. An animated GIF or WebP stays animated with `gif` and
    /// `webp`.
    #[serde(default)]
    pub format: Format,
}

/// Output format of the thumbnail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG, quality 85; transparency is flattened on white.
    #[default]
    Jpeg,
    /// GIF (animated when the source is an animated GIF or WebP).
    Gif,
    /// PNG, keeping transparency.
    Png,
    /// Lossy WebP (libwebp, quality 90: the SSIM of JPEG 85 in about 85%
    /// of its bytes), keeping transparency; animated when the source is.
    Webp,
    /// AVIF (AV1 by libaom, 4:2:0): the SSIM of JPEG 85 in about 70% of its
    /// bytes, keeping transparency.
    Avif,
}

impl Format {
    /// Content type and file extension of the output.
    pub fn file_type(self) -> (&'static str, &'static str) {
        match self {
            Format::Jpeg => ("image/jpeg", "jpg"),
            Format::Png => ("image/png", "png"),
            Format::Gif => ("image/gif", "gif"),
            Format::Webp => ("image/webp", "webp"),
            Format::Avif => ("image/avif", "avif"),
        }
    }

    /// Whether an animated source stays animated.
    pub fn animates(self) -> bool {
        matches!(self, Format::Gif | Format::Webp)
    }
}

/// A quarter-turn rotation, counter-clockwise: 0, 90, 180 or 270.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "u32", into = "u32")]
pub enum Rotation {
    /// No rotation.
    #[default]
    R0,
    /// A quarter turn counter-clockwise.
    R90,
    /// Half a turn.
    R180,
    /// Three quarter turns counter-clockwise (one clockwise).
    R270,
}

impl Rotation {
    /// The choices, in the order the error message lists them.
    const CHOICES: [u32; 4] = [0, 90, 180, 270];

    /// Whether it swaps width and height.
    pub fn is_quarter(self) -> bool {
        matches!(self, Rotation::R90 | Rotation::R270)
    }
}

impl TryFrom<u32> for Rotation {
    type Error = String;
    fn try_from(degrees: u32) -> Result<Self, String> {
        match degrees {
            0 => Ok(Rotation::R0),
            90 => Ok(Rotation::R90),
            180 => Ok(Rotation::R180),
            270 => Ok(Rotation::R270),
            other => Err(format!(
                "{other} is not a valid choice, choose one of: 0, 90, 180, 270"
            )),
        }
    }
}

impl From<Rotation> for u32 {
    fn from(r: Rotation) -> u32 {
        match r {
            Rotation::R0 => 0,
            Rotation::R90 => 90,
            Rotation::R180 => 180,
            Rotation::R270 => 270,
        }
    }
}

impl JsonSchema for Rotation {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rotation".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // An integer enum, so the validator answers a bad value with
        // `45 is not a valid choice, choose one of: 0, 90, 180, 270`.
        schemars::json_schema!({
            "type": "integer",
            "enum": Rotation::CHOICES,
        })
    }
}

impl Task for ImageThumb {
    const NAME: &'static str = "image.thumb";
    const SUMMARY: &'static str =
        "Make a thumbnail of an image: fit or crop to a box, rotate, add a play icon.";
    const VALUES: &'static [&'static str] =
        &["width", "height", "original_width", "original_height"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        steps::run(ctx, &p)
    }
}
