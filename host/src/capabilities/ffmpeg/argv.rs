//! From a typed job to an ffmpeg argument vector, through allow-lists.
//!
//! The guest names option keys and values; this module decides what may
//! reach ffmpeg: input options, output options, demuxers, muxers, encoders,
//! the filter graph ([`super::filter`]). Paths are the host's own
//! (`in0`, `out0` in the job's scratch directory); no guest string ever
//! becomes a path, a protocol or a separate argument.

use super::filter;

/// Demuxers ffmpeg may use on inputs (`-format_whitelist`): plain media
/// containers. Playlist and list demuxers (`hls`, `concat`, `ffconcat`,
/// `dash`), device and network demuxers are absent, so an input that
/// claims to be one is refused by ffmpeg itself.
pub const DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,asf,ogg,\
wav,mp3,aac,flac,w64,aiff,amr,caf,image2,png_pipe,jpeg_pipe,gif,webp_pipe,bmp_pipe,tiff_pipe,\
apng,gif_pipe,mjpeg,h264,hevc,m4v,ivf,wv,ape,au,dv,yuv4mpegpipe,rawvideo,ac3,eac3,dts,\
mpegvideo,mxf,nut,rm,smjpeg,swf,tta,vc1,voc,xwma,sln,truehd,loas,latm,s16le,f32le,obu";

/// Input options a job may set (without the dash), with a value check.
const INPUT_OPTIONS: &[(&str, ValueKind)] = &[
    ("ss", ValueKind::Time),
    ("t", ValueKind::Time),
    ("to", ValueKind::Time),
    ("r", ValueKind::Rate),
    ("framerate", ValueKind::Rate),
    ("loop", ValueKind::Int),
    ("stream_loop", ValueKind::Int),
    ("itsoffset", ValueKind::Time),
    ("noautorotate", ValueKind::Flag),
    ("f", ValueKind::Demuxer),
    // Raw PCM inputs (`f = s16le`) carry no header: rate and channels.
    ("ar", ValueKind::Int),
    ("ac", ValueKind::Int),
    // Raw pictures (`f = rawvideo`, pixels a task made) carry no header
    // either: pixel layout and size.
    ("pixel_format", ValueKind::Word),
    ("video_size", ValueKind::Size),
];

/// Output options a job may set, with a value check.
const OUTPUT_OPTIONS: &[(&str, ValueKind)] = &[
    ("f", ValueKind::Muxer),
    ("map", ValueKind::Map),
    ("c:v", ValueKind::Encoder),
    ("c:a", ValueKind::Encoder),
    ("codec:v", ValueKind::Encoder),
    ("codec:a", ValueKind::Encoder),
    ("b:v", ValueKind::Bitrate),
    ("b:a", ValueKind::Bitrate),
    ("maxrate", ValueKind::Bitrate),
    ("bufsize", ValueKind::Bitrate),
    ("minrate", ValueKind::Bitrate),
    // x265's own settings, only the keys in [`X265_KEYS`]; `pools` is the
    // host's ([`build`]).
    ("x265-params", ValueKind::X265),
    ("crf", ValueKind::Number),
    ("qscale:v", ValueKind::Number),
    ("q:v", ValueKind::Number),
    ("q:a", ValueKind::Number),
    ("preset", ValueKind::Word),
    ("tune", ValueKind::Word),
    ("profile:v", ValueKind::Word),
    ("level", ValueKind::Word),
    ("pix_fmt", ValueKind::Word),
    ("ar", ValueKind::Int),
    ("ac", ValueKind::Int),
    ("r", ValueKind::Rate),
    ("g", ValueKind::Int),
    // Fixed keyframe intervals (streaming ladders cut every rendition's
    // segments at the same instants): the shortest interval, and x264's
    // scene-cut threshold (0 = no extra keyframes).
    ("keyint_min", ValueKind::Int),
    ("sc_threshold", ValueKind::Int),
    // A fragmented MP4's fragment length in microseconds (audio renditions,
    // where every packet is a keyframe).
    ("frag_duration", ValueKind::Int),
    ("bf", ValueKind::Int),
    ("t", ValueKind::Time),
    ("ss", ValueKind::Time),
    ("to", ValueKind::Time),
    // Segments whose timestamps continue one another (byte-concatenated
    // MPEG-TS).
    ("output_ts_offset", ValueKind::Time),
    ("frames:v", ValueKind::Int),
    ("vframes", ValueKind::Int),
    ("an", ValueKind::Flag),
    ("vn", ValueKind::Flag),
    ("sn", ValueKind::Flag),
    ("dn", ValueKind::Flag),
    ("shortest", ValueKind::Flag),
    ("update", ValueKind::Int),
    ("loop", ValueKind::Int),
    ("final_delay", ValueKind::Int),
    ("movflags", ValueKind::Word),
    // The sample entry's four-character code (HEVC as `hvc1` in MP4).
    ("tag:v", ValueKind::Word),
    ("aspect", ValueKind::Rate),
    ("vf", ValueKind::Graph),
    ("af", ValueKind::Graph),
    ("filter:v", ValueKind::Graph),
    ("filter:a", ValueKind::Graph),
    ("fps_mode", ValueKind::Word),
    ("compression_level", ValueKind::Int),
    ("deadline", ValueKind::Word),
    ("cpu-used", ValueKind::Int),
    ("row-mt", ValueKind::Int),
    ("threads", ValueKind::Int),
    ("sample_fmt", ValueKind::Word),
    ("channel_layout", ValueKind::Word),
    ("metadata:s:v:0", ValueKind::Rotate),
    // AV1 stills (AVIF): libaom's intra-only mode and the colour tags the
    // container and the sequence header carry.
    ("still-picture", ValueKind::Int),
    ("usage", ValueKind::Word),
    ("colorspace", ValueKind::Word),
    ("color_primaries", ValueKind::Word),
    ("color_trc", ValueKind::Word),
    ("color_range", ValueKind::Word),
];

