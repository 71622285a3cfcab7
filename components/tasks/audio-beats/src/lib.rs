//! `audio.beats`: the beat times of a piece of music, its duration and
//! tempo, tracked in the component ([`drake_audio::beats`]: onset
//! strength → tempo → dynamic-programming alignment).
//!
//! The file is decoded block by block into the tracker, which keeps only
//! its onset envelope, so memory stays small for long files; Opus, which
//! symphonia cannot decode, comes from the ffmpeg capability as PCM.

use drake_audio::beats::Tracker;
use drake_audio::{FALLBACK_RATE, decode_media, describe};
use drake_sdk::media::centis;
use drake_sdk::{Ctx, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(AudioBeats);

/// Longest input analysed: 3 hours (a DJ set). The envelope is 1.2 MB an
/// hour and the tracking linear in the length, so this bounds the
/// decoding time, not memory.
pub const MAX_SECONDS: f64 = 3.0 * 3600.0;

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the music.
    pub url: String,
}

/// The task.
pub struct AudioBeats;

impl Task for AudioBeats {
    const NAME: &'static str = "audio.beats";
    const SUMMARY: &'static str =
        "Find the beats of a piece of music: beat times, duration and tempo.";
    const VALUES: &'static [&'static str] = &["beats", "duration", "tempo"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let (media, bytes) = drake_audio::fetch(ctx, &p.url)?;
        let (_, duration) = describe(bytes.clone())?;
        if duration > MAX_SECONDS {
            return Err(TaskError::Limit(format!(
                "the audio is {:.0} min long; audio.beats takes at most {:.0} min",
                duration / 60.0,
                MAX_SECONDS / 60.0
            )));
        }
        // Made at the first block, when the decoder knows the rate.
        let mut tracker: Option<Tracker> = None;
        decode_media(
            ctx,
            media.as_ref(),
            bytes,
            duration,
            (0, 90),
            |samples, channels, rate| {
                tracker
                    .get_or_insert_with(|| Tracker::new(rate))
                    .push(samples, channels);
            },
        )?;
        ctx.progress(95);
        let found = tracker
            .map(Tracker::finish)
            .unwrap_or_else(|| Tracker::new(FALLBACK_RATE).finish());
        let beats: Vec<f64> = found
            .beats
            .iter()
            .map(|t| (t * 1000.0).round() / 1000.0)
            .collect();
        Ok(drake_sdk::values([
            ("beats", beats.into()),
            ("duration", centis(duration).into()),
            ("tempo", ((found.tempo * 10.0).round() / 10.0).into()),
        ]))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn inputs_over_three_hours_are_refused_before_decoding() {
        // A WAV whose header announces 4 hours of 8 kHz mono (the data
        // itself is short: the cap is read from the header).
        let mut wav = drake_audio::tests_support::wav(8_000, 1, 1.0);
        let claimed: u32 = 8_000 * 2 * 4 * 3600;
        wav[40..44].copy_from_slice(&claimed.to_le_bytes());
        wav[4..8].copy_from_slice(&(claimed + 36).to_le_bytes());
        let mut ctx = drake_sdk::FakeCtx::default().with_input("http://x/a.wav", "audio/wav", wav);
        let e = drake_sdk::run_json::<AudioBeats>(&mut ctx, r#"{"url": "http://x/a.wav"}"#)
            .unwrap_err();
        assert!(
            matches!(e, TaskError::Limit(ref m) if m.contains("at most 180 min")),
            "{e:?}"
        );
    }
}
