//! The codecs drake leaves to native code behind the host's ffmpeg
//! capability (every job sandboxed like any ffmpeg job: no network, a
//! scratch directory, CPU, memory and output caps):
//!
//! - **lossy WebP** with libwebp, the reference encoder (sharp's too): no
//!   lossy WebP encoder of that quality exists in Rust, and libwebp does
//!   not build for `wasm32-wasip2` without a C toolchain for it;
//! - **AVIF** written with libaom in its all-intra mode and read with
//!   dav1d: the Rust AV1 encoder (rav1e) runs several times slower without
//!   its assembly, and no Rust AV1 decoder builds for wasm;
//! - **still WebP** read by ffmpeg's decoder, resampled on load (the
//!   resize done natively, no full-size image in the guest); `image-webp`
//!   stays for animated WebP and where there is no ffmpeg.
//!
//! Pixels cross as raw frames, so no format is parsed twice; the AVIF
//! container is read in the guest ([`crate::avif`]) and ffmpeg sees bare
//! AV1 data. On Spin, which has no ffmpeg, the encoders and the AVIF
//! decoder fail with an error saying so.

use drake_sdk::media::{FfmpegError, Job, JobInput, opts};
use drake_sdk::{Ctx, Input, MemInput, TaskError};
use image::metadata::LoopCount;
use image::{Delay, DynamicImage, GrayImage, RgbImage, RgbaImage};

use crate::avif::Avif;

/// libwebp quality (0–100), chosen for the SSIM of drake's JPEG at
/// quality 85: on the bench's photo thumbnails WebP at 90 is within 0.001
/// of it (±) at 78–99% of the bytes of that (4:2:0) JPEG; at 80 (cwebp's
/// default) it is 0.004–0.006 lower (bench/README.md, "Output formats").
pub const WEBP_QUALITY: &str = "90";

/// libwebp effort (`-m`, 0–6): 4 is libwebp's and sharp's default.
const WEBP_METHOD: &str = "4";

/// AV1 constant quality for AVIF (0–63, lower is better), chosen the same
/// way: at 12 the SSIM is within 0.0005 of JPEG 85's at 65–87% of its
/// bytes (SSIM penalises AV1's smoothing; at 30 a photo looks as good to
/// the eye in a third of the bytes, but measures 0.008 lower).
pub const AVIF_CRF: &str = "12";

/// libaom speed (0–8) in all-intra mode: 8, the fastest, takes about 70%
/// of 6's time for about 8% more bytes — a thumbnail is made on request.
const AVIF_SPEED: &str = "8";

/// AV1's temporal delimiter OBU: the `obu` demuxer splits temporal units
/// on it, and AVIF writers other than libavif leave it out.
const TEMPORAL_DELIMITER: [u8; 2] = [0x12, 0x00];

/// Resampling for the AVIF and WebP decodes' shrink-on-load: Lanczos, as
/// the in-guest resize does.
const SCALE_FLAGS: &str = "lanczos";

fn encoding_failed(format: &str, e: FfmpegError) -> TaskError {
    match e {
        FfmpegError::Limit(m) => TaskError::Limit(m),
        e => TaskError::Failed(format!("the {format} could not be encoded: {e}")),
    }
}

/// A raw frame input: Rgb8 or Rgba8 pixels (others are converted), moved
/// into the job, not copied.
fn raw(img: DynamicImage) -> (MemInput, Vec<(String, String)>, bool) {
    let (w, h) = (img.width(), img.height());
    let (bytes, layout, alpha) = match img {
        DynamicImage::ImageRgba8(rgba) => (rgba.into_raw(), "rgba", true),
        DynamicImage::ImageRgb8(rgb) => (rgb.into_raw(), "rgb24", false),
        other if other.color().has_alpha() => (other.to_rgba8().into_raw(), "rgba", true),
        other => (other.to_rgb8().into_raw(), "rgb24", false),
    };
    let options = opts([
        ("f", "rawvideo"),
        ("pixel_format", layout),
        ("video_size", &format!("{w}x{h}")),
    ]);
    (
        MemInput::new("application/octet-stream", bytes),
        options,
        alpha,
    )
}

/// Run `job`, returning its one output's bytes.
fn run_one(ctx: &mut dyn Ctx, job: Job<'_>) -> Result<Vec<u8>, FfmpegError> {
    let outputs = ctx.ffmpeg(job)?;
    outputs
        .first()
        .map(|o| o.read_all())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| FfmpegError::Failed("ffmpeg wrote nothing".to_owned()))
}

