//! `video.create`: render an SXML timeline (`../shared/spec/sxml.md`,
//! tiers A and B) into a video.
//!
//! Steps: parse (drake-sxml: checked tree, errors with line and column,
//! entities never expanded) → fetch and probe every asset once, speak
//! every voice once → resolve the timeline (sxml.md §3) → compile it into
//! one ffmpeg filter graph ([`render`]) → run it: `preview` (small and
//! quick, published as a partial result with `duration`), `export` (the
//! profile), `thumbnail` (a frame of the export at `thumbnail_time`).
//! Frames never pass through the component.

mod exif;
pub mod look;
mod map;
pub mod profile;
pub mod render;
pub mod text;
mod wav;
pub mod widget;

use std::collections::BTreeMap;

use drake_captions::{Captions, CaptionsParam, Cue};
/// Image headers (format, size) read in the component: a still needs no
/// ffprobe process (~0.1 s each).
use drake_imaging::probe as image_probe;
use drake_sdk::media::{Burn, JobInput, MediaInfo, centis, flite_voice, opts, wav_seconds};
use drake_sdk::{Ctx, FfmpegError, Input, Job, MemInput, Task, TaskError, Values};
use drake_sxml::time::Span;
use drake_sxml::{Kind, Movie, Node};
use serde::Deserialize;

use crate::profile::{Canvas, Profile, Rate};
use crate::render::{Asset, Sounds, asset_key};

drake_sdk::task!(VideoCreate);

/// Longest movie: an hour renders in about 15 minutes at 720p (4× real
/// time), inside the task's time limit.
pub const MAX_MOVIE_SECONDS: f64 = 3600.0;
/// Distinct assets (files and voices) per definition: each is an ffmpeg
/// input, and the capability takes at most 512 files per job.
pub const MAX_ASSETS: usize = 200;
/// Longest spoken text per `<audio voice>` (audio.tts's limit).
pub const MAX_SPEECH_CHARS: usize = 5_000;
/// Preview height: a quick look, a sixteenth of 720p's pixels.
const PREVIEW_HEIGHT: u32 = 180;
/// Preview rate: half of PAL is enough to judge timing.
const PREVIEW_RATE: Rate = Rate { num: 25, den: 2 };

fn yes() -> bool {
    true
}
fn p360() -> String {
    "360p".into()
}
fn one_second() -> f64 {
    1.0
}

fn profile_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let value = serde_json::json!({
        "type": "string",
        "enum": profile::names(),
        "default": "360p",
        "description": "Output profile: one of the 64 names of sxml.md §13, or drake's codec names NNNp-vp9, NNNp-av1, NNNp-hevc (240p to 1080p).",
    });
    match value {
        serde_json::Value::Object(map) => schemars::Schema::from(map),
        _ => schemars::Schema::default(),
    }
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The SXML document (`<movie service="craftsman-1.0">`), at most
    /// 1 MiB.
    pub definition: String,
    /// Publish a quick low-resolution render first.
    #[serde(default = "yes")]
    pub preview: bool,
    /// Render the video in `profile`.
    #[serde(default = "yes")]
    pub export: bool,
    /// Output profile.
    #[serde(default = "p360")]
    #[schemars(schema_with = "profile_schema")]
    pub profile: String,
    /// When the thumbnail is taken, seconds (the last frame if later).
    #[serde(default = "one_second")]
    #[schemars(range(min = 0.0, max = 86400.0))]
    pub thumbnail_time: f64,
    /// Captions: the URL of an SRT or WebVTT file, burned into the
    /// preview, export and thumbnail, or `{url, burn, font, bold, size,
    /// color, outline_color, outline, position, margin}` (sizes in pixels
    /// of the export); `burn: false` publishes them as the WebVTT file
    /// `captions` instead. With `auto_captions`, the object without `url`
    /// styles the voices' captions.
    pub captions: Option<CaptionsParam>,
    /// Caption what the voices say: each `<audio voice>` is spoken one
    /// sentence at a time and each sentence is a caption while it is
    /// heard.
    #[serde(default)]
    pub auto_captions: bool,
}

/// The task.
pub struct VideoCreate;

