//! `image.gif`: an animated GIF from a list of images, one frame each.
//!
//! The steps, in order:
//!
//! 1. [`limits::check_frames`] and, when `width` and `height` are both
//!    given, [`limits::check_output`] — before anything is fetched;
//! 2. open the first image ([`drake_imaging::fetch`] and
//!    [`drake_imaging::open`]: pixel cap from the headers, EXIF orientation)
//!    for the default canvas size: its size as shot, or the missing side
//!    from its aspect ratio; then [`limits::check_output`];
//! 3. for every image in turn (one decoded at a time): decode it fitted
//!    inside the canvas (aspect ratio kept, scaled up or down),
//!    [`canvas::letterbox`] it (centred, black bands, transparency on
//!    white), [`quantize::quantize`] it (own palette, dithered), and write
//!    the frame;
//! 4. publish `output` (`image/gif`).
//!
//! Every frame shows for `frame_duration` seconds, rounded to GIF's 1/100 s
//! (at least 1/100 s). `loop` is written as the GIF loop count (NETSCAPE2.0
//! extension, as ImageMagick's `-loop`): 0 repeats forever.

drake_sdk::task!(ImageGif);

mod canvas;
pub mod limits;
mod quantize;

use std::borrow::Cow;

use drake_imaging::{Opened, Size};
use drake_sdk::{Ctx, Task, TaskError, Values};
use schemars::JsonSchema;
use serde::Deserialize;

/// The `image.gif` task.
pub struct ImageGif;

/// Parameters of `image.gif`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URLs of the images, one frame each, in order (JPEG, PNG, GIF or
    /// WebP; the first frame of an animation). At most 100.
    #[schemars(length(min = 1))]
    pub images: Vec<String>,
    /// How many times the animation repeats; 0 repeats forever.
    #[serde(default, rename = "loop")]
    #[schemars(range(max = 65535))]
    pub loop_count: u32,
    /// Seconds each frame shows, rounded to 1/100 s (at least 0.01 s).
    #[serde(default = "default_frame_duration")]
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 655.35))]
    pub frame_duration: f64,
    /// Width of the animation in pixels. Default: the first image's width
    /// as shot, or from `height` and the first image's aspect ratio.
    /// Images of another shape are fitted inside and centred on black.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub width: Option<u32>,
    /// Height of the animation in pixels. Default: the first image's
    /// height as shot, or from `width` and the first image's aspect ratio.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub height: Option<u32>,
}

fn default_frame_duration() -> f64 {
    0.1
}

impl Task for ImageGif {
    const NAME: &'static str = "image.gif";
    const SUMMARY: &'static str = "Make an animated GIF from a list of images, one frame each.";
    const VALUES: &'static [&'static str] = &["width", "height", "frames"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let count = p.images.len();
        limits::check_frames(count)?;
        if let (Some(w), Some(h)) = (p.width, p.height) {
            limits::check_output(w, h, count)?;
        }
        let Some(first_url) = p.images.first() else {
            return Err(TaskError::parameter("images", "needs at least 1 item(s)"));
        };
        let first = open_frame(ctx, 0, first_url)?;
        let size = canvas_size(first.shot_size(), p.width, p.height);
        limits::check_output(size.0, size.1, count)?;
        let (w16, h16) = (side(size.0)?, side(size.1)?);

        let mut encoder = gif::Encoder::new(Vec::new(), w16, h16, &[]).map_err(gif_error)?;
        let repeat = match u16::try_from(p.loop_count) {
            Ok(0) => gif::Repeat::Infinite,
            Ok(n) => gif::Repeat::Finite(n),
            Err(_) => return Err(TaskError::parameter("loop", "must be at most 65535")),
        };
        encoder.set_repeat(repeat).map_err(gif_error)?;
        let delay = centiseconds(p.frame_duration);

        let mut first = Some(first);
        for (i, url) in p.images.iter().enumerate() {
            let opened = match first.take() {
                Some(opened) => opened,
                None => open_frame(ctx, i, url)?,
            };
            let picture = opened
                .decode(ctx, Size::Fit(size.0, size.1))
                .map_err(|e| in_frame(i, e))?;
            let frame = canvas::letterbox(&picture, size);
            drop(picture);
            let indexed = quantize::quantize(&frame);
            drop(frame);
            let frame = gif::Frame {
                width: w16,
                height: h16,
                delay,
                palette: Some(indexed.palette),
                buffer: Cow::Owned(indexed.indices),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).map_err(gif_error)?;
            ctx.progress((5 + 90 * (i + 1) / count).min(95) as u8);
        }
        let bytes = encoder.into_inner().map_err(gif_error)?;
        ctx.publish("output", &bytes, "image/gif", "gif")?;
        Ok(drake_sdk::values([
            ("width", size.0.into()),
            ("height", size.1.into()),
            ("frames", count.into()),
        ]))
    }
}

