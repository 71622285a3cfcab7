//! Every size and tuning number of image.saliency, with its reason. The
//! source caps (download, 50 Mpx from the headers) are drake-imaging's.

/// Longest side of the saliency map, in pixels: Hou & Zhang compute the
/// spectral residual at 64 px, the scale at which it finds objects rather
/// than texture; it also keeps the FFT trivial (64x48 for a 4:3 photo).
pub const WORKING_SIDE: u32 = 64;

/// Blur of the saliency map (σ, in map pixels): the 10x10, σ = 2.5
/// Gaussian of Hou's reference code, at the same 64 px scale.
pub const BLUR_SIGMA: f32 = 2.5;

/// Most points reported (the spec's cap).
pub const MAX_POINTS: usize = 20;

/// Weakest local maximum reported, as a fraction of the strongest: lower
/// ones are ripples of the blur, not salient regions.
pub const MIN_POINT_VALUE: f32 = 0.05;

/// Grey-level spread (standard deviation, 0–1 scale) below which the image
/// is flat: it has no salient point, and its spectrum is all noise.
pub const MIN_CONTRAST: f32 = 1.0 / 512.0;