impl Task for VideoCreate {
    const NAME: &'static str = "video.create";
    const SUMMARY: &'static str =
        "Render an SXML timeline (effects, transitions, text, overlays, audio) to a video.";
    const VALUES: &'static [&'static str] =
        &["duration", "width", "height", "warnings", "caption_cues"];
    const FILES: &'static [&'static str] = &["preview", "export", "thumbnail", "captions"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let profile = profile::find(&p.profile).ok_or_else(|| {
            TaskError::parameter("profile", format!("unknown profile {:?}", p.profile))
        })?;
        // The captions first: a malformed file fails before the rendering.
        let given = match (&p.captions, p.auto_captions) {
            (Some(c), true) if c.options().url.is_some() => {
                return Err(TaskError::parameter(
                    "auto_captions",
                    "the captions are made from the voices: give captions without a url \
                     (their style), or leave auto_captions out",
                ));
            }
            (Some(c), false) => Some(drake_captions::load(ctx, "captions", c)?),
            _ => None,
        };
        let movie = drake_sxml::parse(&p.definition).map_err(definition_error)?;
        let (fetched, spoken) = fetch_assets(ctx, &movie, p.auto_captions)?;
        let assets: BTreeMap<String, Asset> = fetched
            .iter()
            .map(|(k, (_, a))| (k.clone(), a.clone()))
            .collect();
        let lengths = |node: &Node| -> Option<f64> {
            let a = assets.get(&asset_key(node)?)?;
            (a.duration > 0.0).then_some(a.duration)
        };
        let body = drake_sxml::time::resolve(&movie, &lengths).map_err(definition_error)?;
        if body.duration > MAX_MOVIE_SECONDS {
            return Err(TaskError::Limit(format!(
                "the movie lasts {:.1} s; the limit is {MAX_MOVIE_SECONDS} s",
                body.duration
            )));
        }
        // Inputs in asset order (the `input` indices).
        let mut inputs: Vec<(usize, &dyn Input)> = fetched
            .values()
            .map(|(media, a)| (a.input, media.as_ref()))
            .collect();
        inputs.sort_by_key(|(i, _)| *i);
        let inputs: Vec<&dyn Input> = inputs.into_iter().map(|(_, m)| m).collect();

        let (dw, dh) = profile.drawn();
        let export_canvas = Canvas {
            width: dw,
            height: dh,
            rate: profile.rate,
        };
        let duration = profile
            .rate
            .seconds(profile.rate.frames(body.end()) - profile.rate.frames(body.start));
        let sounds = measure_ducking(ctx, &body, &fetched)?;
        let mut values = drake_sdk::values([
            ("duration", centis(duration).into()),
            ("width", profile.width.into()),
            ("height", profile.height.into()),
        ]);
        let captions = match given {
            Some(c) => Some(c),
            None if p.auto_captions => Some(Captions::made(
                voice_cues(&body, &spoken, duration),
                p.captions.as_ref(),
            )),
            None => None,
        };
        if let Some(c) = &captions {
            // The style is checked before anything renders.
            c.style("captions", dh)?;
            values.insert("caption_cues".into(), c.cues.len().into());
            if !c.options.burn {
                ctx.publish("captions", c.webvtt().as_bytes(), "text/vtt", "vtt")?;
            }
        }
        let burned = captions.as_ref().filter(|c| c.options.burn);
        // Burned captions: the picture leaves the guest's graph as
        // `[vpre]`, the host's `ass` filter draws on it as `[vcap]`, and
        // the profile's final scale (or nothing) makes `[vout]`.
        let burn = |canvas: Canvas| -> Result<Option<Burn>, TaskError> {
            burned
                .map(|c| {
                    c.burn_scaled(
                        "captions",
                        (canvas.width, canvas.height),
                        dh,
                        "vpre",
                        "vcap",
                    )
                })
                .transpose()
        };
        let post_of = |post: &str| -> String {
            match (burned, post.is_empty()) {
                (None, _) => post.to_owned(),
                (Some(_), true) => "null[vpre];[vcap]null".into(),
                (Some(_), false) => format!("null[vpre];[vcap]{post}"),
            }
        };
        // What the definition says that was ignored or could not be
        // played as written, when anything was.
        let said: Vec<serde_json::Value> = movie
            .warnings
            .iter()
            .map(where_said)
            .chain(skips_past_the_end(&movie, &lengths))
            .map(Into::into)
            .collect();
        if !said.is_empty() {
            values.insert("warnings".into(), serde_json::Value::Array(said));
        }
        if p.preview {
            let canvas = preview_canvas(profile);
            let graph = compile(&body, canvas, &assets, &post_of(""), &sounds)?;
            let span = (0, if p.export { 20 } else { 90 });
            let made = run_job(
                ctx,
                &inputs,
                (&graph, burn(canvas)?),
                preview_options(graph.audio),
                duration,
                span,
            )?;
            ctx.publish_input("preview", made.as_ref(), "video/mp4", "mp4")?;
            ctx.partial(&drake_sdk::values([("duration", centis(duration).into())]));
        }
        // The thumbnail's time: the last frame when later.
        let thumb_at = p
            .thumbnail_time
            .min(duration - profile.rate.seconds(1))
            .max(0.0);
        if p.export {
            // DVDs: drawn at the display geometry, stored anamorphic.
            let post = match profile.aspect {
                Some((aw, ah)) => format!(
                    "scale={}:{}:flags=bicubic,setdar={aw}/{ah}",
                    profile.width, profile.height
                ),
                None => String::new(),
            };
            let graph = compile(&body, export_canvas, &assets, &post_of(&post), &sounds)?;
            let encoding = profile.encoding(graph.audio);
            let mut out = opts([("map", "[vout]")]);
            if graph.audio {
                out.extend(opts([("map", "[aout]")]));
            }
            out.extend(encoding.options.iter().cloned());
            let span = (if p.preview { 20 } else { 0 }, 95);
            let made = run_job(
                ctx,
                &inputs,
                (&graph, burn(export_canvas)?),
                out,
                duration,
                span,
            )?;
            ctx.publish_input(
                "export",
                made.as_ref(),
                encoding.content_type,
                encoding.extension,
            )?;
            let thumb = thumbnail_of(ctx, made.as_ref(), thumb_at, profile.drawn())?;
            ctx.publish_input("thumbnail", thumb.as_ref(), "image/jpeg", "jpg")?;
        } else {
            // No export to take it from: the frame rendered on its own.
            let graph = compile(&body, export_canvas, &assets, &post_of(""), &sounds)?;
            let out = thumbnail_options(Some(thumb_at));
            let thumb = run_job(
                ctx,
                &inputs,
                (&graph, burn(export_canvas)?),
                out,
                thumb_at,
                (90, 99),
            )?;
            ctx.publish_input("thumbnail", thumb.as_ref(), "image/jpeg", "jpg")?;
        }
        ctx.progress(100);
        Ok(values)
    }
}

