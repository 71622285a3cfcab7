//! From resolved spans to one ffmpeg filter graph.
//!
//! Every visual node compiles to a stream of its own frames (pts from 0,
//! the canvas rate): sequences fold their items with `concat`, or `xfade`
//! where a transition overlaps two items; stacks draw their children in
//! document order with `overlay` (media and boxes) and `drawtext` (text);
//! effects turn one picture into motion (`zoompan`, `crop`, `rotate`).
//! Audio is collected as clips with absolute times and mixed once.
//! Looks are described in `docs/sxml-rendering.md`.
//!
//! Frame counts come from absolute times (`frames(end) - frames(start)`),
//! so nested items add up to the frame and the movie lasts exactly
//! `frames(duration)` frames.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use drake_sxml::time::Span;
use drake_sxml::{Kind, Node};

use crate::look::{self, Fit, Motion};
use crate::profile::Canvas;
use crate::text;
use crate::widget::{self, Family};

/// A fetched media file, as the graph uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Its `-i` index in the job.
    pub input: usize,
    /// Picture size as displayed (0 without video).
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Seconds (0 for a still image).
    pub duration: f64,
    /// Has a picture.
    pub video: bool,
    /// Has sound.
    pub audio: bool,
    /// A single picture (PNG, JPEG, GIF).
    pub still: bool,
    /// The picture has an alpha channel.
    pub alpha: bool,
}

impl Asset {
    /// A still picture of `size`, ffmpeg input `input`.
    pub fn still(input: usize, (width, height): (u32, u32), alpha: bool) -> Asset {
        Asset {
            input,
            width,
            height,
            duration: 0.0,
            video: true,
            audio: false,
            still: true,
            alpha,
        }
    }
}

/// The key of a node's asset: its `filename`, its speech, or what its map
/// shows.
pub fn asset_key(node: &Node) -> Option<String> {
    match node.kind {
        // A map: what it shows (map.rs draws it).
        Kind::Image if node.attr("type") == Some("map") => {
            let a = |k: &str| node.attr(k).unwrap_or("").trim();
            Some(format!(
                "map:{}|{}|{}|{}|{}",
                a("center"),
                a("zoom"),
                a("size"),
                a("markers"),
                a("maptype")
            ))
        }
        Kind::Audio if node.attr("voice").is_some() => Some(format!(
            "voice:{}:{}",
            node.attr("voice").unwrap_or(""),
            node.text
        )),
        Kind::Image | Kind::Video | Kind::Audio => node.attr("filename").map(str::to_owned),
        _ => None,
    }
}

/// The compiled graph.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The `-filter_complex` text.
    pub text: String,
    /// Output frames.
    pub frames: i64,
    /// The graph has an `[aout]` (some node makes sound).
    pub audio: bool,
}

/// Compile `body` for `canvas`; `post` is appended to the picture chain
/// (the profile's final scale). Errors name the node.
pub fn compile(
    body: &Span<'_>,
    canvas: Canvas,
    assets: &BTreeMap<String, Asset>,
    post: &str,
) -> Result<Graph, String> {
    compile_with(body, canvas, assets, post, &Sounds::new())
}

/// Where the ducking clips have sound: `(line, column)` of the `<audio>`
/// → intervals in seconds from the clip's start (measured by the task;
/// a ducking clip missing here counts as sounding throughout).
pub type Sounds = BTreeMap<(u32, u32), Vec<(f64, f64)>>;

/// [`compile`] with the measured sound of the ducking clips.
pub fn compile_with(
    body: &Span<'_>,
    canvas: Canvas,
    assets: &BTreeMap<String, Asset>,
    post: &str,
    sounds: &Sounds,
) -> Result<Graph, String> {
    let mut b = Builder {
        c: canvas,
        assets,
        sounds,
        chains: Vec::new(),
        n: 0,
        video_uses: BTreeMap::new(),
        audio_uses: BTreeMap::new(),
        clips: Vec::new(),
        windows: Vec::new(),
    };
    let frames = b.frames(body).max(1);
    let layer = b.visual(body, body.start)?;
    let movie = layer.map(|layer| b.full(layer, body));
    // An opaque movie is the picture; one with transparency (or none at
    // all) is drawn on black.
    let picture = match movie {
        Some((label, false)) => label,
        movie => {
            let bg = b.label();
            b.push(format!(
                "color=c=black:s={}x{}:r={},trim=end_frame={frames},{}[{bg}]",
                canvas.width,
                canvas.height,
                canvas.rate.text(),
                b.norm()
            ));
            match movie {
                Some((label, _)) => {
                    let out = b.label();
                    b.push(format!(
                        "[{bg}][{label}]overlay=eof_action=pass:format=auto[{out}]"
                    ));
                    out
                }
                None => bg,
            }
        }
    };
    let post = if post.is_empty() {
        String::new()
    } else {
        format!(",{post}")
    };
    b.push(format!("[{picture}]format=yuv420p{post}[vout]"));
    let audio = b.mix(canvas.rate.seconds(frames));
    b.splits();
    Ok(Graph {
        text: b.chains.join(";\n"),
        frames,
        audio,
    })
}

/// Seconds before a clip's end that surely hold a frame: more than one
/// frame at any rate a camera records.
const LAST_FRAME_WINDOW: f64 = 0.5;

/// For a `skip` at or past the end of a clip of `duration` seconds (the
/// picture's own, probed; 0 when unknown), where its last frame is
/// looked for: from [`LAST_FRAME_WINDOW`] before the end. `None` while
/// the skip leaves frames to play.
fn last_frame_window(skip: f64, duration: f64) -> Option<f64> {
    // A skip within the last frame's length leaves nothing to decode.
    const FRAME_SLACK: f64 = 0.1;
    (duration > 0.0 && skip > duration - FRAME_SLACK)
        .then(|| (duration - LAST_FRAME_WINDOW).max(0.0))
}

/// One sound: a file or speech placed on the timeline.
#[derive(Debug, Clone)]
struct Clip {
    input: usize,
    /// Seconds skipped at the start of the file.
    skip: f64,
    speed: f64,
    /// Absolute start and length on the timeline.
    start: f64,
    duration: f64,
    volume: f64,
    fade_in: f64,
    fade_out: f64,
    /// Transition windows (absolute) to fade in over / out over.
    windows: Vec<(f64, f64, bool)>,
    /// `duck-others`: this clip lowers the others while it sounds.
    duck: Option<Duck>,
}

/// A ducking clip's effect on the others (§8.3).
#[derive(Debug, Clone)]
struct Duck {
    /// The others' level while this one sounds.
    level: f64,
    margin: f64,
    fade: f64,
    /// Absolute intervals with sound.
    sound: Vec<(f64, f64)>,
}

/// A sequence item ready to join: its stream, frames, and the
/// transition (`xfade` options, overlap frames) joining it to the one
/// before.
struct Item {
    label: String,
    frames: i64,
    join: Option<(String, i64)>,
}

/// A compiled visual node.
enum Layer {
    /// Full frame, exactly the span's frames; `alpha`: has transparency.
    Full(String, bool),
    /// A box of its own size at overlay positions (container time `t`).
    Placed { label: String, x: String, y: String },
    /// `drawtext` filters for the container's chain.
    Text(Vec<String>),
}

struct Builder<'a> {
    c: Canvas,
    assets: &'a BTreeMap<String, Asset>,
    sounds: &'a Sounds,
    chains: Vec<String>,
    n: usize,
    /// Input → labels its picture feeds (split at the end).
    video_uses: BTreeMap<usize, Vec<String>>,
    audio_uses: BTreeMap<usize, Vec<String>>,
    clips: Vec<Clip>,
    /// Transition windows of the sequence items being compiled.
    windows: Vec<(f64, f64, bool)>,
}

