//! Every size and cap of image.smartcrop, with its reason. The source caps
//! (download, 50 Mpx from the headers) are drake-imaging's.

/// Longest side of the image the entropy is measured on: boxes are a few
/// tenths of the image, and 256 px resolves their edges to under 1 % of the
/// image while the whole analysis stays a few milliseconds.
pub const WORKING_SIDE: u32 = 256;

/// Side of the neighbourhood of the local entropy, in working pixels: 7 px
/// of 256 (≈3 % of the image) sees texture and edges, not noise.
pub const ENTROPY_WINDOW: u32 = 7;

/// Grey levels are counted in this many bins for the entropy: 16 bins
/// ignore JPEG noise and soft gradients (entropy at most 4 bits).
pub const ENTROPY_BINS: usize = 16;

/// Most window positions along one axis: a tiny `step_ratio` on a big
/// image would otherwise mean millions of windows; past this the step is
/// widened (256 positions is finer than the working image).
pub const MAX_POSITIONS_PER_AXIS: u32 = 256;

/// Largest `boxes_number` accepted: boxes never overlap, so more than this
/// only happens with tiny boxes, and a crop chooser never needs them.
pub const MAX_BOXES: u32 = 1000;