/// Muxers a job may write.
const MUXERS: &[&str] = &[
    "mp4", "mov", "matroska", "webm", "avi", "asf", "ogg", "mp3", "adts", "ipod", "wav", "flac",
    "image2", "gif", "apng", "mjpeg", "mpegts", "null", "opus", "webp", "rawvideo", "s16le",
    "f32le", "flv", "dvd", "mpeg", "avif",
];

/// Encoders a job may use.
const ENCODERS: &[&str] = &[
    "libx264",
    "h264",
    "mpeg4",
    "libvpx",
    "libvpx-vp9",
    "mjpeg",
    "png",
    "gif",
    "libwebp",
    "rawvideo",
    "aac",
    "libmp3lame",
    "mp3",
    "mp2",
    "libvorbis",
    "vorbis",
    "libopus",
    "flac",
    "pcm_s16le",
    "pcm_f32le",
    "wmav1",
    "wmav2",
    "wmv1",
    "wmv2",
    "msmpeg4",
    "flv",
    "mpeg1video",
    "mpeg2video",
    "copy",
    "libwebp_anim",
    "libaom-av1",
    "libsvtav1",
    "libx265",
];

/// The `x265-params` keys a job may set: coding-tree, frame-type, mode
/// decision and threading shapes. None of them names a file (x265's `csv`, `analysis-save`,
/// `qpfile`, `zonefile`, `scaling-list`… do).
const X265_KEYS: &[&str] = &[
    "ctu",
    "min-cu-size",
    "bframes",
    "cutree",
    "rd",
    "rc-lookahead",
    "frame-threads",
];

#[derive(Debug, Clone, Copy)]
enum ValueKind {
    /// Empty value: the option is a switch.
    Flag,
    /// Seconds (`12.5`) or `HH:MM:SS.ms`.
    Time,
    /// `30`, `30000/1001`, `25.0`.
    Rate,
    /// An integer.
    Int,
    /// A number.
    Number,
    /// `512k`, `2M`, `128000`.
    Bitrate,
    /// A plain word (`veryfast`, `yuv420p`, `+faststart`).
    Word,
    /// A stream specifier (`0:v:0`, `[out]`, `0:a?`).
    Map,
    /// One of [`DEMUXERS`].
    Demuxer,
    /// One of [`MUXERS`].
    Muxer,
    /// One of [`ENCODERS`].
    Encoder,
    /// A filter chain, checked like the filter graph.
    Graph,
    /// `rotate=<degrees>` metadata.
    Rotate,
    /// A picture size, `<width>x<height>`.
    Size,
    /// `key=value[:key=value…]` with keys from [`X265_KEYS`] and plain
    /// values.
    X265,
}

