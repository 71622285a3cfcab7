//! Open a probed image (decoder ready, EXIF orientation and ICC profile
//! read) and decode its first frame, or every frame of an animation, in
//! the stored frame. image.thumb and every analysis task use it.
//!
//! One decoder per format, each chosen for a reason:
//! - JPEG: at 1/8, 1/4 and 1/2 (any 8-bit Huffman file) drake's own
//!   reduced decoder ([`crate::jpeg_dc`]: the DC and lowest AC
//!   coefficients, the other AC symbols skipped or only counted — a
//!   24 Mpx photo thumbnailed to 200 px never exists at full size);
//!   otherwise
//!   `jpeg-decoder`, which also decodes at a DCT scale and hands CMYK over
//!   raw, so it is converted here, through the embedded CMYK profile when
//!   there is one;
//! - PNG: `png`, told to expand palettes and strip 16-bit samples to 8 bits
//!   while decoding, so a 16-bit RGBA image never takes 8 bytes a pixel;
//! - GIF and animated WebP: the `image` decoders, which composite
//!   animation frames;
//! - still WebP: natively through the ffmpeg capability, resampled on load
//!   ([`crate::native`]), with `image-webp` where there is no ffmpeg;
//! - AVIF: the container read here ([`crate::avif`]), the AV1 data decoded
//!   natively through the ffmpeg capability ([`crate::native`]), resampled
//!   on load to the target size.
//!
//! Every decoder error becomes [`TaskError::InvalidInput`] ("the image could
//! not be decoded: …"), except an `image` allocation limit, which is a
//! [`TaskError::Limit`]; nothing here unwraps what the file says.

use std::io::Cursor;
use std::rc::Rc;

use drake_sdk::{Ctx, TaskError};
use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::{LoopCount, Orientation};
use image::{AnimationDecoder, Delay, DynamicImage, ImageDecoder, ImageError};
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use crate::limits::{DECODER_MAX_ALLOC, MAX_ANIMATION_PIXELS, MAX_FRAMES, MAX_PIXELS};
use crate::probe::{Header, Kind};

/// JPEG is decoded at the smallest DCT scale (1/8, 1/4, 1/2, 1) that is
/// still at least this many times the target; the resize filter does the
/// rest. Chosen by measurement (`cargo bench --bench thumb`, the whole
/// matrix of photos, formats and sizes): at 1.0 — the largest reduction,
/// as the DCT scale never goes below the target — every thumbnail keeps
/// SSIM ≥ 0.98 against sharp's (which leaves libvips' 2× margin), and a
/// 512 px thumbnail of a 20 Mpx photo takes 35 ms rather than 110.
const JPEG_SCALE_MARGIN: f64 = 1.0;

/// A still WebP of at least this many pixels is decoded natively (ffmpeg,
/// resampled on load); a smaller one in the guest. The sandboxed process
/// adds ~70 ms (drake's job for a 13 Mpx WebP against the same ffmpeg
/// command alone); image-webp and the resize take ~70 ms a megapixel in
/// wasm (~950 ms for those 13 Mpx): about even at 1 Mpx.
const NATIVE_WEBP_PIXELS: u64 = 1_000_000;

/// The largest buffer `jpeg-decoder` may allocate for pixels: a CMYK image
/// at the source cap.
const JPEG_MAX_BUFFER: usize = MAX_PIXELS as usize * 4;

/// Pixels converted from CMYK at a time (a small scratch buffer).
const CMYK_CHUNK: usize = 4096;

/// An opened source: headers and metadata read, pixels not yet decoded.
pub struct Source {
    decoder: Decoder,
    /// The EXIF orientation (`NoTransforms` without EXIF).
    pub orientation: Orientation,
    /// The RGB or grey ICC profile of the pixels the decoder produces.
    icc: Option<Vec<u8>>,
}