/// A lossy WebP of `img`, keeping its alpha.
pub fn webp(ctx: &mut dyn Ctx, img: DynamicImage) -> Result<Vec<u8>, TaskError> {
    let (input, options, _) = raw(img);
    let job = Job {
        inputs: vec![JobInput {
            media: &input,
            options,
        }],
        filter_complex: None,
        outputs: vec![opts([
            ("frames:v", "1"),
            ("c:v", "libwebp"),
            ("q:v", WEBP_QUALITY),
            ("compression_level", WEBP_METHOD),
            ("f", "webp"),
        ])],
        progress_duration: None,
        progress_span: (60, 90),
        captions: None,
    };
    run_one(ctx, job).map_err(|e| encoding_failed("WebP", e))
}

/// An animated lossy WebP of `frames` (each with its delay), looping as
/// `loop_count` says. The frames go to ffmpeg as an APNG, the one lossless
/// input format that keeps a delay per frame.
pub fn webp_animation(
    ctx: &mut dyn Ctx,
    loop_count: LoopCount,
    frames: &[(RgbaImage, Delay)],
) -> Result<Vec<u8>, TaskError> {
    let apng = apng(frames).map_err(|e| TaskError::Failed(format!("the frames: {e}")))?;
    let input = MemInput::new("image/apng", apng);
    let plays = match loop_count {
        LoopCount::Infinite => 0,
        LoopCount::Finite(n) => n.get(),
    };
    let job = Job {
        inputs: vec![JobInput {
            media: &input,
            options: opts([("f", "apng")]),
        }],
        filter_complex: None,
        outputs: vec![opts([
            ("c:v", "libwebp_anim"),
            ("q:v", WEBP_QUALITY),
            ("compression_level", WEBP_METHOD),
            // Each frame keeps its own delay.
            ("fps_mode", "passthrough"),
            ("loop", &plays.to_string()),
            ("f", "webp"),
        ])],
        progress_duration: None,
        progress_span: (60, 90),
        captions: None,
    };
    let mut webp = run_one(ctx, job).map_err(|e| encoding_failed("WebP", e))?;
    let total: u64 = frames.iter().map(|(_, delay)| delay_ms(*delay)).sum();
    set_last_duration(&mut webp, total);
    Ok(webp)
}

/// A frame delay in whole milliseconds.
fn delay_ms(delay: Delay) -> u64 {
    let (num, den) = delay.numer_denom_ms();
    u64::from(num) / u64::from(den.max(1))
}

/// Give the last frame of an animated WebP the rest of `total` ms.
/// ffmpeg 5.1's libwebp_anim wrapper, which cannot know how long the last
/// frame lasts, gives it the average frame duration; every other frame
/// keeps its own (frames libwebp merged, being identical, add up).
fn set_last_duration(webp: &mut [u8], total: u64) {
    // RIFF header, then chunks: fourcc, little-endian size, payload
    // padded to even; an ANMF payload holds its duration (24 bits) at 12.
    let mut at = 12;
    let mut frames = Vec::new();
    while let Some(header) = webp.get(at..at + 8) {
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[..4] == b"ANMF" && size >= 16 {
            frames.push(at + 8 + 12);
        }
        at += 8 + size + (size & 1);
    }
    let Some((&last, others)) = frames.split_last() else {
        return;
    };
    let le24 = |b: &[u8]| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16;
    let before: u64 = others
        .iter()
        .filter_map(|&d| webp.get(d..d + 3))
        .map(le24)
        .sum();
    let rest = total.saturating_sub(before).min(0xFF_FFFF);
    if let Some(field) = webp.get_mut(last..last + 3) {
        field.copy_from_slice(&rest.to_le_bytes()[..3]);
    }
}

/// `frames` as an APNG (fast deflate: it lives for one ffmpeg run).
fn apng(frames: &[(RgbaImage, Delay)]) -> Result<Vec<u8>, png::EncodingError> {
    let (w, h) = frames.first().map_or((1, 1), |(f, _)| f.dimensions());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let count = u32::try_from(frames.len()).unwrap_or(u32::MAX);
    encoder.set_animated(count.max(1), 0)?;
    let mut writer = encoder.write_header()?;
    for (frame, delay) in frames {
        // APNG delays are u16 fractions of a second: milliseconds, capped.
        let ms = delay_ms(*delay).min(u64::from(u16::MAX));
        writer.set_frame_delay(ms as u16, 1000)?;
        writer.write_image_data(frame.as_raw())?;
    }
    writer.finish()?;
    Ok(out)
}

