//! What each effect, transition, filter, animator and placement looks
//! like, as ffmpeg filters. `docs/sxml-rendering.md` describes the same
//! looks in words; keep them in step.

use std::fmt::Write as _;

use drake_sxml::time::Span;
use drake_sxml::{Kind, Node};

use crate::profile::Canvas;

/// How a picture fills its box when it stands still.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fit {
    /// All of it, centred, transparent bars (aspect kept).
    Contain,
    /// The box filled, the centre cropped (aspect kept).
    Cover,
    /// The box filled, aspect not kept (overlays, sxml.md §7).
    Stretch,
}

/// How a picture moves over its time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Motion {
    /// No motion.
    Static(Fit),
    /// Zoom from `from` to `to` (1 = the frame covered) while the centre
    /// of view moves from `(x0, y0)` to `(x1, y1)` (fractions of the
    /// picture); the move takes the first `settle` of the time.
    Zoom {
        from: f64,
        to: f64,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        settle: f64,
    },
    /// A picture `scale` times the box slides across it, left to right
    /// (or top to bottom).
    Pan { scale: f64, horizontal: bool },
    /// Turns from `from` to `to` degrees, `zoom` times the box so the
    /// corners stay covered.
    Rotate { from: f64, to: f64, zoom: f64 },
    /// Contained in a centred square of 84 % of the height.
    Square,
}

/// The Ken Burns move of `kenburns` and `kenburnsAdapter`.
fn kenburns(positive: bool) -> Motion {
    let (a, b) = ((0.35, 0.4), (0.62, 0.58));
    let (from, to, p0, p1) = if positive {
        (1.0, 1.25, a, b)
    } else {
        (1.25, 1.0, b, a)
    };
    Motion::Zoom {
        from,
        to,
        x0: p0.0,
        y0: p0.1,
        x1: p1.0,
        y1: p1.1,
        settle: 1.0,
    }
}

fn adapter_motion(adapter: &str) -> Option<Motion> {
    Some(match adapter {
        "fitAdapter" | "none" => Motion::Static(Fit::Contain),
        "fixedAdapter" => Motion::Static(Fit::Cover),
        "zoomAdapter" => Motion::Zoom {
            from: 1.0,
            to: 1.1,
            x0: 0.5,
            y0: 0.5,
            x1: 0.5,
            y1: 0.5,
            settle: 1.0,
        },
        "panoramicAdapter" => Motion::Pan {
            scale: 1.2,
            horizontal: true,
        },
        "kenburnsAdapter" => kenburns(true),
        _ => return None,
    })
}

/// The motion of a single-item effect of type `effect.ty()` on `media`:
/// an adapter filter on the media wins, then the effect's `adapter`
/// attribute (for `none`), then the type's own look.
pub fn effect_motion(effect: &Node, media: &Node) -> Motion {
    let media_adapter = media
        .children
        .iter()
        .filter(|f| f.kind == Kind::Filter)
        .find_map(|f| adapter_motion(f.ty()));
    if let Some(m) = media_adapter {
        return m;
    }
    match effect.ty() {
        "kenburns" => kenburns(effect.attr("direction") != Some("negative")),
        "panel" => Motion::Pan {
            scale: 1.15,
            horizontal: true,
        },
        "explode" => Motion::Zoom {
            from: 1.6,
            to: 1.0,
            x0: 0.5,
            y0: 0.5,
            x1: 0.5,
            y1: 0.5,
            settle: 0.4,
        },
        "flower" => Motion::Rotate {
            from: -5.0,
            to: 5.0,
            zoom: 1.2,
        },
        "slice" | "rectangles" => Motion::Static(Fit::Cover),
        // A theme item (image/video directly in a track) or `none`.
        "" if effect.kind != Kind::Effect => kenburns(true),
        _ => effect
            .attr("adapter")
            .and_then(adapter_motion)
            .unwrap_or(Motion::Static(Fit::Contain)),
    }
}

/// The entry of `slice` and `rectangles`: an xfade from transparency.
pub fn effect_intro(ty: &str) -> Option<String> {
    match ty {
        // Vertical slices slide in, alternately from top and bottom.
        "slice" => Some("transition=vuslice".into()),
        // The picture grows from a point in the centre to the frame.
        "rectangles" => Some(GROW.into()),
        _ => None,
    }
}

/// The `rectangles` intro: not an xfade, the picture scaled frame by
/// frame (`render.rs`).
pub const GROW: &str = "grow";

/// A multi-image effect's item motion and the xfade joining its items.
pub fn shared(ty: &str) -> (Motion, &'static str) {
    match ty {
        // Each picture dives in (zooms 1 → 1.4), crossfading to the next.
        "diving" => (
            Motion::Zoom {
                from: 1.0,
                to: 1.4,
                x0: 0.5,
                y0: 0.5,
                x1: 0.5,
                y1: 0.5,
                settle: 1.0,
            },
            "fade",
        ),
        // The next picture sweeps in like a clock hand.
        "rotator" => (Motion::Static(Fit::Cover), "radial"),
        // The next picture pushes the last one out to the left.
        "sliding" => (Motion::Static(Fit::Cover), "slideleft"),
        // Pictures in a centred square, crossfading.
        _ => (Motion::Square, "fade"),
    }
}