enum Decoder {
    Jpeg {
        decoder: Box<jpeg_decoder::Decoder<Cursor<Shared>>>,
        /// The file, for the DC-only decoder at 1/8 scale.
        bytes: Shared,
        /// Sample precision (12-bit and lossless JPEGs decode to 16 bits).
        precision: u8,
        /// The CMYK profile, used while converting CMYK to RGB.
        cmyk_icc: Option<Vec<u8>>,
    },
    Png(Box<png::Reader<Cursor<Vec<u8>>>>),
    Gif(Box<GifDecoder<Cursor<Vec<u8>>>>),
    Webp {
        decoder: Box<WebPDecoder<Cursor<Shared>>>,
        /// The file, for the native decoder of still images.
        bytes: Shared,
    },
    Avif(Box<crate::avif::Avif>),
}

/// The file, shared by two decoders without a copy (the general JPEG one
/// and the DC-only one; image-webp and the native one); `Rc<[u8]>` from a
/// `Vec` would copy a 20 MB photo.
#[derive(Clone)]
struct Shared(Rc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A decoder error as the client sees it.
fn undecodable(e: impl std::fmt::Display) -> TaskError {
    TaskError::InvalidInput(format!("the image could not be decoded: {e}"))
}

/// A `jpeg-decoder` error. Data that ends early does so in the headers
/// or the first scan: a complete scan with no end marker has one added
/// (`jpeg_with_end`), and a short scan is found before decoding.
fn jpeg_error(e: jpeg_decoder::Error) -> TaskError {
    match e {
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            undecodable("the file ends before its image data (it is cut short)")
        }
        e => undecodable(e),
    }
}

/// An `image` error: its limits are ours, the rest is a damaged file.
fn image_error(e: ImageError) -> TaskError {
    match e {
        ImageError::Limits(e) => {
            TaskError::Limit(format!("the image needs more memory than allowed: {e}"))
        }
        other => undecodable(other),
    }
}

fn image_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(DECODER_MAX_ALLOC);
    limits
}

/// The EXIF orientation in a raw TIFF block; damaged EXIF means none.
fn exif_orientation(tiff: Option<&[u8]>) -> Orientation {
    let Some(tiff) = tiff else {
        return Orientation::NoTransforms;
    };
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = match reader.read_raw(tiff.to_vec()) {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => partial.into_inner().0,
        Err(_) => return Orientation::NoTransforms,
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|o| u8::try_from(o).ok())
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms)
}

impl Source {
    fn open_jpeg(bytes: Shared, header: &Header) -> Result<Self, TaskError> {
        let mut decoder = Box::new(jpeg_decoder::Decoder::new(Cursor::new(bytes.clone())));
        decoder.set_max_decoding_buffer_size(JPEG_MAX_BUFFER);
        decoder.read_info().map_err(jpeg_error)?;
        let orientation = exif_orientation(decoder.exif_data());
        let icc = decoder.icc_profile();
        let cmyk = decoder
            .info()
            .is_some_and(|i| i.pixel_format == jpeg_decoder::PixelFormat::CMYK32);
        let (icc, cmyk_icc) = if cmyk { (None, icc) } else { (icc, None) };
        Ok(Source {
            decoder: Decoder::Jpeg {
                decoder,
                bytes,
                precision: header.precision,
                cmyk_icc,
            },
            orientation,
            icc,
        })
    }

