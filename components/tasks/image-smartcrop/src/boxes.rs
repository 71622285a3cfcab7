//! The box geometry and the choice of boxes.
//!
//! ## Reading of the parameters
//!
//! With `D` the diagonal of the upright image (`√(W² + H²)`, in pixels):
//!
//! - every box has the same size: diagonal `diag_ratio · D` and aspect
//!   ratio `aspect_ratio` (width / height), shrunk (ratio kept) when it
//!   would not fit in the image;
//! - sizes are whole pixels, rounded consistently: the *shorter* side is
//!   the free integer and the longer one is `round(shorter · r)`, with
//!   `r = max(aspect_ratio, 1 / aspect_ratio)`. So `width / height` is the
//!   ratio to within half a pixel of the longer side, and
//!   `width == round(height · aspect_ratio)` whenever `aspect_ratio ≥ 1`
//!   (`height == round(width / aspect_ratio)` otherwise);
//! - windows slide by `step = round(step_ratio · D)` pixels (at least 1)
//!   horizontally and vertically from the top-left corner, plus one last
//!   position flush with the right and bottom edges, so every part of the
//!   image is reachable;
//! - boxes are chosen greedily: windows in score order (best first, or
//!   worst first with `reverse`), each kept when it overlaps none kept so
//!   far (touching edges is allowed), until `boxes_number` are kept or the
//!   windows run out.

use std::collections::HashMap;

use crate::limits::MAX_POSITIONS_PER_AXIS;

/// A scored window, in pixels of the upright image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Mean local entropy, 0–1.
    pub score: f64,
}

/// The box size (width, height) for an image of `image` size, or `None`
/// when no box of that ratio fits (the image is narrower than one pixel
/// times the ratio).
pub fn box_size(image: (u32, u32), aspect_ratio: f64, diag_ratio: f64) -> Option<(u32, u32)> {
    if !(aspect_ratio.is_finite() && aspect_ratio > 0.0 && diag_ratio.is_finite()) {
        return None;
    }
    let (w, h) = (f64::from(image.0), f64::from(image.1));
    let wide = aspect_ratio >= 1.0;
    let r = if wide {
        aspect_ratio
    } else {
        1.0 / aspect_ratio
    };
    // The short and long sides of the image as the box sees them.
    let (short_max, long_max) = if wide { (h, w) } else { (w, h) };
    let diagonal = (w * w + h * h).sqrt() * diag_ratio;
    let wanted = diagonal / (1.0 + r * r).sqrt();
    // round(s·r) ≤ long_max  ⇔  s·r < long_max + ½.
    let fit_long = ((long_max + 0.5) / r).ceil() - 1.0;
    let short = wanted.round().min(short_max).min(fit_long).max(1.0);
    let long = (short * r).round();
    if long > long_max || short > short_max || long < 1.0 {
        return None;
    }
    let (short, long) = (short as u32, long as u32);
    Some(if wide { (long, short) } else { (short, long) })
}

/// The sliding step for an image of `image` size.
pub fn step(image: (u32, u32), step_ratio: f64) -> u32 {
    let (w, h) = (f64::from(image.0), f64::from(image.1));
    let step = ((w * w + h * h).sqrt() * step_ratio).round();
    if step.is_finite() && step >= 1.0 {
        step.min(f64::from(u32::MAX)) as u32
    } else {
        1
    }
}