/// The preview's encoding: x264 `ultrafast`, MP3 sound in MP4.
fn preview_options(audio: bool) -> Vec<(String, String)> {
    let mut out = opts([("map", "[vout]")]);
    if audio {
        // MP3 in MP4 (browsers play it): LAME encodes in half the time
        // of ffmpeg's AAC, at a preview's 22 kHz.
        out.extend(opts([
            ("map", "[aout]"),
            ("c:a", "libmp3lame"),
            ("b:a", "64k"),
            ("ar", "22050"),
            ("ac", "2"),
        ]));
    } else {
        out.extend(opts([("an", "")]));
    }
    out.extend(opts([
        ("c:v", "libx264"),
        ("preset", "ultrafast"),
        ("crf", "30"),
        ("pix_fmt", "yuv420p"),
        ("f", "mp4"),
        ("movflags", "+faststart"),
    ]));
    out
}

/// A JPEG of `[vout]`'s first frame, or of its frame at `ss`.
fn thumbnail_options(ss: Option<f64>) -> Vec<(String, String)> {
    let mut o = opts([("map", "[vout]")]);
    if let Some(ss) = ss {
        o.extend(opts([("ss", &format!("{ss:.3}"))]));
    }
    o.extend(opts([
        ("frames:v", "1"),
        ("c:v", "mjpeg"),
        ("q:v", "3"),
        ("pix_fmt", "yuvj420p"),
        ("f", "image2"),
    ]));
    o
}

/// The export's frame at `at`, drawn at `(w, h)` (square pixels).
/// Seeking to 0 in a file whose first frame is stamped later (x264 in
/// FLV) finds nothing: then the first frame is the one.
fn thumbnail_of(
    ctx: &mut dyn Ctx,
    export: &dyn Input,
    at: f64,
    (w, h): (u32, u32),
) -> Result<Box<dyn Input>, TaskError> {
    for seek in [Some(at).filter(|t| *t > 0.0), None] {
        let job = Job {
            inputs: vec![JobInput {
                media: export,
                options: seek
                    .map(|t| opts([("ss", &format!("{t:.3}"))]))
                    .unwrap_or_default(),
            }],
            filter_complex: Some(format!("[0:v:0]scale={w}:{h},setsar=1[vout]")),
            outputs: vec![thumbnail_options(None)],
            progress_duration: None,
            progress_span: (95, 99),
            captions: None,
        };
        let done = ctx.ffmpeg_run(job).map_err(FfmpegError::into_task_error)?;
        if let Ok(file) = single(done) {
            return Ok(file);
        }
    }
    Err(TaskError::Failed(
        "no frame of the export could be read for the thumbnail".into(),
    ))
}

/// The preview's canvas: the export's display aspect at 180 lines,
/// 12.5 fps (or the profile's rate when lower).
fn preview_canvas(profile: &Profile) -> Canvas {
    let (dw, dh) = profile.drawn();
    let height = PREVIEW_HEIGHT.min(dh);
    let width = ((u64::from(dw) * u64::from(height) / u64::from(dh)) as u32 & !1).max(2);
    let rate = if profile.rate.fps() < PREVIEW_RATE.fps() {
        profile.rate
    } else {
        PREVIEW_RATE
    };
    Canvas {
        width,
        height,
        rate,
    }
}