    /// Open `bytes` (already probed as `header`), reading the metadata.
    pub fn open(bytes: Vec<u8>, header: &Header) -> Result<Self, TaskError> {
        let cursor = Cursor::new(bytes);
        match header.kind {
            Kind::Jpeg => {
                let bytes = jpeg_with_end(cursor.into_inner())?;
                Self::open_jpeg(Shared(Rc::new(bytes)), header)
            }
            Kind::Png => {
                let mut bytes = cursor.into_inner();
                // Only the closing IEND chunk missing: browsers show such a
                // file, and so does drake (`png` would fail looking for it).
                if !bytes.ends_with(&PNG_IEND) {
                    bytes.extend_from_slice(&PNG_IEND);
                }
                let mut decoder = png::Decoder::new(Cursor::new(bytes));
                decoder.set_transformations(png::Transformations::normalize_to_color8());
                let reader = decoder.read_info().map_err(undecodable)?;
                let info = reader.info();
                let orientation = exif_orientation(info.exif_metadata.as_deref());
                let icc = info.icc_profile.as_ref().map(|p| p.to_vec());
                Ok(Source {
                    decoder: Decoder::Png(Box::new(reader)),
                    orientation,
                    icc,
                })
            }
            Kind::Gif => {
                let mut decoder = GifDecoder::new(cursor).map_err(image_error)?;
                decoder.set_limits(image_limits()).map_err(image_error)?;
                let icc = decoder.icc_profile().ok().flatten();
                Ok(Source {
                    decoder: Decoder::Gif(Box::new(decoder)),
                    orientation: Orientation::NoTransforms,
                    icc,
                })
            }
            Kind::Avif => {
                let avif = crate::avif::parse(&cursor.into_inner()).map_err(undecodable)?;
                Ok(Source {
                    orientation: avif.orientation,
                    icc: avif.icc.clone(),
                    decoder: Decoder::Avif(Box::new(avif)),
                })
            }
            Kind::Webp => {
                let bytes = Shared(Rc::new(cursor.into_inner()));
                let mut decoder =
                    WebPDecoder::new(Cursor::new(bytes.clone())).map_err(image_error)?;
                decoder.set_limits(image_limits()).map_err(image_error)?;
                let exif = decoder.exif_metadata().ok().flatten();
                let icc = decoder.icc_profile().ok().flatten();
                Ok(Source {
                    decoder: Decoder::Webp {
                        decoder: Box::new(decoder),
                        bytes,
                    },
                    orientation: exif_orientation(exif.as_deref()),
                    icc,
                })
            }
        }
    }

    /// The colour profile to convert the decoded pixels from, when it is an
    /// RGB or grey profile that parses.
    pub fn icc_profile(&self) -> Option<ColorProfile> {
        let profile = ColorProfile::new_from_slice(self.icc.as_deref()?).ok()?;
        matches!(
            profile.color_space,
            DataColorSpace::Rgb | DataColorSpace::Gray
        )
        .then_some(profile)
    }

    /// Whether the source may hold several frames (a GIF is walked frame by
    /// frame even when it has one).
    pub fn is_animated(&self) -> bool {
        match &self.decoder {
            Decoder::Gif(_) => true,
            Decoder::Webp { decoder, .. } => decoder.has_animation(),
            Decoder::Jpeg { .. } | Decoder::Png(_) | Decoder::Avif(_) => false,
        }
    }

