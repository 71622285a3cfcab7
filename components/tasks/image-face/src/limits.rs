//! Every cap and tuning number of image.face, with its reason. The source
//! caps (download, 50 Mpx from the headers) are drake-imaging's.

/// Longest side of the image the detector sees. The SeetaFace cascade
/// scans every pyramid level with a 40 px window, so its time grows with
/// the pixels: at 1600 px (2 Mpx for a 4:3 photo) the whole task takes
/// under a second in wasm (measured: 0.8 s for a 24 Mpx JPEG), and the
/// smallest face found (20 px) is 1/80 of the long side — a face in the
/// back row of a group photo. Larger sources are
/// shrunk to this and the boxes scaled back.
pub const MAX_WORKING_SIDE: u32 = 1600;

/// Shortest side the detector accepts: its window is 40 px (it panics on
/// smaller images). An image this small has no detectable face: the answer
/// is an empty list.
pub const MIN_WORKING_SIDE: u32 = 40;

/// Smallest face searched, in working pixels: the model's minimum.
pub const MIN_FACE: u32 = 20;

/// Detector score below which a window is not a face. SeetaFace's own
/// demo uses 2.0; see `bench/image-quality` for the precision and recall
/// this gives against OpenCV's Haar cascade.
pub const SCORE_THRESHOLD: f64 = 2.0;

/// Scale between pyramid levels: SeetaFace's default (0.8); finer steps
/// find few more faces for much more time.
pub const PYRAMID_SCALE: f32 = 0.8;

/// Sliding-window step in pixels: SeetaFace's default.
pub const WINDOW_STEP: u32 = 4;

/// The score whose confidence is 1/2 (see `detect::confidence`).
pub const HALF_CONFIDENCE_SCORE: f64 = 10.0;