fn compile(
    body: &Span<'_>,
    canvas: Canvas,
    assets: &BTreeMap<String, Asset>,
    post: &str,
    sounds: &Sounds,
) -> Result<render::Graph, TaskError> {
    let graph =
        render::compile_with(body, canvas, assets, post, sounds).map_err(TaskError::Failed)?;
    if graph.text.len() > MAX_GRAPH_BYTES {
        return Err(TaskError::Limit(format!(
            "the timeline compiles to a filter graph of {} bytes; the limit is {MAX_GRAPH_BYTES}",
            graph.text.len()
        )));
    }
    Ok(graph)
}

/// The ffmpeg capability's graph cap.
const MAX_GRAPH_BYTES: usize = 1 << 20;

/// Render `graph` (with the captions to burn into it) to one output.
fn run_job(
    ctx: &mut dyn Ctx,
    inputs: &[&dyn Input],
    (graph, captions): (&render::Graph, Option<Burn>),
    output: Vec<(String, String)>,
    seconds: f64,
    span: (u8, u8),
) -> Result<Box<dyn Input>, TaskError> {
    let job = Job {
        inputs: inputs
            .iter()
            .map(|m| JobInput {
                media: *m,
                options: Vec::new(),
            })
            .collect(),
        filter_complex: Some(graph.text.clone()),
        outputs: vec![output],
        progress_duration: (seconds > 0.0).then_some(seconds),
        progress_span: span,
        captions,
    };
    let done = ctx.ffmpeg_run(job).map_err(|e| match e {
        // A graph ffmpeg refuses is drake's fault: the client hears about
        // its document, the operator's log has ffmpeg's words.
        FfmpegError::Failed(_) => TaskError::Failed(
            "definition: drake could not render this timeline; this is a fault of drake's renderer, not of the document (the server log has the details)".into(),
        ),
        e => e.into_task_error(),
    })?;
    single(done)
}

fn single(mut done: drake_sdk::media::JobResult) -> Result<Box<dyn Input>, TaskError> {
    match done.outputs.pop() {
        Some(file) if file.size() > 0 => Ok(file),
        _ => Err(TaskError::Failed("ffmpeg wrote nothing".into())),
    }
}

/// Sample rate of the sound measured for ducking: 10 ms windows of 80
/// samples are fine enough for a voice's pauses.
const DUCK_RATE: u32 = 8000;
const DUCK_WINDOW: usize = 80;

/// Where each ducking `<audio>` has sound (sxml.md §8.3): its clip
/// decoded once by ffmpeg to 8 kHz mono PCM, then the 10 ms windows whose
/// peak reaches `duck-threshold` (0.05 of full scale by default).
fn measure_ducking(
    ctx: &mut dyn Ctx,
    body: &Span<'_>,
    fetched: &Fetched,
) -> Result<Sounds, TaskError> {
    let mut out = Sounds::new();
    for span in body.walk() {
        let node = span.node;
        if node.kind != Kind::Audio || node.attr("duck-others").is_none() || span.duration <= 0.0 {
            continue;
        }
        let Some((media, _)) = asset_key(node).and_then(|k| fetched.get(&k)) else {
            continue;
        };
        let skip = node.number("skip").unwrap_or(0.0);
        let speed = node.number("speed").unwrap_or(1.0);
        let job = Job {
            inputs: vec![JobInput {
                media: media.as_ref(),
                options: Vec::new(),
            }],
            filter_complex: Some(format!(
                "[0:a:0]atrim=start={skip:.6}:duration={:.6},asetpts=PTS-STARTPTS,{}aformat=channel_layouts=mono,aresample={DUCK_RATE},aformat=sample_fmts=s16[a]",
                span.duration * speed,
                render::atempo(speed)
            )),
            outputs: vec![opts([("map", "[a]"), ("c:a", "pcm_s16le"), ("f", "s16le")])],
            progress_duration: None,
            progress_span: (0, 0),
            captions: None,
        };
        let mut done = ctx.ffmpeg_run(job).map_err(FfmpegError::into_task_error)?;
        let threshold = node
            .number("duck-threshold")
            .unwrap_or(0.05)
            .clamp(0.0, 1.0);
        let runs = match done.outputs.pop() {
            Some(pcm) => sound_runs(pcm.as_ref(), threshold),
            None => Vec::new(),
        };
        out.insert((node.line, node.column), runs);
    }
    Ok(out)
}

