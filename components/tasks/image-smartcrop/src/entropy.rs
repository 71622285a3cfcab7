//! How interesting each part of the image is: the local entropy of the
//! grey levels, and its summed-area table so the mean over any box costs
//! four lookups.
//!
//! The entropy of a pixel is that of the grey-level histogram
//! ([`ENTROPY_BINS`] bins) of its [`ENTROPY_WINDOW`]-pixel square
//! neighbourhood (clipped at the image edges), divided by its maximum
//! (log₂ of the bin count) so it lies in 0–1. Flat areas — sky, a studio
//! backdrop, the inside of a flat logo — score 0; edges, texture and detail
//! score high, so a box over the subject outscores a box over the
//! background.

use image::GrayImage;

use crate::limits::{ENTROPY_BINS, ENTROPY_WINDOW};

/// Summed-area table of the local entropy of a working image.
pub struct Entropy {
    width: usize,
    height: usize,
    /// `(width + 1) * (height + 1)` partial sums, row by row; row and
    /// column 0 are zero.
    sums: Vec<f64>,
}

impl Entropy {
    /// The local entropy of every pixel of `grey`, summed.
    pub fn new(grey: &GrayImage) -> Self {
        let (width, height) = (grey.width() as usize, grey.height() as usize);
        let radius = (ENTROPY_WINDOW / 2) as usize;
        let bins: Vec<usize> = grey
            .as_raw()
            .iter()
            .map(|&v| usize::from(v) * ENTROPY_BINS / 256)
            .collect();
        let max_bits = (ENTROPY_BINS as f64).log2();
        let stride = width + 1;
        let mut sums = vec![0.0; stride * (height + 1)];
        let mut counts = [0u32; ENTROPY_BINS];
        for y in 0..height {
            let mut row = 0.0;
            for x in 0..width {
                counts.fill(0);
                let (y0, y1) = (y.saturating_sub(radius), (y + radius).min(height - 1));
                let (x0, x1) = (x.saturating_sub(radius), (x + radius).min(width - 1));
                for ny in y0..=y1 {
                    for &b in &bins[ny * width + x0..=ny * width + x1] {
                        counts[b] += 1;
                    }
                }
                let n = ((y1 - y0 + 1) * (x1 - x0 + 1)) as f64;
                let bits: f64 = counts
                    .iter()
                    .filter(|&&c| c > 0)
                    .map(|&c| {
                        let p = f64::from(c) / n;
                        -p * p.log2()
                    })
                    .sum();
                row += bits / max_bits;
                sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + row;
            }
        }
        Entropy {
            width,
            height,
            sums,
        }
    }

    /// Working image size.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Mean entropy (0–1) over columns `x0..x1` and rows `y0..y1` (clamped
    /// to the image; an empty range gives 0).
    pub fn mean(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        if x0 >= x1 || y0 >= y1 {
            return 0.0;
        }
        let s = self.width + 1;
        let sum = self.sums[y1 * s + x1] - self.sums[y0 * s + x1] - self.sums[y1 * s + x0]
            + self.sums[y0 * s + x0];
        sum / ((x1 - x0) * (y1 - y0)) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_is_zero_and_noise_is_high() {
        let flat = Entropy::new(&GrayImage::from_pixel(20, 10, image::Luma([77])));
        assert_eq!(flat.mean(0, 0, 20, 10), 0.0);
        // Every grey level bin equally often in each window: near 1.
        let busy = Entropy::new(&GrayImage::from_fn(32, 32, |x, y| {
            image::Luma([((x * 7 + y * 3) % 16 * 16) as u8])
        }));
        assert!(
            busy.mean(4, 4, 28, 28) > 0.85,
            "{}",
            busy.mean(4, 4, 28, 28)
        );
    }

    #[test]
    fn a_textured_square_scores_where_it_is() {
        let img = GrayImage::from_fn(60, 40, |x, y| {
            image::Luma([if x >= 40 && y < 20 && (x + y) % 2 == 0 {
                255
            } else {
                0
            }])
        });
        let e = Entropy::new(&img);
        assert!(e.mean(40, 0, 60, 20) > 0.2);
        assert_eq!(e.mean(0, 25, 30, 40), 0.0);
        assert_eq!(e.mean(5, 5, 5, 9), 0.0);
        assert_eq!(e.mean(50, 30, 99, 99), 0.0);
        assert_eq!(e.size(), (60, 40));
    }
}
