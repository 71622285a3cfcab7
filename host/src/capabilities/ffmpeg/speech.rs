//! Speech with CMU flite, built into ffmpeg (`-f lavfi flite`): the text
//! goes into the scratch directory as a file, never into an argument, and
//! the voice is one of a fixed list.

use crate::bindings::ffmpeg::FfmpegError;

/// flite voices built into ffmpeg that `speak` accepts.
const VOICES: &[&str] = &["slt", "rms", "awb", "kal", "kal16"];

/// Longest text `speak` takes, in bytes: about 15 minutes of speech, far
/// past any task's own cap (audio.tts takes 5 000 characters).
pub(super) const MAX_SPEECH_TEXT: usize = 64 * 1024;

/// The argv of a `speak` call: flite reads `text.txt` in the scratch
/// directory; the voice is from [`VOICES`], so no guest string reaches
/// the lavfi graph.
pub(super) fn speech_argv(voice: &str) -> Result<Vec<String>, FfmpegError> {
    if !VOICES.contains(&voice) {
        return Err(FfmpegError::InvalidJob(format!(
            "unknown voice {voice:?} (one of {})",
            VOICES.join(", ")
        )));
    }
    Ok([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "level+info",
        "-benchmark",
        "-f",
        "lavfi",
        "-i",
        &format!("flite=textfile=text.txt:voice={voice}"),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
        "-y",
        "out0",
    ]
    .map(String::from)
    .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_takes_only_known_voices() {
        let argv = speech_argv("slt").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(argv.contains(&"flite=textfile=text.txt:voice=slt".to_owned()));
        for hostile in ["nope", "slt:textfile=/etc/passwd", "slt,movie=x", ""] {
            assert!(
                matches!(speech_argv(hostile), Err(FfmpegError::InvalidJob(_))),
                "{hostile}"
            );
        }
    }
}
