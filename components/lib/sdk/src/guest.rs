//! The wasm side of [`Ctx`](crate::Ctx): calls into the host imports, and
//! the glue behind [`task!`](crate::task).

use crate::bindings::drake::task::{blobs, fetch, ffmpeg, progress, types};
use crate::{
    Ctx, FetchError, FfmpegError, Input, Job, JobResult, MediaInfo, StreamInfo, Task, TaskError,
    Values,
};

/// `describe` for `T`.
pub fn describe<T: Task>() -> types::TaskInfo {
    let info = crate::info::<T>();
    types::TaskInfo {
        name: info.name,
        summary: info.summary,
        params_schema: info.params_schema,
        values: info.values,
        files: info.files,
    }
}

/// `run` for `T`: validate, decode, run, map errors.
pub fn run<T: Task>(params: &str) -> Result<types::TaskOutput, types::TaskError> {
    let mut ctx = HostCtx;
    match crate::run_json::<T>(&mut ctx, params) {
        Ok(values) => Ok(types::TaskOutput {
            values: serde_json::Value::Object(values).to_string(),
        }),
        Err(e) => Err(match e {
            TaskError::InvalidParameters(map) => types::TaskError::InvalidParameters(
                serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned()),
            ),
            TaskError::InvalidInput(m) => types::TaskError::InvalidInput(m),
            TaskError::Limit(m) => types::TaskError::Limit(m),
            TaskError::Failed(m) => types::TaskError::Failed(m),
        }),
    }
}

struct HostCtx;

fn blob_error(e: blobs::BlobError) -> TaskError {
    match e {
        blobs::BlobError::TooLarge(cap) => {
            TaskError::Limit(format!("output is larger than the limit of {cap} bytes"))
        }
        blobs::BlobError::OutOfRange => TaskError::Failed("output write out of range".into()),
        blobs::BlobError::Invalid(m) => TaskError::Failed(m),
    }
}

fn ffmpeg_error(e: ffmpeg::FfmpegError) -> FfmpegError {
    match e {
        ffmpeg::FfmpegError::InvalidJob(m) => FfmpegError::InvalidJob(m),
        ffmpeg::FfmpegError::InvalidInput(m) => FfmpegError::InvalidInput(m),
        ffmpeg::FfmpegError::Limit(m) => FfmpegError::Limit(m),
        ffmpeg::FfmpegError::Failed(m) => FfmpegError::Failed(m),
    }
}

/// The host handle behind an [`Input`]; media made by the task itself
/// (a [`crate::FakeCtx`] input cannot appear on wasm) is uploaded first.
enum Handle<'a> {
    Host(&'a blobs::Blob),
    Owned(blobs::Blob),
}

impl Handle<'_> {
    fn get(&self) -> &blobs::Blob {
        match self {
            Handle::Host(b) => b,
            Handle::Owned(b) => b,
        }
    }
}

fn handle(media: &dyn Input) -> Result<Handle<'_>, blobs::BlobError> {
    if let Some(host) = media.as_any().downcast_ref::<HostBlob>() {
        return Ok(Handle::Host(&host.0));
    }
    let writer = blobs::Writer::new();
    let bytes = media.read_all();
    for chunk in bytes.chunks(1 << 20) {
        writer.write(chunk)?;
    }
    Ok(Handle::Owned(writer.finish()?))
}

struct HostBlob(blobs::Blob);

impl Input for HostBlob {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn content_type(&self) -> String {
        self.0.content_type()
    }
    fn url(&self) -> String {
        self.0.url()
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        self.0.read(offset, len).unwrap_or_default()
    }
    fn read_all(&self) -> Vec<u8> {
        // Up to the host's largest slice (16 MiB), one call: the list the
        // call returns is the buffer, with no second copy.
        const ONE_READ: u64 = 16 << 20;
        let size = self.0.size();
        if size <= ONE_READ
            && let Ok(bytes) = self.0.read(0, size as u32)
            && bytes.len() as u64 == size
        {
            return bytes;
        }
        crate::read_in_chunks(self)
    }
}

impl Ctx for HostCtx {
    fn fetch(&mut self, url: &str, max_bytes: Option<u64>) -> Result<Box<dyn Input>, FetchError> {
        match fetch::get(url, max_bytes) {
            Ok(blob) => Ok(Box::new(HostBlob(blob))),
            Err(e) => Err(match e {
                fetch::FetchError::InvalidUrl(m) => FetchError::InvalidUrl(m),
                fetch::FetchError::Blocked(m) => FetchError::Blocked(m),
                fetch::FetchError::TooLarge(n) => FetchError::TooLarge(n),
                fetch::FetchError::Timeout => FetchError::Timeout,
                fetch::FetchError::HttpStatus(c) => FetchError::HttpStatus(c),
                fetch::FetchError::Network(m) => FetchError::Network(m),
            }),
        }
    }

    fn publish(
        &mut self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        extension: &str,
    ) -> Result<(), TaskError> {
        let writer = blobs::Writer::new();
        // Chunked so a large output never needs one huge canonical-ABI copy.
        for chunk in bytes.chunks(1 << 20) {
            writer.write(chunk).map_err(blob_error)?;
        }
        let blob = writer.finish().map_err(blob_error)?;
        blobs::publish(name, &blob, content_type, extension).map_err(blob_error)
    }

