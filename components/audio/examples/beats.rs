//! Track the beats of audio files natively, as `audio.beats` does in its
//! component: `beats OUT_DIR FILE…` writes `OUT_DIR/<stem>.json` =
//! `{"beats": [...], "tempo": x, "seconds": decode + tracking time}` for
//! `bench/beats/compare.py --drake OUT_DIR`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: beats OUT_DIR FILE…")?);
    std::fs::create_dir_all(&out)?;
    for file in args {
        let path = std::path::Path::new(&file);
        let bytes = std::fs::read(path)?;
        let started = Instant::now();
        let mut opened = drake_audio::open(bytes)?;
        let rate = opened.track.codec_params.sample_rate.unwrap_or(44_100);
        let mut tracker = drake_audio::beats::Tracker::new(rate);
        drake_audio::decode(&mut opened, |samples, channels| {
            tracker.push(samples, channels)
        })?;
        let found = tracker.finish();
        let seconds = started.elapsed().as_secs_f64();
        if std::env::var_os("BEATS_PROFILE").is_some() {
            let t = Instant::now();
            let mut opened = drake_audio::open(std::fs::read(path)?)?;
            let mut n = 0usize;
            drake_audio::decode(&mut opened, |s, _| n += s.len())?;
            let decode = t.elapsed().as_secs_f64();
            let mut all = Vec::new();
            let mut opened = drake_audio::open(std::fs::read(path)?)?;
            drake_audio::decode(&mut opened, |s, _| all.extend_from_slice(s))?;
            let t = Instant::now();
            let mut tracker = drake_audio::beats::Tracker::new(rate);
            tracker.push(&all, 2);
            let onset_only = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _ = tracker.finish();
            println!(
                "  decode {:.1} ms, onset {:.1} ms, finish {:.1} ms ({n})",
                decode * 1e3,
                onset_only * 1e3,
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("file name")?;
        let json =
            serde_json::json!({"beats": found.beats, "tempo": found.tempo, "seconds": seconds});
        std::fs::write(out.join(format!("{stem}.json")), json.to_string())?;
        println!(
            "{stem}: {:.1} BPM, {} beats, {:.1} ms",
            found.tempo,
            found.beats.len(),
            seconds * 1e3
        );
    }
    Ok(())
}
