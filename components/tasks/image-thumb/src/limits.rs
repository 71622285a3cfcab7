//! Every cap of image.thumb, with the reason for its number, and the checks
//! that enforce them: the caps every image task shares (download, source,
//! decoders, animation) come from `drake-imaging`; the thumbnail's own are
//! here. The instance has 512 MiB of linear memory; the budgets keep the
//! worst case (fetched bytes, decoded source, resize buffers, output)
//! inside it with room for the allocator and the encoder.

use drake_sdk::TaskError;

/// The download and source caps every image task shares (the decoder and
/// animation caps are enforced inside `drake_imaging::decode`).
pub use drake_imaging::limits::{MAX_INPUT_BYTES, MAX_PIXELS, check_source};

/// Largest thumbnail that needs a resize: the output and the resizer's
/// intermediate buffer live beside a source of up to [`MAX_PIXELS`]. (A
/// thumbnail at the source size needs no resize and only [`MAX_PIXELS`].)
pub const MAX_OUTPUT_PIXELS: u64 = 25_000_000;

/// Longest thumbnail side: JPEG and GIF store each side in 16 bits.
pub const MAX_SIDE: u32 = 65_535;

/// The thumbnail size cap. `resized` is false when the thumbnail has the
/// source's size (no resize buffers).
pub fn check_output(width: u32, height: u32, resized: bool) -> Result<(), TaskError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(TaskError::Limit(format!(
            "thumbnail would be {width}x{height} pixels; the limit is {MAX_SIDE} pixels a side"
        )));
    }
    if resized && pixels > MAX_OUTPUT_PIXELS {
        return Err(TaskError::Limit(format!(
            "thumbnail would be {width}x{height} pixels; the limit is {MAX_OUTPUT_PIXELS}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_caps() {
        assert!(check_output(65_536, 1, true).is_err());
        assert!(check_output(10_000, 10_000, true).is_err());
        assert_eq!(check_output(10_000, 5_000, false), Ok(()));
        assert_eq!(check_output(5_000, 5_000, true), Ok(()));
    }
}