/// Geometry of a picture for `motion` into a `w`×`h` box, as two chain
/// parts: `pre` runs once per source frame (before a still is looped),
/// `post` per output frame. `alpha`: the result has transparency.
pub struct Geometry {
    pub pre: String,
    pub post: String,
    pub alpha: bool,
    /// `post` makes all `frames` frames itself (zoompan of a still).
    pub generates: bool,
}

/// The even pixel count nearest below `v`, at least 2.
pub fn even(v: f64) -> u32 {
    ((v.round() as u32) & !1).max(2)
}

/// The chain parts for `motion`.
pub fn geometry(motion: &Motion, still: bool, w: u32, h: u32, frames: i64, rate: &str) -> Geometry {
    let cover = |bw: u32, bh: u32| {
        format!(
            "scale={bw}:{bh}:force_original_aspect_ratio=increase:flags=bicubic,crop={bw}:{bh},setsar=1"
        )
    };
    let last = (frames - 1).max(1);
    match *motion {
        Motion::Static(Fit::Contain) => Geometry {
            pre: format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic,setsar=1,format=yuva420p,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black@0"
            ),
            post: String::new(),
            alpha: true,
            generates: false,
        },
        Motion::Static(Fit::Cover) => Geometry {
            pre: cover(w, h),
            post: String::new(),
            alpha: false,
            generates: false,
        },
        Motion::Static(Fit::Stretch) => Geometry {
            pre: format!("scale={w}:{h}:flags=bicubic,setsar=1"),
            post: String::new(),
            alpha: false,
            generates: false,
        },
        Motion::Square => {
            let side = even(f64::from(h) * 0.84);
            Geometry {
                pre: format!(
                    "{},format=yuva420p,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black@0",
                    cover(side, side)
                ),
                post: String::new(),
                alpha: true,
                generates: false,
            }
        }
        Motion::Zoom {
            from,
            to,
            x0,
            y0,
            x1,
            y1,
            settle,
        } => {
            let top = from.max(to);
            let (bw, bh) = (even(f64::from(w) * top), even(f64::from(h) * top));
            let span = ((frames as f64 - 1.0) * settle).max(1.0);
            // Eased progress (smoothstep) over the first `settle`.
            let p = format!("(3*pow(min(on/{span:.3},1),2)-2*pow(min(on/{span:.3},1),3))");
            let z = format!("({from:.4}+({:.4})*{p})", to - from);
            let cx = format!("({x0:.4}+({:.4})*{p})", x1 - x0);
            let cy = format!("({y0:.4}+({:.4})*{p})", y1 - y0);
            let d = if still { frames.max(1) } else { 1 };
            Geometry {
                pre: cover(bw, bh),
                post: format!(
                    "zoompan=z='{z}':x='max(0,min(iw-iw/zoom,iw*{cx}-iw/zoom/2))':y='max(0,min(ih-ih/zoom,ih*{cy}-ih/zoom/2))':d={d}:s={w}x{h}:fps={rate}"
                ),
                alpha: false,
                generates: still,
            }
        }
        Motion::Pan { scale, horizontal } => {
            let (bw, bh) = (even(f64::from(w) * scale), even(f64::from(h) * scale));
            let (x, y) = if horizontal {
                (format!("(iw-ow)*n/{last}"), "(ih-oh)/2".to_owned())
            } else {
                ("(iw-ow)/2".to_owned(), format!("(ih-oh)*n/{last}"))
            };
            Geometry {
                pre: cover(bw, bh),
                post: format!("crop={w}:{h}:x='{x}':y='{y}'"),
                alpha: false,
                generates: false,
            }
        }
        Motion::Rotate { from, to, zoom } => {
            let (bw, bh) = (even(f64::from(w) * zoom), even(f64::from(h) * zoom));
            Geometry {
                pre: cover(bw, bh),
                post: format!(
                    // Only the centre it keeps is computed (`ow`/`oh`).
                    "rotate=a='({from:.3}+({:.3})*n/{last})*PI/180':ow={w}:oh={h}:bilinear=1",
                    to - from
                ),
                alpha: false,
                generates: false,
            }
        }
    }
}

/// `#RRGGBB[AA]` as an ffmpeg colour, and whether it is see-through.
pub fn color(value: &str) -> (String, bool) {
    let hex = value.trim().trim_start_matches('#');
    let (rgb, alpha) = if hex.len() == 8 {
        (&hex[..6], u8::from_str_radix(&hex[6..], 16).unwrap_or(255))
    } else {
        (hex.get(..6).unwrap_or("000000"), 255)
    };
    if alpha == 255 {
        (format!("0x{rgb}"), false)
    } else {
        (format!("0x{rgb}@{:.4}", f64::from(alpha) / 255.0), true)
    }
}

/// Channels of `#RRGGBB[AA]` as 0–1.
pub fn channels(value: &str) -> [f64; 4] {
    let hex = value.trim().trim_start_matches('#');
    let at = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(if i == 6 { 1.0 } else { 0.0 }, |v| f64::from(v) / 255.0)
    };
    [at(0), at(2), at(4), at(6)]
}

