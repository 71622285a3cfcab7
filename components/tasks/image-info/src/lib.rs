//! `image.info`: what an image is, read from its headers and EXIF only —
//! no pixel is decoded, so any image up to the download cap is cheap.
//!
//! The steps, in order (each a small function below or in a module):
//!
//! 1. `fetch` the bytes (capped at `MAX_INPUT_BYTES`);
//! 2. `sniff::sniff` the format from its magic bytes (jpeg, png, gif, webp,
//!    avif);
//! 3. `header`: width, height and alpha from the container headers;
//! 4. `exif::read`: orientation and camera fields from the EXIF block
//!    (JPEG APP1, PNG `eXIf`, WebP `EXIF`, the AVIF `Exif` item). In AVIF
//!    the orientation is the container's turn and mirror (`irot`, `imir`),
//!    as MIAF says and browsers show it; an EXIF orientation tag there is
//!    ignored.
//!
//! Dimensions are reported **as stored** in the file (the pixel grid a
//! decoder produces), not as shot: `rotation` says how many degrees
//! counter-clockwise to turn the stored image to view it as shot. This keeps
//! `width`/`height` true to the file, and matches video.info, whose
//! `rotation` also describes the stored frame.

drake_sdk::task!(ImageInfo);

mod exif;
mod gif;
mod sniff;

use std::io::Cursor;

use drake_sdk::{Ctx, Task, TaskError, Value, Values};
use image::ImageDecoder;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::sniff::Format;

/// Largest download accepted: image.info reads headers only, but the whole
/// file is fetched; 64 MiB covers any real photo and keeps the copy small
/// beside the 512 MiB instance.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// The `image.info` task.
pub struct ImageInfo;

/// Parameters of `image.info`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the image (JPEG, PNG, GIF, WebP or AVIF).
    pub url: String,
}

impl Task for ImageInfo {
    const NAME: &'static str = "image.info";
    const SUMMARY: &'static str =
        "Describe an image: format, size, alpha, EXIF orientation and camera settings.";
    const VALUES: &'static [&'static str] = &[
        "content_type",
        "type",
        "width",
        "height",
        "alpha",
        "rotation",
        "exif_orientation",
        "date_time",
        "flash",
        "focal_length",
        "iso_speed",
        "exposure_time",
    ];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let bytes = fetch(ctx, &p.url)?;
        let format = sniff::sniff(&bytes)?;
        let header = header(&bytes, format)?;
        let mut exif = header.exif.as_deref().map(exif::read).unwrap_or_default();
        if header.orientation.is_some() {
            exif.orientation = header.orientation;
        }
        Ok(values(format, &header, &exif))
    }
}

/// Step 1: the whole file, under the image download cap.
fn fetch(ctx: &mut dyn Ctx, url: &str) -> Result<Vec<u8>, TaskError> {
    let input = ctx
        .fetch(url, Some(MAX_INPUT_BYTES))
        .map_err(|e| e.into_task_error("url"))?;
    Ok(input.read_all())
}

/// What the container headers say.
#[derive(Debug)]
struct Header {
    width: u32,
    height: u32,
    alpha: bool,
    /// The raw EXIF (TIFF) block, when the container has one.
    exif: Option<Vec<u8>>,
    /// The orientation the container itself gives (AVIF), overriding EXIF.
    orientation: Option<u8>,
}

/// Step 3: dimensions, alpha and the EXIF block from the headers. The
/// `image` decoders read only the headers when constructed; no pixels are
/// decoded here.
fn header(bytes: &[u8], format: Format) -> Result<Header, TaskError> {
    let unreadable = |e: image::ImageError| {
        TaskError::InvalidInput(format!("the image headers could not be read: {e}"))
    };
    let Some(image_format) = format.image_format() else {
        return avif_header(bytes);
    };
    let mut decoder = image::ImageReader::with_format(Cursor::new(bytes), image_format)
        .into_decoder()
        .map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(TaskError::InvalidInput(
            "the image has no pixels".to_owned(),
        ));
    }
    let alpha = match format {
        // The GIF decoder always says RGBA; look for a transparent colour.
        Format::Gif => gif::has_transparency(bytes),
        // PNG (RGBA, LA or a tRNS chunk, expanded by the decoder) and WebP
        // (VP8X alpha flag or VP8L alpha bit) report it in the colour type.
        Format::Png | Format::Webp => decoder.color_type().has_alpha(),
        Format::Jpeg | Format::Avif => false,
    };
    // A damaged metadata block is not a damaged image: report no EXIF.
    let exif = decoder.exif_metadata().ok().flatten();
    Ok(Header {
        width,
        height,
        alpha,
        exif,
        orientation: None,
    })
}

/// Step 3 for AVIF: the primary item's size, its alpha item, the `Exif`
/// item, and the turn and mirror as an EXIF orientation.
fn avif_header(bytes: &[u8]) -> Result<Header, TaskError> {
    let avif = drake_imaging::avif::parse(bytes).map_err(|e| {
        TaskError::InvalidInput(format!("the image headers could not be read: {e}"))
    })?;
    if avif.width == 0 || avif.height == 0 {
        return Err(TaskError::InvalidInput(
            "the image has no pixels".to_owned(),
        ));
    }
    Ok(Header {
        width: avif.width,
        height: avif.height,
        alpha: avif.alpha.is_some(),
        exif: avif.exif,
        orientation: Some(avif.orientation.to_exif()),
    })
}

/// The result object.
fn values(format: Format, header: &Header, exif: &exif::Fields) -> Values {
    let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
    drake_sdk::values([
        ("content_type", format.content_type().into()),
        ("type", "image".into()),
        ("width", header.width.into()),
        ("height", header.height.into()),
        ("alpha", header.alpha.into()),
        ("rotation", opt(exif.rotation().map(Value::from))),
        ("exif_orientation", opt(exif.orientation.map(Value::from))),
        ("date_time", opt(exif.date_time.clone().map(Value::from))),
        ("flash", opt(exif.flash.map(Value::from))),
        ("focal_length", opt(exif.focal_length.map(Value::from))),
        ("iso_speed", opt(exif.iso_speed.map(Value::from))),
        ("exposure_time", opt(exif.exposure_time.map(Value::from))),
    ])
}