/// Stretches (seconds) of 16-bit mono PCM at [`DUCK_RATE`] whose 10 ms
/// windows peak at `threshold` of full scale or more.
fn sound_runs(pcm: &dyn Input, threshold: f64) -> Vec<(f64, f64)> {
    let limit = (threshold * 32767.0).round().max(1.0) as i32;
    let window_bytes = DUCK_WINDOW * 2;
    // Whole windows per read (64,000 bytes).
    let chunk = (window_bytes * 400) as u32;
    let seconds = |w: usize| (w * DUCK_WINDOW) as f64 / f64::from(DUCK_RATE);
    let (mut runs, mut open, mut w) = (Vec::new(), None::<usize>, 0usize);
    let mut offset = 0u64;
    while offset < pcm.size() {
        let bytes = pcm.read(offset, chunk);
        if bytes.is_empty() {
            break;
        }
        offset += bytes.len() as u64;
        for window in bytes.chunks(window_bytes) {
            let loud = window
                .chunks_exact(2)
                .any(|b| i32::from(i16::from_le_bytes([b[0], b[1]])).abs() >= limit);
            match (loud, open) {
                (true, None) => open = Some(w),
                (false, Some(start)) => {
                    runs.push((seconds(start), seconds(w)));
                    open = None;
                }
                _ => {}
            }
            w += 1;
        }
    }
    if let Some(start) = open {
        runs.push((seconds(start), seconds(w)));
    }
    runs
}

/// A definition error as the `definition` parameter's message.
fn definition_error(e: drake_sxml::Error) -> TaskError {
    TaskError::parameter("definition", where_said(&e))
}

/// An error or warning about the definition, with its line and column.
/// Media whose `skip` is at or past their end (a client's clip shorter
/// than the one it was written for): a clip holds its last frame, silent,
/// for whatever time it is given — none without a `duration` — and a
/// sound plays nothing. Said, not refused.
fn skips_past_the_end(movie: &Movie, lengths: &dyn Fn(&Node) -> Option<f64>) -> Vec<String> {
    movie
        .body
        .walk()
        .into_iter()
        .filter(|n| matches!(n.kind, Kind::Video | Kind::Audio))
        .filter_map(|n| {
            let skip = n.number("skip")?;
            let length = lengths(n)?;
            (skip >= length - 1e-3).then(|| {
                let what = if n.kind == Kind::Video {
                    "its last frame is shown, silent, for the time it is given (none without a duration)"
                } else {
                    "it plays nothing"
                };
                format!(
                    "line {}, column {}: <{}>: skip {skip} s is at or past the end of the {length:.2} s file; {what}",
                    n.line,
                    n.column,
                    n.kind.name()
                )
            })
        })
        .collect()
}

fn where_said(e: &drake_sxml::Error) -> String {
    if e.line == 0 {
        e.message.clone()
    } else {
        format!("line {}, column {}: {}", e.line, e.column, e.message)
    }
}

/// Fetched media and what the graph knows of it, by [`asset_key`].
type Fetched = BTreeMap<String, (Box<dyn Input>, Asset)>;

/// A voice's sentences as spoken for `auto_captions`: `(from, to,
/// text)`, seconds into its speech.
type Sentences = Vec<(f64, f64, String)>;

/// The [`Sentences`] of each voice asset ([`asset_key`]).
type Spoken = BTreeMap<String, Sentences>;

/// Every asset of the movie, fetched (or spoken) and probed once, keyed
/// by [`asset_key`]; inputs numbered in document order. With
/// `by_sentence`, voices speak one sentence at a time and say when.
fn fetch_assets(
    ctx: &mut dyn Ctx,
    movie: &Movie,
    by_sentence: bool,
) -> Result<(Fetched, Spoken), TaskError> {
    let mut out = Fetched::new();
    let mut spoken = Spoken::new();
    let mut maps = map::Maps::default();
    for node in movie.body.walk() {
        if !matches!(node.kind, Kind::Image | Kind::Video | Kind::Audio) {
            continue;
        }
        let Some(key) = asset_key(node) else {
            continue;
        };
        if out.contains_key(&key) {
            continue;
        }
        if out.len() == MAX_ASSETS {
            return Err(TaskError::Limit(format!(
                "{}: more than {MAX_ASSETS} distinct media files and voices",
                node.place()
            )));
        }
        let input = out.len();
        let fetched = if node.kind == Kind::Audio && node.attr("voice").is_some() {
            let (media, asset, sentences) = speak(ctx, node, input, by_sentence)?;
            spoken.insert(key.clone(), sentences);
            (media, asset)
        } else if node.kind == Kind::Image && node.attr("type") == Some("map") {
            maps.draw(ctx, node, input)?
        } else {
            fetch(ctx, node, input)?
        };
        out.insert(key, fetched);
    }
    Ok((out, spoken))
}

/// A voice's speech, and with `by_sentence` each sentence's time in it.
type Speech = (Box<dyn Input>, Asset, Sentences);