/// An AVIF of `img` (4:2:0, 8 bits, full range, sRGB tags), keeping its
/// alpha as an auxiliary image.
pub fn avif(ctx: &mut dyn Ctx, img: DynamicImage) -> Result<Vec<u8>, TaskError> {
    let (input, options, alpha) = raw(img);
    // BT.601 coefficients in full range, as libavif writes by default.
    let colour = "scale=out_color_matrix=bt601:out_range=pc,format=yuv420p";
    let (graph, maps) = if alpha {
        (
            format!("[0:v]split[c][a];[c]{colour}[colour];[a]alphaextract,format=gray[alpha]"),
            vec!["[colour]", "[alpha]"],
        )
    } else {
        (format!("[0:v]{colour}[colour]"), vec!["[colour]"])
    };
    let mut output: Vec<(String, String)> = maps
        .into_iter()
        .map(|m| ("map".to_owned(), m.to_owned()))
        .collect();
    output.extend(opts([
        ("frames:v", "1"),
        ("c:v", "libaom-av1"),
        ("usage", "allintra"),
        ("cpu-used", AVIF_SPEED),
        ("crf", AVIF_CRF),
        ("b:v", "0"),
        ("still-picture", "1"),
        ("colorspace", "smpte170m"),
        ("color_primaries", "bt709"),
        ("color_trc", "iec61966-2-1"),
        ("color_range", "pc"),
        ("f", "avif"),
    ]));
    let job = Job {
        inputs: vec![JobInput {
            media: &input,
            options,
        }],
        filter_complex: Some(graph),
        outputs: vec![output],
        progress_duration: None,
        progress_span: (60, 90),
        captions: None,
    };
    run_one(ctx, job).map_err(|e| encoding_failed("AVIF", e))
}

/// Decode `avif` at `size` (stored frame; the decoder resamples on load):
/// Rgb8, or Rgba8 with its alpha plane.
pub fn decode_avif(
    ctx: &mut dyn Ctx,
    avif: &Avif,
    size: (u32, u32),
) -> Result<DynamicImage, TaskError> {
    let obu = |data: &[u8]| {
        let mut bytes = Vec::with_capacity(data.len() + 2);
        // OBU type 2 (bits 3–6 of the header): libavif keeps the delimiter.
        if data.first().is_none_or(|b| (b >> 3) & 15 != 2) {
            bytes.extend_from_slice(&TEMPORAL_DELIMITER);
        }
        bytes.extend_from_slice(data);
        MemInput::new("video/av1", bytes)
    };
    let colour = obu(&avif.color);
    let alpha = avif.alpha.as_deref().map(obu);
    let mut inputs = vec![JobInput {
        media: &colour as &dyn Input,
        options: opts([("f", "obu")]),
    }];
    let stored = (avif.width, avif.height);
    let mut outputs = vec![scaled(0, stored, size, "rgb24")];
    if let Some(alpha) = &alpha {
        inputs.push(JobInput {
            media: alpha,
            options: opts([("f", "obu")]),
        });
        outputs.push(scaled(1, stored, size, "gray"));
    }
    let planes = decode(ctx, inputs, outputs)?;
    let (w, h) = size;
    let rgb = planes.first().map(|p| p.read_all());
    let rgb = rgb
        .and_then(|p| RgbImage::from_raw(w, h, p))
        .ok_or_else(ends_early)?;
    let Some(alpha) = planes.get(1) else {
        return Ok(DynamicImage::ImageRgb8(rgb));
    };
    let alpha = GrayImage::from_raw(w, h, alpha.read_all()).ok_or_else(ends_early)?;
    let rgba = RgbaImage::from_fn(w, h, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        image::Rgba([r, g, b, alpha.get_pixel(x, y).0[0]])
    });
    Ok(DynamicImage::ImageRgba8(rgba))
}

