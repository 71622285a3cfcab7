//! The image.thumb pipeline, imgproxy style: one small function per step,
//! and the order written once, here.
//!
//! 1. [`fetch`] — download, capped at [`limits::MAX_INPUT_BYTES`];
//! 2. [`probe::probe`] — format and size from the headers only;
//! 3. [`limits::check_source`] — the pixel cap, before anything is decoded;
//! 4. [`Source::open`] — decoder ready, EXIF orientation and ICC profile
//!    read (decoding, resizing and the caps shared with the other image
//!    tasks are `drake-imaging`'s);
//! 5. [`plan::plan`] — thumbnail size and crop, decided in the *viewed*
//!    frame (after EXIF orientation and the `rotation` parameter);
//! 6. [`limits::check_output`] — the thumbnail cap;
//! 7. for the first frame, or every frame of an animation kept as GIF or
//!    WebP,
//!    [`Source::decode_first`] (a JPEG at a DCT scale) or the animation's
//!    frames, then [`thumbnail`]: [`resize::resize`] → [`colour::to_srgb`]
//!    → [`orient::orient`] → [`poster::draw`];
//! 8. [`encode`] — JPEG (quality 85), PNG or GIF in the guest; WebP or AVIF
//!    by the native encoders behind the ffmpeg capability
//!    ([`drake_imaging::native`]);
//! 9. publish `output` and return the sizes.
//!
//! ## Why the resize comes before the turn
//!
//! The spec orders the geometry "EXIF orientation, then rotation, then
//! resize". The plan honours that order — sizes and the crop are decided on
//! the turned image — but the pixels are resized *in the stored frame* first
//! (to the planned size with width and height swapped when the turn swaps
//! them) and the small result is turned afterwards. Turning and flipping
//! commute with a centred resize, so the picture is the same, and the
//! full-size source is never copied just to turn it.

mod encode;
mod orient;
mod plan;
mod poster;

use drake_sdk::{Ctx, TaskError, Values};
use image::DynamicImage;

use drake_imaging::decode::Source;
use drake_imaging::{colour, fetch, probe, resize};

use crate::{Params, limits};
use plan::Plan;

/// Run the whole pipeline.
pub fn run(ctx: &mut dyn Ctx, p: &Params) -> Result<Values, TaskError> {
    let bytes = fetch(ctx, &p.url, "url")?;
    ctx.progress(20);
    let header = probe::probe(&bytes)?;
    limits::check_source(header.width, header.height, header.progressive)?;
    let source = Source::open(bytes, &header)?;
    let plan = plan::plan(
        (header.width, header.height),
        source.orientation,
        p.rotation,
        p.width,
        p.height,
        p.crop,
    );
    limits::check_output(plan.output.0, plan.output.1, plan.resized())?;
    let look = Look {
        poster: p.poster,
        icc: source.icc_profile(),
    };

    let animate = p.format.animates() && source.is_animated();
    let output = if animate {
        let (loop_count, frames) = source.into_frames()?;
        let thumbs = frames.map(|frame| {
            let (img, delay) = frame?;
            Ok((thumbnail(img, &plan, &look)?, delay))
        });
        encode::animation(ctx, p.format, loop_count, thumbs)?
    } else {
        let img = source.decode_first(ctx, plan.stored, plan.stored_output)?;
        ctx.progress(60);
        let img = thumbnail(img, &plan, &look)?;
        encode::still(ctx, img, p.format)?
    };
    ctx.progress(90);

    let (content_type, extension) = p.format.file_type();
    ctx.publish("output", &output, content_type, extension)?;
    Ok(drake_sdk::values([
        ("width", plan.output.0.into()),
        ("height", plan.output.1.into()),
        ("original_width", plan.original.0.into()),
        ("original_height", plan.original.1.into()),
    ]))
}

/// What is drawn on every frame besides the geometry.
struct Look {
    poster: bool,
    /// The source's colour profile (RGB or grey), converted to sRGB.
    icc: Option<moxcms::ColorProfile>,
}

/// Step 7 for one decoded frame (stored frame, any of L8, La8, Rgb8, Rgba8):
/// the thumbnail as delivered, Rgb8 or Rgba8 in sRGB.
fn thumbnail(img: DynamicImage, plan: &Plan, look: &Look) -> Result<DynamicImage, TaskError> {
    let img = resize::resize(img, plan.stored_output, plan.crop)?;
    let img = colour::to_srgb(img, look.icc.as_ref());
    let img = orient::orient(img, plan.orientation, plan.rotation);
    let img = if look.poster { poster::draw(img) } else { img };
    Ok(img)
}