impl Builder<'_> {
    fn label(&mut self) -> String {
        self.n += 1;
        format!("s{}", self.n)
    }

    fn push(&mut self, chain: String) {
        self.chains.push(chain);
    }

    fn frames(&self, span: &Span<'_>) -> i64 {
        let r = self.c.rate;
        (r.frames(span.end()) - r.frames(span.start)).max(0)
    }

    /// Timestamps renumbered frame by frame at the canvas rate, square
    /// pixels (what `xfade`, `concat` and `overlay` need to line streams
    /// up: a JPEG's JFIF density or a clip's SAR must not reach a join).
    fn norm(&self) -> String {
        let r = self.c.rate.text();
        format!("setpts=N/({r})/TB,fps={r},setsar=1")
    }

    /// A fresh label fed by input `input`'s picture.
    fn picture_of(&mut self, input: usize) -> String {
        let l = self.label();
        self.video_uses.entry(input).or_default().push(l.clone());
        l
    }

    fn sound_of(&mut self, input: usize) -> String {
        let l = self.label();
        self.audio_uses.entry(input).or_default().push(l.clone());
        l
    }

    fn asset(&self, node: &Node) -> Result<&Asset, String> {
        asset_key(node)
            .and_then(|k| self.assets.get(&k))
            .ok_or_else(|| format!("{}: its media is missing", node.place()))
    }

    /// A transparent full frame of `frames`.
    fn canvas(&mut self, frames: i64) -> String {
        self.solid("black@0", "yuva420p", frames)
    }

    /// A full frame of one colour (ffmpeg's syntax) in `format`.
    fn solid(&mut self, color: &str, format: &str, frames: i64) -> String {
        let l = self.label();
        self.push(format!(
            "color=c={color}:s={}x{}:r={},format={format},trim=end_frame={frames},{}[{l}]",
            self.c.width,
            self.c.height,
            self.c.rate.text(),
            self.norm()
        ));
        l
    }

    /// Any layer as a full frame of `span`'s frames.
    fn full(&mut self, layer: Layer, span: &Span<'_>) -> (String, bool) {
        match layer {
            Layer::Full(l, alpha) => (l, alpha),
            other => {
                let frames = self.frames(span);
                let base = self.canvas(frames);
                (self.draw(base, other, 0), true)
            }
        }
    }

    /// Draw `layer` on `base` from frame `offset` on; the new label.
    fn draw(&mut self, base: String, layer: Layer, offset: i64) -> String {
        let out = self.label();
        match layer {
            Layer::Full(l, _) => {
                let shifted = self.shift(l, offset);
                self.push(format!(
                    "[{base}][{shifted}]overlay=eof_action=pass:format=auto[{out}]"
                ));
            }
            Layer::Placed { label, x, y } => {
                let shifted = self.shift(label, offset);
                self.push(format!(
                    "[{base}][{shifted}]overlay=x='{x}':y='{y}':eof_action=pass:format=auto[{out}]"
                ));
            }
            Layer::Text(filters) => {
                if filters.is_empty() {
                    self.push(format!("[{base}]null[{out}]"));
                } else {
                    self.push(format!("[{base}]{}[{out}]", filters.join(",")));
                }
            }
        }
        out
    }

    fn shift(&mut self, label: String, offset: i64) -> String {
        if offset == 0 {
            return label;
        }
        let out = self.label();
        self.push(format!("[{label}]setpts=PTS+{offset}[{out}]"));
        out
    }

    /// Compile a node that plays in time. `origin`: the absolute start of
    /// the container whose clock (`t`) positions are written in.
    fn visual(&mut self, span: &Span<'_>, origin: f64) -> Result<Option<Layer>, String> {
        // Shorter than half a frame: nothing to see (its sound still plays).
        if self.frames(span) == 0 && span.node.kind != Kind::Audio {
            return Ok(None);
        }
        let layer = match span.node.kind {
            Kind::Body | Kind::Sequence => Some(self.sequence(span)?),
            Kind::Stack => Some(self.stack(span)?),
            Kind::Effect => {
                let layer = self.effect(span)?;
                match layer {
                    // Animators move the whole picture (§10).
                    Layer::Full(label, _)
                        if span.children.iter().any(|c| c.node.kind == Kind::Animator) =>
                    {
                        let frame = look::Rect {
                            x: 0.0,
                            y: 0.0,
                            w: self.c.width,
                            h: self.c.height,
                        };
                        let alpha = self.label();
                        self.push(format!("[{label}]format=yuva420p[{alpha}]"));
                        Some(self.placed(span, origin, alpha, frame))
                    }
                    layer => Some(layer),
                }
            }
            Kind::Overlay => self.overlay(span, origin)?,
            Kind::Text => Some(self.text(span, origin)?),
            Kind::Widget => Some(self.theme(span)?),
            Kind::Audio => {
                self.audio(span)?;
                None
            }
            _ => None,
        };
        Ok(layer)
    }

    /// A `<text>`: `drawtext` on its container, or — turning or growing
    /// (which `drawtext` cannot) — drawn into its own box, then placed
    /// like an overlay.
    fn text(&mut self, span: &Span<'_>, origin: f64) -> Result<Layer, String> {
        // An empty text takes its time and draws nothing.
        if span.node.text.is_empty() {
            return Ok(Layer::Text(Vec::new()));
        }
        let turns = span.children.iter().any(|a| {
            a.node.kind == Kind::Animator && matches!(a.node.ty(), "rot-in" | "rot-out" | "grow")
        });
        if !turns {
            return Ok(Layer::Text(text::drawtext(span, origin, self.c)?));
        }
        let (filters, zone) = text::drawtext_still(span, self.c)?;
        let canvas = self.canvas(self.frames(span));
        let drawn = self.draw(canvas, Layer::Text(filters), 0);
        // The part of the zone inside the frame.
        let (cw, ch) = (self.c.width, self.c.height);
        let x = zone.x.clamp(0.0, f64::from(cw - 2)).round();
        let y = zone.y.clamp(0.0, f64::from(ch - 2)).round();
        let rect = look::Rect {
            x,
            y,
            w: zone.w.min(cw - x as u32).max(2) & !1,
            h: zone.h.min(ch - y as u32).max(2) & !1,
        };
        let cut = self.label();
        self.push(format!(
            "[{drawn}]crop={}:{}:{x}:{y}[{cut}]",
            rect.w, rect.h
        ));
        Ok(self.placed(span, origin, cut, rect))
    }

    /// Children together, later ones on top (§2).
    fn stack(&mut self, span: &Span<'_>) -> Result<Layer, String> {
        let frames = self.frames(span);
        let mut base: Option<(String, bool)> = None;
        let r = self.c.rate;
        for child in &span.children {
            let Some(layer) = self.visual(child, span.start)? else {
                continue;
            };
            let offset = r.frames(child.start) - r.frames(span.start);
            let b = match (base.take(), layer) {
                (None, Layer::Full(l, false)) if offset == 0 && self.frames(child) == frames => {
                    (l, false)
                }
                (current, layer) => {
                    let (b, alpha) = match current {
                        Some(b) => b,
                        None => (self.canvas(frames), true),
                    };
                    (self.draw(b, layer, offset), alpha)
                }
            };
            base = Some(b);
        }
        let (label, alpha) = match base {
            Some(b) => b,
            None => (self.canvas(frames), true),
        };
        let (label, alpha) =
            self.node_filters(span, label, alpha, (self.c.width, self.c.height))?;
        Ok(Layer::Full(label, alpha))
    }

    /// Items back to back; a transition overlaps its neighbours (§3.2).
    fn sequence(&mut self, span: &Span<'_>) -> Result<Layer, String> {
        let frames = self.frames(span);
        let children = &span.children;
        let mut parts: Vec<(String, bool, i64, Option<&Node>)> = Vec::new();
        for (i, child) in children.iter().enumerate() {
            if !child.node.kind.is_atom() || self.frames(child) == 0 {
                continue;
            }
            // The transitions before and after this item, for its sound.
            let before = children[..i]
                .iter()
                .rev()
                .take_while(|c| !c.node.kind.is_atom())
                .find(|c| c.node.kind == Kind::Transition);
            let after = children[i + 1..]
                .iter()
                .take_while(|c| !c.node.kind.is_atom())
                .find(|c| c.node.kind == Kind::Transition);
            let pushed = self.windows.len();
            if let Some(t) = before {
                self.windows.push((t.start, t.end(), true));
            }
            if let Some(t) = after {
                self.windows.push((t.start, t.end(), false));
            }
            let layer = self.visual(child, child.start)?;
            self.windows.truncate(pushed);
            let (label, alpha) = match layer {
                Some(layer) => self.full(layer, child),
                None => (self.canvas(self.frames(child)), true),
            };
            parts.push((label, alpha, self.frames(child), before.map(|t| t.node)));
        }
        let r = self.c.rate;
        // Overlaps in frames, from the items' absolute times.
        let atoms: Vec<&Span<'_>> = children
            .iter()
            .filter(|c| c.node.kind.is_atom() && self.frames(c) > 0)
            .collect();
        let overlaps: Vec<i64> = atoms
            .windows(2)
            .map(|w| (r.frames(w[0].end()) - r.frames(w[1].start)).max(0))
            .collect();
        let alpha = parts.iter().any(|p| p.1);
        let mut items = Vec::new();
        for (i, (label, _, f, transition)) in parts.into_iter().enumerate() {
            let label = if alpha {
                let l = self.label();
                self.push(format!("[{label}]format=yuva420p[{l}]"));
                l
            } else {
                label
            };
            // The join with the previous item: a transition's overlap.
            let overlap = if i > 0 { overlaps[i - 1] } else { 0 };
            let join = transition
                .filter(|_| overlap > 0)
                .map(|t| (look::xfade(t), overlap));
            items.push(Item {
                label,
                frames: f,
                join,
            });
        }
        let acc = self
            .cut_and_join(&items, alpha)
            .or_else(|| self.chain(items, alpha));
        let (label, got) = match acc {
            Some(a) => a,
            None => (self.canvas(frames), frames),
        };
        let label = self.fit_frames(label, got, frames);
        let (label, alpha) =
            self.node_filters(span, label, alpha, (self.c.width, self.c.height))?;
        Ok(Layer::Full(label, alpha))
    }

    /// Items (label, frames, the join with the previous one) one after
    /// another: each transition's `xfade` sees only the frames it blends
    /// — the items are cut into head, middle and tail and the pieces
    /// concatenated — so the rest of the frames pass untouched (an
    /// `xfade` converts every frame it sees to 4:4:4). `None` when
    /// transitions on both sides of an item overlap each other.
    fn cut_and_join(&mut self, items: &[Item], alpha: bool) -> Option<(String, i64)> {
        if items.iter().all(|i| i.join.is_none()) || items.is_empty() {
            return None;
        }
        let head = |i: usize| items[i].join.as_ref().map_or(0, |j| j.1);
        let tail = |i: usize| {
            items
                .get(i + 1)
                .and_then(|n| n.join.as_ref())
                .map_or(0, |j| j.1)
        };
        if (0..items.len()).any(|i| head(i) + tail(i) > items[i].frames) {
            return None;
        }
        let mut pieces = Vec::new();
        let mut total = 0;
        let mut pending_tail: Option<String> = None;
        for (
            i,
            Item {
                label,
                frames: f,
                join,
            },
        ) in items.iter().enumerate()
        {
            let (h, t) = (head(i), tail(i));
            let cuts: Vec<(&str, i64, i64)> = [("h", 0, h), ("m", h, f - t), ("t", f - t, *f)]
                .into_iter()
                .filter(|(_, a, b)| b > a)
                .collect();
            let outs: Vec<String> = cuts.iter().map(|_| self.label()).collect();
            let mut chain = format!("[{label}]split={}", cuts.len());
            for o in &outs {
                let _ = write!(chain, "[{o}x]");
            }
            for ((_, a, b), o) in cuts.iter().zip(&outs) {
                let _ = write!(
                    chain,
                    ";[{o}x]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS,setsar=1[{o}]"
                );
            }
            self.push(chain);
            for ((part, a, b), o) in cuts.iter().zip(outs) {
                match *part {
                    "h" => {
                        // The previous tail and this head, blended.
                        let (kind, overlap) = join.clone()?;
                        let prev = pending_tail.take()?;
                        let x = self.blend(&prev, &o, overlap, &kind, alpha);
                        pieces.push(x);
                        total += b - a;
                    }
                    "t" => pending_tail = Some(o),
                    _ => {
                        pieces.push(o);
                        total += b - a;
                    }
                }
            }
        }
        if pending_tail.is_some() {
            return None;
        }
        let out = self.label();
        let ins: String = pieces.iter().map(|p| format!("[{p}]")).collect();
        self.push(format!(
            "{ins}concat=n={}:v=1:a=0,{}[{out}]",
            pieces.len(),
            self.norm()
        ));
        Some((out, total))
    }

    /// Items one after another, each joined to the running result
    /// (transitions may overlap each other).
    fn chain(&mut self, items: Vec<Item>, alpha: bool) -> Option<(String, i64)> {
        let mut acc: Option<(String, i64)> = None;
        for Item {
            label,
            frames: f,
            join,
        } in items
        {
            acc = Some(match acc {
                None => (label, f),
                Some((prev, pf)) => {
                    let overlap = join.as_ref().map_or(0, |j| j.1);
                    let out = self.join(
                        &prev,
                        &label,
                        (pf, overlap),
                        join.as_ref().map(|j| j.0.as_str()),
                        alpha,
                    );
                    (out, pf + f - overlap)
                }
            });
        }
        acc
    }

    /// `next` after `prev` (of `prev_frames`): overlapping by `overlap`
    /// frames through `kind` (xfade's options, or a wipe of
    /// [`look::Wipe`]), or back to back.
    fn join(
        &mut self,
        prev: &str,
        next: &str,
        (prev_frames, overlap): (i64, i64),
        kind: Option<&str>,
        alpha: bool,
    ) -> String {
        let out = self.label();
        let r = self.c.rate;
        // Square pixels on both sides, whatever filters made them.
        self.push(format!("[{prev}]setsar=1[{out}p];[{next}]setsar=1[{out}n]"));
        let (prev, next) = (format!("{out}p"), format!("{out}n"));
        match kind {
            Some(kind) if overlap > 0 && look::drawn_by_blend(kind) => {
                // Cut both at the overlap, blend it, put the pieces back.
                let body = prev_frames - overlap;
                let (tail, parts) = if body > 0 {
                    self.push(format!(
                        "[{prev}]split[{out}a][{out}b];[{out}a]trim=end_frame={body}[{out}pb];[{out}b]trim=start_frame={body},setpts=PTS-STARTPTS[{out}pt]"
                    ));
                    (format!("{out}pt"), format!("[{out}pb]"))
                } else {
                    (prev, String::new())
                };
                self.push(format!(
                    "[{next}]split[{out}c][{out}d];[{out}c]trim=end_frame={overlap}[{out}nh];[{out}d]trim=start_frame={overlap},setpts=PTS-STARTPTS[{out}nr]"
                ));
                let blended = self.blend(&tail, &format!("{out}nh"), overlap, kind, alpha);
                let n = if body > 0 { 3 } else { 2 };
                let parts = format!("{parts}[{blended}][{out}nr]concat=n={n}");
                self.push(format!("{parts}:v=1:a=0,{}[{out}]", self.norm()));
            }
            Some(kind) if overlap > 0 => self.push(format!(
                "[{prev}][{next}]xfade={kind}:duration={:.6}:offset={:.6},{}[{out}]",
                r.seconds(overlap),
                r.seconds(prev_frames - overlap),
                self.norm()
            )),
            _ => self.push(format!(
                "[{prev}][{next}]concat=n=2:v=1:a=0,{}[{out}]",
                self.norm()
            )),
        }
        out
    }

    /// `a` into `b`, both `n` frames, through `kind`: xfade's options, or
    /// a wipe ([`look::Wipe`]) drawn with filters that cost a table
    /// lookup per pixel: the wipe's switch-time map is computed once and
    /// repeated, each frame's mask is that map against the frame's
    /// progress (`lut2`), and `maskedmerge` mixes the two pictures.
    fn blend(&mut self, a: &str, b: &str, n: i64, kind: &str, alpha: bool) -> String {
        let out = self.label();
        let r = self.c.rate;
        let fmt = if alpha { "yuva420p" } else { "yuv420p" };
        if let Some(m) = look::Move::parse(kind) {
            let (w, h, rate) = (self.c.width, self.c.height, r.text());
            let ((ax, ay), (bx, by)) = (m.position(false, n), m.position(true, n));
            let (under, over, (ux, uy), (ox, oy)) = if m.b_on_top {
                (a, b, (ax, ay), (bx, by))
            } else {
                (b, a, (bx, by), (ax, ay))
            };
            // The side below moves too: drawn on black first.
            let base = if (ux.as_str(), uy.as_str()) == ("0", "0") {
                format!("[{under}]format={fmt}[{out}u]")
            } else {
                format!(
                    "color=c=black:s={w}x{h}:r={rate},format={fmt},trim=end_frame={n},setpts=N/({rate})/TB[{out}k];[{out}k][{under}]overlay=x='{ux}':y='{uy}':format=auto[{out}u]"
                )
            };
            self.push(format!(
                "{base};[{out}u][{over}]overlay=x='{ox}':y='{oy}':format=auto,format={fmt},trim=end_frame={n},{}[{out}]",
                self.norm()
            ));
            return out;
        }
        if let Some([(sa, pa), (sb, pb)]) = look::cube(kind, n) {
            // Each side scaled to its part frame by frame, placed on
            // transparency, the next over the previous.
            let (w, h) = (self.c.width, self.c.height);
            self.push(format!(
                "[{a}]scale={sa}:eval=frame,format=yuva420p,pad={w}:{h}:{pa}:color=black@0:eval=frame,setsar=1[{out}a];\
                 [{b}]scale={sb}:eval=frame,format=yuva420p,pad={w}:{h}:{pb}:color=black@0:eval=frame,setsar=1[{out}b];\
                 [{out}a][{out}b]overlay=format=auto,format={fmt},trim=end_frame={n},{}[{out}]",
                self.norm()
            ));
            return out;
        }
        let Some(wipe) = look::Wipe::parse(kind) else {
            self.push(format!(
                "[{a}][{b}]xfade={kind}:duration={:.6}:offset=0,{}[{out}]",
                r.seconds(n),
                self.norm()
            ));
            return out;
        };
        let (w, h, rate) = (self.c.width, self.c.height, r.text());
        let map = &wipe.map;
        let with_alpha = |e: &str| {
            if alpha {
                format!("lum='{e}':a='{e}'")
            } else {
                format!("lum='{e}'")
            }
        };
        // Pixels switch from A to B as the progress passes their time,
        // over `soft` of the transition.
        let step = format!("clip((y-x)/{:.4},0,255)", wipe.soft);
        self.push(format!(
            "color=c=black:s={w}x{h}:r={rate},format={fmt},trim=end_frame=1,geq={},loop=loop={}:size=1:start=0,setpts=N/({rate})/TB[{out}m];\
             color=c=black:s=2x2:r={rate},format={fmt},trim=end_frame={n},geq={},scale={w}:{h}:flags=neighbor,setpts=N/({rate})/TB[{out}p];\
             [{out}m][{out}p]lut2=c0='{step}':c1='{step}':c2='{step}':c3='{step}'[{out}k];\
             [{a}]format={fmt}[{out}a];[{b}]format={fmt}[{out}b];\
             [{out}a][{out}b][{out}k]maskedmerge,trim=end_frame={n},{}[{out}]",
            with_alpha(&format!("255*({map})")),
            (n - 1).max(0),
            with_alpha(&format!("255*N/{n}")),
            self.norm()
        ));
        out
    }

    /// Pad (repeating the last frame) or cut to exactly `want` frames.
    fn fit_frames(&mut self, label: String, got: i64, want: i64) -> String {
        if got == want {
            return label;
        }
        let out = self.label();
        if got < want {
            self.push(format!(
                "[{label}]tpad=stop={}:stop_mode=clone,trim=end_frame={want}[{out}]",
                want - got
            ));
        } else {
            self.push(format!("[{label}]trim=end_frame={want}[{out}]"));
        }
        out
    }

    /// A presenter of its media (§4).
    fn effect(&mut self, span: &Span<'_>) -> Result<Layer, String> {
        let (w, h) = (self.c.width, self.c.height);
        let frames = self.frames(span);
        let ty = span.node.ty();
        let media: Vec<&Span<'_>> = span
            .children
            .iter()
            .filter(|c| matches!(c.node.kind, Kind::Image | Kind::Video) && self.frames(c) > 0)
            .collect();
        let multi = matches!(ty, "diving" | "rotator" | "sliding" | "square");
        let (mut label, mut alpha) = if media.is_empty() {
            (self.canvas(frames), true)
        } else if !multi {
            let m = media[0];
            let motion = look::effect_motion(span.node, m.node);
            self.picture(m, w, h, frames, &motion)?
        } else {
            self.shared(span, &media)?
        };
        // Intros from transparency: the picture grows in (rectangles), or
        // an xfade (slice).
        if let Some(intro) = look::effect_intro(ty) {
            let n = (frames / 4).clamp(1, self.c.rate.frames(1.0).max(1));
            if frames > n && intro == look::GROW {
                // Frame k of the first n: the picture at k/n of its size,
                // centred on transparency (a scale per frame, not an
                // expression per pixel).
                let (w, h) = (self.c.width, self.c.height);
                let out = self.label();
                self.push(format!(
                    "[{label}]format=yuva420p,split[{out}a][{out}b];\
                     [{out}a]trim=end_frame={n},scale=w='max(2,trunc(iw*n/{n}/2)*2)':h='max(2,trunc(ih*n/{n}/2)*2)':eval=frame,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black@0:eval=frame,setsar=1,format=yuva420p[{out}g];\
                     [{out}b]trim=start_frame={n},setpts=PTS-STARTPTS[{out}r];\
                     [{out}g][{out}r]concat=n=2:v=1:a=0,{}[{out}]",
                    self.norm()
                ));
                label = out;
                alpha = true;
            } else if frames > n {
                let clear = self.canvas(frames);
                let from = self.label();
                self.push(format!("[{label}]format=yuva420p[{from}]"));
                let out = self.label();
                // Starts on clear for one frame, the picture grows in.
                self.push(format!(
                    "[{clear}]trim=end_frame={},{}[{clear}c];[{clear}c][{from}]xfade={intro}:duration={:.6}:offset={:.6},trim=end_frame={frames},{}[{out}]",
                    n + 1,
                    self.norm(),
                    self.c.rate.seconds(n),
                    self.c.rate.seconds(1),
                    self.norm()
                ));
                label = out;
                alpha = true;
            }
        }
        // Other atoms inside an effect are drawn on top, like a stack.
        for child in &span.children {
            if matches!(child.node.kind, Kind::Image | Kind::Video) {
                continue;
            }
            if let Some(layer) = self.visual(child, span.start)? {
                let offset = self.c.rate.frames(child.start) - self.c.rate.frames(span.start);
                label = self.draw(label, layer, offset);
            }
        }
        let (label, alpha) =
            self.node_filters(span, label, alpha, (self.c.width, self.c.height))?;
        Ok(Layer::Full(label, alpha))
    }

    /// A multi-image effect: items in turn, each entering over the last
    /// (§3.2 rule 9; looks in `look::shared`).
    fn shared(&mut self, span: &Span<'_>, media: &[&Span<'_>]) -> Result<(String, bool), String> {
        let (w, h) = (self.c.width, self.c.height);
        let r = self.c.rate;
        let (motion, join) = look::shared(span.node.ty());
        let mut acc: Option<(String, i64, bool)> = None;
        for (i, m) in media.iter().enumerate() {
            let own = self.frames(m);
            let last = i + 1 == media.len();
            // Each item but the last runs into the next one's entry.
            let lead = if last {
                0
            } else {
                let next = self.frames(media[i + 1]);
                (r.frames(0.5)).min(own / 3).min(next / 3)
            };
            let (l, a) = self.picture(m, w, h, own + lead, &motion)?;
            acc = Some(match acc {
                None => (l, own + lead, a),
                Some((prev, pf, pa)) => {
                    let alpha = a || pa;
                    let (prev, l) = if alpha {
                        let (x, y) = (self.label(), self.label());
                        self.push(format!("[{prev}]format=yuva420p[{x}]"));
                        self.push(format!("[{l}]format=yuva420p[{y}]"));
                        (x, y)
                    } else {
                        (prev, l)
                    };
                    let overlap = (r.frames(media[i - 1].end()) - r.frames(m.start)).max(0) + {
                        // The previous item's lead.
                        let prev_own = self.frames(media[i - 1]);
                        (r.frames(0.5)).min(prev_own / 3).min(own / 3)
                    };
                    let kind = format!("transition={join}");
                    let out = self.join(&prev, &l, (pf, overlap), Some(&kind), alpha);
                    (out, pf + own + lead - overlap, alpha)
                }
            });
        }
        match acc {
            Some((l, got, alpha)) => {
                let want = self.frames(span);
                Ok((self.fit_frames(l, got, want), alpha))
            }
            None => Ok((self.canvas(self.frames(span)), true)),
        }
    }

    /// An image, colour or video as a `w`×`h` stream of `frames` frames
    /// with `motion`; its sound is collected. Filters on the media apply.
    fn picture(
        &mut self,
        span: &Span<'_>,
        w: u32,
        h: u32,
        frames: i64,
        motion: &Motion,
    ) -> Result<(String, bool), String> {
        let (label, alpha) = self.bare_picture(span, w, h, frames, motion)?;
        self.masks(span, label, alpha, (w, h), frames)
    }

    /// [`Self::picture`] without its masks.
    fn bare_picture(
        &mut self,
        span: &Span<'_>,
        w: u32,
        h: u32,
        frames: i64,
        motion: &Motion,
    ) -> Result<(String, bool), String> {
        let node = span.node;
        let rate = self.c.rate.text();
        let out = self.label();
        let look::MediaFilters {
            pre,
            post,
            transparent,
        } = look::media_filters(node, w, h, self.c);
        let extra = |list: &[String]| -> String { list.iter().map(|f| format!(",{f}")).collect() };
        if let Some(color) = node.attr("color") {
            let (hex, alpha) = look::color(color);
            let fmt = if alpha || transparent {
                "yuva420p"
            } else {
                "yuv420p"
            };
            self.push(format!(
                "color=c={hex}:s={w}x{h}:r={rate},format={fmt},trim=end_frame={frames}{}{},format={fmt},{}[{out}]",
                extra(&pre),
                extra(&post),
                self.norm()
            ));
            return Ok((out, fmt == "yuva420p"));
        }
        let asset = self.asset(node)?.clone();
        if !asset.video {
            return Err(format!("{}: the file has no picture", node.place()));
        }
        let src = self.picture_of(asset.input);
        // A still delivers its first frame only (an animated GIF too).
        let mut chain = if asset.still {
            format!("[{src}]trim=end_frame=1,")
        } else {
            format!("[{src}]")
        };
        if !asset.still {
            let skip = node.number("skip").unwrap_or(0.0);
            let speed = node.number("speed").unwrap_or(1.0);
            match last_frame_window(skip, asset.duration) {
                // Past the end: its last frame, held (below) for the
                // item's time. An empty stream would starve the graph
                // (xfade waits for a frame that never comes).
                Some(from) => {
                    let _ = write!(
                        chain,
                        "trim=start={from:.6},reverse,trim=end_frame=1,setpts=PTS-STARTPTS,fps={rate},"
                    );
                }
                None => {
                    let _ = write!(
                        chain,
                        "trim=start={skip:.6},setpts=(PTS-STARTPTS)/{speed},fps={rate},"
                    );
                }
            }
            if node.flag("audio") != Some(false) && asset.audio {
                self.clip(span, &asset, skip, speed, None)?;
            }
        }
        let g = look::geometry(motion, asset.still, w, h, frames, &rate);
        chain.push_str(&g.pre);
        chain.push_str(&extra(&pre));
        if asset.still {
            // Converted once, before the still is repeated or zoomed: the
            // frames made from it are already in the movie's format (a
            // JPEG decodes to full-range YUV, the movie is limited range).
            let alpha = g.alpha || asset.alpha || transparent;
            chain.push_str(if alpha {
                ",format=yuva420p"
            } else {
                ",format=yuv420p"
            });
        }
        if asset.still && !g.generates {
            let _ = write!(chain, ",loop=loop={}:size=1:start=0", (frames - 1).max(0));
        }
        if !g.post.is_empty() {
            let _ = write!(chain, ",{}", g.post);
        }
        chain.push_str(&extra(&post));
        if !asset.still {
            let _ = write!(
                chain,
                ",tpad=stop={frames}:stop_mode=clone,trim=end_frame={frames}"
            );
        } else if g.generates {
            let _ = write!(chain, ",trim=end_frame={frames}");
        }
        let alpha = g.alpha || asset.alpha || transparent;
        // Opaque pictures keep their decoded format (a JPEG's full-range
        // YUV): the filters that join streams negotiate one, converting
        // once, not twice.
        let format = if alpha { ",format=yuva420p" } else { "" };
        self.push(format!("{chain}{format},{}[{out}]", self.norm()));
        Ok((out, alpha))
    }

    /// Placed media (§7).
    fn overlay(&mut self, span: &Span<'_>, origin: f64) -> Result<Option<Layer>, String> {
        let (cw, ch) = (self.c.width, self.c.height);
        let media = span
            .children
            .iter()
            .find(|c| matches!(c.node.kind, Kind::Image | Kind::Video));
        let aspect = match media {
            Some(m) if m.node.attr("color").is_none() => {
                let a = self.asset(m.node)?;
                (a.width > 0 && a.height > 0).then(|| f64::from(a.width) / f64::from(a.height))
            }
            _ => None,
        };
        let rect = look::place(span.node, cw, ch, aspect);
        let frames = self.frames(span);
        let (label, _alpha) = match media {
            Some(m) => {
                let fit = if m
                    .children
                    .iter()
                    .chain(span.children.iter())
                    .any(|f| f.node.kind == Kind::Filter && f.node.ty() == "fitAdapter")
                {
                    Fit::Contain
                } else {
                    Fit::Stretch
                };
                self.picture(m, rect.w, rect.h, frames, &Motion::Static(fit))?
            }
            None => {
                // Atoms in an overlay: a stack drawn into the box.
                let (l, _) = match self.stack(span)? {
                    Layer::Full(l, a) => (l, a),
                    _ => return Ok(None),
                };
                // The stack has applied the overlay's filters already.
                let out = self.label();
                self.push(format!(
                    "[{l}]scale={}:{},format=yuva420p[{out}]",
                    rect.w, rect.h
                ));
                return Ok(Some(self.placed(span, origin, out, rect)));
            }
        };
        let (label, _) = self.node_filters(span, label, true, (rect.w, rect.h))?;
        Ok(Some(self.placed(span, origin, label, rect)))
    }

    /// A box `label` placed at `rect`, moved by its node's animators:
    /// `grow`, `rot-in`/`rot-out` (drawn into the box's stream), slides
    /// and keys (overlay positions on the container's clock).
    fn placed(&mut self, span: &Span<'_>, origin: f64, label: String, rect: look::Rect) -> Layer {
        let (cw, ch) = (self.c.width, self.c.height);
        let mut label = label;
        // grow: the box drawn smaller or larger about its centre, in a
        // transparent frame as large as its largest size.
        let mut at = (rect.x, rect.y);
        // The box stream's size, as the steps below change it.
        let mut boxed = (rect.w, rect.h);
        let fps = self.c.rate.fps();
        if let Some((size, lo, hi)) = look::scale(span, &format!("(on/{fps:.4})")) {
            // At most 4 frames large, and zoompan zooms at most 10×.
            let side = f64::from(rect.w.max(rect.h)).max(1.0);
            let hi = hi.min(4.0 * f64::from(cw.max(ch)) / side).max(lo);
            let lo = lo.max(hi / 10.0);
            let even = look::even;
            let (sw, sh) = (even(f64::from(rect.w) * lo), even(f64::from(rect.h) * lo));
            let (pw, ph) = (even(f64::from(rect.w) * hi), even(f64::from(rect.h) * hi));
            let z = format!("clip({size}/{lo:.4},1,{:.4})", hi / lo);
            let out = self.label();
            self.push(format!(
                "[{label}]format=yuva420p,scale={sw}:{sh},pad={pw}:{ph}:(ow-iw)/2:(oh-ih)/2:color=black@0,zoompan=z='{z}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s={pw}x{ph}:fps={}[{out}]",
                self.c.rate.text()
            ));
            label = out;
            boxed = (pw, ph);
            at = (
                rect.x - (f64::from(pw) - f64::from(rect.w)) / 2.0,
                rect.y - (f64::from(ph) - f64::from(rect.h)) / 2.0,
            );
        }
        // rot-in/rot-out: turned about the centre in a square as large as
        // the box's diagonal, so no corner is cut.
        if let Some(angle) = look::rotation(span) {
            let (w, h) = (
                f64::from(rect.w).max(2.0 * (rect.x - at.0) + f64::from(rect.w)),
                f64::from(rect.h).max(2.0 * (rect.y - at.1) + f64::from(rect.h)),
            );
            let side = ((w.hypot(h).ceil() as u32) + 1) & !1;
            let out = self.label();
            self.push(format!(
                "[{label}]format=yuva420p,rotate=a='{angle}':ow={side}:oh={side}:c=black@0[{out}]"
            ));
            label = out;
            boxed = (side, side);
            at = (
                at.0 - (f64::from(side) - w) / 2.0,
                at.1 - (f64::from(side) - h) / 2.0,
            );
        }
        // Turns about x or y: the box in a transparent frame 1.3 times
        // its size (a near edge grows by at most 1.25), mapped per frame
        // by `perspective`; what lies outside the turned box is smeared
        // from the transparent border, so it stays transparent.
        let (bw, bh) = (
            ((f64::from(boxed.0) * 1.3) as u32 + 4) & !1,
            ((f64::from(boxed.1) * 1.3) as u32 + 4) & !1,
        );
        if let Some(corners) = look::turn_3d(span, f64::from(bw), f64::from(bh), fps) {
            let out = self.label();
            self.push(format!(
                "[{label}]format=yuva420p,pad={bw}:{bh}:(ow-iw)/2:(oh-ih)/2:color=black@0,perspective={corners}:sense=destination:eval=frame,setsar=1[{out}]"
            ));
            label = out;
            at = (
                at.0 - (f64::from(bw) - f64::from(boxed.0)) / 2.0,
                at.1 - (f64::from(bh) - f64::from(boxed.1)) / 2.0,
            );
        }
        let (dx, dy) = look::motion_terms(span, origin, rect, cw, ch);
        let (x, y) = (format!("{:.1}{dx}", at.0), format!("{:.1}{dy}", at.1));
        Layer::Placed { label, x, y }
    }

    /// Filters set on a rendering node (stack, sequence, effect, overlay).
    fn node_filters(
        &mut self,
        span: &Span<'_>,
        label: String,
        alpha: bool,
        (w, h): (u32, u32),
    ) -> Result<(String, bool), String> {
        let mut chain = String::new();
        let mut alpha = alpha;
        for f in span.children.iter().filter(|c| c.node.kind == Kind::Filter) {
            let local = (f.start - span.start, f.duration);
            if let Some(text) = look::filter(f.node, Some(local), w, h, self.c) {
                alpha |= text.contains("yuva420p");
                chain.push_str(&text);
                chain.push(',');
            }
        }
        let frames = self.frames(span);
        if chain.is_empty() {
            return self.masks(span, label, alpha, (w, h), frames);
        }
        let out = self.label();
        self.push(format!("[{label}]{}[{out}]", chain.trim_end_matches(',')));
        self.masks(span, out, alpha, (w, h), frames)
    }

    /// `mask` filters (§9.2): the filter's child — media or any SXML
    /// subtree, drawn over black at its own time — gives the alpha of the
    /// `w`×`h` stream `label`: `opaqueColor` (white) opaque,
    /// `transparentColor` (black) transparent, linear between.
    fn masks(
        &mut self,
        span: &Span<'_>,
        label: String,
        alpha: bool,
        (w, h): (u32, u32),
        frames: i64,
    ) -> Result<(String, bool), String> {
        let mut label = label;
        let mut alpha = alpha;
        let r = self.c.rate;
        for f in span.children.iter().filter(|c| c.node.kind == Kind::Filter) {
            if f.node.ty() != "mask" {
                continue;
            }
            let Some(src) = f.children.iter().find(|c| {
                c.node.kind.is_atom() || matches!(c.node.kind, Kind::Image | Kind::Video)
            }) else {
                continue;
            };
            let source = if matches!(src.node.kind, Kind::Image | Kind::Video) {
                let n = self.frames(src);
                let motion = Motion::Static(Fit::Stretch);
                Some(self.bare_picture(src, w, h, n, &motion)?.0)
            } else {
                match self.visual(src, src.start)? {
                    Some(layer) => {
                        let (l, _) = self.full(layer, src);
                        let scaled = self.label();
                        self.push(format!("[{l}]scale={w}:{h}[{scaled}]"));
                        Some(scaled)
                    }
                    None => None,
                }
            };
            let Some(source) = source else { continue };
            let lead = (r.frames(src.start) - r.frames(span.start)).max(0);
            let shifted = self.shift(source, lead);
            let (black, gray, out, base) = (self.label(), self.label(), self.label(), self.label());
            let luma = |c: &str| {
                let [r, g, b, _] = look::channels(c);
                (0.299 * r + 0.587 * g + 0.114 * b) * 255.0
            };
            let (t0, t1) = (
                luma(f.node.attr("transparentColor").unwrap_or("#000000")),
                luma(f.node.attr("opaqueColor").unwrap_or("#FFFFFF")),
            );
            let map = if t0 < 1.0 && t1 > 254.0 {
                String::new()
            } else {
                format!(
                    ",geq=lum='clip((lum(X,Y)-{t0:.1})*255/({:.1}),0,255)'",
                    if (t1 - t0).abs() < 1.0 { 1.0 } else { t1 - t0 }
                )
            };
            self.push(format!(
                "color=c=black:s={w}x{h}:r={},trim=end_frame={frames},{}[{black}];[{black}][{shifted}]overlay=eof_action=pass:format=auto,format=gray{map}[{gray}]",
                r.text(),
                self.norm()
            ));
            self.push(format!("[{label}]format=yuva420p[{base}]"));
            self.push(format!("[{base}][{gray}]alphamerge[{out}]"));
            label = out;
            alpha = true;
        }
        Ok((label, alpha))
    }

    /// A widget (§11; each family's look in `widget`): its items in turn,
    /// each drawn the family's way, joined by the transition given
    /// between them or the family's own; captions over their item; the
    /// audio under it all.
    fn theme(&mut self, span: &Span<'_>) -> Result<Layer, String> {
        let look = widget::Look::of(span.node);
        let frames = self.frames(span);
        let r = self.c.rate;
        let mut acc: Option<(String, i64, f64)> = None;
        let mut given: Option<&Node> = None;
        let mut index = 0;
        for item in &span.children {
            match item.node.kind {
                Kind::Transition => {
                    given = Some(item.node);
                    continue;
                }
                // Sound under it all (a caption track of the widget's own
                // has nothing to caption).
                Kind::Audio => {
                    self.visual(item, span.start)?;
                    continue;
                }
                Kind::Track => {
                    for c in &item.children {
                        self.visual(c, span.start)?;
                    }
                    continue;
                }
                _ => {}
            }
            let f = self.frames(item);
            let mut label = match item.node.kind {
                Kind::Image | Kind::Video => self.widget_picture(&look, item, f, index)?,
                Kind::Text => self.widget_title(&look, item, f)?,
                _ => {
                    let bg = self.backdrop(&look, f);
                    match self.visual(item, item.start)? {
                        Some(l) => self.draw(bg, l, 0),
                        None => bg,
                    }
                }
            };
            index += 1;
            // Captions: a caption track's texts, or the widget's text slots.
            let captions = item.children.iter().flat_map(|c| match c.node.kind {
                Kind::Track => c.children.iter().collect::<Vec<_>>(),
                Kind::Text => vec![c],
                _ => Vec::new(),
            });
            for c in captions.filter(|c| c.node.kind == Kind::Text) {
                let Some(node) = look.caption(c.node, false, (self.c.width, self.c.height)) else {
                    continue;
                };
                if node.text.is_empty() {
                    continue;
                }
                let styled = Span {
                    node: &node,
                    start: c.start,
                    duration: c.duration,
                    children: c.children.clone(),
                };
                let filters = match look.family {
                    Family::Director | Family::Transitions => {
                        text::caption(&styled, item.start, self.c)?
                    }
                    _ => text::drawtext(&styled, item.start, self.c)?,
                };
                label = self.draw(label, Layer::Text(filters), 0);
            }
            acc = Some(match acc {
                None => (label, f, item.end()),
                Some((prev, pf, prev_end)) => {
                    let overlap = (r.frames(prev_end) - r.frames(item.start)).max(0);
                    let kind = given.take().map_or_else(|| look.join(), look::xfade);
                    let out = self.join(&prev, &label, (pf, overlap), Some(&kind), false);
                    (out, pf + f - overlap, item.end())
                }
            });
        }
        let (label, got) = match acc {
            Some((l, got, _)) => (l, got),
            None => (self.canvas(frames), frames),
        };
        Ok(Layer::Full(self.fit_frames(label, got, frames), false))
    }

    /// A widget's backdrop: `frames` of its family's colour, opaque.
    fn backdrop(&mut self, look: &widget::Look, frames: i64) -> String {
        let (hex, _) = look::color(&look.backdrop());
        self.solid(&hex, "yuv420p", frames)
    }

    /// A widget's title card: a text item on the family's backdrop.
    fn widget_title(
        &mut self,
        look: &widget::Look,
        item: &Span<'_>,
        frames: i64,
    ) -> Result<String, String> {
        let bg = self.backdrop(look, frames);
        let Some(node) = look.caption(item.node, true, (self.c.width, self.c.height)) else {
            return Ok(bg);
        };
        let styled = Span {
            node: &node,
            start: item.start,
            duration: item.duration,
            children: item.children.clone(),
        };
        let layer = self.text(&styled, item.start)?;
        Ok(self.draw(bg, layer, 0))
    }

    /// The largest `aspect`-shaped box inside `bw`×`bh` (even sides).
    fn fitted(&self, node: &Node, bw: f64, bh: f64) -> (u32, u32) {
        let aspect = match self.asset(node) {
            Ok(a) if a.width > 0 && a.height > 0 => f64::from(a.width) / f64::from(a.height),
            _ => bw / bh,
        };
        if aspect >= bw / bh {
            (look::even(bw), look::even(bw / aspect))
        } else {
            (look::even(bh * aspect), look::even(bh))
        }
    }

    /// A widget's picture item drawn its family's way, `frames` long and
    /// opaque. A still is composed once and repeated: only what moves is
    /// drawn every frame.
    fn widget_picture(
        &mut self,
        look: &widget::Look,
        item: &Span<'_>,
        frames: i64,
        index: usize,
    ) -> Result<String, String> {
        let (w, h) = (self.c.width, self.c.height);
        let (wf, hf) = (f64::from(w), f64::from(h));
        let node = item.node;
        let still = node.attr("color").is_some() || self.asset(node).is_ok_and(|a| a.still);
        let n = if still { 1 } else { frames };
        let cover = Motion::Static(Fit::Cover);
        let composed = match look.family {
            Family::Director | Family::Transitions => {
                let motion = look::effect_motion(node, node);
                let (l, alpha) = self.picture(item, w, h, frames, &motion)?;
                if !alpha {
                    return Ok(l);
                }
                let o = self.label();
                self.push(format!("[{l}]format=yuv420p[{o}]"));
                return Ok(o);
            }
            Family::Reflect => {
                let (pw, ph) = self.fitted(node, wf * 0.6, hf * 0.56);
                let (p, _) = self.picture(item, pw, ph, n, &cover)?;
                let (x, y) = ((w - pw) / 2, look::even(hf * 0.06));
                let gap = look::even(hf * 0.01);
                let rh =
                    look::even((f64::from(ph) * 0.45).min(hf * 0.94 - f64::from(y + ph + gap)));
                let bg = self.backdrop(look, n);
                let out = self.label();
                if look.shows("reflection") && rh > 2 {
                    // The mirror image fades from 35 % to nothing; its mask
                    // is computed once.
                    let mask = self.label();
                    self.push(format!(
                        "color=c=white:s={pw}x{rh}:r={},format=gray,trim=end_frame=1,geq=lum='89*(1-Y/H)',loop=loop={}:size=1:start=0,{}[{mask}]",
                        self.c.rate.text(),
                        (n - 1).max(0),
                        self.norm()
                    ));
                    self.push(format!(
                        "[{p}]format=yuva420p,split[{p}a][{p}b];[{p}b]vflip,crop={pw}:{rh}:0:0,format=yuv420p[{p}c];[{p}c][{mask}]alphamerge[{p}r];[{bg}][{p}a]overlay={x}:{y}[{p}s];[{p}s][{p}r]overlay={x}:{},format=yuv420p[{out}]",
                        y + ph + gap
                    ));
                } else {
                    self.push(format!("[{bg}][{p}]overlay={x}:{y},format=yuv420p[{out}]"));
                }
                out
            }
            Family::Scrapbook => {
                let (pw, ph) = self.fitted(node, wf * 0.64, hf * 0.6);
                let (p, _) = self.picture(item, pw, ph, n, &cover)?;
                let b = if look.shows("frame") {
                    look::even(hf * 0.018)
                } else {
                    0
                };
                let (frame, _) = look::color(&look.color("frame", "#FFFFFF"));
                let a = widget::scrapbook_angle(index).to_radians();
                let bg = self.backdrop(look, n);
                let out = self.label();
                let photo = format!(
                    "[{p}]format=yuva420p,pad={}:{}:{b}:{b}:color={frame},rotate={a:.5}:ow=rotw({a:.5}):oh=roth({a:.5}):c=black@0",
                    pw + 2 * b,
                    ph + 2 * b
                );
                // Centred a little above the middle: the caption goes below.
                let (px, py) = ("(W-w)/2", "(H-h)/2-H*0.05");
                if look.shows("shadow") {
                    let s = look::even(hf * 0.012);
                    self.push(format!(
                        "{photo},split[{p}a][{p}b];[{p}b]format=rgba,colorchannelmixer=rr=0:gg=0:bb=0:aa=0.4,boxblur=3:1[{p}s];[{bg}][{p}s]overlay=x='{px}+{s}':y='{py}+{s}'[{p}t];[{p}t][{p}a]overlay=x='{px}':y='{py}',format=yuv420p[{out}]"
                    ));
                } else {
                    self.push(format!(
                        "{photo}[{p}a];[{bg}][{p}a]overlay=x='{px}':y='{py}',format=yuv420p[{out}]"
                    ));
                }
                out
            }
            Family::Moviestyle => {
                let band = if look.shows("bars") {
                    widget::moviestyle_band(w, h).0
                } else {
                    h
                };
                let (p, _) = self.picture(item, w, band, n, &cover)?;
                let (bars, _) = look::color(&look.color("bars", "#000000"));
                let vignette = if look.shows("vignette") {
                    ",vignette=angle=PI/5"
                } else {
                    ""
                };
                let out = self.label();
                self.push(format!(
                    "[{p}]format=yuv420p{vignette},pad={w}:{h}:0:{}:color={bars}[{out}]",
                    (h - band) / 2
                ));
                out
            }
        };
        if !still {
            return Ok(composed);
        }
        let out = self.label();
        self.push(format!(
            "[{composed}]loop=loop={}:size=1:start=0,{}[{out}]",
            (frames - 1).max(0),
            self.norm()
        ));
        Ok(out)
    }

    /// An `<audio>` (§8.3).
    fn audio(&mut self, span: &Span<'_>) -> Result<(), String> {
        let node = span.node;
        if span.duration <= 0.0 {
            return Ok(());
        }
        let asset = self.asset(node)?.clone();
        if !asset.audio {
            return Err(format!("{}: the file has no sound", node.place()));
        }
        let skip = node.number("skip").unwrap_or(0.0);
        let speed = node.number("speed").unwrap_or(1.0);
        let duck = node.number("duck-others").map(|level| Duck {
            level,
            margin: node.number("duck-margin").unwrap_or(0.5),
            fade: node.number("duck-fade").unwrap_or(1.0),
            sound: match self.sounds.get(&(node.line, node.column)) {
                Some(parts) => parts
                    .iter()
                    .map(|&(a, b)| (span.start + a, span.start + b.min(span.duration)))
                    .filter(|(a, b)| b > a)
                    .collect(),
                None => vec![(span.start, span.end())],
            },
        });
        self.clip(span, &asset, skip, speed, duck)
    }

    fn clip(
        &mut self,
        span: &Span<'_>,
        asset: &Asset,
        skip: f64,
        speed: f64,
        duck: Option<Duck>,
    ) -> Result<(), String> {
        if !asset.audio || span.duration <= 0.0 {
            return Ok(());
        }
        let node = span.node;
        self.clips.push(Clip {
            input: asset.input,
            skip,
            speed,
            start: span.start,
            duration: span.duration,
            volume: node.number("volume").unwrap_or(1.0),
            fade_in: node.number("fadein").unwrap_or(0.0),
            fade_out: node.number("fadeout").unwrap_or(0.0),
            windows: self.windows.clone(),
            duck,
        });
        Ok(())
    }

    /// Mix every clip into `[aout]` of `total` seconds; false when silent.
    fn mix(&mut self, total: f64) -> bool {
        if self.clips.is_empty() {
            return false;
        }
        let clips = std::mem::take(&mut self.clips);
        let mut masters = Vec::new();
        let mut others = Vec::new();
        for clip in &clips {
            let src = self.sound_of(clip.input);
            let out = self.label();
            let d = clip.duration;
            let mut chain = format!(
                "[{src}]atrim=start={:.6}:duration={:.6},asetpts=PTS-STARTPTS,",
                clip.skip,
                d * clip.speed
            );
            chain.push_str(&atempo(clip.speed));
            let _ = write!(
                chain,
                "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad=whole_dur={d:.6},atrim=duration={d:.6},volume={:.4}",
                clip.volume
            );
            if clip.fade_in > 0.0 {
                let _ = write!(chain, ",afade=t=in:d={:.4}", clip.fade_in.min(d));
            }
            if clip.fade_out > 0.0 {
                let fo = clip.fade_out.min(d);
                let _ = write!(chain, ",afade=t=out:st={:.4}:d={fo:.4}", d - fo);
            }
            // Transitions crossfade the sound of their two sides (§3.2).
            for &(a, b, fade_in) in &clip.windows {
                let (a, b) = (a - clip.start, b - clip.start);
                if b <= a {
                    continue;
                }
                if fade_in && a < 1e-6 && b > 0.0 {
                    let _ = write!(chain, ",afade=t=in:st=0:d={b:.4}");
                } else if !fade_in && b >= d - 1e-6 && a < d {
                    let st = a.max(0.0);
                    let _ = write!(chain, ",afade=t=out:st={st:.4}:d={:.4}", d - st);
                }
            }
            let ms = (clip.start * 1000.0).round().max(0.0);
            let _ = write!(chain, ",adelay=delays={ms}:all=1[{out}]");
            self.push(chain);
            if clip.duck.is_some() {
                masters.push(out);
            } else {
                others.push(out);
            }
        }
        let mut inputs = Vec::new();
        if !others.is_empty() {
            let ducked = self.label();
            let mut chain = mix_of(&others);
            let envelope = duck_envelope(&clips);
            if !envelope.is_empty() {
                let _ = write!(chain, ",volume=eval=frame:volume='{envelope}'");
            }
            self.push(format!("{chain}[{ducked}]"));
            inputs.push(ducked);
        }
        inputs.extend(masters);
        let chain = mix_of(&inputs);
        self.push(format!(
            "{chain},apad=whole_dur={total:.6},atrim=duration={total:.6}[aout]"
        ));
        true
    }

    /// `split`/`asplit` of inputs used more than once.
    fn splits(&mut self) {
        let uses: Vec<(usize, Vec<String>, &str)> = self
            .video_uses
            .iter()
            .map(|(k, v)| (*k, v.clone(), "v"))
            .chain(self.audio_uses.iter().map(|(k, v)| (*k, v.clone(), "a")))
            .collect();
        for (input, labels, kind) in uses {
            let outs: String = labels.iter().map(|l| format!("[{l}]")).collect();
            let (one, many) = if kind == "v" {
                ("null", "split")
            } else {
                ("anull", "asplit")
            };
            if labels.len() == 1 {
                self.push(format!("[{input}:{kind}:0]{one}{outs}"));
            } else {
                self.push(format!("[{input}:{kind}:0]{many}={}{outs}", labels.len()));
            }
        }
    }
}