fn check_value(kind: ValueKind, key: &str, v: &str) -> Result<(), String> {
    let bad = || Err(format!("invalid value {v:?} for option -{key}"));
    let number = |s: &str| !s.is_empty() && s.parse::<f64>().is_ok_and(f64::is_finite);
    let ok = match kind {
        ValueKind::Flag => v.is_empty(),
        ValueKind::Time => {
            number(v) || (v.split(':').count() <= 3 && v.split(':').all(number) && v.len() < 32)
        }
        ValueKind::Rate => {
            number(v)
                || v.split_once('/')
                    .is_some_and(|(a, b)| number(a) && number(b))
        }
        ValueKind::Int => v.parse::<i64>().is_ok(),
        ValueKind::Number => number(v),
        ValueKind::Bitrate => {
            let digits = v.trim_end_matches(['k', 'K', 'M']);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
        ValueKind::Word => {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
        }
        ValueKind::Map => {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_:[]?-".contains(&b))
        }
        ValueKind::Demuxer => DEMUXERS.split(',').any(|d| d == v),
        ValueKind::Muxer => MUXERS.contains(&v),
        ValueKind::Encoder => ENCODERS.contains(&v),
        ValueKind::Graph => return filter::check_graph(v).map(drop).map_err(|e| e.0),
        ValueKind::Rotate => v
            .strip_prefix("rotate=")
            .is_some_and(|d| d.parse::<i32>().is_ok()),
        ValueKind::Size => v
            .split_once('x')
            .is_some_and(|(w, h)| [w, h].iter().all(|s| s.parse::<u16>().is_ok_and(|n| n > 0))),
        ValueKind::X265 => {
            v.len() <= 128
                && v.split(':').all(|pair| {
                    pair.split_once('=').is_some_and(|(k, val)| {
                        X265_KEYS.contains(&k)
                            && !val.is_empty()
                            && val.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
                    })
                })
        }
    };
    if ok { Ok(()) } else { bad() }
}

fn check_options(
    options: &[(String, String)],
    allowed: &[(&str, ValueKind)],
    side: &str,
) -> Result<(), String> {
    for (key, value) in options {
        let Some((_, kind)) = allowed.iter().find(|(k, _)| k == key) else {
            return Err(format!("{side} option -{key} is not allowed"));
        };
        check_value(*kind, key, value)?;
    }
    Ok(())
}

/// A job as the argv builder sees it: inputs are already files.
pub struct PlannedJob<'a> {
    /// Input options per input file `in<N>`.
    pub inputs: Vec<&'a [(String, String)]>,
    /// The filter graph.
    pub filter_complex: Option<&'a str>,
    /// A host-written filter appended to the checked graph (burned-in
    /// captions, see [`super::captions`]).
    pub host_filter: Option<&'a str>,
    /// Output options per output file `out<N>`.
    pub outputs: Vec<&'a [(String, String)]>,
    /// Threads for filters and encoders.
    pub threads: u32,
}

/// Most inputs and outputs one job may have: a long SXML timeline has a
/// few hundred assets; more is an attack on the argv size.
pub const MAX_FILES: usize = 512;