/// The `xfade` options of a `<transition>` (§5; looks in the docs).
pub fn xfade(t: &Node) -> String {
    let dir = t.attr("direction").unwrap_or("left");
    let named = |n: &str| format!("transition={n}");
    match t.attr("type").unwrap_or("crossfade") {
        "custom" => crate::widget::custom_transition(t),
        "waterdrop" => named("circleopen"),
        "circle" => named("circlecrop"),
        "radial" => named("radial"),
        // A pixel's turn comes with its angle plus its distance from the
        // centre; it blends over a fifth of the transition.
        "swirl" => Wipe {
            map: format!(
                "mod(atan2({Y}-H/2,{X}-W/2)/(2*PI)+0.5+hypot({X}-W/2,{Y}-H/2)/hypot(W/2,H/2),1)/1.25"
            ),
            soft: 0.2,
        }
        .kind(),
        "strip" => named(match dir {
            "right" => "hrslice",
            "up" => "vuslice",
            "down" => "vdslice",
            _ => "hlslice",
        }),
        "scan" => named(match dir {
            "right" => "wiperight",
            "up" => "wipeup",
            "down" => "wipedown",
            _ => "wipeleft",
        }),
        // Eight bands wipe together, like blinds.
        "scans" => Wipe {
            map: match dir {
                "right" => format!("mod({X},W/8)/(W/8)"),
                "up" => format!("mod(H-1-{Y},H/8)/(H/8)"),
                "down" => format!("mod({Y},H/8)/(H/8)"),
                _ => format!("mod(W-1-{X},W/8)/(W/8)"),
            },
            soft: HARD,
        }
        .kind(),
        "move" => named(match dir {
            "right" => "slideright",
            "up" => "slideup",
            "down" => "slidedown",
            _ => "slideleft",
        }),
        // The next item slides in over the still previous one.
        "over" => Move {
            a: "static".into(),
            b: dir.into(),
            b_on_top: true,
        }
        .kind(),
        // The previous item slides away, uncovering the still next one.
        "under" => Move {
            a: dir.into(),
            b: "static".into(),
            b_on_top: false,
        }
        .kind(),
        "cube" => cube_kind(dir),
        // A one-arm spiral from the centre reveals the next item.
        "spiral" => Wipe {
            map: format!(
                "(atan2({Y}-H/2,{X}-W/2)/(2*PI)+0.5+hypot({X}-W/2,{Y}-H/2)/hypot(W/2,H/2)*2)/3"
            ),
            soft: HARD,
        }
        .kind(),
        "dualmove" => {
            let dirs = t.attr("directions").unwrap_or("left,left");
            let (a, b) = dirs.split_once(',').unwrap_or((dirs, dirs));
            Move {
                a: a.trim().into(),
                b: b.trim().into(),
                b_on_top: true,
            }
            .kind()
        }
        _ => named("fade"),
    }
}

/// A sample's position in luma pixels inside `geq` (whose `X`, `Y` count
/// the current plane's samples; `W`, `H` are the luma size).
const X: &str = "(X/SW)";
const Y: &str = "(Y/SH)";
/// A wipe's edge without blending: one 255th of the transition (enough
/// to smooth the edge's stairs, not enough to see a blend).
const HARD: f64 = 1.0 / 255.0;

/// A transition where each pixel switches from the previous picture to
/// the next at its own time: `map` (a `geq` expression of the pixel, in
/// 0–1) is when it starts, `soft` the fraction of the transition it
/// takes. Drawn by `render.rs`'s `blend` from a map computed once, not by
/// an expression per pixel per frame.
pub struct Wipe {
    pub map: String,
    pub soft: f64,
}

/// Whether a join kind is drawn by `render.rs`'s `blend` rather than
/// `xfade`.
pub fn drawn_by_blend(kind: &str) -> bool {
    Wipe::parse(kind).is_some() || Move::parse(kind).is_some() || kind.starts_with("cube:")
}

impl Wipe {
    const PREFIX: &'static str = "wipe:";

    /// As a join kind (beside xfade's options).
    fn kind(&self) -> String {
        format!("{}{:.6}:{}", Self::PREFIX, self.soft, self.map)
    }

    /// The wipe a join kind is, if it is one.
    pub fn parse(kind: &str) -> Option<Wipe> {
        let (soft, map) = kind.strip_prefix(Self::PREFIX)?.split_once(':')?;
        Some(Wipe {
            map: map.to_owned(),
            soft: soft.parse().ok().filter(|s: &f64| *s > 0.0)?,
        })
    }
}

/// A transition where whole pictures move: the previous one (`a`) and
/// the next (`b`) each leave or enter towards a direction (`left`,
/// `right`, `up`, `down`; `static`: stays), the one on `top` drawn over
/// the other. Drawn by `render.rs`'s `blend` with `overlay` positions per
/// frame, not an expression per pixel.
pub struct Move {
    pub a: String,
    pub b: String,
    pub b_on_top: bool,
}

impl Move {
    const PREFIX: &'static str = "move:";

    fn kind(&self) -> String {
        format!(
            "{}{}:{}:{}",
            Self::PREFIX,
            self.a,
            self.b,
            if self.b_on_top { "b" } else { "a" }
        )
    }

