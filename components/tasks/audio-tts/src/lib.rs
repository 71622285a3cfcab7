//! `audio.tts`: English text → speech, as MP3 or Ogg Vorbis.
//!
//! The voice engine is flite (CMU), built into the host's ffmpeg and run
//! in its sandbox through the capability's `speak`: `neospeech:julie` is
//! flite's `slt` (US English, female), `neospeech:paul` its `rms` (US
//! English, male). The 16 kHz WAV it makes is measured here (its length
//! is the duration) and encoded by one ffmpeg job.

use drake_audio::encode::{Encoding, Material, encode_output};
use drake_sdk::media::{flite_voice, wav_seconds};
use drake_sdk::{Ctx, FfmpegError, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(AudioTts);

/// Longest text, in characters: about five minutes of speech, which
/// flite makes in a few seconds; longer texts belong in several tasks.
pub const MAX_TEXT_CHARS: usize = 5_000;

fn julie() -> String {
    "neospeech:julie".into()
}

/// Output codecs.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// MP3 (`audio/mpeg`, `.mp3`).
    #[default]
    Mp3,
    /// Vorbis in Ogg (`audio/ogg`, `.ogg`).
    Ogg,
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The text to speak (English), at most 5 000 characters.
    pub text: String,
    /// `neospeech:julie` (female) or `neospeech:paul` (male); the
    /// spellings `neospoken: julie` / `neospoken: paul` are accepted, case
    /// and spaces ignored.
    #[serde(default = "julie")]
    pub voice: String,
    /// Output codec.
    #[serde(default)]
    pub codec: Codec,
}

/// The text as flite gets it: control characters become spaces (flite
/// reads a file, where they would only confuse its tokenizer).
fn clean(text: &str) -> Result<String, TaskError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(TaskError::parameter(
            "text",
            format!("is {chars} characters long; the limit is {MAX_TEXT_CHARS}"),
        ));
    }
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if !cleaned.chars().any(char::is_alphanumeric) {
        return Err(TaskError::parameter("text", "has nothing to say"));
    }
    Ok(cleaned)
}

/// The task.
pub struct AudioTts;

impl Task for AudioTts {
    const NAME: &'static str = "audio.tts";
    const SUMMARY: &'static str = "Speak a text (English, a female or a male voice) as MP3 or Ogg.";
    const VALUES: &'static [&'static str] = &["duration", "content_type"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let Some(voice) = flite_voice(&p.voice) else {
            return Err(TaskError::parameter(
                "voice",
                format!(
                    "unknown voice {:?}: neospeech:julie (female) or neospeech:paul (male)",
                    p.voice
                ),
            ));
        };
        let text = clean(&p.text)?;
        let encoding = match p.codec {
            Codec::Mp3 => Encoding::Mp3,
            Codec::Ogg => Encoding::Vorbis,
        };
        let speech = ctx
            .speak(&text, voice)
            .map_err(FfmpegError::into_task_error)?;
        ctx.progress(50);
        let duration = wav_seconds(&speech.read(0, 4096), speech.size())
            .ok_or_else(|| TaskError::Failed("the speech engine made no readable WAV".into()))?;
        // flite skips what it cannot pronounce (other scripts, emoji) and
        // pads every utterance with 0.19 s of silence; one word is 0.5 s.
        if duration < 0.3 {
            return Err(TaskError::parameter(
                "text",
                "has no English words the voices can pronounce",
            ));
        }
        encode_output(
            ctx,
            speech.as_ref(),
            encoding,
            Material::Speech,
            1,
            duration,
        )
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_audio::tests_support::wav;
    use drake_sdk::FakeCtx;

    #[test]
    fn wav_length_from_the_header() {
        let bytes = wav(16_000, 1, 2.5);
        assert_eq!(wav_seconds(&bytes[..44], bytes.len() as u64), Some(2.5));
        assert_eq!(wav_seconds(b"RIFF....WAVEjunk", 100), None);
        assert_eq!(wav_seconds(b"", 0), None);
    }

    #[test]
    fn voice_spellings() {
        assert_eq!(flite_voice("neospeech:julie"), Some("slt"));
        assert_eq!(flite_voice("neospoken: julie"), Some("slt"));
        assert_eq!(flite_voice(" NeoSpoken : Paul "), Some("rms"));
        assert_eq!(flite_voice("neospeech:bob"), None);
        assert_eq!(flite_voice("julie"), None);
    }

    #[test]
    fn speaks_cleaned_text_and_reports_the_duration() {
        let mut ctx = FakeCtx {
            speech: Some(wav(16_000, 1, 1.25)),
            ..FakeCtx::default()
        };
        ctx.job_results.push_back(Ok(vec![b"ID3...".to_vec()]));
        let v = drake_sdk::run_json::<AudioTts>(
            &mut ctx,
            r#"{"text": "Hello\u0007 world", "voice": "neospoken: paul"}"#,
        )
        .unwrap();
        assert_eq!(ctx.spoken, [("Hello  world".to_owned(), "rms".to_owned())]);
        assert_eq!(v["duration"], 1.25);
        assert_eq!(v["content_type"], "audio/mpeg");
        assert_eq!(ctx.published["output"].extension, "mp3");
    }

    #[test]
    fn text_errors_name_the_parameter() {
        for (text, needle) in [
            ("x".repeat(MAX_TEXT_CHARS + 1), "limit is 5000"),
            (" \n\t ...".to_owned(), "nothing to say"),
        ] {
            let mut ctx = FakeCtx::default();
            let params = serde_json::json!({ "text": text }).to_string();
            let e = drake_sdk::run_json::<AudioTts>(&mut ctx, &params).unwrap_err();
            assert!(
                matches!(e, TaskError::InvalidParameters(ref m) if m["text"][0].contains(needle)),
                "{e:?}"
            );
            assert!(ctx.spoken.is_empty());
        }
        let mut ctx = FakeCtx::default();
        let e = drake_sdk::run_json::<AudioTts>(&mut ctx, r#"{"text": "hi", "voice": "robot"}"#)
            .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("voice")),
            "{e:?}"
        );
    }
}