/// Build the argv (after the program name). Fails with a message naming
/// the first thing outside the allow-lists.
pub fn build(job: &PlannedJob<'_>) -> Result<Vec<String>, String> {
    if job.inputs.is_empty() && job.filter_complex.is_none() {
        return Err("a job needs an input or a filter graph".into());
    }
    if job.outputs.is_empty() {
        return Err("a job needs an output".into());
    }
    if job.inputs.len() > MAX_FILES || job.outputs.len() > MAX_FILES {
        return Err(format!("at most {MAX_FILES} inputs and outputs per job"));
    }
    let mut argv: Vec<String> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        // Levels on every line: errors are kept for messages, and the
        // info-level `bench: maxrss=` line is the process's own peak
        // memory (see `sandbox::parse_stderr`).
        "-loglevel",
        "level+info",
        "-benchmark",
        "-progress",
        "pipe:1",
        "-filter_complex_threads",
    ]
    .map(String::from)
    .to_vec();
    argv.push(job.threads.to_string());
    for (i, options) in job.inputs.iter().enumerate() {
        check_options(options, INPUT_OPTIONS, "input")?;
        // Only local files in the scratch directory, only media demuxers.
        argv.extend(
            ["-protocol_whitelist", "file", "-format_whitelist", DEMUXERS].map(String::from),
        );
        push_options(&mut argv, options);
        argv.push("-i".into());
        argv.push(format!("in{i}"));
    }
    match (job.filter_complex, job.host_filter) {
        (Some(graph), host) => {
            filter::check_graph(graph).map_err(|e| e.0)?;
            argv.push("-filter_complex".into());
            argv.push(match host {
                Some(host) => format!("{graph};{host}"),
                None => graph.to_owned(),
            });
        }
        (None, Some(_)) => return Err("captions need a filter graph to burn into".into()),
        (None, None) => {}
    }
    for (i, options) in job.outputs.iter().enumerate() {
        check_options(options, OUTPUT_OPTIONS, "output")?;
        if !options.iter().any(|(k, _)| k == "f") {
            return Err(format!("output {i} needs a muxer (option f)"));
        }
        let threads = options
            .iter()
            .find(|(k, _)| k == "threads")
            .map(|(_, v)| v.clone());
        let x265 = options
            .iter()
            .any(|(k, v)| matches!(k.as_str(), "c:v" | "codec:v") && v == "libx265");
        if x265 {
            // x265 sizes its thread pool from the NUMA topology under
            // /sys, which the sandbox hides: without `pools` it runs with
            // no pool (no wavefront rows, ~40 % slower on 2 cores). It gets
            // the job's thread budget, as every other encoder does.
            let mut params: Vec<String> = options
                .iter()
                .filter(|(k, _)| k == "x265-params")
                .map(|(_, v)| v.clone())
                .collect();
            let pool = threads.clone().unwrap_or_else(|| job.threads.to_string());
            params.push(format!("pools={pool}"));
            let rest: Vec<(String, String)> = options
                .iter()
                .filter(|(k, _)| k != "x265-params")
                .cloned()
                .collect();
            push_options(&mut argv, &rest);
            argv.push("-x265-params".into());
            argv.push(params.join(":"));
        } else {
            push_options(&mut argv, options);
        }
        if threads.is_none() {
            argv.push("-threads".into());
            argv.push(job.threads.to_string());
        }
        argv.push("-y".into());
        argv.push(format!("out{i}"));
    }
    Ok(argv)
}

