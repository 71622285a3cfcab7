//! `audio.waveform`: the min/max peaks of `[start, end]`, one pair per
//! pixel column, drawn in `fill` on `background` as PNG or JPEG.
//!
//! Decoding happens in the component (symphonia); Opus, which symphonia
//! cannot decode, goes through the ffmpeg capability as 16 kHz mono PCM.
//! Memory stays bounded by the picture: each decoded block is folded into
//! the per-column peaks as it comes.

use drake_audio::describe;
use drake_sdk::media::StillFormat;
use drake_sdk::{Ctx, Task, TaskError, Values};
use image::{Rgb, RgbImage};
use serde::Deserialize;

drake_sdk::task!(AudioWaveform);

fn width_1024() -> u32 {
    1024
}
fn height_60() -> u32 {
    60
}
fn black() -> String {
    "#000000".into()
}
fn white() -> String {
    "#FFFFFF".into()
}
fn zero() -> f64 {
    0.0
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the audio file.
    pub url: String,
    /// Image width in pixels: one peak pair per column.
    #[serde(default = "width_1024")]
    #[schemars(range(min = 1, max = 16384))]
    pub width: u32,
    /// Image height in pixels.
    #[serde(default = "height_60")]
    #[schemars(range(min = 1, max = 4096))]
    pub height: u32,
    /// Empty pixels above and below the waveform.
    #[serde(default)]
    #[schemars(range(min = 0, max = 2047))]
    pub vmargin: u32,
    /// Waveform colour, `#RRGGBB`.
    #[serde(default = "black")]
    pub fill: String,
    /// Background colour, `#RRGGBB`.
    #[serde(default = "white")]
    pub background: String,
    /// Start of the range, in seconds.
    #[serde(default = "zero")]
    #[schemars(range(min = 0.0))]
    pub start: f64,
    /// End of the range, in seconds (default: the end of the file).
    #[schemars(range(min = 0.0))]
    pub end: Option<f64>,
    /// Image format.
    #[serde(default)]
    pub format: StillFormat,
}

/// The task.
pub struct AudioWaveform;

impl Task for AudioWaveform {
    const NAME: &'static str = "audio.waveform";
    const SUMMARY: &'static str = "Draw an audio file's waveform (min/max peaks per pixel column).";
    const VALUES: &'static [&'static str] = &["duration", "width", "height", "content_type"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let fill = colour("fill", &p.fill)?;
        let background = colour("background", &p.background)?;
        if p.vmargin * 2 >= p.height {
            return Err(TaskError::parameter(
                "vmargin",
                format!(
                    "must leave room for the waveform: less than half of height ({})",
                    p.height
                ),
            ));
        }
        let (media, bytes) = drake_audio::fetch(ctx, &p.url)?;
        let (_, duration) = describe(bytes.clone())?;
        let end = p.end.map_or(duration, |e| e.min(duration));
        if p.start >= duration {
            return Err(TaskError::parameter(
                "start",
                format!("{} is past the end of the audio ({duration:.2} s)", p.start),
            ));
        }
        if end <= p.start {
            return Err(TaskError::parameter(
                "end",
                format!("must be after start ({} s)", p.start),
            ));
        }
        let mut peaks = Peaks::new(p.width, p.start, end);
        drake_audio::decode_media(
            ctx,
            media.as_ref(),
            bytes,
            duration,
            (0, 90),
            |samples, channels, rate| peaks.add(samples, channels, rate),
        )?;
        ctx.progress(95);
        let img = draw(&peaks, p.height, p.vmargin, fill, background);
        let bytes = drake_imaging::encode_rgb(&img, p.format)?;
        let content_type = p.format.content_type();
        ctx.publish("output", &bytes, content_type, p.format.extension())?;
        Ok(drake_sdk::values([
            ("duration", ((duration * 100.0).round() / 100.0).into()),
            ("width", p.width.into()),
            ("height", p.height.into()),
            ("content_type", content_type.into()),
        ]))
    }
}

/// `#RRGGBB` (the `#` optional), or a parameter error naming `name`.
pub fn colour(name: &str, text: &str) -> Result<Rgb<u8>, TaskError> {
    let hex = text.trim().trim_start_matches('#');
    let bad = || TaskError::parameter(name, format!("{text:?} is not a colour: use #RRGGBB"));
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    Ok(Rgb([byte(0)?, byte(2)?, byte(4)?]))
}

/// Min/max per column of `[start, end]`, filled block by block.
pub struct Peaks {
    columns: Vec<(f32, f32)>,
    start: f64,
    end: f64,
    /// Frames seen so far (the time of the next block).
    frames: u64,
}

impl Peaks {
    /// Empty peaks for `width` columns over `[start, end]` seconds.
    pub fn new(width: u32, start: f64, end: f64) -> Peaks {
        Peaks {
            columns: vec![(f32::INFINITY, f32::NEG_INFINITY); width as usize],
            start,
            end,
            frames: 0,
        }
    }