    /// Decode the (first) image, in the stored frame, as L8, La8, Rgb8 or
    /// Rgba8. `stored` is the stored size and `target` the size the caller
    /// will resize the whole image to (stored frame; a crop is cut from
    /// that): a JPEG is decoded at the smallest DCT scale that is still at
    /// least the target (`JPEG_SCALE_MARGIN`); an AVIF or a still WebP
    /// straight at the target (`ctx` runs their native decoders).
    pub fn decode_first(
        self,
        ctx: &mut dyn Ctx,
        stored: (u32, u32),
        target: (u32, u32),
    ) -> Result<DynamicImage, TaskError> {
        match self.decoder {
            Decoder::Jpeg {
                mut decoder,
                bytes,
                precision,
                cmyk_icc,
            } => {
                if let Some((w, h)) = jpeg_scale_request(stored, target) {
                    // 1/8, 1/4 or 1/2 is enough: drake's reduced decoder
                    // (the DC and lowest AC coefficients, the other AC
                    // symbols skipped or only counted) is much faster;
                    // what it leaves (12-bit, arithmetic, CMYK) goes the
                    // general way, at the DCT scale asked here.
                    let (sw, sh) = stored;
                    let fits =
                        |d: u32| u32::from(w) <= sw.div_ceil(d) && u32::from(h) <= sh.div_ceil(d);
                    let scale = if fits(8) {
                        Some(crate::jpeg_dc::Scale::Eighth)
                    } else if fits(4) {
                        Some(crate::jpeg_dc::Scale::Quarter)
                    } else if fits(2) {
                        Some(crate::jpeg_dc::Scale::Half)
                    } else {
                        None
                    };
                    if let Some(scale) = scale
                        && let Ok(Some(img)) = crate::jpeg_dc::decode_at(bytes.as_ref(), scale)
                    {
                        return Ok(img);
                    }
                    decoder.scale(w, h).map_err(undecodable)?;
                }
                let pixels = decoder.decode().map_err(jpeg_error)?;
                let info = decoder
                    .info()
                    .ok_or_else(|| undecodable("no frame header"))?;
                jpeg_image(info, pixels, precision, cmyk_icc.as_deref())
            }
            Decoder::Png(mut reader) => {
                let size = reader
                    .output_buffer_size()
                    .ok_or_else(|| undecodable("the image is too large"))?;
                let mut buf = vec![0; size];
                let info = reader.next_frame(&mut buf).map_err(undecodable)?;
                buf.truncate(info.buffer_size());
                let (w, h) = (info.width, info.height);
                let img = match info.color_type {
                    png::ColorType::Grayscale => {
                        image::GrayImage::from_raw(w, h, buf).map(DynamicImage::ImageLuma8)
                    }
                    png::ColorType::GrayscaleAlpha => {
                        image::GrayAlphaImage::from_raw(w, h, buf).map(DynamicImage::ImageLumaA8)
                    }
                    png::ColorType::Rgb => {
                        image::RgbImage::from_raw(w, h, buf).map(DynamicImage::ImageRgb8)
                    }
                    png::ColorType::Rgba => {
                        image::RgbaImage::from_raw(w, h, buf).map(DynamicImage::ImageRgba8)
                    }
                    png::ColorType::Indexed => None,
                };
                img.ok_or_else(|| undecodable("unexpected PNG pixel layout"))
            }
            Decoder::Gif(d) => DynamicImage::from_decoder(*d).map_err(image_error),
            Decoder::Webp { decoder, bytes } => {
                // A large still image goes to the native decoder;
                // image-webp reads small ones, animations (the first frame,
                // composited), any still where there is no ffmpeg (Spin) or
                // that ffmpeg refuses — its own error then names what is
                // wrong —, and a file cut short, which ffmpeg would show
                // half-decoded where image-webp says what is wrong.
                let pixels = u64::from(stored.0) * u64::from(stored.1);
                if pixels >= NATIVE_WEBP_PIXELS
                    && !decoder.has_animation()
                    && whole_riff(bytes.as_ref())
                {
                    let alpha = decoder.color_type().has_alpha();
                    let size = on_load(stored, target);
                    match crate::native::decode_webp(ctx, bytes.as_ref(), alpha, stored, size) {
                        Err(TaskError::Limit(m)) => return Err(TaskError::Limit(m)),
                        Ok(img) => return Ok(img),
                        Err(_) => {}
                    }
                }
                DynamicImage::from_decoder(*decoder).map_err(image_error)
            }
            Decoder::Avif(avif) => crate::native::decode_avif(ctx, &avif, on_load(stored, target)),
        }
    }

    /// The frames of an animation (full-canvas RGBA, with their delays) and
    /// its loop count. At most [`MAX_FRAMES`] frames and
    /// [`MAX_ANIMATION_PIXELS`] decoded pixels are kept; a damaged frame
    /// ends the animation there (as browsers show it), unless it is the
    /// first.
    pub fn into_frames(self) -> Result<(LoopCount, KeptFrames), TaskError> {
        let (loop_count, frames) = match self.decoder {
            Decoder::Gif(d) => (d.loop_count(), d.into_frames()),
            Decoder::Webp { decoder, .. } => (decoder.loop_count(), decoder.into_frames()),
            Decoder::Jpeg { .. } | Decoder::Png(_) | Decoder::Avif(_) => {
                return Err(TaskError::Failed("the image is not animated".to_owned()));
            }
        };
        Ok((
            loop_count,
            KeptFrames {
                frames,
                kept: 0,
                budget: MAX_ANIMATION_PIXELS,
            },
        ))
    }
}