/// `amix` of `labels` (plain sum: levels are the document's).
fn mix_of(labels: &[String]) -> String {
    if labels.len() == 1 {
        return format!("[{}]anull", labels[0]);
    }
    let ins: String = labels.iter().map(|l| format!("[{l}]")).collect();
    format!(
        "{ins}amix=inputs={}:duration=longest:normalize=0",
        labels.len()
    )
}

/// The gain of non-ducking tracks while ducking tracks sound: 1 outside,
/// `duck-others` inside, ramps of `duck-fade` starting `duck-margin`
/// before and ending after each stretch of sound.
fn duck_envelope(clips: &[Clip]) -> String {
    let mut terms = Vec::new();
    let mut level: f64 = 1.0;
    for c in clips {
        let Some(duck) = &c.duck else {
            continue;
        };
        level = level.min(duck.level.clamp(0.0, 1.0));
        let f = duck.fade.max(0.001);
        // Stretches closer than their margins stay ducked in between.
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for &(a, b) in &duck.sound {
            let (a, b) = (a - duck.margin, b + duck.margin);
            match merged.last_mut() {
                Some(last) if a <= last.1 + 2.0 * f => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        // A bounded expression: past 200 stretches, one covering all.
        if merged.len() > MAX_DUCK_STRETCHES {
            let (a, b) = (merged[0].0, merged[merged.len() - 1].1);
            merged = vec![(a, b)];
        }
        for (a, b) in merged {
            terms.push(format!(
                "clip(min((t-{:.4})/{f:.4},({:.4}-t)/{f:.4}),0,1)",
                a - f,
                b + f
            ));
        }
    }
    if terms.is_empty() {
        return String::new();
    }
    let env = terms
        .into_iter()
        .reduce(|a, b| format!("max({a},{b})"))
        .unwrap_or_default();
    format!("1-{:.4}*{env}", 1.0 - level)
}

/// Stretches of sound per ducking clip in the volume expression.
const MAX_DUCK_STRETCHES: usize = 200;

/// `atempo` filters (each takes 0.5–100) for `speed`, each followed by a
/// comma; empty at 1.
pub fn atempo(speed: f64) -> String {
    let mut out = String::new();
    let mut left = speed;
    while (left - 1.0).abs() > 1e-6 {
        let step = left.clamp(0.5, 100.0);
        let _ = write!(out, "atempo={step:.6},");
        left /= step;
    }
    out
}
