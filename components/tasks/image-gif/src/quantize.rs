//! 256 colours a frame, as GIF needs: each frame gets its own palette.
//!
//! - A frame with at most 256 distinct colours (graphics, letterboxed
//!   logos, flat test cards) is stored exactly, with no dithering.
//! - Otherwise NeuQuant (`color_quant`, the quantiser of `image`'s own GIF
//!   encoder) learns a palette from the frame — from at most
//!   [`TRAINING_PIXELS`] pixels spread over it — and the frame is mapped to
//!   it with serpentine Floyd–Steinberg error diffusion, so gradients (sky,
//!   skin) dither instead of banding.

use std::collections::HashMap;

use color_quant::NeuQuant;
use image::RgbImage;

/// Pixels NeuQuant learns from: beyond half a million the palette does not
/// improve, and training time grows with the sample.
const TRAINING_PIXELS: usize = 500_000;

/// NeuQuant's own sampling factor on the training pixels (1 = every one,
/// best; 30 = fastest): 3 keeps the palette close to the best for a third
/// of the time.
const SAMPLE_FACTOR: i32 = 3;

/// A frame as GIF stores it.
pub struct Indexed {
    /// RGB triples, at most 256.
    pub palette: Vec<u8>,
    /// One palette index a pixel, row by row.
    pub indices: Vec<u8>,
}

/// The frame in at most 256 colours.
pub fn quantize(rgb: &RgbImage) -> Indexed {
    exact(rgb).unwrap_or_else(|| dithered(rgb))
}

/// The exact palette, when there are at most 256 colours.
fn exact(rgb: &RgbImage) -> Option<Indexed> {
    let mut index: HashMap<[u8; 3], u8> = HashMap::new();
    let mut palette = Vec::new();
    let mut indices = Vec::with_capacity(rgb.as_raw().len() / 3);
    for p in rgb.pixels() {
        let i = match index.get(&p.0) {
            Some(&i) => i,
            None => {
                let i = u8::try_from(index.len()).ok()?;
                index.insert(p.0, i);
                palette.extend(p.0);
                i
            }
        };
        indices.push(i);
    }
    Some(Indexed { palette, indices })
}

/// NeuQuant palette and Floyd–Steinberg dithering.
fn dithered(rgb: &RgbImage) -> Indexed {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let raw = rgb.as_raw();
    let n = w * h;
    // Training sample: every `stride`-th pixel, RGBA as NeuQuant wants.
    let stride = n.div_ceil(TRAINING_PIXELS).max(1);
    let sample: Vec<u8> = raw
        .chunks_exact(3)
        .step_by(stride)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let nq = NeuQuant::new(SAMPLE_FACTOR, 256, &sample);
    let palette = nq.color_map_rgb();

    let mut indices = vec![0u8; n];
    // Diffused error of this row and the next, one slot of margin each side.
    let mut this_row = vec![[0f32; 3]; w + 2];
    let mut next_row = vec![[0f32; 3]; w + 2];
    for y in 0..h {
        let forward = y % 2 == 0;
        for step in 0..w {
            let x = if forward { step } else { w - 1 - step };
            let at = y * w + x;
            let e = this_row[x + 1];
            let want = [0, 1, 2].map(|c| (f32::from(raw[at * 3 + c]) + e[c]).clamp(0.0, 255.0));
            let px = want.map(|v| v.round() as u8);
            let i = nq.index_of(&[px[0], px[1], px[2], 255]);
            indices[at] = i as u8;
            let got = [0, 1, 2].map(|c| f32::from(palette.get(i * 3 + c).copied().unwrap_or(0)));
            let err = [0, 1, 2].map(|c| want[c] - got[c]);
            // Ahead on this row 7/16; behind, below and ahead on the next
            // row 3/16, 5/16 and 1/16 ("ahead" follows the serpentine).
            let (ahead, behind) = if forward { (x + 2, x) } else { (x, x + 2) };
            for c in 0..3 {
                this_row[ahead][c] += err[c] * 7.0 / 16.0;
                next_row[behind][c] += err[c] * 3.0 / 16.0;
                next_row[x + 1][c] += err[c] * 5.0 / 16.0;
                next_row[ahead][c] += err[c] / 16.0;
            }
        }
        std::mem::swap(&mut this_row, &mut next_row);
        next_row.fill([0.0; 3]);
    }
    Indexed { palette, indices }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colour(q: &Indexed, i: usize) -> [u8; 3] {
        let k = q.indices[i] as usize * 3;
        [q.palette[k], q.palette[k + 1], q.palette[k + 2]]
    }

    #[test]
    fn few_colours_are_exact() {
        let img = RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 16) as u8, 7])
        });
        let q = quantize(&img);
        assert_eq!(q.palette.len(), 256 * 3);
        for (i, p) in img.pixels().enumerate() {
            assert_eq!(colour(&q, i), p.0);
        }
    }

    #[test]
    fn a_gradient_dithers_close_to_the_source() {
        // 65536 colours: the palette cannot hold them, the average colour
        // of every 8x8 block stays close.
        let img = RgbImage::from_fn(256, 256, |x, y| {
            image::Rgb([x as u8, y as u8, ((x + y) / 2) as u8])
        });
        let q = quantize(&img);
        assert!(q.palette.len() <= 256 * 3);
        assert_eq!(q.indices.len(), 256 * 256);
        let (mut worst, mut total) = (0i64, 0i64);
        for by in 0..32 {
            for bx in 0..32 {
                let mut sum = [0i64; 3];
                let mut want = [0i64; 3];
                for y in by * 8..by * 8 + 8 {
                    for x in bx * 8..bx * 8 + 8 {
                        let got = colour(&q, y * 256 + x);
                        let src = img.get_pixel(x as u32, y as u32).0;
                        for c in 0..3 {
                            sum[c] += i64::from(got[c]);
                            want[c] += i64::from(src[c]);
                        }
                    }
                }
                for c in 0..3 {
                    let err = (sum[c] - want[c]).abs() / 64;
                    worst = worst.max(err);
                    total += err;
                }
            }
        }
        // On average within a level; the worst blocks are the corners of
        // the colour cube, which no palette colour lies beyond.
        let mean = total as f64 / (32.0 * 32.0 * 3.0);
        assert!(mean < 1.0 && worst < 16, "mean {mean}, worst {worst}");
    }

    #[test]
    fn tiny_frames() {
        let q = quantize(&RgbImage::new(1, 1));
        assert_eq!((q.palette.len(), q.indices.len()), (3, 1));
        // 300 distinct colours on one row: NeuQuant with a tiny sample.
        let img = RgbImage::from_fn(300, 1, |x, _| image::Rgb([x as u8, (x / 2) as u8, 1]));
        assert_eq!(quantize(&img).indices.len(), 300);
    }
}
