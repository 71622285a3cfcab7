//! Random valid timelines (issue 22): a structured generator nests
//! sequences, stacks, effects of every type, transitions of every type,
//! overlays, texts, widgets of every family and audio with skips and
//! durations over media of random lengths — including skips past a
//! clip's end — and each is rendered small (`mobile-small`, 176×144)
//! through ffmpeg. Any failing or stalled graph is a bug: every one must
//! succeed with the length the timeline says. The short form (a dozen
//! timelines) runs in `make test`; `DRAKE_RELIABILITY=long`
//! (tests/reliability.sh) renders 200. The seed is printed; set
//! `DRAKE_PROPERTY_SEED` to replay one.
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use crate::common;

use crate::common::{Drake, Fixtures};
use serde_json::{Value, json};

/// xorshift64*: small, seedable, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
    /// A time in tenths of a second in `[lo, hi]`.
    fn secs(&mut self, lo: f64, hi: f64) -> f64 {
        let steps = ((hi - lo) * 10.0).round() as usize;
        lo + self.below(steps + 1) as f64 / 10.0
    }
}

use drake_sxml::{EFFECTS, TRANSITIONS};
const DIRECTIONS: &[&str] = &["left", "right", "up", "down"];
const PICTURES: &[&str] = &["a.jpg", "tall.png", "wide.jpg", "anim.gif"];
/// Clips of 1, 2.5 and 4 s (with sound), and 3 s of music.
const CLIPS: &[&str] = &["c1.mp4", "c25.mp4", "c4.mp4"];
const WIDGETS: &[&str] = &[
    "director.theme.tiles",
    "slideshow.reflect.simple.index",
    "set.scrapbook.photo.01",
    "set.moviestyle.machete.solo.01",
    "set.transitions.wipe.01",
    "customers9.random.01",
];

struct Gen<'a> {
    rng: Rng,
    base: &'a str,
}

