//! The spectral-residual saliency map (Hou & Zhang, "Saliency Detection: A
//! Spectral Residual Approach", CVPR 2007), following Hou's reference code:
//!
//! 1. `F = FFT2(I)` of the grey levels (0–1) of the small image;
//! 2. `L = ln |F|`, the log amplitude spectrum;
//! 3. `R = L − h₃ ∗ L`, the *spectral residual*: what the 3x3 local mean of
//!    the log spectrum (the "expected" smooth 1/f spectrum of natural
//!    images) does not explain. The spectrum is periodic, so the mean wraps
//!    around its edges;
//! 4. `S = |IFFT2(exp(R + i·arg F))|²`, back to the image with the original
//!    phase;
//! 5. a Gaussian blur ([`BLUR_SIGMA`], mirrored edges), then scaled to 0–1
//!    (minimum → 0, maximum → 1, as Hou's `mat2gray`).
//!
//! A flat image (grey spread under [`MIN_CONTRAST`]) gives an all-zero map:
//! its spectrum is a lone DC term and the residual would be noise.

use image::GrayImage;
use rustfft::num_complex::Complex32;
use rustfft::{FftDirection, FftPlanner};

use crate::limits::{BLUR_SIGMA, MIN_CONTRAST};

/// Amplitudes are floored at this fraction of the largest before the log.
/// Synthetic images (a logo, a square whose size divides the grid) have
/// exact spectral zeros, whose −∞ (or −27 with a tiny floor) log would be
/// all the "residual" and light up the image edges; a 60 dB floor leaves
/// photographs unchanged (map correlation > 0.99 on the bench photos).
const AMPLITUDE_FLOOR: f32 = 1e-3;

/// A saliency map: row-major values in 0–1.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// Width in cells (the working image's width).
    pub width: usize,
    /// Height in cells.
    pub height: usize,
    /// `width * height` values, row by row.
    pub values: Vec<f32>,
}

impl Map {
    /// The value at (`x`, `y`).
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.values[y * self.width + x]
    }
}

/// The saliency map of `grey` (at the working size), same size.
pub fn saliency_map(grey: &GrayImage) -> Map {
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    let n = width * height;
    let mut data: Vec<Complex32> = grey
        .as_raw()
        .iter()
        .map(|&v| Complex32::new(f32::from(v) / 255.0, 0.0))
        .collect();
    if n == 0 || spread(&data) < MIN_CONTRAST {
        return Map {
            width,
            height,
            values: vec![0.0; n],
        };
    }

    let mut planner = FftPlanner::new();
    fft2(
        &mut planner,
        &mut data,
        width,
        height,
        FftDirection::Forward,
    );
    let floor = data.iter().map(|c| c.norm()).fold(0.0, f32::max) * AMPLITUDE_FLOOR;
    let floor = floor.max(f32::MIN_POSITIVE);
    let log: Vec<f32> = data.iter().map(|c| c.norm().max(floor).ln()).collect();
    let mean = mean3x3_wrapped(&log, width, height);
    for ((c, l), m) in data.iter_mut().zip(&log).zip(&mean) {
        *c = Complex32::from_polar((l - m).exp(), c.arg());
    }
    fft2(
        &mut planner,
        &mut data,
        width,
        height,
        FftDirection::Inverse,
    );
    let squared: Vec<f32> = data.iter().map(|c| c.norm_sqr()).collect();
    let blurred = gaussian_blur(&squared, width, height, BLUR_SIGMA);
    Map {
        width,
        height,
        values: to_unit_range(blurred),
    }
}

/// Standard deviation of the real parts.
fn spread(data: &[Complex32]) -> f32 {
    let n = data.len() as f32;
    let mean = data.iter().map(|c| c.re).sum::<f32>() / n;
    (data.iter().map(|c| (c.re - mean).powi(2)).sum::<f32>() / n).sqrt()
}

/// In-place 2-D FFT of a row-major `width` x `height` grid (unnormalised:
/// the map is rescaled at the end).
fn fft2(
    planner: &mut FftPlanner<f32>,
    data: &mut [Complex32],
    width: usize,
    height: usize,
    direction: FftDirection,
) {
    // Rows: `process` transforms each `width`-long chunk.
    planner.plan_fft(width, direction).process(data);
    // Columns, through a transposed copy.
    let mut columns = vec![Complex32::new(0.0, 0.0); data.len()];
    for y in 0..height {
        for x in 0..width {
            columns[x * height + y] = data[y * width + x];
        }
    }
    planner.plan_fft(height, direction).process(&mut columns);
    for y in 0..height {
        for x in 0..width {
            data[y * width + x] = columns[x * height + y];
        }
    }
}

