//! Every construct compiles to a graph the installed ffmpeg runs, with
//! the frame count the time model gives: native and fast (a 160×90
//! canvas at 10 fps), beside the end-to-end tests in `tests/` that go
//! through the host and the sandbox.

#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use drake_sxml::Node;
use drake_task_video_create::profile::Canvas;
use drake_task_video_create::profile::Rate;
use drake_task_video_create::render::{self, Asset, asset_key};

const CANVAS: Canvas = Canvas {
    width: 160,
    height: 90,
    rate: Rate { num: 10, den: 1 },
};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fixture directory and the assets by URL, with their files.
type Fixtures = (PathBuf, BTreeMap<String, (PathBuf, Asset)>);

/// Fixtures made once: a 320×240 PNG, a 3 s clip with sound, 4 s of sound.
fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("drake-graphs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = |n: &str| dir.join(n);
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=320x240",
            "-frames:v",
            "1",
            &s(&p("a.png")),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=320x180:r=25:d=3",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            &s(&p("v.mp4")),
        ]);
        ffmpeg(&["-f", "lavfi", "-i", "sine=f=220:d=4", &s(&p("m.wav"))]);
        let asset = |input, w, h, d: f64, video, audio, still| Asset {
            input,
            width: w,
            height: h,
            duration: d,
            video,
            audio,
            still,
            alpha: false,
        };
        let mut m = BTreeMap::new();
        m.insert(
            "http://x/a.png".into(),
            (p("a.png"), asset(0, 320, 240, 0.0, true, false, true)),
        );
        m.insert(
            "http://x/v.mp4".into(),
            (p("v.mp4"), asset(1, 320, 180, 3.0, true, true, false)),
        );
        m.insert(
            "http://x/m.wav".into(),
            (p("m.wav"), asset(2, 0, 0, 4.0, false, true, false)),
        );
        (dir, m)
    })
}

/// Render `body` (inside `<movie><body>`) and return (frames, has audio).
fn render(body: &str) -> (u64, bool) {
    let (frames, audio, out) = render_to(body);
    let _ = std::fs::remove_file(&out);
    (frames, audio)
}

/// Render `body`; (frames, has audio, the file).
fn render_to(body: &str) -> (u64, bool, PathBuf) {
    let (dir, files) = fixtures();
    let doc = format!("<movie service=\"craftsman-1.0\"><body>{body}</body></movie>");
    let movie = drake_sxml::parse(&doc).unwrap();
    let assets: BTreeMap<String, Asset> = files
        .iter()
        .map(|(k, (_, a))| (k.clone(), a.clone()))
        .collect();
    let lengths = |n: &Node| {
        let a = assets.get(&asset_key(n)?)?;
        (a.duration > 0.0).then_some(a.duration)
    };
    let span = drake_sxml::time::resolve(&movie, &lengths).unwrap();
    let graph = render::compile(&span, CANVAS, &assets, "").unwrap();
    let mut inputs: Vec<&(PathBuf, Asset)> = files.values().collect();
    inputs.sort_by_key(|(_, a)| a.input);
    let out = dir.join(format!("out-{:x}.mkv", hash(&doc)));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    for (path, _) in inputs {
        cmd.arg("-i").arg(path);
    }
    cmd.args(["-filter_complex", &graph.text, "-map", "[vout]"]);
    if graph.audio {
        cmd.args(["-map", "[aout]", "-c:a", "pcm_s16le"]);
    }
    cmd.args(["-c:v", "rawvideo"]).arg(&out);
    let run = cmd.output().unwrap();
    assert!(
        run.status.success(),
        "{}\n--- graph ---\n{}",
        String::from_utf8_lossy(&run.stderr),
        graph.text
    );
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let frames: u64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(frames as i64, graph.frames, "{}", graph.text);
    (frames, graph.audio, out)
}

/// Frame `n` of `path` as raw `pix_fmt` pixels of `bytes` bytes each.
fn raw_frame(path: &Path, n: u32, pix_fmt: &str, bytes: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), 160 * 90 * bytes, "frame {n}");
    out.stdout
}