    fn publish_part(&mut self, name: &str, path: &str, bytes: &[u8]) -> Result<(), TaskError> {
        let writer = blobs::Writer::new();
        for chunk in bytes.chunks(1 << 20) {
            writer.write(chunk).map_err(blob_error)?;
        }
        let blob = writer.finish().map_err(blob_error)?;
        blobs::publish_part(name, path, &blob).map_err(blob_error)
    }

    fn publish_input(
        &mut self,
        name: &str,
        media: &dyn Input,
        content_type: &str,
        extension: &str,
    ) -> Result<(), TaskError> {
        let h = handle(media).map_err(blob_error)?;
        blobs::publish(name, h.get(), content_type, extension).map_err(blob_error)
    }

    fn probe(&mut self, media: &dyn Input) -> Result<MediaInfo, FfmpegError> {
        let h = handle(media).map_err(|e| FfmpegError::Failed(blob_error(e).to_string()))?;
        let info = ffmpeg::probe(h.get()).map_err(ffmpeg_error)?;
        Ok(MediaInfo {
            format: info.format,
            duration: info.duration,
            bit_rate: info.bit_rate,
            streams: info
                .streams
                .into_iter()
                .map(|s| StreamInfo {
                    index: s.index,
                    kind: s.kind,
                    codec: s.codec,
                    width: s.width,
                    height: s.height,
                    frame_rate: s.frame_rate,
                    rotation: s.rotation,
                    pixel_format: s.pixel_format,
                    alpha: s.alpha,
                    sample_rate: s.sample_rate,
                    channels: s.channels,
                    bit_rate: s.bit_rate,
                    duration: s.duration,
                })
                .collect(),
        })
    }

    fn ffmpeg_run(&mut self, job: Job<'_>) -> Result<JobResult, FfmpegError> {
        let handles = job
            .inputs
            .iter()
            .map(|i| handle(i.media))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| FfmpegError::Failed(blob_error(e).to_string()))?;
        let inputs: Vec<ffmpeg::Input<'_>> = job
            .inputs
            .iter()
            .zip(&handles)
            .map(|(i, h)| ffmpeg::Input {
                media: h.get(),
                options: i.options.clone(),
            })
            .collect();
        let wit_job = ffmpeg::Job {
            inputs,
            filter_complex: job.filter_complex,
            outputs: job
                .outputs
                .into_iter()
                .map(|options| ffmpeg::Output { options })
                .collect(),
            progress_duration: job.progress_duration,
            progress_span: job.progress_span,
            captions: job.captions.map(burn),
        };
        let done = ffmpeg::run(&wit_job).map_err(ffmpeg_error)?;
        Ok(JobResult {
            outputs: done
                .outputs
                .into_iter()
                .map(|b| Box::new(HostBlob(b)) as Box<dyn Input>)
                .collect(),
            frames: done.frames,
            out_time: done.out_time,
        })
    }

    fn concat(&mut self, parts: &[&dyn Input]) -> Result<Box<dyn Input>, TaskError> {
        // 8 MiB: few host calls, a small guest buffer.
        const CHUNK: u32 = 8 << 20;
        let writer = blobs::Writer::new();
        for part in parts {
            let size = part.size();
            let mut offset = 0;
            while offset < size {
                let chunk = part.read(offset, CHUNK);
                if chunk.is_empty() {
                    return Err(TaskError::Failed("a media part ended early".into()));
                }
                offset += chunk.len() as u64;
                writer.write(&chunk).map_err(blob_error)?;
            }
        }
        Ok(Box::new(HostBlob(writer.finish().map_err(blob_error)?)))
    }

    fn speak(&mut self, text: &str, voice: &str) -> Result<Box<dyn Input>, FfmpegError> {
        let blob = ffmpeg::speak(text, voice).map_err(ffmpeg_error)?;
        Ok(Box::new(HostBlob(blob)))
    }

    fn http(
        &mut self,
        request: &crate::http::Request<'_>,
    ) -> Result<crate::http::Response, crate::http::Error> {
        crate::http::guest::send(request)
    }

    fn progress(&mut self, percent: u8) {
        progress::report(percent.min(100));
    }

    fn partial(&mut self, values: &Values) {
        progress::partial(&serde_json::Value::Object(values.clone()).to_string());
    }
}

/// The WIT form of a [`crate::media::Burn`].
fn burn(b: crate::media::Burn) -> ffmpeg::Burn {
    use crate::media::{CaptionFont, CaptionPosition};
    let s = b.style;
    ffmpeg::Burn {
        cues: b
            .cues
            .into_iter()
            .map(|c| ffmpeg::CaptionCue {
                start_ms: c.start_ms,
                end_ms: c.end_ms,
                text: c.text,
            })
            .collect(),
        style: ffmpeg::CaptionStyle {
            font: match s.font {
                CaptionFont::Sans => ffmpeg::CaptionFont::Sans,
                CaptionFont::Serif => ffmpeg::CaptionFont::Serif,
                CaptionFont::Mono => ffmpeg::CaptionFont::Mono,
            },
            bold: s.bold,
            size: s.size,
            color: s.color,
            outline_color: s.outline_color,
            outline: s.outline,
            position: match s.position {
                CaptionPosition::Bottom => ffmpeg::CaptionPosition::Bottom,
                CaptionPosition::Middle => ffmpeg::CaptionPosition::Middle,
                CaptionPosition::Top => ffmpeg::CaptionPosition::Top,
            },
            margin: s.margin,
        },
        width: b.width,
        height: b.height,
        input: b.input,
        output: b.output,
    }
}
