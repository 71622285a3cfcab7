//! Track the beats of audio files as `audio.beats` does in its component:
//! `beats OUT_DIR FILE…` writes `OUT_DIR/<stem>.json` = `{"beats",
//! "tempo", "seconds": decoding + tracking, "track_seconds": tracking
//! the mono half-rate samples that librosa's beat_track gets}` for
//! `bench/beats/compare.py --drake OUT_DIR`.
//! Built for `wasm32-wasip2`, it is what `cargo bench --bench beats`
//! runs in wasmtime: the tracker's own speed, in the sandbox.

use std::time::Instant;

/// Interleaved blocks → mono, halved (pairs averaged) when the rate is
/// 32 kHz or more.
fn half_rate_mono(blocks: &[(Vec<f32>, usize)], rate: u32) -> (Vec<f32>, u32) {
    let mono: Vec<f32> = blocks
        .iter()
        .flat_map(|(samples, channels)| {
            samples
                .chunks_exact(*channels)
                .map(|f| f.iter().sum::<f32>() / f.len() as f32)
        })
        .collect();
    if rate < 32_000 {
        return (mono, rate);
    }
    let halved = mono.chunks_exact(2).map(|p| (p[0] + p[1]) / 2.0).collect();
    (halved, rate / 2)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: beats OUT_DIR FILE…")?);
    std::fs::create_dir_all(&out)?;
    for file in args {
        let path = std::path::Path::new(&file);
        let bytes: drake_audio::Bytes = std::fs::read(path)?.into();
        // As the task does: each decoded block straight into the tracker.
        let started = Instant::now();
        let mut opened = drake_audio::open(bytes.clone())?;
        let rate = opened.track.codec_params.sample_rate.unwrap_or(44_100);
        let mut tracker = drake_audio::beats::Tracker::new(rate);
        drake_audio::decode(&mut opened, |samples, channels| {
            tracker.push(samples, channels);
        })?;
        let found = tracker.finish();
        let done = Instant::now();
        let mut blocks = Vec::new();
        drake_audio::decode(&mut drake_audio::open(bytes)?, |samples, channels| {
            blocks.push((samples.to_vec(), channels));
        })?;
        // What librosa's beat_track gets from librosa.load: mono at half
        // of 44.1/48 kHz. The tracker's time on it is the like-for-like
        // comparison (the mixing and resampling are load's work there).
        let (mono, mono_rate) = half_rate_mono(&blocks, rate);
        let t = Instant::now();
        let mut tracker = drake_audio::beats::Tracker::new(mono_rate);
        tracker.push(&mono, 1);
        std::hint::black_box(tracker.finish());
        let track_seconds = t.elapsed().as_secs_f64();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("file name")?;
        let json = serde_json::json!({
            "beats": found.beats,
            "tempo": found.tempo,
            "seconds": (done - started).as_secs_f64(),
            "track_seconds": track_seconds,
        });
        std::fs::write(out.join(format!("{stem}.json")), json.to_string())?;
    }
    Ok(())
}