/// Frame `n` of `path` in grey levels.
fn gray(path: &Path, n: u32) -> Vec<u8> {
    raw_frame(path, n, "gray", 1)
}

/// Mean absolute difference of two grey frames, 0–255.
fn diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

fn hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

const IMG: &str = r#"<image filename="http://x/a.png"/>"#;

#[test]
fn every_effect_type() {
    for ty in drake_sxml::EFFECTS {
        let multi = matches!(*ty, "diving" | "rotator" | "sliding" | "square");
        let (body, frames) = if multi {
            (
                format!(
                    r#"<effect type="{ty}" duration="3">{IMG}{IMG}<video filename="http://x/v.mp4"/></effect>"#
                ),
                30,
            )
        } else {
            (
                format!(r#"<effect type="{ty}" duration="2.5">{IMG}</effect>"#),
                25,
            )
        };
        let (got, _, out) = render_to(&body);
        assert_eq!(got, frames, "{ty}");
        // Every effect but `none` moves (or, multi-image, changes items):
        // its first and last frames differ; `none` stands still.
        let (first, last) = (gray(&out, 0), gray(&out, got as u32 - 1));
        let d = diff(&first, &last);
        if *ty == "none" {
            assert!(d < 1.0, "none moved: {d}");
        } else {
            assert!(d > 3.0, "{ty} stands still: {d}");
        }
        let _ = std::fs::remove_file(out);
    }
}

#[test]
fn every_transition_type() {
    for ty in drake_sxml::TRANSITIONS {
        for dir in ["left", "up"] {
            let body = format!(
                r##"<effect type="none" duration="2"><image color="#d0d0d0"/></effect><transition type="{ty}" direction="{dir}" duration="1"/><effect type="none" duration="2"><image color="#000080"/></effect>"##
            );
            let (got, _, out) = render_to(&body);
            assert_eq!(got, 30, "{ty} {dir}");
            // Halfway through, the frame is neither side: both show.
            let (a, mid, b) = (gray(&out, 8), gray(&out, 15), gray(&out, 22));
            assert!(diff(&a, &b) > 20.0);
            let (da, db) = (diff(&mid, &a), diff(&mid, &b));
            assert!(
                da > 5.0 && db > 5.0,
                "{ty} {dir}: halfway {da} from A, {db} from B"
            );
            let _ = std::fs::remove_file(out);
        }
    }
}

#[test]
fn items_shorter_than_a_frame_vanish_without_breaking_the_count() {
    let (frames, _) = render(&format!(
        r#"<effect type="none" duration="0.01">{IMG}</effect><effect type="kenburns" duration="1">{IMG}</effect>
           <stack duration="1"><effect type="none">{IMG}</effect><overlay duration="0.02">{IMG}</overlay>
           <text type="zone" duration="0.03">x</text></stack>
           <effect type="diving" duration="0.5">{IMG}{IMG}{IMG}{IMG}{IMG}{IMG}{IMG}{IMG}</effect>"#
    ));
    assert_eq!(frames, 25);
}

#[test]
fn nested_sequences_stacks_transitions_and_margins_add_up_to_the_frame() {
    // Stack 2 s; inner sequence 1.5 + 1 − 0.5 = 2 s; outer 2 + 2 − 0.5
    // = 3.5 s; an <audio> straight in <body> plays after it: 4.5 s.
    let (frames, audio) = render(&format!(
        r#"<sequence>
             <stack><effect type="none" duration="2">{IMG}</effect>
               <overlay margin-start="0.5" margin-end="0.5" width="0.5" height="0.5">{IMG}</overlay></stack>
             <transition duration="0.5"/>
             <sequence><effect type="kenburns" duration="1.5">{IMG}</effect>
               <transition type="move" duration="0.5"/>
               <stack duration="1"><text type="zone" margin-both="0.2">x</text></stack></sequence>
           </sequence>
           <audio filename="http://x/m.wav" duration="1"/>"#
    ));
    assert_eq!((frames, audio), (45, true));
}

#[test]
fn masks_and_turns() {
    // sxml.md §14.7: a video masked by an SXML subtree; a turning box.
    let (frames, _) = render(
        r##"<stack duration="3">
            <overlay top="0.1"><video filename="http://x/v.mp4">
              <filter type="mask" opaqueColor="#ffffff" transparentColor="#000000">
                <stack duration="3"><overlay left="0.1" width="0.45" top="0.1" height="0.45">
                  <image color="#ffffff"/><animator type="slide-in" duration="1.0" direction="down"/>
                </overlay></stack>
              </filter></video></overlay>
            <overlay left="0.6" width="0.3" height="0.3"><image filename="http://x/a.png">
              <filter type="mask" opaqueColor="#000000" transparentColor="#ffffff"><image filename="http://x/a.png"/></filter>
              </image><animator type="rot-in" angle="180" duration="1"/><animator type="rot-out" duration="1"/></overlay>
            <overlay left="0.1" width="0.2" height="0.2"><image color="#00ff00"/><animator type="grow" growStart="-1" growEnd="1"/></overlay>
            <overlay left="0.7" width="0.2" height="0.2"><image color="#0000ff"/><animator type="custom"><key time="0" rot="0,0,0,1" scale="0.5,0.5,1" pos="0,0,0"/><key time="2" rot="180,0,0,1" scale="30,30,1" pos="-0.5,0.2,0"/></animator><animator type="custom"><key time="1" orient="0,0,45"/></animator></overlay>
            <text type="legend" fontcolor="#ffff00">Turning<animator type="rot-in" angle="90" duration="1"/><animator type="slide-out" direction="right" duration="0.5"/></text>
            <text type="zone" left="-0.5" width="3" top="0.2" height="0.3">Growing<animator type="grow" growStart="-1" growEnd="0.5"/></text>
            <effect type="kenburns" duration="2"><image filename="http://x/a.png"/><animator type="slide-in" direction="left" duration="1"/><animator type="grow" growStart="-0.5" growEnd="0"/><animator type="rot-out" angle="45" duration="0.5"/></effect>
          </stack>"##,
    );
    assert_eq!(frames, 30);
}

#[test]
fn stacks_text_overlays_and_sound() {
    let (frames, audio) = render(
        r##"<stack duration="4">
            <effect type="kenburns"><video filename="http://x/v.mp4" skip="1" speed="2"/></effect>
            <overlay left="auto" right="auto" height="0.3" margin-start="1" duration="2">
              <image filename="http://x/a.png"><filter type="frame" width="0.1" color="#ffffff"/></image>
              <animator type="slide-in" direction="up" duration="0.5"/>
              <filter type="alpha" alphaStart="0" alphaEnd="1" duration="0.5"/>
            </overlay>
            <text type="zone" align="left,top" fontcolor="#ffff00" backgroundcolor="#00000080">It's: 100% "ok"\ yes</text>
            <text type="legend" direction="left">A legend</text>
            <audio filename="http://x/m.wav" duration=".." fadein="1" fadeout="1" volume="0.5"/>
          </stack>
          <transition type="crossfade" duration="0.5"/>
          <stack><effect type="none"><image color="#0000ff80"/></effect>
            <audio filename="http://x/m.wav" duck-others="0.2"/></stack>"##,
    );
    assert!(audio);
    assert_eq!(frames, 40 + 40 - 5);
}

/// Frame `n` of `path` as RGB.
fn rgb(path: &Path, n: u32) -> Vec<[u8; 3]> {
    let px = raw_frame(path, n, "rgb24", 3);
    px.chunks(3).map(|p| [p[0], p[1], p[2]]).collect()
}

/// The middle frame of a 1 s still `image` (an `<image>` element with its
/// filters) drawn by `<effect type="none">`, as RGB.
fn filtered(image: &str) -> Vec<[u8; 3]> {
    let (frames, _, out) = render_to(&format!(
        r#"<effect type="none" duration="1">{image}</effect>"#
    ));
    let px = rgb(&out, frames as u32 / 2);
    let _ = std::fs::remove_file(out);
    px
}

/// Sum of squared luma steps between horizontal and vertical neighbours:
/// how much fine detail a frame holds, along each axis (squared, since a
/// blurred edge keeps its total rise but spreads it over more steps).
fn detail(px: &[[u8; 3]]) -> (f64, f64) {
    let luma: Vec<f64> = px
        .iter()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let (w, h) = (160, 90);
    let (mut across, mut down) = (0.0, 0.0);
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            across += (luma[y * w + x + 1] - luma[y * w + x]).powi(2);
            down += (luma[(y + 1) * w + x] - luma[y * w + x]).powi(2);
        }
    }
    (across, down)
}