/// Decode a still WebP (lossy or lossless) at `size` (stored frame,
/// resampled on load): Rgba8 when it has `alpha`, else Rgb8. ffmpeg's VP8
/// decoder is no faster than image-webp's in wasm, but the resize runs
/// natively and the full-size RGB image never reaches the guest: about a
/// quarter off a 13 Mpx photo's thumbnail (bench/README.md). (ffmpeg 5.1
/// reads no animated WebP: those stay with image-webp.)
pub fn decode_webp(
    ctx: &mut dyn Ctx,
    file: &[u8],
    alpha: bool,
    stored: (u32, u32),
    size: (u32, u32),
) -> Result<DynamicImage, TaskError> {
    let input = MemInput::new("image/webp", file.to_vec());
    let inputs = vec![JobInput {
        media: &input as &dyn Input,
        // EXIF orientation is the caller's to apply, as for every format.
        options: opts([("f", "webp_pipe"), ("noautorotate", "")]),
    }];
    let layout = if alpha { "rgba" } else { "rgb24" };
    let pixels = decode(ctx, inputs, vec![scaled(0, stored, size, layout)])?;
    let pixels = pixels
        .first()
        .map(|p| p.read_all())
        .ok_or_else(ends_early)?;
    let (w, h) = size;
    let img = if alpha {
        RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    };
    img.ok_or_else(ends_early)
}

/// One raw output: the first frame of input `index` (`stored` pixels),
/// scaled to `size`, in the pixel `layout`. From 4× or more, a box filter
/// first takes it to twice the size (libvips' shrink, then reduce): 10–15%
/// of a 13 Mpx WebP's job, with Lanczos still making the last step.
fn scaled(
    index: usize,
    stored: (u32, u32),
    (w, h): (u32, u32),
    layout: &str,
) -> Vec<(String, String)> {
    let last = format!("scale={w}:{h}:flags={SCALE_FLAGS}");
    let graph = if stored.0 >= w.saturating_mul(4) && stored.1 >= h.saturating_mul(4) {
        format!("scale={}:{}:flags=area,{last}", w * 2, h * 2)
    } else {
        last
    };
    opts([
        ("map", &format!("{index}:v")),
        ("frames:v", "1"),
        ("vf", &graph),
        ("pix_fmt", layout),
        ("f", "rawvideo"),
    ])
}

/// Run a decoding job: its raw outputs.
fn decode(
    ctx: &mut dyn Ctx,
    inputs: Vec<JobInput<'_>>,
    outputs: Vec<Vec<(String, String)>>,
) -> Result<Vec<Box<dyn Input>>, TaskError> {
    let job = Job {
        inputs,
        filter_complex: None,
        outputs,
        progress_duration: None,
        progress_span: (20, 60),
        captions: None,
    };
    ctx.ffmpeg(job).map_err(undecodable)
}

fn undecodable(e: FfmpegError) -> TaskError {
    match e {
        FfmpegError::Limit(m) => TaskError::Limit(m),
        e => TaskError::InvalidInput(format!("the image could not be decoded: {e}")),
    }
}

/// A raw output shorter than its frame.
fn ends_early() -> TaskError {
    undecodable(FfmpegError::InvalidInput(
        "the image data ends early".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An animated WebP skeleton: VP8X, ANIM, then ANMF chunks with these
    /// durations (their frame data left out).
    fn animation(durations: &[u32]) -> Vec<u8> {
        let mut out = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        out.extend([0; 10]);
        out.extend(b"ANIM\x06\0\0\0");
        out.extend([0; 6]);
        for d in durations {
            out.extend(b"ANMF\x10\0\0\0");
            out.extend([0; 12]);
            out.extend(&d.to_le_bytes()[..3]);
            out.push(0);
        }
        out
    }

    fn durations(webp: &[u8]) -> Vec<u32> {
        webp.windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"ANMF")
            .map(|(i, _)| {
                let d = &webp[i + 20..i + 23];
                u32::from(d[0]) | u32::from(d[1]) << 8 | u32::from(d[2]) << 16
            })
            .collect()
    }

    #[test]
    fn the_last_frame_gets_the_rest_of_the_animation() {
        let mut webp = animation(&[100, 200, 150]);
        set_last_duration(&mut webp, 600);
        assert_eq!(durations(&webp), [100, 200, 300]);
        // Nothing to fix, and a still image, are left alone.
        let mut still = b"RIFF\0\0\0\0WEBPVP8 \x04\0\0\0abcd".to_vec();
        let copy = still.clone();
        set_last_duration(&mut still, 600);
        assert_eq!(still, copy);
        // A truncated chunk list stops the walk.
        let mut cut = animation(&[100, 200]);
        cut.truncate(cut.len() - 5);
        set_last_duration(&mut cut, 600);
    }
}