    /// Fold interleaved samples (`channels` per frame, `rate` Hz) in.
    pub fn add(&mut self, samples: &[f32], channels: usize, rate: u32) {
        let width = self.columns.len() as f64;
        let per_column = (self.end - self.start) / width;
        for frame in samples.chunks_exact(channels.max(1)) {
            let t = self.frames as f64 / f64::from(rate);
            self.frames += 1;
            if t < self.start || t >= self.end {
                continue;
            }
            let x = (((t - self.start) / per_column) as usize).min(self.columns.len() - 1);
            let (lo, hi) = &mut self.columns[x];
            for &s in frame {
                let s = if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                *lo = lo.min(s);
                *hi = hi.max(s);
            }
        }
    }
}

/// The picture: each column a vertical line from its max to its min.
pub fn draw(
    peaks: &Peaks,
    height: u32,
    vmargin: u32,
    fill: Rgb<u8>,
    background: Rgb<u8>,
) -> RgbImage {
    let width = peaks.columns.len() as u32;
    let mut img = RgbImage::from_pixel(width, height, background);
    let half = f64::from(height - 2 * vmargin) / 2.0;
    let centre = f64::from(height) / 2.0;
    let (top_limit, bottom_limit) = (vmargin, height - vmargin - 1);
    for (x, &(lo, hi)) in peaks.columns.iter().enumerate() {
        if lo > hi {
            continue; // no sample in this column (a very short range)
        }
        let top = (centre - f64::from(hi) * half).floor() as i64;
        let bottom = (centre - f64::from(lo) * half).ceil() as i64 - 1;
        let top = top.clamp(i64::from(top_limit), i64::from(bottom_limit)) as u32;
        let bottom = bottom.clamp(i64::from(top), i64::from(bottom_limit)) as u32;
        for y in top..=bottom {
            img.put_pixel(x as u32, y, fill);
        }
    }
    img
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_or_name_the_parameter() {
        assert_eq!(colour("fill", "#FF8000").unwrap(), Rgb([255, 128, 0]));
        assert_eq!(colour("fill", "00ff00").unwrap(), Rgb([0, 255, 0]));
        for bad in ["red", "#FFF", "#GG0000", ""] {
            let e = colour("background", bad).unwrap_err();
            assert!(
                matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("background"))
            );
        }
    }

    #[test]
    fn a_ramp_draws_growing_columns() {
        // 1 s at 100 Hz: the amplitude grows from 0 to 1, alternating sign.
        let samples: Vec<f32> = (0..100)
            .map(|i| {
                let a = i as f32 / 99.0;
                if i % 2 == 0 { a } else { -a }
            })
            .collect();
        let mut peaks = Peaks::new(10, 0.0, 1.0);
        peaks.add(&samples, 1, 100);
        let img = draw(&peaks, 41, 0, Rgb([0, 0, 0]), Rgb([255, 255, 255]));
        let filled = |x: u32| {
            (0..41)
                .filter(|&y| img.get_pixel(x, y).0 == [0, 0, 0])
                .count()
        };
        let heights: Vec<usize> = (0..10).map(filled).collect();
        assert!(heights.windows(2).all(|w| w[0] <= w[1]), "{heights:?}");
        assert!(heights[0] <= 6 && heights[9] >= 39, "{heights:?}");
        // A margin keeps the rows clear.
        let img = draw(&peaks, 41, 5, Rgb([0, 0, 0]), Rgb([255, 255, 255]));
        assert!((0..10).all(|x| img.get_pixel(x, 2).0 == [255, 255, 255]));
        assert_eq!(img.get_pixel(9, 5).0, [0, 0, 0]);
    }

    #[test]
    fn range_and_margin_errors_name_the_parameter() {
        let wav = drake_audio::tests_support::wav(8000, 1, 1.0);
        let mut ctx = drake_sdk::FakeCtx::default().with_input("http://x/a.wav", "audio/wav", wav);
        for (params, name) in [
            (r#"{"url": "http://x/a.wav", "start": 2}"#, "start"),
            (
                r#"{"url": "http://x/a.wav", "start": 0.5, "end": 0.2}"#,
                "end",
            ),
            (
                r#"{"url": "http://x/a.wav", "height": 10, "vmargin": 5}"#,
                "vmargin",
            ),
            (r#"{"url": "http://x/a.wav", "fill": "blue"}"#, "fill"),
        ] {
            let e = drake_sdk::run_json::<AudioWaveform>(&mut ctx, params).unwrap_err();
            assert!(
                matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key(name)),
                "{params}: {e:?}"
            );
        }
        let v = drake_sdk::run_json::<AudioWaveform>(
            &mut ctx,
            r#"{"url": "http://x/a.wav", "width": 50, "height": 20, "format": "png"}"#,
        )
        .unwrap();
        assert_eq!(
            (v["width"].clone(), v["height"].clone()),
            (50.into(), 20.into())
        );
        let png = image::load_from_memory(&ctx.published["output"].bytes).unwrap();
        assert_eq!((png.width(), png.height()), (50, 20));
    }
}
