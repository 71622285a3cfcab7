//! `test.hostile`: a task that misbehaves on request, loaded only with
//! `test_tasks = true`. The sandbox tests use it to check that a runaway
//! guest ends in an `error` status while the host keeps serving.

use drake_sdk::media::{Job, JobInput, opts};
use drake_sdk::{Ctx, FfmpegError, MemInput, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(Hostile);

/// What to do.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Spin forever (the epoch deadline must stop it).
    Loop,
    /// Allocate until the memory cap refuses.
    Alloc,
    /// Sleep `ms` milliseconds, reporting progress, then succeed.
    Sleep,
    /// Panic (a trap).
    Panic,
    /// Publish a partial value and `preview`, sleep `ms`, then publish
    /// `output` (the partial-results path of video.create).
    Publish,
    /// Try to escape the ffmpeg sandbox with `attack`.
    Ffmpeg,
}

/// Ways to try to make ffmpeg read `/etc/passwd` or the network, or
/// exhaust its limits.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// An input option naming a path.
    InputPath,
    /// A concat list, demuxer forced.
    Concat,
    /// A concat list, demuxer sniffed.
    ConcatSniffed,
    /// An HLS playlist pointing at `file:/etc/passwd`.
    HlsFile,
    /// An HLS playlist pointing at an http URL.
    HlsHttp,
    /// A `movie=` source filter.
    Movie,
    /// A drawtext `textfile=`.
    Textfile,
    /// A `file:` URL as a stream specifier.
    FileUrl,
    /// Burn CPU past the cap.
    Cpu,
    /// Write more than the output cap.
    Output,
    /// A guest-written `subtitles=` filter (it opens files).
    Subtitles,
    /// Burned captions whose pad label smuggles a filter reading a file.
    CaptionLabel,
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The misbehaviour.
    pub mode: Mode,
    /// Milliseconds for `sleep`.
    #[serde(default)]
    pub ms: u64,
    /// The sandbox attack for `ffmpeg`.
    pub attack: Option<Attack>,
}

/// The task.
pub struct Hostile;

impl Task for Hostile {
    const NAME: &'static str = "test.hostile";
    const SUMMARY: &'static str = "Test-only: loops, allocates, sleeps or panics on request.";
    const VALUES: &'static [&'static str] = &["ms"];
    const FILES: &'static [&'static str] = &["output", "preview"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        match p.mode {
            Mode::Loop => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            Mode::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 8 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Sleep => {
                let steps = 10;
                for i in 0..steps {
                    ctx.progress((i * 100 / steps) as u8);
                    std::thread::sleep(std::time::Duration::from_millis(p.ms / steps));
                }
                Ok(drake_sdk::values([("ms", p.ms.into())]))
            }
            Mode::Panic => panic!("test.hostile was asked to panic"),
            Mode::Ffmpeg => {
                let attack = p
                    .attack
                    .ok_or_else(|| TaskError::parameter("attack", "this field is required"))?;
                let out = attack_ffmpeg(ctx, attack).map_err(FfmpegError::into_task_error)?;
                // If anything came back, show it: the test checks it is
                // not /etc/passwd.
                let text = out
                    .first()
                    .map(|o| String::from_utf8_lossy(&o.read_all()).into_owned())
                    .unwrap_or_default();
                Ok(drake_sdk::values([("ms", text.into())]))
            }
            Mode::Publish => {
                // The value first: events are stored in order, so once the
                // preview is visible (a create_file redirect) so is the value.
                ctx.partial(&drake_sdk::values([("ms", p.ms.into())]));
                ctx.publish("preview", b"early", "text/plain", "txt")?;
                std::thread::sleep(std::time::Duration::from_millis(p.ms));
                ctx.publish("output", b"hello", "text/plain", "txt")?;
                Ok(drake_sdk::values([("ms", p.ms.into())]))
            }
        }
    }
}