    /// The move a join kind is, if it is one.
    pub fn parse(kind: &str) -> Option<Move> {
        let mut it = kind.strip_prefix(Self::PREFIX)?.split(':');
        let (a, b, top) = (it.next()?, it.next()?, it.next()?);
        Some(Move {
            a: a.to_owned(),
            b: b.to_owned(),
            b_on_top: top == "b",
        })
    }

    /// `overlay`'s x and y of side `a` (leaving) or `b` (entering) at
    /// frame `n` of `frames`.
    pub fn position(&self, side_b: bool, frames: i64) -> (String, String) {
        let dir = if side_b { &self.b } else { &self.a };
        // Progress 0 → 1 over the overlap; entering sides start off-screen.
        let p = format!("(n/{frames})");
        let off = if side_b {
            format!("(1-{p})")
        } else {
            p.clone()
        };
        let sign = |entering_from_positive: bool| {
            if entering_from_positive == side_b {
                ""
            } else {
                "-"
            }
        };
        match dir.as_str() {
            "right" => (format!("{}W*{off}", sign(false)), "0".into()),
            "up" => ("0".into(), format!("{}H*{off}", sign(true))),
            "down" => ("0".into(), format!("{}H*{off}", sign(false))),
            "static" => ("0".into(), "0".into()),
            _ => (format!("{}W*{off}", sign(true)), "0".into()),
        }
    }
}

/// A cube turning, flattened: the edge between the two sides moves
/// across, each side squeezed into its part. The join kind:
/// `cube:<dir>`, drawn by `render.rs`'s `blend` (a scale per frame).
pub fn cube_kind(dir: &str) -> String {
    let dir = match dir {
        "right" | "up" | "down" => dir,
        _ => "left",
    };
    format!("cube:{dir}")
}

/// The squeeze of a `cube:` join over `frames`: for the previous side and
/// the next, `scale`'s size (per frame, `n` counting) and `pad`'s place.
pub fn cube(kind: &str, frames: i64) -> Option<[(String, String); 2]> {
    let dir = kind.strip_prefix("cube:")?;
    let q = format!("n/{frames}");
    // Even sizes, never 0: a side leaving keeps 2 pixels.
    let size = |share: String, whole: &str| format!("max(2,trunc({whole}*{share}/2)*2)");
    let (a_share, b_share) = (format!("(1-{q})"), format!("({q})"));
    Some(match dir {
        "right" => [
            (
                format!("w='{}':h=ih", size(a_share, "iw")),
                "'ow-iw':0".into(),
            ),
            (format!("w='{}':h=ih", size(b_share, "iw")), "0:0".into()),
        ],
        "up" => [
            (format!("w=iw:h='{}'", size(a_share, "ih")), "0:0".into()),
            (
                format!("w=iw:h='{}'", size(b_share, "ih")),
                "0:'oh-ih'".into(),
            ),
        ],
        "down" => [
            (
                format!("w=iw:h='{}'", size(a_share, "ih")),
                "0:'oh-ih'".into(),
            ),
            (format!("w=iw:h='{}'", size(b_share, "ih")), "0:0".into()),
        ],
        _ => [
            (format!("w='{}':h=ih", size(a_share, "iw")), "0:0".into()),
            (
                format!("w='{}':h=ih", size(b_share, "iw")),
                "'ow-iw':0".into(),
            ),
        ],
    })
}

/// A box in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: u32,
    pub h: u32,
}

/// One axis of CSS-like placement (§7): start, size (fractions or
/// `auto`), end; `size` given in pixels by the other axis when derived.
fn axis(start: Option<&str>, size: Option<f64>, end: Option<&str>) -> (f64, f64) {
    let num = |v: Option<&str>| v.and_then(|s| s.trim().parse::<f64>().ok());
    let auto = |v: Option<&str>| v.is_some_and(|s| s.trim() == "auto");
    let (s, e) = (num(start), num(end));
    let size = size.unwrap_or_else(|| (1.0 - s.unwrap_or(0.0) - e.unwrap_or(0.0)).max(0.0));
    let begin = match (s, e) {
        (Some(s), _) => s,
        (None, Some(e)) if !auto(start) => 1.0 - e - size,
        _ if auto(start) || auto(end) => (1.0 - size) / 2.0,
        _ => 0.0,
    };
    (begin, size)
}

/// Where a placed node (overlay, text zone) sits in a `cw`×`ch` frame;
/// `aspect` (width/height of its media) fills in a missing dimension.
pub fn place(node: &Node, cw: u32, ch: u32, aspect: Option<f64>) -> Rect {
    let num = |n: &str| node.attr(n).and_then(|s| s.trim().parse::<f64>().ok());
    let (fw, fh) = (f64::from(cw), f64::from(ch));
    let mut width = num("width");
    let mut height = num("height");
    if let Some(a) = aspect {
        match (width, height) {
            (None, Some(h)) => width = Some(h * fh * a / fw),
            (Some(w), None) => height = Some(w * fw / a / fh),
            _ => {}
        }
    }
    let (x, w) = axis(node.attr("left"), width, node.attr("right"));
    let (y, h) = axis(node.attr("top"), height, node.attr("bottom"));
    // A box up to 4 frames wide: room for slides and zooms, while a
    // `width="1000"` cannot ask ffmpeg for a 640,000-pixel picture.
    let (w, h) = (w.clamp(0.0, 4.0), h.clamp(0.0, 4.0));
    Rect {
        x: (x * fw).round(),
        y: (y * fh).round(),
        w: even(w * fw),
        h: even(h * fh),
    }
}

