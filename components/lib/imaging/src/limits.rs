//! The caps every image task shares, with the reason for each number, and
//! the check that enforces the pixel cap from the headers. The instance has
//! 512 MiB of linear memory; the budgets keep the worst case (download,
//! decoded source, working copy) inside it with room for the task's own
//! buffers.

use drake_sdk::TaskError;

/// Largest download: 64 MiB holds any real photo (a 50 Mpx JPEG is ~25 MB)
/// and the copy is freed once the pixels are decoded.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Largest source, from the headers, before any decode: 50 Mpx is 200 MB as
/// RGBA, which leaves room for the download and a working copy in 512 MiB.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Largest progressive JPEG: its decoder keeps every DCT coefficient (2
/// bytes per sample, up to 3 samples per pixel) besides the pixels, so half
/// the budget of [`MAX_PIXELS`].
pub const MAX_PROGRESSIVE_JPEG_PIXELS: u64 = 25_000_000;

/// Allocation cap handed to the `image` decoders (GIF, WebP): a decoded
/// [`MAX_PIXELS`] RGBA canvas plus its working copy.
pub const DECODER_MAX_ALLOC: u64 = 448 << 20;

/// Most frames kept from an animation: 500 frames is 50 s at 10 fps, longer
/// than any real animated GIF; later frames are dropped.
pub const MAX_FRAMES: usize = 500;

/// Most source pixels decoded over all frames of an animation: bounds the
/// run time (decode, resize and quantise per frame) to some seconds; frames
/// past the budget are dropped like those past [`MAX_FRAMES`].
pub const MAX_ANIMATION_PIXELS: u64 = 1_000_000_000;

/// The source pixel cap, checked from the headers before any decode.
pub fn check_source(width: u32, height: u32, progressive_jpeg: bool) -> Result<(), TaskError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(TaskError::Limit(format!(
            "image is {width}x{height} pixels; the limit is {MAX_PIXELS}"
        )));
    }
    if progressive_jpeg && pixels > MAX_PROGRESSIVE_JPEG_PIXELS {
        return Err(TaskError::Limit(format!(
            "image is {width}x{height} pixels; the limit for progressive JPEG is \
             {MAX_PROGRESSIVE_JPEG_PIXELS}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_cap_message() {
        assert_eq!(
            check_source(80_000, 60_000, false),
            Err(TaskError::Limit(
                "image is 80000x60000 pixels; the limit is 50000000".into()
            ))
        );
        assert_eq!(check_source(10_000, 5_000, false), Ok(()));
        assert!(check_source(10_000, 5_000, true).is_err());
        assert!(check_source(u32::MAX, u32::MAX, false).is_err());
    }
}