impl Gen<'_> {
    fn media(&mut self) -> String {
        let b = self.base;
        match self.rng.below(4) {
            0 => {
                let clip = self.rng.pick(CLIPS);
                let skip = self.rng.secs(0.0, 5.0);
                let audio = if self.rng.below(2) == 0 {
                    ""
                } else {
                    r#" audio="false""#
                };
                format!(r#"<video filename="{b}{clip}" skip="{skip}"{audio}/>"#)
            }
            1 => format!(r##"<image color="#{:06X}"/>"##, self.rng.next() & 0xFF_FFFF),
            _ => format!(r#"<image filename="{b}{}"/>"#, self.rng.pick(PICTURES)),
        }
    }

    /// An item of a sequence, `d` seconds long (always explicit, so that
    /// the transitions beside it fit).
    fn item(&mut self, depth: usize, d: f64) -> String {
        let choice = if depth >= 3 { 0 } else { self.rng.below(6) };
        match choice {
            0 | 1 => {
                let ty = self.rng.pick(EFFECTS);
                let n = if matches!(ty, "diving" | "rotator" | "sliding" | "square") {
                    1 + self.rng.below(3)
                } else {
                    1
                };
                let media: String = (0..n).map(|_| self.media()).collect();
                format!(r#"<effect type="{ty}" duration="{d}">{media}</effect>"#)
            }
            2 => {
                let mut inner = self.item(depth + 1, d);
                for _ in 0..self.rng.below(3) {
                    inner.push_str(&self.layer(d));
                }
                format!(r#"<stack duration="{d}">{inner}</stack>"#)
            }
            3 => format!(r#"<sequence>{}</sequence>"#, self.sequence(depth + 1, d)),
            4 => {
                let ty = self.rng.pick(WIDGETS);
                let n = 1 + self.rng.below(3);
                let each = (d / n as f64).max(1.0);
                let mut inner = String::new();
                for i in 0..n {
                    inner.push_str(&format!(
                        r#"<image filename="{}{}" duration="{each:.1}"/>"#,
                        self.base,
                        PICTURES[i % PICTURES.len()]
                    ));
                }
                if self.rng.below(2) == 0 {
                    inner.push_str("<text>Slot</text>");
                }
                format!(r#"<widget type="{ty}" duration="{d}">{inner}</widget>"#)
            }
            _ => {
                let mut s = format!(
                    r#"<stack duration="{d}"><effect type="none"><image filename="{}a.jpg"/></effect>"#,
                    self.base
                );
                s.push_str(&self.layer(d));
                s.push_str("</stack>");
                s
            }
        }
    }

    /// Something drawn or heard over a stack of `d` seconds.
    fn layer(&mut self, d: f64) -> String {
        let b = self.base;
        match self.rng.below(3) {
            0 => {
                let start = self.rng.secs(0.0, d / 2.0);
                let skip = self.rng.secs(0.0, 4.0);
                format!(
                    r#"<audio filename="{b}music.mp3" margin-start="{start}" skip="{skip}" fadein="0.3"/>"#
                )
            }
            1 => {
                let (l, t) = (self.rng.secs(0.0, 0.6), self.rng.secs(0.0, 0.6));
                let anim = if self.rng.below(2) == 0 {
                    format!(
                        r#"<animator type="slide-in" direction="{}" duration="0.5"/>"#,
                        self.rng.pick(DIRECTIONS)
                    )
                } else {
                    String::new()
                };
                format!(
                    r#"<overlay left="{l}" top="{t}" width="0.3" height="0.3">{}{anim}</overlay>"#,
                    self.media()
                )
            }
            _ => format!(
                r#"<text type="{}" fontsize="{}">Random &amp; text</text>"#,
                self.rng.pick(&["zone", "legend"]),
                10 + self.rng.below(40)
            ),
        }
    }

    /// Items one after another, joined by random transitions, lasting
    /// about `d` seconds; the items' explicit lengths keep every
    /// transition shorter than its neighbours.
    fn sequence(&mut self, depth: usize, d: f64) -> String {
        let n = 1 + self.rng.below(3);
        let each = (d / n as f64).max(1.0);
        let mut out = String::new();
        for i in 0..n {
            if i > 0 {
                let t = self.rng.pick(TRANSITIONS);
                let dir = self.rng.pick(DIRECTIONS);
                let len = self.rng.secs(0.2, 0.8);
                out.push_str(&format!(
                    r#"<transition type="{t}" direction="{dir}" duration="{len}"/>"#
                ));
            }
            out.push_str(&self.item(depth, (each * 10.0).round() / 10.0));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_timelines_render_without_failing_or_stalling() {
    let fx = Fixtures::start().await;
    let drake = Drake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let make = |name: &str, ct: &str, args: &[&str]| {
        fx.add(name, ct, common::ffmpeg_make(d, name, args));
    };
    for (name, src) in [
        ("a.jpg", "testsrc2=s=320x240"),
        ("wide.jpg", "smptebars=s=640x200"),
    ] {
        make(
            name,
            "image/jpeg",
            &["-f", "lavfi", "-i", src, "-frames:v", "1"],
        );
    }
    make(
        "tall.png",
        "image/png",
        &[
            "-f",
            "lavfi",
            "-i",
            "rgbtestsrc=s=120x300",
            "-frames:v",
            "1",
        ],
    );
    make(
        "anim.gif",
        "image/gif",
        &["-f", "lavfi", "-i", "testsrc=s=96x64:r=5:d=1", "-f", "gif"],
    );
    for (name, secs) in [("c1.mp4", "1"), ("c25.mp4", "2.5"), ("c4.mp4", "4")] {
        fx.add(
            name,
            "video/mp4",
            common::test_clip(d, name, "160x120", secs, common::H264_AAC_MP4),
        );
    }
    fx.add(
        "music.mp3",
        "audio/mpeg",
        common::tone_mp3(d, "music.mp3", 300, 3),
    );
    let seed = std::env::var("DRAKE_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |t| t.as_nanos() as u64)
                | 1
        });
    eprintln!("sxml property: seed {seed} (DRAKE_PROPERTY_SEED={seed} replays it)");
    let cases = if common::long_form() { 200 } else { 12 };
    let base = fx.url("/f/");
    let mut g = Gen {
        rng: Rng(seed),
        base: &base,
    };
    let docs: Vec<(String, f64)> = (0..cases)
        .map(|_| {
            let d = g.rng.secs(1.0, 6.0);
            let body = g.sequence(0, d);
            (
                format!(r#"<movie service="craftsman-1.0"><body>{body}</body></movie>"#),
                d,
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for batch in docs.chunks(12) {
        let tasks: Vec<Value> = batch
            .iter()
            .map(|(doc, _)| {
                json!({"task_name": "video.create", "definition": doc, "preview": false, "profile": "mobile-small"})
            })
            .collect();
        let created = drake.create(Value::Array(tasks), false).await;
        for ((doc, _), s) in batch.iter().zip(&created) {
            let Some(key) = s["key"].as_str() else {
                wrong.push(format!("not created: {s}\n{doc}"));
                continue;
            };
            let s = drake.wait(key).await;
            let ok = s["status"] == "success"
                && s["result"]["duration"].as_f64().is_some_and(|d| d > 0.0);
            if !ok {
                wrong.push(format!("{s}\n{doc}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "seed {seed}: {} of {cases} timelines failed:\n{}",
        wrong.len(),
        wrong.join("\n\n")
    );
}