fn speak(
    ctx: &mut dyn Ctx,
    node: &Node,
    input: usize,
    by_sentence: bool,
) -> Result<Speech, TaskError> {
    let name = node.attr("voice").unwrap_or("");
    let voice = flite_voice(name).ok_or_else(|| {
        TaskError::parameter(
            "definition",
            format!(
                "line {}, column {}: <audio>: unknown voice {name:?}: neospeech:julie (female) or neospeech:paul (male)",
                node.line, node.column
            ),
        )
    })?;
    let text: String = node
        .text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_SPEECH_CHARS || !text.chars().any(char::is_alphanumeric) {
        return Err(TaskError::parameter(
            "definition",
            format!(
                "line {}, column {}: <audio voice>: the text must have something to say and at most {MAX_SPEECH_CHARS} characters",
                node.line, node.column
            ),
        ));
    }
    let (speech, sentences) = if by_sentence {
        speak_sentences(ctx, &text, voice)?
    } else {
        let speech = ctx
            .speak(&text, voice)
            .map_err(FfmpegError::into_task_error)?;
        (speech, Vec::new())
    };
    let seconds = wav_seconds(&speech.read(0, 4096), speech.size()).unwrap_or(0.0);
    let asset = Asset {
        input,
        width: 0,
        height: 0,
        duration: seconds,
        video: false,
        audio: true,
        still: false,
        alpha: false,
    };
    Ok((speech, asset, sentences))
}

/// `text` spoken one sentence at a time ([`drake_captions::sentences`]),
/// the WAVs joined into one: the speech, and each sentence's time in it.
fn speak_sentences(
    ctx: &mut dyn Ctx,
    text: &str,
    voice: &str,
) -> Result<(Box<dyn Input>, Sentences), TaskError> {
    let mut joined = wav::Joined::default();
    let mut times = Vec::new();
    for sentence in drake_captions::sentences(text) {
        let speech = ctx
            .speak(&sentence, voice)
            .map_err(FfmpegError::into_task_error)?;
        let from = joined.seconds();
        joined
            .push(&speech.read_all())
            .map_err(|e| TaskError::Failed(format!("speech: {e}")))?;
        times.push((from, joined.seconds(), sentence));
    }
    let wav = joined
        .finish()
        .map_err(|e| TaskError::Failed(format!("speech: {e}")))?;
    Ok((Box::new(MemInput::new("audio/wav", wav)), times))
}

/// The voices' captions: each spoken sentence while it is heard, in
/// the output's time (`skip` and `speed` applied, cut to its span and
/// the movie's `duration`).
fn voice_cues(body: &Span<'_>, spoken: &Spoken, duration: f64) -> Vec<Cue> {
    let mut cues = Vec::new();
    for span in body.walk() {
        let node = span.node;
        let Some(sentences) = asset_key(node)
            .filter(|_| node.kind == Kind::Audio)
            .and_then(|k| spoken.get(&k))
        else {
            continue;
        };
        let skip = node.number("skip").unwrap_or(0.0);
        let speed = node.number("speed").unwrap_or(1.0);
        if speed <= 0.0 {
            continue;
        }
        let start = span.start - body.start;
        let (lo, hi) = (start.max(0.0), (start + span.duration).min(duration));
        for (from, to, text) in sentences {
            let a = (start + (from - skip) / speed).max(lo);
            let b = (start + (to - skip) / speed).min(hi);
            // Under a tenth of a second is not readable.
            if b - a >= 0.1 {
                let ms = |t: f64| (t * 1000.0).round() as u64;
                cues.push(Cue {
                    start: ms(a),
                    end: ms(b),
                    text: text.clone(),
                });
            }
        }
    }
    cues.sort_by_key(|c| c.start);
    cues.truncate(drake_captions::MAX_CUES);
    cues
}

fn fetch(
    ctx: &mut dyn Ctx,
    node: &Node,
    input: usize,
) -> Result<(Box<dyn Input>, Asset), TaskError> {
    let url = node.attr("filename").unwrap_or("");
    let place = node.place();
    let media = ctx.fetch(url, None).map_err(|e| match e {
        drake_sdk::FetchError::TooLarge(cap) => TaskError::Limit(format!(
            "{place}: {url}: the download is larger than the limit of {cap} bytes"
        )),
        drake_sdk::FetchError::InvalidUrl(m) => TaskError::parameter(
            "definition",
            format!("line {}, column {}: {url:?}: {m}", node.line, node.column),
        ),
        other => TaskError::Failed(format!("{place}: {url}: could not fetch: {other}")),
    })?;
    if media.size() == 0 {
        return Err(TaskError::InvalidInput(format!(
            "{place}: {url}: the file is empty"
        )));
    }
    let asset = match still_header(node, media.as_ref(), input) {
        Some(asset) => asset,
        None => {
            let info = ctx.probe(media.as_ref()).map_err(|e| {
                TaskError::InvalidInput(format!("{place}: {url}: not readable media: {e}"))
            })?;
            describe(&info, input)
        }
    };
    let wants_picture = matches!(node.kind, Kind::Image | Kind::Video);
    if wants_picture && !asset.video {
        return Err(TaskError::InvalidInput(format!(
            "{place}: {url}: the file has no picture"
        )));
    }
    if node.kind == Kind::Audio && !asset.audio {
        return Err(TaskError::InvalidInput(format!(
            "{place}: {url}: the file has no sound"
        )));
    }
    if wants_picture
        && (asset.width == 0
            || asset.height == 0
            || asset.width > drake_sdk::media::MAX_SIDE
            || asset.height > drake_sdk::media::MAX_SIDE
            || u64::from(asset.width) * u64::from(asset.height) > drake_sdk::media::MAX_PIXELS)
    {
        return Err(TaskError::Limit(format!(
            "{place}: {url}: a {}×{} picture is outside the limits ({} px a side, {} pixels)",
            asset.width,
            asset.height,
            drake_sdk::media::MAX_SIDE,
            drake_sdk::media::MAX_PIXELS
        )));
    }
    Ok((media, asset))
}

