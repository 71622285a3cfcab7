//! Audio reading shared by the audio tasks, inside the component:
//! symphonia's demuxers and decoders, and what they say about a file.

use std::io::Cursor;
use std::sync::Arc;

use drake_sdk::media::{Job, JobInput, opts};
use drake_sdk::{Ctx, FfmpegError, Input, TaskError};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{self, CodecType, DecoderOptions};
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

pub use symphonia;

pub mod beats;
pub mod encode;

/// A file's bytes, shared: describing then decoding it reads the same
/// buffer (no copy of a file that may be hundreds of MiB).
pub type Bytes = Arc<Vec<u8>>;

/// [`Bytes`] as symphonia's source (a cursor wants `AsRef<[u8]>`).
struct Shared(Bytes);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Fetch `url` (parameter `url`) and read it whole: the input (for an
/// ffmpeg fallback) and its bytes; an empty file is an input error.
pub fn fetch(ctx: &mut dyn Ctx, url: &str) -> Result<(Box<dyn Input>, Bytes), TaskError> {
    let media = ctx.fetch(url, None).map_err(|e| e.into_task_error("url"))?;
    let bytes = media.read_all();
    if bytes.is_empty() {
        return Err(TaskError::InvalidInput("url: the file is empty".into()));
    }
    Ok((media, Arc::new(bytes)))
}

/// An opened file: its demuxer and first audio track.
pub struct Opened {
    /// The demuxer.
    pub format: Box<dyn FormatReader>,
    /// The first track with a known codec.
    pub track: Track,
    /// ffprobe's name of its codec.
    pub codec: String,
}

/// Sample files for the audio tasks' tests.
pub mod tests_support {
    /// A PCM WAV of `seconds` of silence.
    pub fn wav(rate: u32, channels: u16, seconds: f64) -> Vec<u8> {
        let samples = (f64::from(rate) * seconds) as usize * usize::from(channels);
        pcm16_wav(rate, channels, &vec![0; samples])
    }

    /// A 16-bit PCM WAV of interleaved `samples`.
    pub fn pcm16_wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data = (samples.len() * 2) as u32;
        let mut out = Vec::with_capacity(44 + samples.len() * 2);
        out.extend(b"RIFF");
        out.extend((36 + data).to_le_bytes());
        out.extend(b"WAVEfmt ");
        out.extend(16u32.to_le_bytes());
        out.extend(1u16.to_le_bytes());
        out.extend(channels.to_le_bytes());
        out.extend(rate.to_le_bytes());
        out.extend((rate * u32::from(channels) * 2).to_le_bytes());
        out.extend((channels * 2).to_le_bytes());
        out.extend(16u16.to_le_bytes());
        out.extend(b"data");
        out.extend(data.to_le_bytes());
        out.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        out
    }
}

/// The input error for bytes no demuxer reads.
pub fn unreadable(e: impl std::fmt::Display) -> TaskError {
    TaskError::InvalidInput(format!("the file is not readable audio: {e}"))
}

/// Open `bytes` as audio.
pub fn open(bytes: Bytes) -> Result<Opened, TaskError> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(Shared(bytes))), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(unreadable)?;
    let format = probed.format;
    let Some(track) = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != codecs::CODEC_TYPE_NULL)
        .cloned()
    else {
        return Err(TaskError::InvalidInput(
            "the file has no audio track".into(),
        ));
    };
    let codec = codec_name(track.codec_params.codec);
    Ok(Opened {
        format,
        track,
        codec,
    })
}

/// The first audio track's codec name and the duration in seconds
/// (headers, else the sum of the packet durations: nothing decoded).
pub fn describe(bytes: Bytes) -> Result<(String, f64), TaskError> {
    let opus = ogg_opus_duration(&bytes);
    let Opened {
        mut format,
        track,
        codec,
    } = open(bytes)?;
    if let (Some(d), "opus") = (opus, codec.as_str()) {
        return Ok((codec, d));
    }
    let params = &track.codec_params;
    let Some(time_base) = params.time_base.or_else(|| {
        params
            .sample_rate
            .map(|r| symphonia::core::units::TimeBase::new(1, r))
    }) else {
        return Err(TaskError::InvalidInput(
            "the audio track has no time base".into(),
        ));
    };
    let frames = match params.n_frames {
        Some(n) if n > 0 => n,
        // No frame count in the headers: add up the packets.
        _ => {
            let mut total = 0u64;
            loop {
                match format.next_packet() {
                    Ok(packet) if packet.track_id() == track.id => {
                        total = total.saturating_add(packet.dur);
                    }
                    Ok(_) => {}
                    // The end of the stream, or damage: what was read counts.
                    Err(_) => break,
                }
            }
            total
        }
    };
    if frames == 0 {
        return Err(TaskError::InvalidInput(
            "the audio track has no samples".into(),
        ));
    }
    let t = time_base.calc_time(frames);
    Ok((codec, t.seconds as f64 + t.frac))
}