fn push_options(argv: &mut Vec<String>, options: &[(String, String)]) {
    for (key, value) in options {
        argv.push(format!("-{key}"));
        if !value.is_empty() {
            argv.push(value.clone());
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_thumbnail_job() {
        let input = o(&[("ss", "1.5")]);
        let output = o(&[("frames:v", "1"), ("f", "image2"), ("c:v", "mjpeg")]);
        let argv = build(&PlannedJob {
            inputs: vec![&input],
            filter_complex: Some("[0:v]scale=320:-2[v]"),
            host_filter: None,
            outputs: vec![&output],
            threads: 2,
        })
        .unwrap();
        let text = argv.join(" ");
        assert!(
            text.contains("-protocol_whitelist file -format_whitelist mov,"),
            "{text}"
        );
        assert!(
            text.contains("-ss 1.5 -i in0 -filter_complex [0:v]scale=320:-2[v]"),
            "{text}"
        );
        assert!(
            text.ends_with("-frames:v 1 -f image2 -c:v mjpeg -threads 2 -y out0"),
            "{text}"
        );
    }

    #[test]
    fn x265_gets_the_jobs_thread_pool() {
        let output = o(&[("c:v", "libx265"), ("x265-params", "ctu=16"), ("f", "mp4")]);
        let argv = build(&PlannedJob {
            inputs: vec![&[]],
            filter_complex: None,
            host_filter: None,
            outputs: vec![&output],
            threads: 3,
        })
        .unwrap();
        let text = argv.join(" ");
        assert!(
            text.ends_with("-c:v libx265 -f mp4 -x265-params ctu=16:pools=3 -threads 3 -y out0"),
            "{text}"
        );
        let output = o(&[("c:v", "libx265"), ("threads", "1"), ("f", "mp4")]);
        let argv = build(&PlannedJob {
            inputs: vec![&[]],
            filter_complex: None,
            host_filter: None,
            outputs: vec![&output],
            threads: 3,
        })
        .unwrap();
        assert!(
            argv.join(" ").ends_with("-x265-params pools=1 -y out0"),
            "{argv:?}"
        );
    }

    #[test]
    fn everything_off_the_lists_is_refused() {
        let ok_out = o(&[("f", "mp4")]);
        type Case<'a> = (
            Vec<(String, String)>,
            Vec<(String, String)>,
            Option<&'a str>,
        );
        let cases: Vec<Case<'_>> = vec![
            (o(&[("i", "/etc/passwd")]), ok_out.clone(), None),
            (o(&[("f", "concat")]), ok_out.clone(), None),
            (o(&[("f", "hls")]), ok_out.clone(), None),
            (
                o(&[("protocol_whitelist", "file,http")]),
                ok_out.clone(),
                None,
            ),
            (o(&[("ss", "1; rm -rf /")]), ok_out.clone(), None),
            (vec![], o(&[("f", "mp4"), ("vstats_file", "/tmp/x")]), None),
            (vec![], o(&[("f", "tee")]), None),
            (
                vec![],
                o(&[("f", "mp4"), ("c:v", "libx264 -i /etc/passwd")]),
                None,
            ),
            (vec![], o(&[("f", "mp4"), ("map", "0:v /etc/passwd")]), None),
            (
                vec![],
                o(&[("f", "mp4"), ("vf", "movie=/etc/passwd")]),
                None,
            ),
            (vec![], o(&[("c:v", "libx264")]), None),
            (vec![], ok_out.clone(), Some("movie=/etc/passwd[x]")),
            (vec![], o(&[("f", "mp4"), ("an", "x")]), None),
            (
                vec![],
                o(&[("f", "mp4"), ("x265-params", "csv=/job/x")]),
                None,
            ),
            (
                vec![],
                o(&[("f", "mp4"), ("x265-params", "analysis-save=a")]),
                None,
            ),
            (
                vec![],
                o(&[("f", "mp4"), ("x265-params", "ctu=16:pools=64")]),
                None,
            ),
            (vec![], o(&[("f", "mp4"), ("x265-params", "ctu=16:")]), None),
        ];
        for (input, output, graph) in cases {
            let r = build(&PlannedJob {
                inputs: vec![&input],
                filter_complex: graph,
                host_filter: None,
                outputs: vec![&output],
                threads: 1,
            });
            assert!(r.is_err(), "{input:?} {output:?} {graph:?} passed: {r:?}");
        }
    }

    #[test]
    fn values_are_checked() {
        assert!(check_value(ValueKind::Time, "ss", "00:01:02.5").is_ok());
        assert!(check_value(ValueKind::Rate, "r", "30000/1001").is_ok());
        assert!(check_value(ValueKind::Bitrate, "b:v", "512k").is_ok());
        assert!(check_value(ValueKind::Bitrate, "b:v", "-1").is_err());
        assert!(check_value(ValueKind::Word, "movflags", "+faststart").is_ok());
        assert!(check_value(ValueKind::Time, "ss", "nan").is_err());
        assert!(check_value(ValueKind::Size, "video_size", "640x360").is_ok());
        for bad in [
            "0x360",
            "640x",
            "640",
            "-1x2",
            "70000x1",
            "640x360x2",
            "640x360 -i",
        ] {
            assert!(
                check_value(ValueKind::Size, "video_size", bad).is_err(),
                "{bad}"
            );
        }
    }
}