/// A colour within `tol` of `want` on every channel.
fn near(got: [u8; 3], want: [u8; 3], tol: u8) -> bool {
    got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= tol)
}

#[test]
fn tier_b_filters_look_as_documented() {
    let centre = |px: &[[u8; 3]]| px[45 * 160 + 80];
    // Blurs: less detail; one-axis blurs mostly along their axis.
    let sharp = detail(&filtered(IMG));
    let blur = detail(&filtered(
        r#"<image filename="http://x/a.png"><filter type="blur" diameter="12"/></image>"#,
    ));
    assert!(
        blur.0 < sharp.0 * 0.6 && blur.1 < sharp.1 * 0.6,
        "blur {blur:?} vs {sharp:?}"
    );
    // (A blur across also softens the vertical steps of slanted edges,
    // so the other axis keeps most of its detail, not all.)
    for (ty, axis) in [("hblur", 0), ("vblur", 1)] {
        let d = detail(&filtered(&format!(
            r#"<image filename="http://x/a.png"><filter type="{ty}" diameter="12"/></image>"#
        )));
        let ratio = |a: usize| [d.0 / sharp.0, d.1 / sharp.1][a];
        assert!(
            ratio(axis) < 0.5 && ratio(1 - axis) > 0.6,
            "{ty}: {d:?} vs {sharp:?}"
        );
    }

    // Colour maps, on a flat #c08040.
    let base = centre(&filtered(r##"<image color="#c08040"/>"##));
    assert!(near(base, [0xc0, 0x80, 0x40], 8), "{base:?}");
    let bw = centre(&filtered(
        r##"<image color="#c08040"><filter type="colormap"/></image>"##,
    ));
    assert!(
        bw[0].abs_diff(bw[1]) <= 6 && bw[1].abs_diff(bw[2]) <= 6 && bw[1] > 100,
        "black and white: {bw:?}"
    );
    let negative = centre(&filtered(
        r##"<image color="#c08040"><filter type="colormap" preset="negative"/></image>"##,
    ));
    assert!(
        near(negative, [0x3f, 0x7f, 0xbf], 10),
        "negative: {negative:?}"
    );
    let sepia = centre(&filtered(
        r##"<image color="#808080"><filter type="colormap" preset="sepia"/></image>"##,
    ));
    assert!(
        sepia[0] > sepia[1] + 15 && sepia[1] > sepia[2] + 15,
        "sepia: {sepia:?}"
    );
    // rgba-bias-matrix: red and blue swapped; then a red bias.
    let swapped = centre(&filtered(
        r##"<image color="#c08040"><filter type="colormap" rgba-bias-matrix="#0000FF00,#00FF0000,#FF000000,#000000FF,#00000000"/></image>"##,
    ));
    assert!(
        near(swapped, [0x40, 0x80, 0xc0], 10),
        "swapped: {swapped:?}"
    );
    let biased = centre(&filtered(
        r##"<image color="#204060"><filter type="colormap" rgba-bias-matrix="#FF000000,#00FF0000,#0000FF00,#000000FF,#80000000"/></image>"##,
    ));
    assert!(near(biased, [0xa0, 0x40, 0x60], 10), "red bias: {biased:?}");

    // Tint: grey levels from blackColor to whiteColor.
    let tint = |color: &str| {
        centre(&filtered(&format!(
            r##"<image color="{color}"><filter type="tint" blackColor="#000080" whiteColor="#ff0080"/></image>"##
        )))
    };
    let (white, black, grey) = (tint("#ffffff"), tint("#000000"), tint("#808080"));
    assert!(near(white, [0xff, 0x00, 0x80], 10), "white: {white:?}");
    assert!(near(black, [0x00, 0x00, 0x80], 10), "black: {black:?}");
    assert!(near(grey, [0x80, 0x00, 0x80], 12), "grey: {grey:?}");

    // borderBlur: opaque in the middle, fading to the background at the
    // edges.
    let feathered = filtered(
        r##"<image color="#ffffff"><filter type="borderBlur" transWidth="0.2"/></image>"##,
    );
    let (middle, corner, edge) = (centre(&feathered), feathered[0], feathered[45 * 160]);
    assert!(middle[1] > 240, "middle {middle:?}");
    assert!(
        corner[1] < 40 && edge[1] < 60,
        "corner {corner:?}, edge {edge:?}"
    );
    assert!(feathered[45 * 160 + 16][1] > edge[1] + 60, "no ramp");

    // frame: a border of `width` × the picture's width in `color`.
    let framed = filtered(
        r##"<image color="#ffffff"><filter type="frame" width="0.1" color="#ff0000"/></image>"##,
    );
    assert!(
        near(framed[45 * 160 + 4], [0xff, 0, 0], 40),
        "{:?}",
        framed[45 * 160 + 4]
    );
    assert!(near(centre(&framed), [0xff, 0xff, 0xff], 8));
}

#[test]
fn adapters_contain_cover_and_move() {
    // The 4:3 test picture on the 16:9 canvas.
    let strip = |px: &[u8]| -> u8 {
        // Brightest pixel of the 12 leftmost columns.
        (0..90)
            .flat_map(|y| (0..12).map(move |x| y * 160 + x))
            .map(|i| px[i])
            .max()
            .unwrap()
    };
    let ends = |body: &str| {
        let (frames, _, out) = render_to(body);
        let (first, last) = (gray(&out, 0), gray(&out, frames as u32 - 1));
        let _ = std::fs::remove_file(out);
        (first, last)
    };
    let still = |adapter: &str| {
        ends(&format!(
            r#"<effect type="none" duration="2" adapter="{adapter}"><image filename="http://x/a.png"/></effect>"#
        ))
    };
    for (adapter, contained, moves) in [
        ("none", true, false),
        ("fitAdapter", true, false),
        ("fixedAdapter", false, false),
        ("zoomAdapter", false, true),
        ("panoramicAdapter", false, true),
        ("kenburnsAdapter", false, true),
    ] {
        let (first, last) = still(adapter);
        let edge = strip(&first);
        assert_eq!(edge < 20, contained, "{adapter}: left strip up to {edge}");
        let d = diff(&first, &last);
        assert_eq!(d > 3.0, moves, "{adapter}: first to last frame {d}");
    }
    // An adapter filter on the media wins over the effect's attribute.
    let (first, _) = ends(
        r#"<effect type="none" duration="2" adapter="fitAdapter"><image filename="http://x/a.png"><filter type="fixedAdapter"/></image></effect>"#,
    );
    assert!(strip(&first) >= 20);
    // Overlays stretch their media to the box; `fitAdapter` contains it,
    // the box's empty sides showing what is under it (here black).
    let overlay = |filter: &str| {
        ends(&format!(
            r##"<stack duration="1"><effect type="none"><image color="#000000"/></effect>
                 <overlay left="0" top="0" width="1" height="1"><image filename="http://x/a.png">{filter}</image></overlay></stack>"##
        ))
        .0
    };
    assert!(strip(&overlay("")) >= 20, "stretched");
    assert!(
        strip(&overlay(r#"<filter type="fitAdapter"/>"#)) < 20,
        "contained"
    );
}