/// Ogg Opus: the last page's granule position minus the header's
/// pre-skip, at 48 kHz (RFC 7845 §4), as ffprobe computes it.
fn ogg_opus_duration(bytes: &[u8]) -> Option<f64> {
    let head = bytes.windows(8).take(512).position(|w| w == b"OpusHead")?;
    let pre_skip = u16::from_le_bytes([*bytes.get(head + 10)?, *bytes.get(head + 11)?]);
    // The last page header: "OggS", version, flags, then the granule.
    let last = bytes.windows(4).rposition(|w| w == b"OggS")?;
    let granule = i64::from_le_bytes(bytes.get(last + 6..last + 14)?.try_into().ok()?);
    let samples = granule.checked_sub(i64::from(pre_skip))?;
    (samples > 0).then(|| samples as f64 / 48_000.0)
}

/// ffprobe's name for a codec.
fn codec_name(codec: CodecType) -> String {
    let known = [
        (codecs::CODEC_TYPE_MP3, "mp3"),
        (codecs::CODEC_TYPE_MP2, "mp2"),
        (codecs::CODEC_TYPE_MP1, "mp1"),
        (codecs::CODEC_TYPE_AAC, "aac"),
        (codecs::CODEC_TYPE_VORBIS, "vorbis"),
        (codecs::CODEC_TYPE_OPUS, "opus"),
        (codecs::CODEC_TYPE_FLAC, "flac"),
        (codecs::CODEC_TYPE_ALAC, "alac"),
        (codecs::CODEC_TYPE_PCM_S16LE, "pcm_s16le"),
        (codecs::CODEC_TYPE_PCM_S24LE, "pcm_s24le"),
        (codecs::CODEC_TYPE_PCM_S32LE, "pcm_s32le"),
        (codecs::CODEC_TYPE_PCM_F32LE, "pcm_f32le"),
        (codecs::CODEC_TYPE_PCM_F64LE, "pcm_f64le"),
        (codecs::CODEC_TYPE_PCM_U8, "pcm_u8"),
        (codecs::CODEC_TYPE_PCM_ALAW, "pcm_alaw"),
        (codecs::CODEC_TYPE_PCM_MULAW, "pcm_mulaw"),
        (codecs::CODEC_TYPE_ADPCM_MS, "adpcm_ms"),
        (codecs::CODEC_TYPE_ADPCM_IMA_WAV, "adpcm_ima_wav"),
    ];
    known
        .iter()
        .find(|(c, _)| *c == codec)
        .map(|(_, name)| (*name).to_owned())
        .or_else(|| {
            symphonia::default::get_codecs()
                .get_codec(codec)
                .map(|d| d.short_name.to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The MIME type from the container's magic bytes.
pub fn content_type(bytes: &[u8]) -> &'static str {
    let at = |i: usize, magic: &[u8]| bytes.get(i..i + magic.len()) == Some(magic);
    if at(0, b"OggS") {
        // Opus in Ogg has its own type.
        if bytes.windows(8).take(200).any(|w| w == b"OpusHead") {
            "audio/opus"
        } else {
            "audio/ogg"
        }
    } else if at(0, b"fLaC") {
        "audio/flac"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if at(4, b"ftyp") {
        "audio/mp4"
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        "audio/webm"
    } else if at(0, b"ID3") {
        "audio/mpeg"
    } else if bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xF6 == 0xF0 {
        "audio/aac" // ADTS: sync word, layer 0
    } else if bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0 {
        "audio/mpeg"
    } else {
        "application/octet-stream"
    }
}

/// Decode the track, handing each decoded block to `f` as interleaved
/// `f32` samples with its channel count. Damaged packets are skipped, as
/// players do; the stream ends at the first demuxer error.
/// `Ok(false)`: symphonia has no decoder for this codec (Opus).
pub fn decode(opened: &mut Opened, mut f: impl FnMut(&[f32], usize)) -> Result<bool, TaskError> {
    let params = &opened.track.codec_params;
    if params.codec == codecs::CODEC_TYPE_PCM_S16LE
        && let Some(channels) = params.channels.map(|c| c.count()).filter(|&c| c > 0)
    {
        // 16-bit WAV, the commonest uncompressed input: the packets are
        // the interleaved samples, converted here in one pass (symphonia's
        // planar round trip costs 5× more).
        let mut samples = Vec::new();
        while let Ok(packet) = opened.format.next_packet() {
            if packet.track_id() != opened.track.id {
                continue;
            }
            samples.clear();
            samples.extend(
                packet
                    .data
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0),
            );
            let whole = samples.len() / channels * channels;
            f(&samples[..whole], channels);
        }
        return Ok(true);
    }
    let Ok(mut decoder) = symphonia::default::get_codecs()
        .make(&opened.track.codec_params, &DecoderOptions::default())
    else {
        return Ok(false);
    };
    let mut buffer: Option<SampleBuffer<f32>> = None;
    while let Ok(packet) = opened.format.next_packet() {
        if packet.track_id() != opened.track.id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(symphonia::core::errors::Error::DecodeError(_)) => continue,
            Err(_) => break,
        };
        let spec = *decoded.spec();
        let frames = decoded.capacity() as u64;
        let sb = match &mut buffer {
            Some(b) if b.capacity() as u64 >= frames * spec.channels.count() as u64 => b,
            _ => buffer.insert(SampleBuffer::new(frames, spec)),
        };
        sb.copy_interleaved_ref(decoded);
        f(sb.samples(), spec.channels.count().max(1));
    }
    Ok(true)
}

/// The rate of the PCM that the ffmpeg capability decodes what symphonia
/// cannot (Opus) to: mono 16 kHz, enough for peaks and onsets.
pub const FALLBACK_RATE: u32 = 16_000;

/// Decode the first audio track of `media` (whose bytes are `bytes`),
/// handing each block to `f(samples, channels, rate)`: in the component
/// with symphonia, or, for codecs it has no decoder for (Opus), as mono
/// [`FALLBACK_RATE`] PCM from one ffmpeg job (progress over
/// `duration` seconds, in `span`).
pub fn decode_media(
    ctx: &mut dyn Ctx,
    media: &dyn Input,
    bytes: Bytes,
    duration: f64,
    span: (u8, u8),
    mut f: impl FnMut(&[f32], usize, u32),
) -> Result<(), TaskError> {
    let mut opened = open(bytes)?;
    let rate = opened.track.codec_params.sample_rate.unwrap_or(0);
    if rate > 0 && decode(&mut opened, |samples, channels| f(samples, channels, rate))? {
        return Ok(());
    }
    let job = Job {
        inputs: vec![JobInput {
            media,
            options: Vec::new(),
        }],
        filter_complex: None,
        outputs: vec![opts([
            ("map", "0:a:0"),
            ("ac", "1"),
            ("ar", &FALLBACK_RATE.to_string()),
            ("c:a", "pcm_f32le"),
            ("f", "f32le"),
        ])],
        progress_duration: (duration > 0.0).then_some(duration),
        progress_span: span,
        captions: None,
    };
    let out = ctx.ffmpeg(job).map_err(FfmpegError::into_task_error)?;
    let Some(pcm) = out.first() else {
        return Ok(());
    };
    // 4 MiB at a time: bounded guest memory whatever the length.
    const CHUNK: u32 = 4 << 20;
    let mut samples = Vec::new();
    let mut offset = 0;
    while offset < pcm.size() {
        let bytes = pcm.read(offset, CHUNK);
        if bytes.is_empty() {
            break;
        }
        offset += bytes.len() as u64;
        samples.clear();
        samples.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        f(&samples, 1, FALLBACK_RATE);
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    use crate::tests_support::wav;

    #[test]
    fn wav_duration_and_codec() {
        let (codec, d) = describe(wav(8000, 1, 2.5).into()).unwrap();
        assert_eq!(codec, "pcm_s16le");
        assert!((d - 2.5).abs() < 1e-6, "{d}");
        let (_, d) = describe(wav(96_000, 6, 0.25).into()).unwrap();
        assert!((d - 0.25).abs() < 1e-6, "{d}");
        assert_eq!(content_type(&wav(8000, 1, 0.1)), "audio/wav");
    }

    #[test]
    fn decoding_gives_every_sample() {
        let mut opened = open(wav(8000, 2, 1.5).into()).unwrap();
        let (mut frames, mut channels) = (0usize, 0usize);
        let decoded = decode(&mut opened, |samples, c| {
            channels = c;
            frames += samples.len() / c;
        })
        .unwrap();
        assert!(decoded);
        assert_eq!((frames, channels), (12_000, 2));
    }

    #[test]
    fn not_audio_is_a_readable_error() {
        let noise: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        let e = describe(noise.into()).unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidInput(ref m) if m.contains("not readable audio")),
            "{e:?}"
        );
    }
}
