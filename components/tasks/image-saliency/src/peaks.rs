//! The local maxima of a saliency map, strongest first.

use crate::limits::{MAX_POINTS, MIN_POINT_VALUE};
use crate::spectral::Map;

/// A local maximum, in map cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
    /// Map value, 0–1.
    pub value: f32,
}

/// The cells at least as high as their 8 neighbours (on a plateau, only
/// its first cell in reading order), of value ≥ [`MIN_POINT_VALUE`],
/// strongest first (ties in reading order), at most [`MAX_POINTS`].
pub fn peaks(map: &Map) -> Vec<Peak> {
    let (w, h) = (map.width, map.height);
    let mut found = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let v = map.at(x, y);
            if v < MIN_POINT_VALUE {
                continue;
            }
            let mut is_peak = true;
            'neighbours: for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    if (nx, ny) == (x, y) {
                        continue;
                    }
                    let n = map.at(nx, ny);
                    // Earlier cells must be strictly lower, later ones not
                    // higher: one peak per plateau.
                    let earlier = (ny, nx) < (y, x);
                    if n > v || (earlier && n == v) {
                        is_peak = false;
                        break 'neighbours;
                    }
                }
            }
            if is_peak {
                found.push(Peak {
                    x: x as u32,
                    y: y as u32,
                    value: v,
                });
            }
        }
    }
    found.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then(a.y.cmp(&b.y))
            .then(a.x.cmp(&b.x))
    });
    found.truncate(MAX_POINTS);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(width: usize, values: Vec<f32>) -> Map {
        Map {
            width,
            height: values.len() / width,
            values,
        }
    }

    #[test]
    fn maxima_strongest_first() {
        let m = map(
            5,
            vec![
                0.0, 0.2, 0.0, 0.0, 0.0, //
                0.0, 0.0, 0.0, 0.0, 0.9, //
                0.5, 0.0, 0.0, 0.0, 0.0, //
            ],
        );
        let p = peaks(&m);
        assert_eq!(
            p.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(),
            [(4, 1), (0, 2), (1, 0)]
        );
    }

    #[test]
    fn a_plateau_is_one_peak_and_weak_ones_are_dropped() {
        let m = map(4, vec![0.7, 0.7, 0.0, 0.01, 0.7, 0.7, 0.0, 0.0]);
        assert_eq!(peaks(&m).len(), 1);
        assert!(peaks(&map(3, vec![0.0; 9])).is_empty());
        assert_eq!(peaks(&map(1, vec![1.0])).len(), 1);
    }

    #[test]
    fn at_most_twenty() {
        // A checkerboard of maxima.
        let values = (0..40 * 40)
            .map(|i| if (i / 40 + i % 40) % 2 == 0 { 1.0 } else { 0.0 })
            .map(|v: f32| v * 0.5 + 0.25)
            .collect();
        assert_eq!(peaks(&map(40, values)).len(), MAX_POINTS);
    }
}