/// The 3x3 mean of every cell, wrapping around the edges (a spectrum is
/// periodic).
fn mean3x3_wrapped(v: &[f32], width: usize, height: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0.0;
            for dy in [height - 1, 0, 1] {
                for dx in [width - 1, 0, 1] {
                    sum += v[((y + dy) % height) * width + (x + dx) % width];
                }
            }
            out[y * width + x] = sum / 9.0;
        }
    }
    out
}

/// Mirror index `i` (may be negative or past the end) into `0..n`, edge
/// not repeated (`dcb|abcd|cba`), for any `n ≥ 1`.
fn mirror(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let i = i.rem_euclid(period);
    (if i < n as isize { i } else { period - i }) as usize
}

/// Separable Gaussian blur (radius 3σ), mirrored edges.
fn gaussian_blur(v: &[f32], width: usize, height: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let mut rows = vec![0.0; v.len()];
    for y in 0..height {
        for x in 0..width {
            rows[y * width + x] = kernel
                .iter()
                .zip(-radius..)
                .map(|(k, d)| k * v[y * width + mirror(x as isize + d, width)])
                .sum();
        }
    }
    let mut out = vec![0.0; v.len()];
    for y in 0..height {
        for x in 0..width {
            out[y * width + x] = kernel
                .iter()
                .zip(-radius..)
                .map(|(k, d)| k * rows[mirror(y as isize + d, height) * width + x])
                .sum();
        }
    }
    out
}

/// Scale to 0–1 (minimum → 0, maximum → 1); all zero when constant or not
/// finite.
fn to_unit_range(mut v: Vec<f32>) -> Vec<f32> {
    let min = v.iter().copied().fold(f32::INFINITY, f32::min);
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = max - min;
    if !range.is_finite() || range <= f32::EPSILON * max.abs().max(1.0) {
        v.iter_mut().for_each(|x| *x = 0.0);
        return v;
    }
    v.iter_mut()
        .for_each(|x| *x = ((*x - min) / range).clamp(0.0, 1.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_indices() {
        assert_eq!(
            (-3..7).map(|i| mirror(i, 4)).collect::<Vec<_>>(),
            [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
        );
        assert_eq!(mirror(-5, 1), 0);
        assert_eq!(mirror(9, 2), 1);
    }

    #[test]
    fn fft_round_trip() {
        let mut planner = FftPlanner::new();
        let orig: Vec<Complex32> = (0..6 * 5)
            .map(|i| Complex32::new((i % 7) as f32, 0.0))
            .collect();
        let mut data = orig.clone();
        fft2(&mut planner, &mut data, 6, 5, FftDirection::Forward);
        fft2(&mut planner, &mut data, 6, 5, FftDirection::Inverse);
        for (a, b) in data.iter().zip(&orig) {
            assert!((a.re / 30.0 - b.re).abs() < 1e-4);
        }
    }

    #[test]
    fn blur_keeps_the_mean_and_spreads_a_spike() {
        let mut v = vec![0.0; 41 * 41];
        v[20 * 41 + 20] = 1.0;
        let b = gaussian_blur(&v, 41, 41, 2.5);
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        assert!(b[20 * 41 + 20] > b[20 * 41 + 22] && b[20 * 41 + 22] > 0.0);
        // Tiny grids do not index out of range.
        assert_eq!(gaussian_blur(&[2.0], 1, 1, 2.5), [2.0]);
        assert_eq!(gaussian_blur(&[1.0, 1.0], 2, 1, 2.5).len(), 2);
    }

    #[test]
    fn flat_and_tiny_images() {
        let flat = saliency_map(&GrayImage::from_pixel(64, 48, image::Luma([90])));
        assert!(flat.values.iter().all(|&v| v == 0.0));
        let one = saliency_map(&GrayImage::from_pixel(1, 1, image::Luma([90])));
        assert_eq!(one.values, [0.0]);
        let line = saliency_map(&GrayImage::from_fn(64, 1, |x, _| image::Luma([x as u8])));
        assert!(line.values.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn a_lone_object_is_salient() {
        // A bright square on a dark background, off centre.
        let grey = GrayImage::from_fn(64, 48, |x, y| {
            image::Luma([if (40..48).contains(&x) && (10..18).contains(&y) {
                220
            } else {
                30
            }])
        });
        let map = saliency_map(&grey);
        let (mut best, mut at) = (0.0, (0, 0));
        for y in 0..48 {
            for x in 0..64 {
                if map.at(x, y) > best {
                    (best, at) = (map.at(x, y), (x, y));
                }
            }
        }
        assert_eq!(best, 1.0);
        assert!(
            (36..52).contains(&at.0) && (6..22).contains(&at.1),
            "{at:?}"
        );
    }
}