/// The frames of an animation within the caps.
pub struct KeptFrames {
    frames: image::Frames<'static>,
    kept: usize,
    budget: u64,
}

impl Iterator for KeptFrames {
    type Item = Result<(DynamicImage, Delay), TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.kept >= MAX_FRAMES {
            return None;
        }
        let frame = match self.frames.next()? {
            Ok(frame) => frame,
            Err(e) if self.kept == 0 => return Some(Err(image_error(e))),
            Err(_) => return None,
        };
        let buffer = frame.buffer();
        let pixels = u64::from(buffer.width()) * u64::from(buffer.height());
        if self.kept > 0 && pixels > self.budget {
            return None;
        }
        self.budget = self.budget.saturating_sub(pixels);
        self.kept += 1;
        let delay = frame.delay();
        Some(Ok((DynamicImage::ImageRgba8(frame.into_buffer()), delay)))
    }
}

/// Whether the RIFF (WebP) file is whole: the header's size fits in the
/// file, and every chunk lies inside that size — no chunk cut short, none
/// claiming more than the file holds. Bytes after the RIFF's declared end
/// are ignored, as every decoder does.
fn whole_riff(file: &[u8]) -> bool {
    let u32_at = |at: usize| -> Option<usize> {
        let b = file.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let Some(declared) = u32_at(4).map(|size| size.saturating_add(8)) else {
        return false;
    };
    // Cut short (the header promises more), or no chunk at all.
    if declared > file.len() || declared <= 12 {
        return false;
    }
    let mut at = 12;
    while at < declared {
        let Some(size) = u32_at(at + 4) else {
            return false;
        };
        // Chunks are padded to an even size (the last one's pad may be
        // left out).
        let end = at.saturating_add(8).saturating_add(size);
        if end > declared {
            return false;
        }
        at = end + (size & 1);
    }
    true
}

/// The size a native decoder resamples to on load: the caller's target,
/// never enlarged (the caller's resize does that, after the conversion
/// to sRGB).
fn on_load(stored: (u32, u32), target: (u32, u32)) -> (u32, u32) {
    if target.0 <= stored.0 && target.1 <= stored.1 {
        target
    } else {
        stored
    }
}

/// A PNG's closing chunk: empty IEND and its CRC.
const PNG_IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// A JPEG judged the same way whatever size is asked of it: one whose
/// end-of-image marker alone is missing is completed (every mainstream
/// decoder shows it; `jpeg-decoder` would fail at the end of the scan);
/// one whose data ends before its last rows — told by decoding its DC
/// data to the end, which sequential scans and progressive DC scans
/// allow — is an error naming that. (Zeros in place of data are not
/// told apart: runs of zero bytes are valid data, e.g. a progressive
/// refinement scan of a smooth picture; they decode, at every size, to
/// whatever they code.) A
/// progressive file whose data ends inside a detail (AC) scan has every
/// pixel, at less detail, and is shown as it is, as browsers show a
/// progressive image still loading. Files with an end marker are left
/// as they are.
fn jpeg_with_end(mut bytes: Vec<u8>) -> Result<Vec<u8>, TaskError> {
    let Some(scan) = first_scan(&bytes) else {
        return Ok(bytes); // no scan: the decoder says what is wrong
    };
    let tail = &bytes[scan..];
    if tail.windows(2).rev().any(|w| w == [0xFF, 0xD9]) {
        return Ok(bytes);
    }
    if let Err(e) = crate::jpeg_dc::decode(&bytes)
        && e == crate::jpeg_dc::TRUNCATED
    {
        return Err(undecodable(e));
    }
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    Ok(bytes)
}

/// Where a JPEG's first start-of-scan marker is, walking its segments.
fn first_scan(data: &[u8]) -> Option<usize> {
    let mut pos = 2;
    loop {
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return None;
        };
        if marker == 0xDA {
            return Some(pos);
        }
        let len = usize::from(u16::from_be_bytes([
            *data.get(pos + 2)?,
            *data.get(pos + 3)?,
        ]));
        pos += 2 + len;
    }
}

