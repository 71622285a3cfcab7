//! `audio.convert`: any audio ffmpeg reads → MP3 (LAME) or Ogg Vorbis.
//!
//! Steps: fetch → probe (an audio stream must be there; its duration is
//! the value) → one ffmpeg job with progress → publish. The duration is
//! the source's: an encoder changes it only by its frame padding, which
//! the LAME/Vorbis headers tell players to skip.

use drake_audio::encode::{Encoding, Material, encode_output};
use drake_sdk::media::{fetch_and_probe, stream_duration};
use drake_sdk::{Ctx, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(AudioConvert);

/// Output codecs.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// MP3 (`audio/mpeg`, `.mp3`).
    #[default]
    Mp3,
    /// Vorbis in Ogg (`audio/ogg`, `.ogg`).
    Vorbis,
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the audio (or video) file.
    pub url: String,
    /// Output codec.
    #[serde(default)]
    pub codec: Codec,
}

/// The task.
pub struct AudioConvert;

impl Task for AudioConvert {
    const NAME: &'static str = "audio.convert";
    const SUMMARY: &'static str = "Convert an audio file to MP3 or Ogg Vorbis.";
    const VALUES: &'static [&'static str] = &["duration", "content_type"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let encoding = match p.codec {
            Codec::Mp3 => Encoding::Mp3,
            Codec::Vorbis => Encoding::Vorbis,
        };
        let (media, info) = fetch_and_probe(ctx, "url", &p.url)?;
        let Some(audio) = info.first("audio") else {
            return Err(TaskError::InvalidInput(
                "the file has no audio stream".into(),
            ));
        };
        let duration = stream_duration(&info, audio);
        let channels = audio.channels;
        encode_output(
            ctx,
            media.as_ref(),
            encoding,
            Material::Music,
            channels,
            duration,
        )
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, MediaInfo, StreamInfo};

    fn probed(kind: &str, channels: u32) -> MediaInfo {
        MediaInfo {
            format: "wav".into(),
            duration: 2.345,
            bit_rate: 0,
            streams: vec![StreamInfo {
                kind: kind.into(),
                channels,
                duration: 2.345,
                ..StreamInfo::default()
            }],
        }
    }

    #[test]
    fn vorbis_job_and_values() {
        let mut ctx = FakeCtx::default().with_input("http://x/a.wav", "audio/wav", vec![1; 10]);
        ctx.probe_result = Some(probed("audio", 6));
        ctx.job_results.push_back(Ok(vec![b"OggS...".to_vec()]));
        let v = drake_sdk::run_json::<AudioConvert>(
            &mut ctx,
            r#"{"url": "http://x/a.wav", "codec": "vorbis"}"#,
        )
        .unwrap();
        assert_eq!(v["duration"], 2.35);
        assert_eq!(v["content_type"], "audio/ogg");
        let out = &ctx.published["output"];
        assert_eq!((out.extension.as_str(), out.bytes.len()), ("ogg", 7));
        let job = &ctx.jobs[0].outputs[0];
        assert!(job.contains(&("c:a".into(), "libvorbis".into())), "{job:?}");
    }

    #[test]
    fn a_video_without_sound_is_a_readable_error() {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1; 10]);
        ctx.probe_result = Some(probed("video", 0));
        let e = drake_sdk::run_json::<AudioConvert>(&mut ctx, r#"{"url": "http://x/v.mp4"}"#)
            .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidInput(ref m) if m.contains("no audio")),
            "{e:?}"
        );
        assert!(ctx.jobs.is_empty());
    }

    #[test]
    fn unknown_codec_names_the_parameter() {
        let mut ctx = FakeCtx::default();
        let e = drake_sdk::run_json::<AudioConvert>(
            &mut ctx,
            r#"{"url": "http://x/a.wav", "codec": "flac"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("codec")),
            "{e:?}"
        );
    }
}