/// Left (or top) edges of the windows of length `len` along an axis of
/// `axis` pixels: `0, step, 2·step, …` and the last position `axis − len`.
/// The step is widened when it would give more than
/// [`MAX_POSITIONS_PER_AXIS`] positions.
pub fn positions(axis: u32, len: u32, step: u32) -> Vec<u32> {
    let Some(last) = axis.checked_sub(len) else {
        return Vec::new();
    };
    let step = step.max(1).max(last.div_ceil(MAX_POSITIONS_PER_AXIS - 1));
    let mut out: Vec<u32> = (0..=last).step_by(step as usize).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Keep up to `count` windows of size `size` that do not overlap, greedily
/// in score order (best first; worst first with `reverse`; ties in reading
/// order).
pub fn choose(
    mut windows: Vec<Window>,
    size: (u32, u32),
    count: usize,
    reverse: bool,
) -> Vec<Window> {
    windows.sort_by(|a, b| {
        let by_score = if reverse {
            a.score.total_cmp(&b.score)
        } else {
            b.score.total_cmp(&a.score)
        };
        by_score.then(a.y.cmp(&b.y)).then(a.x.cmp(&b.x))
    });
    let (bw, bh) = (size.0.max(1), size.1.max(1));
    // Kept boxes by grid cell of the box size: two boxes of the same size
    // can only overlap when their cells are neighbours, so each test looks
    // at the 3x3 cells around the candidate.
    let mut grid: HashMap<(u32, u32), Vec<Window>> = HashMap::new();
    let mut kept = Vec::new();
    for w in windows {
        if kept.len() >= count {
            break;
        }
        let (cx, cy) = (w.x / bw, w.y / bh);
        let overlaps = (cy.saturating_sub(1)..=cy + 1).any(|gy| {
            (cx.saturating_sub(1)..=cx + 1).any(|gx| {
                grid.get(&(gx, gy)).is_some_and(|cell| {
                    cell.iter()
                        .any(|k| k.x.abs_diff(w.x) < bw && k.y.abs_diff(w.y) < bh)
                })
            })
        });
        if !overlaps {
            grid.entry((cx, cy)).or_default().push(w);
            kept.push(w);
        }
    }
    kept
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn box_sizes_keep_the_ratio() {
        // 1600x900, default ratio and diagonal: a 16:9 box of 0.3 the
        // diagonal is 480x270.
        assert_eq!(box_size((1600, 900), 16.0 / 9.0, 0.3), Some((480, 270)));
        // Square box in a landscape image.
        assert_eq!(box_size((400, 300), 1.0, 0.5), Some((177, 177)));
        // Portrait ratio: the width is free, the height rounded.
        let (w, h) = box_size((1000, 1000), 0.75, 0.3).unwrap();
        assert_eq!(h, (f64::from(w) / 0.75).round() as u32);
        // Too big for the image: shrunk to fit, ratio kept.
        let (w, h) = box_size((1000, 100), 16.0 / 9.0, 1.0).unwrap();
        assert_eq!((w, h), (178, 100));
        assert_eq!(box_size((100, 1000), 2.0, 1.0), Some((100, 50)));
        // The extremes.
        assert_eq!(box_size((4000, 1), 16.0 / 9.0, 0.3), Some((2, 1)));
        assert_eq!(box_size((1, 1), 16.0 / 9.0, 0.3), None);
        assert_eq!(box_size((1, 1), 1.0, 0.3), Some((1, 1)));
        assert_eq!(box_size((100, 100), 1000.0, 0.3), None);
        assert_eq!(box_size((100, 100), 0.001, 0.3), None);
        assert_eq!(box_size((100, 100), f64::NAN, 0.3), None);
    }

    #[test]
    fn ratio_is_exact_to_the_pixel_for_many_sizes() {
        for (w, h) in [(640, 480), (1920, 1080), (333, 777), (50, 2000)] {
            for ratio in [0.3, 0.5625, 1.0, 1.5, 16.0 / 9.0, 2.39, 4.0] {
                for diag in [0.05, 0.3, 0.7, 1.0] {
                    let Some((bw, bh)) = box_size((w, h), ratio, diag) else {
                        continue;
                    };
                    assert!(bw <= w && bh <= h && bw >= 1 && bh >= 1);
                    if ratio >= 1.0 {
                        assert_eq!(bw, (f64::from(bh) * ratio).round() as u32);
                    } else {
                        assert_eq!(bh, (f64::from(bw) / ratio).round() as u32);
                    }
                }
            }
        }
    }

    #[test]
    fn positions_reach_the_far_edge() {
        assert_eq!(positions(100, 30, 20), [0, 20, 40, 60, 70]);
        assert_eq!(positions(100, 30, 35), [0, 35, 70]);
        assert_eq!(positions(30, 30, 5), [0]);
        assert!(positions(20, 30, 5).is_empty());
        assert_eq!(positions(100_000, 10, 1).len(), 256);
        assert_eq!(step((300, 400), 0.03), 15);
        assert_eq!(step((3, 4), 0.03), 1);
    }

    #[test]
    fn greedy_choice_never_overlaps() {
        let windows: Vec<Window> = (0..20)
            .flat_map(|y| {
                (0..20).map(move |x| Window {
                    x: x * 5,
                    y: y * 5,
                    score: f64::from((x * 7 + y * 13) % 17),
                })
            })
            .collect();
        for reverse in [false, true] {
            let kept = choose(windows.clone(), (23, 11), 50, reverse);
            assert!(!kept.is_empty());
            for (i, a) in kept.iter().enumerate() {
                for b in &kept[i + 1..] {
                    assert!(a.x.abs_diff(b.x) >= 23 || a.y.abs_diff(b.y) >= 11);
                }
            }
            for w in kept.windows(2) {
                if reverse {
                    assert!(w[0].score <= w[1].score);
                } else {
                    assert!(w[0].score >= w[1].score);
                }
            }
        }
        assert_eq!(choose(windows, (1, 1), 3, false).len(), 3);
    }
}