fn attack_ffmpeg(
    ctx: &mut dyn Ctx,
    attack: Attack,
) -> Result<Vec<Box<dyn drake_sdk::Input>>, FfmpegError> {
    let raw = opts([("f", "rawvideo")]);
    let text = |t: &str| MemInput::new("text/plain", t.as_bytes().to_vec());
    let concat = text("ffconcat version 1.0\nfile '/etc/passwd'\n");
    let hls_file =
        text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n");
    let hls_http = text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
    );
    fn job<'a>(
        inputs: Vec<JobInput<'a>>,
        graph: Option<&str>,
        outputs: Vec<Vec<(String, String)>>,
    ) -> Job<'a> {
        Job {
            inputs,
            filter_complex: graph.map(str::to_owned),
            outputs,
            progress_duration: None,
            progress_span: (0, 100),
            captions: None,
        }
    }
    fn input(media: &dyn drake_sdk::Input, options: Vec<(String, String)>) -> JobInput<'_> {
        JobInput { media, options }
    }
    let j = match attack {
        Attack::InputPath => job(
            vec![input(&concat, opts([("i", "/etc/passwd")]))],
            None,
            vec![raw],
        ),
        Attack::Concat => job(
            vec![input(&concat, opts([("f", "concat")]))],
            None,
            vec![raw],
        ),
        Attack::ConcatSniffed => job(vec![input(&concat, vec![])], None, vec![raw]),
        Attack::HlsFile => job(vec![input(&hls_file, vec![])], None, vec![raw]),
        Attack::HlsHttp => job(vec![input(&hls_http, vec![])], None, vec![raw]),
        Attack::Movie => job(
            vec![],
            Some("movie=/etc/passwd[v]"),
            vec![opts([("map", "[v]"), ("f", "rawvideo")])],
        ),
        Attack::Textfile => job(
            vec![],
            Some("color=s=64x64:d=1,drawtext=textfile=/etc/passwd[v]"),
            vec![opts([("map", "[v]"), ("f", "rawvideo")])],
        ),
        Attack::FileUrl => job(
            vec![],
            Some("color=s=8x8:d=1[v]"),
            vec![opts([("map", "file:/etc/passwd"), ("f", "rawvideo")])],
        ),
        Attack::Cpu => job(
            vec![],
            Some("testsrc=size=1920x1080:rate=60:duration=3600[v]"),
            vec![opts([
                ("map", "[v]"),
                ("f", "mp4"),
                ("c:v", "libx264"),
                ("preset", "veryslow"),
            ])],
        ),
        Attack::Output => job(
            vec![],
            Some("testsrc=size=1920x1080:rate=30:duration=3600[v]"),
            vec![opts([
                ("map", "[v]"),
                ("f", "rawvideo"),
                ("c:v", "rawvideo"),
            ])],
        ),
        Attack::Subtitles => job(
            vec![],
            Some("color=s=64x64:d=1,subtitles=filename=/etc/passwd[v]"),
            vec![opts([("map", "[v]"), ("f", "rawvideo")])],
        ),
        Attack::CaptionLabel => {
            let mut j = job(
                vec![],
                Some("color=s=64x64:d=1[c]"),
                vec![opts([("map", "[v]"), ("f", "rawvideo")])],
            );
            j.captions = Some(drake_sdk::media::Burn {
                cues: vec![drake_sdk::media::CaptionCue {
                    start_ms: 0,
                    end_ms: 1000,
                    text: "x".into(),
                }],
                style: drake_sdk::media::CaptionStyle {
                    font: drake_sdk::media::CaptionFont::Sans,
                    bold: false,
                    size: 16,
                    color: 0xFFFFFF,
                    outline_color: 0,
                    outline: 1,
                    position: drake_sdk::media::CaptionPosition::Bottom,
                    margin: 4,
                },
                width: 64,
                height: 64,
                input: "c]subtitles=filename=/etc/passwd[".into(),
                output: "v".into(),
            });
            j
        }
    };
    ctx.ffmpeg(j)
}
