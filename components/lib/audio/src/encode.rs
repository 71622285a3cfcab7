//! Audio-only outputs (MP3, Ogg Vorbis) made by the ffmpeg capability.

use drake_sdk::media::{Job, JobInput, centis, opts};
use drake_sdk::{Ctx, FfmpegError, Input, TaskError, Values};

/// An output format: codec, container and quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// MPEG-1/2 Layer III in a plain `.mp3` stream (LAME).
    Mp3,
    /// Vorbis in Ogg (libvorbis).
    Vorbis,
}

/// What the audio is, which sets the quality: music keeps every detail,
/// speech (mono, 16 kHz) needs far fewer bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Material {
    /// Any input a user converts.
    Music,
    /// Synthesised speech.
    Speech,
}

impl Encoding {
    /// MIME type of the file.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Mp3 => "audio/mpeg",
            Encoding::Vorbis => "audio/ogg",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Mp3 => "mp3",
            Encoding::Vorbis => "ogg",
        }
    }

    /// Output options for an input of `channels` channels.
    pub fn options(self, material: Material, channels: u32) -> Vec<(String, String)> {
        // Variable bitrate at a quality level rather than a fixed bitrate:
        // LAME V2 (~190 kbit/s) and Vorbis q5 (~160 kbit/s) are each
        // encoder's "transparent for most music" setting; speech at V5 /
        // q3 is ~40 kbit/s at 16 kHz and indistinguishable from the WAV.
        let (codec, muxer, quality) = match (self, material) {
            (Encoding::Mp3, Material::Music) => ("libmp3lame", "mp3", "2"),
            (Encoding::Mp3, Material::Speech) => ("libmp3lame", "mp3", "5"),
            (Encoding::Vorbis, Material::Music) => ("libvorbis", "ogg", "5"),
            (Encoding::Vorbis, Material::Speech) => ("libvorbis", "ogg", "3"),
        };
        let mut options = opts([("map", "0:a:0"), ("c:a", codec), ("q:a", quality)]);
        // MP3 has at most two channels: 5.1 is downmixed (ffmpeg's
        // standard matrix). Vorbis keeps up to 8.
        let max_channels = match self {
            Encoding::Mp3 => 2,
            Encoding::Vorbis => 8,
        };
        if channels > max_channels {
            options.extend(opts([("ac", &max_channels.to_string())]));
        }
        // No cover art, no metadata-only streams: only the audio.
        options.extend(opts([("vn", ""), ("f", muxer)]));
        options
    }
}

/// Encode the first audio stream of `media` (any format ffmpeg reads,
/// `channels` channels, `duration` seconds), publish it as the task's
/// `output` and return the task's values: `duration`, `content_type`.
pub fn encode_output(
    ctx: &mut dyn Ctx,
    media: &dyn Input,
    encoding: Encoding,
    material: Material,
    channels: u32,
    duration: f64,
) -> Result<Values, TaskError> {
    let job = Job {
        inputs: vec![JobInput {
            media,
            options: Vec::new(),
        }],
        filter_complex: None,
        outputs: vec![encoding.options(material, channels)],
        progress_duration: (duration > 0.0).then_some(duration),
        progress_span: (0, 99),
        captions: None,
    };
    let mut outputs = ctx.ffmpeg(job).map_err(FfmpegError::into_task_error)?;
    let output = match outputs.pop() {
        Some(file) if file.size() > 0 => file,
        _ => {
            return Err(TaskError::InvalidInput(
                "no audio could be decoded from the file".into(),
            ));
        }
    };
    ctx.publish_input(
        "output",
        output.as_ref(),
        encoding.content_type(),
        encoding.extension(),
    )?;
    Ok(drake_sdk::values([
        ("duration", centis(duration).into()),
        ("content_type", encoding.content_type().into()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp3_downmixes_surround_and_vorbis_keeps_it() {
        let mp3 = Encoding::Mp3.options(Material::Music, 6);
        assert!(mp3.contains(&("ac".into(), "2".into())), "{mp3:?}");
        assert!(mp3.contains(&("f".into(), "mp3".into())));
        let stereo = Encoding::Mp3.options(Material::Music, 2);
        assert!(!stereo.iter().any(|(k, _)| k == "ac"), "{stereo:?}");
        let ogg = Encoding::Vorbis.options(Material::Speech, 6);
        assert!(!ogg.iter().any(|(k, _)| k == "ac"), "{ogg:?}");
        assert!(ogg.contains(&("c:a".into(), "libvorbis".into())));
    }
}