/// Offsets added to a node's x and y by its animators, as expressions
/// of the container's clock `t` (`origin` = the container's start).
pub fn motion_terms(
    span: &Span<'_>,
    origin: f64,
    rect: Rect,
    cw: u32,
    ch: u32,
) -> (String, String) {
    let (fw, fh) = (f64::from(cw), f64::from(ch));
    let (mut dx, mut dy) = (String::new(), String::new());
    for a in span
        .children
        .iter()
        .filter(|c| c.node.kind == Kind::Animator)
    {
        let start = a.start - origin;
        let d = a.duration.max(1e-3);
        let quadratic = a.node.attr("mode") == Some("quadratic");
        let p = if quadratic {
            format!("pow(clip((t-{start:.4})/{d:.4},0,1),2)")
        } else {
            format!("clip((t-{start:.4})/{d:.4},0,1)")
        };
        let dir = a.node.attr("direction").unwrap_or("left");
        // Distance to leave the frame on that side.
        let off = match dir {
            "right" => fw - rect.x,
            "up" => -(rect.y + f64::from(rect.h)),
            "down" => fh - rect.y,
            _ => -(rect.x + f64::from(rect.w)),
        };
        let horizontal = matches!(dir, "left" | "right");
        let term = match a.node.ty() {
            "slide-in" => format!("+({off:.1})*(1-{p})"),
            "slide-out" => format!("+({off:.1})*{p}"),
            "slide" => {
                let step = if horizontal { fw * 0.25 } else { fh * 0.25 };
                let sign = if matches!(dir, "left" | "up") {
                    -1.0
                } else {
                    1.0
                };
                format!("+({:.1})*{p}", sign * step)
            }
            "custom" => {
                let (kx, ky) = keyframes(a, origin, fh);
                dx.push_str(&kx);
                dy.push_str(&ky);
                continue;
            }
            // rot-*, grow: not drawn in 2-D (docs/sxml-rendering.md).
            _ => continue,
        };
        if horizontal {
            dx.push_str(&term);
        } else {
            dy.push_str(&term);
        }
    }
    (dx, dy)
}

/// The node's turn as a `rotate` angle (radians, clockwise) of its own
/// clock `t`: `rot-in`/`rot-out` (from `angle` degrees, default 90, to
/// upright at the start, or away to it at the end) plus custom keys'
/// turns about z (`rot="angle,0,0,1"`, `orient`'s third angle; GL turns
/// counter-clockwise).
pub fn rotation(span: &Span<'_>) -> Option<String> {
    let mut terms = Vec::new();
    for a in span
        .children
        .iter()
        .filter(|a| a.node.kind == Kind::Animator)
    {
        let st = a.start - span.start;
        let d = a.duration.max(1e-3);
        let p = format!("clip((t-{st:.4})/{d:.4},0,1)");
        let angle = a.node.number("angle").unwrap_or(90.0);
        match a.node.ty() {
            "rot-in" => terms.push(format!("{angle:.3}*(1-{p})")),
            "rot-out" => terms.push(format!("{angle:.3}*{p}")),
            "custom" => {
                let about_z = |v: &[f64]| {
                    let (deg, ax, ay, az) = (v.first()?, v.get(1)?, v.get(2)?, v.get(3)?);
                    (az.abs() >= ax.abs().max(ay.abs())).then(|| -deg * az.signum())
                };
                for keys in [
                    key_values(a, span.start, "rot", about_z),
                    key_values(a, span.start, "orient", |v| Some(-*v.get(2)?)),
                ] {
                    if !keys.is_empty() {
                        terms.push(piecewise(&keys, "t"));
                    }
                }
            }
            _ => {}
        }
    }
    (!terms.is_empty()).then(|| format!("({})*PI/180", terms.join("+")))
}