/// The size to ask `jpeg-decoder` for: the whole source at the target's
/// scale, times the margin; `None` when that is not smaller than the source.
fn jpeg_scale_request(stored: (u32, u32), target: (u32, u32)) -> Option<(u16, u16)> {
    let (sw, sh) = (f64::from(stored.0), f64::from(stored.1));
    let (ow, oh) = (f64::from(target.0), f64::from(target.1));
    // Fit: both ratios agree; fill: the larger one covers the box.
    let scale = (ow / sw).max(oh / sh) * JPEG_SCALE_MARGIN;
    if scale >= 1.0 {
        return None;
    }
    let side = |len: f64| (len * scale).ceil().clamp(1.0, f64::from(u16::MAX)) as u16;
    Some((side(sw), side(sh)))
}

/// `jpeg-decoder` pixels as an image.
fn jpeg_image(
    info: jpeg_decoder::ImageInfo,
    pixels: Vec<u8>,
    precision: u8,
    cmyk_icc: Option<&[u8]>,
) -> Result<DynamicImage, TaskError> {
    use jpeg_decoder::PixelFormat;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let img = match info.pixel_format {
        PixelFormat::L8 => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        PixelFormat::L16 => {
            // Native-endian samples of `precision` bits: keep the top 8.
            let shift = u32::from(precision.clamp(8, 16) - 8);
            let gray = pixels
                .chunks_exact(2)
                .map(|s| (u16::from_ne_bytes([s[0], s[1]]) >> shift).min(255) as u8)
                .collect();
            image::GrayImage::from_raw(w, h, gray).map(DynamicImage::ImageLuma8)
        }
        PixelFormat::RGB24 => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        PixelFormat::CMYK32 => {
            if pixels.len() != w as usize * h as usize * 4 {
                return Err(undecodable("unexpected JPEG pixel layout"));
            }
            image::RgbImage::from_raw(w, h, cmyk_to_rgb(pixels, cmyk_icc))
                .map(DynamicImage::ImageRgb8)
        }
    };
    img.ok_or_else(|| undecodable("unexpected JPEG pixel layout"))
}

