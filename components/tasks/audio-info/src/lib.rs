//! `audio.info`: what an audio file is — duration, content type, codec —
//! read inside the component with symphonia's demuxers.
//!
//! The duration comes from the stream header when it states the frame
//! count (WAV, FLAC, MP4, MP3 with a Xing/Info header), else from the sum
//! of the packet durations, which reads the container but decodes nothing.

use drake_audio::{content_type, describe};
use drake_sdk::{Ctx, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(AudioInfo);

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the audio file.
    pub url: String,
}

/// The task.
pub struct AudioInfo;

impl Task for AudioInfo {
    const NAME: &'static str = "audio.info";
    const SUMMARY: &'static str = "Describe an audio file: duration, content type and codec.";
    const VALUES: &'static [&'static str] = &["duration", "content_type", "codec"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let (_, bytes) = drake_audio::fetch(ctx, &p.url)?;
        let content_type = content_type(&bytes);
        let (codec, duration) = describe(bytes)?;
        Ok(drake_sdk::values([
            ("duration", ((duration * 100.0).round() / 100.0).into()),
            ("content_type", content_type.into()),
            ("codec", codec.into()),
        ]))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_a_readable_error() {
        let mut ctx =
            drake_sdk::FakeCtx::default().with_input("http://x/a.mp3", "audio/mpeg", vec![]);
        let e =
            drake_sdk::run_json::<AudioInfo>(&mut ctx, r#"{"url": "http://x/a.mp3"}"#).unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidInput(ref m) if m.contains("empty")),
            "{e:?}"
        );
    }
}
