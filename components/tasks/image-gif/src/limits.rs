//! Every cap of image.gif, with its reason, and the checks that enforce
//! them. The per-source caps (download, 50 Mpx from the headers) are
//! drake-imaging's; the instance has 512 MiB.

use drake_sdk::TaskError;

/// Most images (frames): each is a fetch and a decode of up to 50 Mpx, so
/// the count bounds the run time; 100 frames is 10 s at the default 0.1 s,
/// longer than any animated GIF meant to be watched.
pub const MAX_FRAMES: usize = 100;

/// Longest side: GIF stores sizes in 16 bits.
pub const MAX_SIDE: u32 = 65_535;

/// Largest frame: 16 Mpx (4096x4096) is more than any screen shows; the
/// canvas (RGBA), the dithering errors and the indices of one frame stay
/// under 200 MB beside the decoded source.
pub const MAX_FRAME_PIXELS: u64 = 16 << 20;

/// Most pixels over all frames: the finished GIF is kept in memory until it
/// is published (LZW gives about a byte a pixel at worst for dithered
/// photos) and quantising costs time per pixel, so 64 Mpx (say 64 frames
/// of 1000x1000, or 100 of 800x800) bounds both.
pub const MAX_TOTAL_PIXELS: u64 = 64 << 20;

/// The frame size caps, for `frames` frames of `width`x`height`.
pub fn check_output(width: u32, height: u32, frames: usize) -> Result<(), TaskError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(TaskError::Limit(format!(
            "the animation would be {width}x{height} pixels; the limit is {MAX_SIDE} pixels a side"
        )));
    }
    if pixels > MAX_FRAME_PIXELS {
        return Err(TaskError::Limit(format!(
            "the animation would be {width}x{height} pixels a frame; the limit is \
             {MAX_FRAME_PIXELS} pixels (set width and height to shrink it)"
        )));
    }
    let total = pixels * frames as u64;
    if total > MAX_TOTAL_PIXELS {
        return Err(TaskError::Limit(format!(
            "{frames} frames of {width}x{height} pixels are {total} pixels; the limit is \
             {MAX_TOTAL_PIXELS} over all frames (use fewer images or a smaller size)"
        )));
    }
    Ok(())
}

/// The frame count cap.
pub fn check_frames(frames: usize) -> Result<(), TaskError> {
    if frames > MAX_FRAMES {
        return Err(TaskError::Limit(format!(
            "{frames} images given; the limit is {MAX_FRAMES} frames"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(check_output(800, 600, 100), Ok(()));
        assert!(check_output(70_000, 1, 1).is_err());
        assert!(check_output(5000, 5000, 1).is_err());
        assert!(check_output(1000, 1000, 100).is_err());
        assert_eq!(check_frames(100), Ok(()));
        assert_eq!(
            check_frames(101),
            Err(TaskError::Limit(
                "101 images given; the limit is 100 frames".into()
            ))
        );
    }
}