/// CMYK (ink amounts, 255 = full ink: `jpeg-decoder` already undid Adobe's
/// inverted storage and YCCK) to sRGB, in place. Through the embedded CMYK
/// profile when it parses; otherwise the naive `(1-C)(1-K)` formula, which
/// is what viewers without colour management show.
pub fn cmyk_to_rgb(mut px: Vec<u8>, icc: Option<&[u8]>) -> Vec<u8> {
    let transform = icc.and_then(|icc| {
        let profile = ColorProfile::new_from_slice(icc).ok()?;
        if profile.color_space != DataColorSpace::Cmyk {
            return None;
        }
        profile
            .create_transform_8bit(
                Layout::Rgba,
                &ColorProfile::new_srgb(),
                Layout::Rgb,
                TransformOptions::default(),
            )
            .ok()
    });
    let n = px.len() / 4;
    let mut scratch = vec![0u8; CMYK_CHUNK * 3];
    let mut i = 0;
    while i < n {
        let m = (n - i).min(CMYK_CHUNK);
        let src = &px[i * 4..(i + m) * 4];
        let dst = &mut scratch[..m * 3];
        let managed = transform
            .as_ref()
            .is_some_and(|t| t.transform(src, dst).is_ok());
        if !managed {
            for (cmyk, rgb) in src.chunks_exact(4).zip(dst.chunks_exact_mut(3)) {
                let white = 255 - u32::from(cmyk[3]);
                for c in 0..3 {
                    rgb[c] = (((255 - u32::from(cmyk[c])) * white + 127) / 255) as u8;
                }
            }
        }
        // The RGB of pixels [i, i+m) ends at 3(i+m) <= 4(i+m): only pixels
        // already read are overwritten.
        px[i * 3..(i + m) * 3].copy_from_slice(dst);
        i += m;
    }
    px.truncate(n * 3);
    px
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    /// A RIFF file of `chunks` (fourcc, payload), its header declaring
    /// `extra` more bytes than it holds.
    fn riff(chunks: &[(&[u8; 4], usize)], extra: usize) -> Vec<u8> {
        let mut body = b"WEBP".to_vec();
        for (fourcc, len) in chunks {
            body.extend_from_slice(*fourcc);
            body.extend_from_slice(&(*len as u32).to_le_bytes());
            body.extend(std::iter::repeat_n(7u8, *len + (len & 1)));
        }
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&((body.len() + extra) as u32).to_le_bytes());
        file.extend(body);
        file
    }

    #[test]
    fn whole_riff_wants_every_chunk_and_the_declared_size() {
        let file = riff(&[(b"VP8X", 10), (b"VP8 ", 33)], 0);
        assert!(whole_riff(&file));
        // Trailing bytes past the declared end are ignored.
        assert!(whole_riff(&[file.clone(), vec![0; 5]].concat()));
        // Cut at a chunk boundary: every chunk whole, the header not.
        let cut = riff(&[(b"VP8X", 10)], 42);
        assert!(!whole_riff(&cut));
        // Cut inside a chunk.
        assert!(!whole_riff(&file[..file.len() - 3]));
        // A chunk claiming more than the RIFF holds.
        let mut lying = file.clone();
        lying[16..20].copy_from_slice(&1000u32.to_le_bytes());
        assert!(!whole_riff(&lying));
        // No chunk, no header.
        assert!(!whole_riff(&riff(&[], 0)));
        assert!(!whole_riff(b"RIFF"));
        assert!(!whole_riff(&[]));
    }

    #[test]
    fn naive_cmyk() {
        let rgb = cmyk_to_rgb(
            vec![0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 0, 128, 255, 0],
            None,
        );
        assert_eq!(rgb, [255, 255, 255, 0, 255, 255, 0, 0, 0, 255, 127, 0]);
        // Across chunk boundaries.
        let n = CMYK_CHUNK * 2 + 5;
        let px: Vec<u8> = (0..n).flat_map(|i| [(i % 256) as u8, 0, 0, 0]).collect();
        let rgb = cmyk_to_rgb(px, Some(b"not a profile"));
        assert_eq!(rgb.len(), n * 3);
        assert!(
            rgb.chunks(3)
                .enumerate()
                .all(|(i, p)| p == [255 - (i % 256) as u8, 255, 255])
        );
    }

    #[test]
    fn big_jpeg_is_decoded_at_a_dct_scale() {
        let img = image::RgbImage::new(1600, 1200);
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        let decoded = |target: (u32, u32)| {
            let header = crate::probe::probe(&jpeg).unwrap();
            let source = Source::open(jpeg.clone(), &header).unwrap();
            let img = source
                .decode_first(&mut drake_sdk::FakeCtx::default(), (1600, 1200), target)
                .unwrap();
            (img.width(), img.height())
        };
        // 1/8 (200 px) is still at least the target.
        assert_eq!(decoded((100, 75)), (200, 150));
        assert_eq!(decoded((200, 150)), (200, 150));
        // A 100x100 crop of the whole picture needs 134 px of width.
        assert_eq!(decoded((100, 100)), (200, 150));
        assert_eq!(decoded((201, 151)), (400, 300));
        assert_eq!(decoded((500, 375)), (800, 600));
        // Past half the source size: no scaling.
        assert_eq!(decoded((1000, 750)), (1600, 1200));
    }

    #[test]
    fn orientation_from_garbage() {
        assert_eq!(exif_orientation(Some(b"junk")), Orientation::NoTransforms);
        assert_eq!(exif_orientation(None), Orientation::NoTransforms);
    }
}