/// The node's 3-D turn (custom keys' `rot` about an axis mostly x or y,
/// `orient`'s first two angles) as the corners `perspective` maps a
/// `w`×`h` picture to, per frame (`on`: its frame number at `fps`): the
/// picture turned about its centre, seen from 2.5 × its larger side.
/// `None` without such keys.
pub fn turn_3d(span: &Span<'_>, w: f64, h: f64, fps: f64) -> Option<String> {
    let var = format!("(on/{fps:.4})");
    let (mut about_x, mut about_y) = (Vec::new(), Vec::new());
    for a in span
        .children
        .iter()
        .filter(|a| a.node.kind == Kind::Animator && a.node.ty() == "custom")
    {
        let axis = |want_x: bool| {
            move |v: &[f64]| {
                let (deg, ax, ay, az) = (v.first()?, v.get(1)?, v.get(2)?, v.get(3)?);
                let (mine, other) = if want_x { (ax, ay) } else { (ay, ax) };
                (mine.abs() > az.abs() && mine.abs() >= other.abs()).then(|| deg * mine.signum())
            }
        };
        for (keys, x) in [
            (key_values(a, span.start, "rot", axis(true)), true),
            (
                key_values(a, span.start, "orient", |v| v.first().copied()),
                true,
            ),
            (key_values(a, span.start, "rot", axis(false)), false),
            (
                key_values(a, span.start, "orient", |v| v.get(1).copied()),
                false,
            ),
        ] {
            if !keys.is_empty() {
                let out = if x { &mut about_x } else { &mut about_y };
                out.push(piecewise(&keys, &var));
            }
        }
    }
    if about_x.is_empty() && about_y.is_empty() {
        return None;
    }
    let angle = |terms: &[String]| {
        if terms.is_empty() {
            "0".to_owned()
        } else {
            format!("(({})*PI/180)", terms.join("+"))
        }
    };
    let (ax, ay) = (angle(&about_x), angle(&about_y));
    let f = 2.5 * w.max(h);
    // GL axes (+y up, +z towards the viewer): turned about y, then x.
    let corner = |sx: f64, sy: f64| {
        let (x, y) = (sx * w / 2.0, -sy * h / 2.0);
        let x1 = format!("({x:.2}*cos({ay}))");
        let z1 = format!("(-({x:.2})*sin({ay}))");
        let y2 = format!("({y:.2}*cos({ax})-{z1}*sin({ax}))");
        let z2 = format!("({y:.2}*sin({ax})+{z1}*cos({ax}))");
        let k = format!("({f:.2}/({f:.2}-{z2}))");
        (format!("W/2+{x1}*{k}"), format!("H/2-{y2}*{k}"))
    };
    let c = [
        corner(-1.0, -1.0),
        corner(1.0, -1.0),
        corner(-1.0, 1.0),
        corner(1.0, 1.0),
    ];
    Some(
        c.iter()
            .enumerate()
            .map(|(i, (x, y))| format!("x{i}='{x}':y{i}='{y}'"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The node's size over its own clock `var` (seconds from its start), as
/// an expression, with its smallest and largest values: `grow` animators
/// (§10: a move along z towards the camera, 2 units away with the frame
/// 2 high, so z becomes a scale of 2 / (2 − z); `growStart` 0 →
/// `growEnd` 0.1 by default) times custom `scale` keys (x and y
/// averaged: drake scales uniformly).
pub fn scale(span: &Span<'_>, var: &str) -> Option<(String, f64, f64)> {
    let mut factors = Vec::new();
    for a in span
        .children
        .iter()
        .filter(|a| a.node.kind == Kind::Animator)
    {
        match a.node.ty() {
            "grow" => {
                let z = |v: f64| 2.0 / (2.0 - v.clamp(-8.0, 1.5));
                let (s0, s1) = (
                    z(a.node.number("growStart").unwrap_or(0.0)),
                    z(a.node.number("growEnd").unwrap_or(0.1)),
                );
                let (st, d) = (a.start - span.start, a.duration.max(1e-3));
                factors.push((
                    format!(
                        "({s0:.4}+({:.4})*clip(({var}-{st:.4})/{d:.4},0,1))",
                        s1 - s0
                    ),
                    s0.min(s1),
                    s0.max(s1),
                ));
            }
            "custom" => {
                let keys = key_values(a, span.start, "scale", |v| {
                    let (x, y) = (v.first().copied()?, v.get(1).copied().unwrap_or(1.0));
                    Some(((x + y) / 2.0).clamp(0.05, 8.0))
                });
                if keys.is_empty() {
                    continue;
                }
                let lo = keys.iter().map(|k| k.1).fold(f64::MAX, f64::min);
                let hi = keys.iter().map(|k| k.1).fold(f64::MIN, f64::max);
                factors.push((piecewise(&keys, var), lo, hi));
            }
            _ => {}
        }
    }
    factors
        .into_iter()
        .reduce(|a, b| (format!("{}*{}", a.0, b.0), a.1 * b.1, a.2 * b.2))
}

/// Key attribute `attr` of a custom animator as `(time on the node's
/// clock, value)` pairs sorted by time; `pick` makes the value of the
/// attribute's numbers. `node_start`: the animated node's start.
fn key_values(
    a: &Span<'_>,
    node_start: f64,
    attr: &str,
    pick: impl Fn(&[f64]) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let base = a.start - node_start;
    let mut keys: Vec<(f64, f64)> = a
        .node
        .children
        .iter()
        .filter(|k| k.kind == Kind::Key)
        .filter_map(|k| {
            let numbers: Vec<f64> = k
                .attr(attr)?
                .split(',')
                .map(|v| v.trim().parse::<f64>().unwrap_or(0.0))
                .collect();
            Some((k.number("time")? + base, pick(&numbers)?))
        })
        .collect();
    keys.sort_by(|a, b| a.0.total_cmp(&b.0));
    keys
}

/// A piecewise-linear expression of `var` through `keys`, held before
/// the first and after the last (`0` without keys).
fn piecewise(keys: &[(f64, f64)], var: &str) -> String {
    let Some(last) = keys.last() else {
        return "0".into();
    };
    let mut expr = format!("{:.4}", last.1);
    for w in keys.windows(2).rev() {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        let len = (t1 - t0).max(1e-3);
        expr = format!(
            "if(lt({var},{t1:.4}),{v0:.4}+({:.4})*clip(({var}-{t0:.4})/{len:.4},0,1),{expr})",
            v1 - v0
        );
    }
    format!("({expr})")
}

/// `pos` keys of a custom animator as x/y offsets (GL units: the frame
/// is 2 high, +y up) on the container's clock `t`, linear between keys,
/// held outside.
fn keyframes(a: &Span<'_>, origin: f64, fh: f64) -> (String, String) {
    let x = key_values(a, origin, "pos", |v| Some(v.first()? * fh / 2.0));
    let y = key_values(a, origin, "pos", |v| Some(-v.get(1)? * fh / 2.0));
    if x.is_empty() && y.is_empty() {
        return (String::new(), String::new());
    }
    (
        format!("+{}", piecewise(&x, "t")),
        format!("+{}", piecewise(&y, "t")),
    )
}

/// Filters on media (`<image><filter/></image>`).
pub struct MediaFilters {
    /// Run once on a still, before it is looped.
    pub pre: Vec<String>,
    /// Run on every frame (the timed `alpha` fades).
    pub post: Vec<String>,
    /// Whether they give the picture transparency (`alpha`,
    /// `borderBlur`), which the picture's format must then keep.
    pub transparent: bool,
}

/// The [`MediaFilters`] of an `<image>` or `<video>` of `w`×`h`.
pub fn media_filters(node: &Node, w: u32, h: u32, canvas: Canvas) -> MediaFilters {
    let mut out = MediaFilters {
        pre: Vec::new(),
        post: Vec::new(),
        transparent: false,
    };
    for f in node.children.iter().filter(|c| c.kind == Kind::Filter) {
        if let Some(text) = filter(f, None, w, h, canvas) {
            out.transparent |= matches!(f.ty(), "alpha" | "borderBlur");
            if f.ty() == "alpha" {
                out.post.push(text);
            } else {
                out.pre.push(text);
            }
        }
    }
    out
}

/// A gblur sigma that leaves every pixel as it is (0 is special-cased).
const NO_BLUR: f64 = 0.01;

/// A filter on a rendering node's stream of `w`×`h`; `window` = its
/// time in the stream's clock (start, length), `None` = the whole
/// stream. Adapters, distance filters (text) and `identity` have no
/// stream filter; `mask` is not drawn yet (docs).
pub fn filter(
    f: &Node,
    window: Option<(f64, f64)>,
    w: u32,
    h: u32,
    canvas: Canvas,
) -> Option<String> {
    let num = |n: &str, d: f64| f.number(n).unwrap_or(d);
    // Lengths in 360-line units scale with the output.
    let unit = f64::from(canvas.height) / 360.0;
    let mut out = String::new();
    match f.ty() {
        "alpha" => {
            let (s, e) = (num("alphaStart", 0.0), num("alphaEnd", 1.0));
            let (st, d) = window.unwrap_or((0.0, 1.0));
            let top = s.max(e).clamp(0.0, 1.0);
            out.push_str("format=yuva420p,");
            if top < 1.0 {
                let _ = write!(out, "colorchannelmixer=aa={top:.4},");
            }
            if (s - e).abs() < 1e-6 {
                out.pop();
            } else {
                let kind = if s < e { "in" } else { "out" };
                let _ = write!(out, "fade=t={kind}:st={st:.4}:d={:.4}:alpha=1", d.max(1e-3));
            }
        }
        "blur" | "gaussianBlur" => {
            let sigma = (num("diameter", 2.0) / 2.0 * unit).max(0.1);
            let _ = write!(out, "gblur=sigma={sigma:.3}");
        }
        // One axis: the other gets a sigma too small to move a pixel —
        // ffmpeg's gblur passes the picture through untouched when
        // `sigma` is 0 and draws black when `sigmaV` is 0.
        "hblur" | "hgaussianBlur" => {
            let sigma = (num("diameter", 2.0) / 2.0 * unit).max(0.1);
            let _ = write!(out, "gblur=sigma={sigma:.3}:sigmaV={NO_BLUR}");
        }
        "vblur" | "vgaussianBlur" => {
            let sigma = (num("diameter", 2.0) / 2.0 * unit).max(0.1);
            let _ = write!(out, "gblur=sigma={NO_BLUR}:sigmaV={sigma:.3}");
        }
        "frame" => {
            // The border leaves at least 2 pixels of picture each way.
            let most = (w.min(h) / 2).saturating_sub(1);
            let b = ((num("width", 0.05) * f64::from(w)).round().max(0.0) as u32).min(most);
            let (c, _) = color(f.attr("color").unwrap_or("#FFFFFFFF"));
            let _ = write!(
                out,
                "scale={}:{},pad={w}:{h}:{b}:{b}:color={c}",
                w.saturating_sub(2 * b).max(2),
                h.saturating_sub(2 * b).max(2)
            );
        }
        "borderBlur" => {
            let feather = (num("transWidth", 0.05) * f64::from(w)).max(1.0);
            let _ = write!(
                out,
                "format=yuva420p,geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':a='alpha(X,Y)*clip(min(min(X,W-1-X),min(Y,H-1-Y))/{feather:.2},0,1)'"
            );
        }
        "colormap" => {
            if let Some(m) = f.attr("rgba-bias-matrix") {
                let rows: Vec<[f64; 4]> = m.split(',').map(channels).collect();
                if rows.len() == 5 {
                    let r = &rows;
                    let _ = write!(
                        out,
                        "colorchannelmixer=rr={:.4}:rg={:.4}:rb={:.4}:ra={:.4}:gr={:.4}:gg={:.4}:gb={:.4}:ga={:.4}:br={:.4}:bg={:.4}:bb={:.4}:ba={:.4}:ar={:.4}:ag={:.4}:ab={:.4}:aa={:.4}",
                        r[0][0],
                        r[0][1],
                        r[0][2],
                        r[0][3],
                        r[1][0],
                        r[1][1],
                        r[1][2],
                        r[1][3],
                        r[2][0],
                        r[2][1],
                        r[2][2],
                        r[2][3],
                        r[3][0],
                        r[3][1],
                        r[3][2],
                        r[3][3]
                    );
                    let bias = r[4];
                    if bias.iter().any(|v| *v > 0.0) {
                        let _ = write!(
                            out,
                            ",lutrgb=r='val+{:.0}':g='val+{:.0}':b='val+{:.0}'",
                            bias[0] * 255.0,
                            bias[1] * 255.0,
                            bias[2] * 255.0
                        );
                    }
                }
            } else {
                out.push_str(match f.attr("preset").unwrap_or("") {
                    "negative" => "negate",
                    "lowContrast" => "eq=contrast=0.6",
                    "highContrast" => "eq=contrast=1.5",
                    "sepia" => "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131",
                    // No preset and no matrix: black and white (§9.2).
                    _ => "hue=s=0",
                });
            }
        }
        "tint" => {
            let white = channels(f.attr("whiteColor").unwrap_or("#FFFFFF"));
            let black = channels(f.attr("blackColor").unwrap_or("#000000"));
            let row = |c: usize| {
                let k = white[c] - black[c];
                format!("{:.4}:{:.4}:{:.4}:0", 0.299 * k, 0.587 * k, 0.114 * k)
            };
            let _ = write!(out, "colorchannelmixer={}:{}:{}", row(0), row(1), row(2));
            if black.iter().take(3).any(|v| *v > 0.0) {
                let _ = write!(
                    out,
                    ",lutrgb=r='val+{:.0}':g='val+{:.0}':b='val+{:.0}'",
                    black[0] * 255.0,
                    black[1] * 255.0,
                    black[2] * 255.0
                );
            }
        }
        _ => return None,
    }
    if out.is_empty() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use crate::profile::Rate;

    const C: Canvas = Canvas {
        width: 640,
        height: 360,
        rate: Rate { num: 25, den: 1 },
    };

    fn node(xml: &str) -> drake_sxml::Movie {
        drake_sxml::parse(&format!(
            r#"<movie service="craftsman-1.0"><body>{xml}</body></movie>"#
        ))
        .unwrap()
    }

    #[test]
    fn a_frame_wider_than_the_picture_leaves_two_pixels() {
        // Found by the sxml fuzz target: a border wider than half the
        // height underflowed.
        let m = node(
            r##"<effect type="none"><image color="#000000"><filter type="frame" width="5.1"/></image></effect>"##,
        );
        let f = &m.body.children[0].children[0].children[0];
        let text = filter(f, None, 640, 100, C).unwrap();
        assert!(text.starts_with("scale=542:2,pad=640:100:49:49"), "{text}");
    }

    #[test]
    fn placement_follows_css_auto_margins_and_media_aspect() {
        let m = node(
            r##"<overlay left="auto" right="auto" height="0.5"><image color="#000000"/></overlay>"##,
        );
        let r = place(&m.body.children[0], 640, 360, Some(2.0));
        // 0.5 × 360 = 180 high, 2:1 → 360 wide, centred.
        assert_eq!(
            r,
            Rect {
                x: 140.0,
                y: 0.0,
                w: 360,
                h: 180
            }
        );
        let m = node(
            r##"<overlay right="0.1" width="0.25" bottom="0" height="0.2"><image color="#000000"/></overlay>"##,
        );
        let r = place(&m.body.children[0], 640, 360, None);
        assert_eq!(
            r,
            Rect {
                x: 416.0,
                y: 288.0,
                w: 160,
                h: 72
            }
        );
    }

    #[test]
    fn every_transition_has_its_own_look() {
        let mut seen = std::collections::BTreeSet::new();
        for ty in drake_sxml::TRANSITIONS {
            let m = node(&format!(
                r##"<effect type="none" duration="2"><image color="#000000"/></effect><transition type="{ty}"/><effect type="none" duration="2"><image color="#000000"/></effect>"##
            ));
            assert!(
                seen.insert(xfade(&m.body.children[1])),
                "{ty} repeats a look"
            );
        }
    }
}