/// An `<image>` whose headers (first 64 KiB) name a JPEG, PNG, GIF or
/// WebP and its size; anything else is left to ffprobe.
fn still_header(node: &Node, media: &dyn Input, input: usize) -> Option<Asset> {
    if node.kind != Kind::Image {
        return None;
    }
    let head = media.read(0, 64 << 10);
    let header = image_probe::probe(&head).ok()?;
    // PNG colour types 4 and 6 carry alpha (IHDR byte 25).
    let alpha = header.kind == image_probe::Kind::Png && matches!(head.get(25), Some(4 | 6));
    let orientation = if header.kind == image_probe::Kind::Jpeg {
        exif::orientation(&head)
    } else {
        1
    };
    // ffmpeg decodes it upright; the layout needs the size as seen.
    let (width, height) = if exif::swaps_sides(orientation) {
        (header.height, header.width)
    } else {
        (header.width, header.height)
    };
    Some(Asset::still(input, (width, height), alpha))
}

/// What the graph needs to know of a probed file.
fn describe(info: &MediaInfo, input: usize) -> Asset {
    let video = info.first("video");
    let audio = info.first("audio");
    let (width, height) = video.map(|v| v.display_size()).unwrap_or((0, 0));
    // Stills: the image demuxers; a GIF is a still (sxml.md §8.1 takes
    // non-animated GIFs; an animated one shows its first frame).
    let still = video.is_some()
        && (info.format.ends_with("_pipe")
            || info.format == "image2"
            || info.format == "gif"
            || video.is_some_and(|v| v.codec == "png" || v.codec == "mjpeg")
                && audio.is_none()
                && info.duration <= 0.05);
    // A clip lasts its picture; a sound file its sound (container
    // durations include codec padding).
    let own = |s: Option<&drake_sdk::StreamInfo>| s.map_or(0.0, |s| s.duration);
    let duration = if still {
        0.0
    } else if own(video) > 0.0 {
        own(video)
    } else if video.is_none() && own(audio) > 0.0 {
        own(audio)
    } else {
        info.duration.max(0.0)
    };
    Asset {
        input,
        width,
        height,
        duration,
        video: video.is_some(),
        audio: audio.is_some(),
        still,
        alpha: video.is_some_and(|v| v.alpha),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::MemInput;

    fn pcm(parts: &[(f64, i16)]) -> MemInput {
        let mut bytes = Vec::new();
        for &(seconds, level) in parts {
            for i in 0..(seconds * f64::from(DUCK_RATE)) as usize {
                let v = if i % 2 == 0 { level } else { -level };
                bytes.extend(v.to_le_bytes());
            }
        }
        MemInput::new("", bytes)
    }

    const SOLID: &str = r##"<movie service="craftsman-1.0"><body><effect type="none" duration="2"><image color="#336699"/></effect></body></movie>"##;

    fn run(ctx: &mut drake_sdk::FakeCtx, params: serde_json::Value) -> Result<Values, TaskError> {
        drake_sdk::run_json::<VideoCreate>(ctx, &params.to_string())
    }

    #[test]
    fn voices_are_captioned_where_they_are_heard() {
        // Two sentences spoken over 2 s and 3 s; the clip starts 1 s in,
        // skips 1 s of its speech and plays at double speed.
        let movie = drake_sxml::parse(
            r##"<movie service="craftsman-1.0"><body><sequence>
            <effect type="none" duration="1"><image color="#000000"/></effect>
            <audio voice="neospeech:julie" skip="1" speed="2">One. Two.</audio>
            </sequence></body></movie>"##,
        )
        .unwrap();
        let lengths = |n: &Node| (n.kind == Kind::Audio).then_some(5.0);
        let body = drake_sxml::time::resolve(&movie, &lengths).unwrap();
        let audio = body
            .walk()
            .into_iter()
            .find(|s| s.node.kind == Kind::Audio)
            .unwrap();
        let (start, end) = (audio.start, audio.end());
        let mut spoken = Spoken::new();
        spoken.insert(
            asset_key(audio.node).unwrap(),
            vec![(0.0, 2.0, "One.".into()), (2.0, 5.0, "Two.".into())],
        );
        let cues = voice_cues(&body, &spoken, 100.0);
        let ms = |t: f64| (t * 1000.0).round() as u64;
        // "One." from the clip's start (its first second was skipped)…
        assert_eq!(cues[0].start, ms(start));
        assert_eq!(cues[0].end, ms(start + 0.5));
        // …"Two." from 2 s of speech = 0.5 s into the clip, to its end.
        assert_eq!(cues[1].start, ms(start + 0.5));
        assert_eq!(cues[1].end, ms(end.min(start + 2.0)));
        assert_eq!(cues.len(), 2);
        // A movie cut short cuts the captions.
        let cut = voice_cues(&body, &spoken, start + 0.25);
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].end, ms(start + 0.25));
    }

    #[test]
    fn preview_then_export_then_thumbnail() {
        let mut ctx = drake_sdk::FakeCtx::default();
        for bytes in [b"preview".to_vec(), b"export".to_vec(), b"jpeg".to_vec()] {
            ctx.job_results.push_back(Ok(vec![bytes]));
        }
        let params = serde_json::json!({"definition": SOLID, "profile": "dvd-pal-16-9"});
        let v = run(&mut ctx, params).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                v["duration"].clone(),
                v["width"].clone(),
                v["height"].clone()
            ),
            (2.0.into(), 720.into(), 576.into())
        );
        // The preview went out with the duration, before the export ran.
        assert_eq!(ctx.partials.len(), 1);
        assert_eq!(ctx.partials[0]["duration"], 2.0);
        assert_eq!(ctx.published["preview"].extension, "mp4");
        assert_eq!(ctx.published["export"].extension, "mpg");
        assert_eq!(ctx.published["thumbnail"].extension, "jpg");
        let [preview, export, thumb] = &ctx.jobs[..] else {
            panic!("{} jobs", ctx.jobs.len());
        };
        // 16:9 PAL: drawn at 1024×576, stored 720×576 flagged 16:9; the
        // preview at 180 lines of the same aspect.
        let graph = |j: &drake_sdk::RecordedJob| j.filter_complex.clone().unwrap_or_default();
        assert!(graph(preview).contains("s=320x180"), "{}", graph(preview));
        assert!(graph(export).contains("s=1024x576"), "{}", graph(export));
        assert!(graph(export).contains("scale=720:576:flags=bicubic,setdar=16/9"));
        assert!(
            export.outputs[0]
                .iter()
                .any(|(k, v)| k == "c:v" && v == "mpeg2video")
        );
        assert!(
            export.outputs[0].iter().any(|(k, _)| k == "an"),
            "a silent movie"
        );
        assert!(
            thumb.inputs[0]
                .iter()
                .any(|(k, v)| k == "ss" && v == "1.000")
        );
        assert!(graph(thumb).contains("scale=1024:576"));
    }

    #[test]
    fn definition_errors_name_the_parameter_line_and_column() {
        let mut ctx = drake_sdk::FakeCtx::default();
        let bad = r#"<movie service="craftsman-1.0"><body>
            <effect type="none" duration="soon"/></body></movie>"#;
        match run(&mut ctx, serde_json::json!({"definition": bad})) {
            Err(TaskError::InvalidParameters(m)) => {
                let msg = &m["definition"][0];
                assert!(
                    msg.starts_with("line 2, column 13:") && msg.contains("soon"),
                    "{msg}"
                );
            }
            other => panic!("{other:?}"),
        }
        let e = run(
            &mut ctx,
            serde_json::json!({"definition": SOLID, "profile": "8k"}),
        )
        .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("profile")),
            "{e:?}"
        );
        assert!(ctx.jobs.is_empty());
    }

    #[test]
    fn sound_is_found_where_it_reaches_the_threshold() {
        let p = pcm(&[(0.1, 100), (0.2, 10_000), (0.3, 0), (0.05, 2_000)]);
        // 0.05 of full scale is 1638: the 2,000 tail counts, 100 does not.
        let runs_at = |p: &MemInput, t: f64| -> Vec<(f64, f64)> {
            let round = |v: f64| (v * 100.0).round() / 100.0;
            sound_runs(p, t)
                .into_iter()
                .map(|(a, b)| (round(a), round(b)))
                .collect()
        };
        assert_eq!(runs_at(&p, 0.05), [(0.1, 0.3), (0.6, 0.65)]);
        assert_eq!(runs_at(&p, 0.25), [(0.1, 0.3)]);
        assert!(sound_runs(&pcm(&[(1.0, 0)]), 0.05).is_empty());
    }
}