/// Fetch and open image `i`; errors name it (`images[i]: …`).
fn open_frame(ctx: &mut dyn Ctx, i: usize, url: &str) -> Result<Opened, TaskError> {
    let label = format!("images[{i}]");
    let bytes = drake_imaging::fetch(ctx, url, &label).map_err(|e| match e {
        // A parameter error is keyed by the parameter, the item named in
        // the message (as the validator does for list items).
        TaskError::InvalidParameters(map) => TaskError::InvalidParameters(
            [(
                "images".to_owned(),
                map.into_values()
                    .flatten()
                    .map(|m| format!("item {i}: {m}"))
                    .collect(),
            )]
            .into(),
        ),
        other => other,
    })?;
    drake_imaging::open(bytes).map_err(|e| in_frame(i, e))
}

/// `e` about image `i`.
fn in_frame(i: usize, e: TaskError) -> TaskError {
    match e {
        TaskError::InvalidInput(m) => TaskError::InvalidInput(format!("images[{i}]: {m}")),
        TaskError::Limit(m) => TaskError::Limit(format!("images[{i}]: {m}")),
        TaskError::Failed(m) => TaskError::Failed(format!("images[{i}]: {m}")),
        other => other,
    }
}

/// The canvas: `width` and `height` when given, the missing one from the
/// first image's aspect ratio, or the first image's size as shot.
pub fn canvas_size(first: (u32, u32), width: Option<u32>, height: Option<u32>) -> (u32, u32) {
    let (fw, fh) = (f64::from(first.0.max(1)), f64::from(first.1.max(1)));
    let other = |len: u32, ratio: f64| {
        ((f64::from(len) * ratio).round().max(1.0)).min(f64::from(u32::MAX)) as u32
    };
    match (width, height) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, other(w, fh / fw)),
        (None, Some(h)) => (other(h, fw / fh), h),
        (None, None) => first,
    }
}

/// A side as GIF stores it (checked by `limits::check_output` first).
fn side(len: u32) -> Result<u16, TaskError> {
    u16::try_from(len)
        .map_err(|_| TaskError::Limit(format!("a GIF side is at most 65535 pixels, not {len}")))
}

/// `seconds` in GIF delay units (1/100 s), at least 1.
pub fn centiseconds(seconds: f64) -> u16 {
    let cs = (seconds * 100.0).round();
    if cs.is_finite() {
        cs.clamp(1.0, f64::from(u16::MAX)) as u16
    } else {
        1
    }
}

fn gif_error(e: gif::EncodingError) -> TaskError {
    TaskError::Failed(format!("the GIF could not be written: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canvas_sizes() {
        assert_eq!(canvas_size((400, 300), None, None), (400, 300));
        assert_eq!(canvas_size((400, 300), Some(200), None), (200, 150));
        assert_eq!(canvas_size((400, 300), None, Some(30)), (40, 30));
        assert_eq!(canvas_size((400, 300), Some(10), Some(90)), (10, 90));
        assert_eq!(canvas_size((4000, 1), Some(10), None), (10, 1));
    }

    #[test]
    fn delays() {
        assert_eq!(centiseconds(0.1), 10);
        assert_eq!(centiseconds(0.004), 1);
        assert_eq!(centiseconds(0.016), 2);
        assert_eq!(centiseconds(1.234), 123);
        assert_eq!(centiseconds(1e9), 65535);
        assert_eq!(centiseconds(f64::NAN), 1);
    }
}
