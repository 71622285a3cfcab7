//! The time model (sxml.md §3): when every node plays and for how long.
//!
//! Two passes over the checked tree:
//!
//! 1. **Intrinsic length**, bottom-up — the time a node needs on its own:
//!    an explicit `duration` (plus its margins); an `<audio>` or `<video>`
//!    without one lasts its file (after `skip`, divided by `speed`), TTS
//!    audio its speech; an effect, overlay or text lasts its longest child;
//!    a stack its longest child that has a length; a sequence the sum of
//!    its items (5 s for an item with no length of its own) minus its
//!    transitions. `duration=".."` and margins-only nodes have none: they
//!    take their container's time.
//! 2. **Spans**, top-down from the body: items of a sequence play back to
//!    back, each transition overlapping the end of one and the start of the
//!    next; children of a stack (or of an effect, overlay, text, filter)
//!    start at their `margin-start` — or end `margin-end` before the
//!    container when only that and `duration` are given — and last their
//!    intrinsic length, or the container's time minus their margins when
//!    they have none. A child longer than its container is cut at its end
//!    (it disappears when its time is over, drake's decision for explicit
//!    durations inside a stack). The items of a multi-image effect
//!    (diving, rotator, sliding, square) share its time in turn.
//!    Animators and filters span their parent unless their own time
//!    attributes say otherwise; `slide-out` and `rot-out` sit at the end.

use crate::model::{Error, Kind, Movie, Node};

/// The length of an item with nothing else fixing it (sxml.md §3.2 rule 1).
pub const DEFAULT_SECONDS: f64 = 5.0;
/// A transition without `duration` (sxml.md §5; also `<default>`'s).
pub const DEFAULT_TRANSITION: f64 = 1.0;
/// A director theme's crossfade between items (the fallback theme).
pub const THEME_CROSSFADE: f64 = 1.0;

/// When a node plays: absolute seconds from the start of the movie.
#[derive(Debug, Clone, PartialEq)]
pub struct Span<'a> {
    /// The node.
    pub node: &'a Node,
    /// Start, seconds.
    pub start: f64,
    /// Length, seconds (0 when its container ended before it began).
    pub duration: f64,
    /// Spans of the children that play in time (everything but keys and
    /// styles), in document order.
    pub children: Vec<Span<'a>>,
}

impl Span<'_> {
    /// End, seconds.
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }

    /// Every span of the tree, depth first.
    pub fn walk(&self) -> Vec<&Span<'_>> {
        let mut out = Vec::new();
        let mut todo = vec![self];
        while let Some(span) = todo.pop() {
            out.push(span);
            todo.extend(span.children.iter().rev());
        }
        out
    }
}

/// The media lengths the time model needs: a file's length in seconds
/// for `<audio filename>`/`<video>`, the speech's for `<audio voice>`
/// (`None`: unknown, treated as having no length of its own).
pub trait Lengths {
    /// The length of `node`'s media.
    fn length(&self, node: &Node) -> Option<f64>;
}

impl<F: Fn(&Node) -> Option<f64>> Lengths for F {
    fn length(&self, node: &Node) -> Option<f64> {
        self(node)
    }
}

struct Resolver<'l> {
    lengths: &'l dyn Lengths,
    default_transition: f64,
}

fn margins(node: &Node) -> (f64, f64) {
    match node.number("margin-both") {
        Some(m) => (m, m),
        None => (
            node.number("margin-start").unwrap_or(0.0),
            node.number("margin-end").unwrap_or(0.0),
        ),
    }
}

/// Children that take time in their parent (atoms and media).
fn players(node: &Node) -> impl Iterator<Item = &Node> {
    node.children
        .iter()
        .filter(|c| c.kind.is_atom() || matches!(c.kind, Kind::Image | Kind::Video))
}

impl Resolver<'_> {
    fn transition(&self, node: &Node) -> f64 {
        node.number("duration").unwrap_or(self.default_transition)
    }

    /// How long a theme's items overlap: the transition given between
    /// them, or the theme's own crossfade.
    fn theme_join(&self, transition: Option<&Node>) -> f64 {
        transition.map_or(THEME_CROSSFADE, |t| {
            t.number("duration").unwrap_or(THEME_CROSSFADE)
        })
    }

    /// The inner length a node needs on its own (without margins), if any.
    fn inner(&self, node: &Node) -> Option<f64> {
        match node.attr("duration").map(str::trim) {
            Some("..") => return None,
            Some(_) => return node.number("duration"),
            None => {}
        }
        match node.kind {
            Kind::Audio | Kind::Video => {
                let length = self.lengths.length(node)?;
                let skip = node.number("skip").unwrap_or(0.0);
                Some((length - skip).max(0.0) / node.number("speed").unwrap_or(1.0))
            }
            Kind::Effect | Kind::Overlay | Kind::Text | Kind::Stack | Kind::Filter => {
                players(node).filter_map(|c| self.outer(c)).reduce(f64::max)
            }
            Kind::Body | Kind::Sequence => {
                let overlap: f64 = node
                    .children
                    .iter()
                    .filter(|c| c.kind == Kind::Transition)
                    .map(|t| self.transition(t))
                    .sum();
                self.back_to_back(players(node), overlap)
            }
            Kind::Widget => {
                let items = theme_items(node);
                let overlap: f64 = items.iter().skip(1).map(|(_, t)| self.theme_join(*t)).sum();
                self.back_to_back(items.into_iter().map(|(item, _)| item), overlap)
            }
            Kind::Image
            | Kind::Transition
            | Kind::Animator
            | Kind::Key
            | Kind::Camera
            | Kind::Track
            | Kind::Style => None,
        }
    }

    /// Items one after another (5 s for one with no length), less
    /// `overlap`; none without items.
    fn back_to_back<'n>(&self, items: impl Iterator<Item = &'n Node>, overlap: f64) -> Option<f64> {
        let mut any = false;
        let sum: f64 = items
            .inspect(|_| any = true)
            .map(|c| self.outer(c).unwrap_or(DEFAULT_SECONDS))
            .sum();
        any.then(|| (sum - overlap).max(0.0))
    }

    /// The time a node takes in its container, margins included.
    fn outer(&self, node: &Node) -> Option<f64> {
        let inner = self.inner(node)?;
        let (start, end) = margins(node);
        Some(start + inner + end)
    }

    /// Lay out `node`, which its container gives `[start, start + room)`.
    fn place<'a>(&self, node: &'a Node, start: f64, room: f64, in_sequence: bool) -> Span<'a> {
        let (ms, me) = margins(node);
        let (offset, duration) = if in_sequence {
            let inner = self
                .inner(node)
                .unwrap_or(if node.attr("duration") == Some("..") {
                    room - ms - me
                } else {
                    DEFAULT_SECONDS
                });
            (ms, inner)
        } else {
            match self.inner(node) {
                Some(inner) => {
                    let explicit = node.attr("duration").is_some();
                    let anchored_end = explicit
                        && node.attr("margin-end").is_some()
                        && node.attr("margin-start").is_none()
                        && node.attr("margin-both").is_none();
                    if anchored_end {
                        ((room - me - inner).max(0.0), inner)
                    } else {
                        (ms, inner)
                    }
                }
                None => (ms, (room - ms - me).max(0.0)),
            }
        };
        // Cut at the container's end, less the end margin.
        let offset = offset.min(room.max(0.0));
        let duration = duration.min((room - offset - me).max(0.0)).max(0.0);
        let begin = start + offset;
        let mut span = Span {
            node,
            start: begin,
            duration,
            children: Vec::new(),
        };
        span.children = self.children(node, begin, duration);
        span
    }

    fn children<'a>(&self, node: &'a Node, start: f64, duration: f64) -> Vec<Span<'a>> {
        match node.kind {
            Kind::Body | Kind::Sequence => self.sequence(node, start, duration),
            Kind::Effect if matches!(node.ty(), "diving" | "rotator" | "sliding" | "square") => {
                self.shared(node, start, duration)
            }
            Kind::Widget => self.theme(node, start, duration),
            Kind::Key | Kind::Style => Vec::new(),
            _ => node
                .children
                .iter()
                .filter(|c| !matches!(c.kind, Kind::Key | Kind::Style))
                .map(|c| self.modifier_or_child(c, node, start, duration))
                .collect(),
        }
    }

    /// A child of a stack-like container: modifiers follow §3.2 rule 8.
    fn modifier_or_child<'a>(
        &self,
        child: &'a Node,
        parent: &Node,
        start: f64,
        room: f64,
    ) -> Span<'a> {
        let at_end = child.kind == Kind::Animator
            && matches!(child.ty(), "slide-out" | "rot-out")
            && child.attr("margin-start").is_none();
        if at_end && let Some(d) = child.number("duration") {
            let me = child.number("margin-end").unwrap_or(0.0);
            let d = d.min(room);
            let begin = start + (room - me - d).max(0.0);
            return Span {
                node: child,
                start: begin,
                duration: d,
                children: self.children(child, begin, d),
            };
        }
        // Media of a single-item effect, overlay or filter fill it.
        if matches!(child.kind, Kind::Image | Kind::Video)
            && matches!(parent.kind, Kind::Effect | Kind::Overlay | Kind::Filter)
        {
            return Span {
                node: child,
                start,
                duration: room,
                children: self.children(child, start, room),
            };
        }
        self.place(child, start, room, false)
    }

    /// Items back to back, transitions overlapping (§3.2 rule 2).
    fn sequence<'a>(&self, node: &'a Node, start: f64, room: f64) -> Vec<Span<'a>> {
        let mut out = Vec::new();
        let mut at = 0.0_f64;
        let mut previous_end: Option<f64> = None;
        for child in &node.children {
            match child.kind {
                Kind::Transition => {
                    let t = self.transition(child);
                    let end = previous_end.unwrap_or(0.0);
                    at = (end - t).max(0.0);
                    let begin = (start + at).min(start + room);
                    let duration = t.min((start + room - begin).max(0.0));
                    out.push(Span {
                        node: child,
                        start: begin,
                        duration,
                        children: Vec::new(),
                    });
                }
                Kind::Filter | Kind::Animator => {
                    out.push(self.place(child, start, room, false));
                }
                _ => {
                    let outer = self.outer(child).unwrap_or_else(|| {
                        if child.attr("duration") == Some("..") {
                            room
                        } else {
                            DEFAULT_SECONDS
                        }
                    });
                    let begin = at.min(room);
                    let span = self.place(child, start + begin, (room - begin).max(0.0), true);
                    out.push(span);
                    at = begin + outer;
                    previous_end = Some(at);
                }
            }
        }
        out
    }

    /// A multi-image effect's items, each its share in turn (§3.2 rule 9).
    fn shared<'a>(&self, node: &'a Node, start: f64, room: f64) -> Vec<Span<'a>> {
        let items = players(node).count().max(1) as f64;
        let share = room / items;
        let mut i = 0.0;
        node.children
            .iter()
            .filter(|c| !matches!(c.kind, Kind::Key | Kind::Style))
            .map(|c| {
                if c.kind.is_atom() || matches!(c.kind, Kind::Image | Kind::Video) {
                    let begin = start + share * i;
                    i += 1.0;
                    Span {
                        node: c,
                        start: begin,
                        duration: share,
                        children: self.children(c, begin, share),
                    }
                } else {
                    self.place(c, start, room, false)
                }
            })
            .collect()
    }

    /// A widget (§11): its items one after another, each joined to the
    /// last by the transition given between them or the widget's own
    /// (`theme_join`); captions over their item; audio under it all. The
    /// spans come out flat: items, the transitions into them, audio, and
    /// the widget's non-video tracks. A caption is a child of its item's
    /// span.
    fn theme<'a>(&self, node: &'a Node, start: f64, room: f64) -> Vec<Span<'a>> {
        let mut out: Vec<Span<'a>> = Vec::new();
        let items = theme_items(node);
        let captions = theme_captions(node, &items);
        // Where the next item starts, and how long the last one lasts.
        let (mut at, mut last) = (0.0_f64, 0.0_f64);
        for (i, &(item, join)) in items.iter().enumerate() {
            // Never more than the item before lasts.
            let overlap = if i == 0 {
                0.0
            } else {
                self.theme_join(join).min(last)
            };
            let begin = (at - overlap).clamp(0.0, room);
            if let (Some(t), true) = (join, i > 0) {
                out.push(Span {
                    node: t,
                    start: start + begin,
                    duration: overlap.min(room - begin),
                    children: Vec::new(),
                });
            }
            let d = self
                .outer(item)
                .unwrap_or(DEFAULT_SECONDS)
                .min(room - begin);
            let mut children = self.children(item, start + begin, d);
            for &(_, caption) in captions.iter().filter(|(k, _)| *k == i) {
                children.push(self.place(caption, start + begin, d, false));
            }
            out.push(Span {
                node: item,
                start: start + begin,
                duration: d,
                children,
            });
            (at, last) = (begin + d, d);
        }
        for c in &node.children {
            let under = match c.kind {
                Kind::Audio => true,
                Kind::Track => c.ty() != "video",
                _ => false,
            };
            if under {
                out.push(self.place(c, start, room, false));
            }
        }
        out
    }
}

/// A widget's items in order — its video tracks' children and its own
/// pictures (its own texts too, when it has no picture: title cards) —
/// each with the transition given before it, if any.
fn theme_items(node: &Node) -> Vec<(&Node, Option<&Node>)> {
    let mut items = Vec::new();
    let pictures = node.children.iter().any(|c| {
        matches!(c.kind, Kind::Image | Kind::Video) || (c.kind == Kind::Track && c.ty() == "video")
    });
    let mut join = None;
    for c in &node.children {
        let inner: &[Node] = match c.kind {
            Kind::Track if c.ty() == "video" => &c.children,
            Kind::Image | Kind::Video | Kind::Transition => std::slice::from_ref(c),
            Kind::Text if !pictures => std::slice::from_ref(c),
            _ => &[],
        };
        for item in inner {
            if item.kind == Kind::Transition {
                join = Some(item);
            } else {
                items.push((item, join.take()));
            }
        }
    }
    items
}

/// A widget's own texts when it has pictures: text slot k is the caption
/// of picture k (sxml.md §11: TEXT_01… fill in order), any extra ones
/// captions of the last item. (item index, text).
fn theme_captions<'a>(node: &'a Node, items: &[(&Node, Option<&Node>)]) -> Vec<(usize, &'a Node)> {
    if items.iter().all(|(i, _)| i.kind == Kind::Text) {
        return Vec::new();
    }
    node.children
        .iter()
        .filter(|c| c.kind == Kind::Text)
        .enumerate()
        .map(|(k, t)| (k.min(items.len().saturating_sub(1)), t))
        .collect()
}

/// Lay out `movie`: the body's span, every node inside it.
pub fn resolve<'a>(movie: &'a Movie, lengths: &dyn Lengths) -> Result<Span<'a>, Error> {
    let default_transition = movie
        .defaults
        .iter()
        .find(|d| d.kind == Kind::Transition)
        .and_then(|t| t.number("duration"))
        .unwrap_or(DEFAULT_TRANSITION);
    let resolver = Resolver {
        lengths,
        default_transition,
    };
    check_transitions(&resolver, &movie.body)?;
    let total = resolver.outer(&movie.body).unwrap_or(DEFAULT_SECONDS);
    if total <= 0.0 {
        return Err(Error::on(&movie.body, "the movie lasts 0 s"));
    }
    Ok(resolver.place(&movie.body, 0.0, total, true))
}

/// Every transition fits inside both of its neighbours.
fn check_transitions(r: &Resolver<'_>, root: &Node) -> Result<(), Error> {
    for node in root.walk() {
        if !matches!(node.kind, Kind::Body | Kind::Sequence) {
            continue;
        }
        let items: Vec<&Node> = node
            .children
            .iter()
            .filter(|c| c.kind.is_atom() || c.kind == Kind::Transition)
            .collect();
        for (i, t) in items.iter().enumerate() {
            if t.kind != Kind::Transition || i == 0 {
                continue;
            }
            let length = r.transition(t);
            let side = |n: &Node| r.outer(n).unwrap_or(DEFAULT_SECONDS);
            let shortest = side(items[i - 1]).min(items.get(i + 1).map_or(f64::MAX, |n| side(n)));
            if length > shortest + 1e-9 {
                return Err(Error::on(
                    t,
                    format!("lasts {length} s, longer than a neighbour ({shortest} s)"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use crate::EXAMPLES;
    use crate::parse;

    /// Media lengths by file name (TTS: 3.2 s).
    fn lengths(node: &Node) -> Option<f64> {
        if node.attr("voice").is_some() {
            return Some(3.2);
        }
        let name = node.attr("filename")?;
        Some(match name.rsplit('/').next()? {
            "music.mp3" => 12.0,
            "song1.mp3" | "song2.mp3" => 60.0,
            "footage.mov" => 30.0,
            "postroll.mp4" => 7.0,
            "launch.mov" => 20.0,
            "clip.mp4" => 8.0,
            _ => return None,
        })
    }

    fn total(doc: &str) -> f64 {
        let movie = parse(doc).unwrap_or_else(|e| panic!("{e}"));
        resolve(&movie, &lengths).unwrap().duration
    }

    fn spans(doc: &str) -> Vec<(String, f64, f64)> {
        let movie = parse(doc).unwrap_or_else(|e| panic!("{e}"));
        let root = resolve(&movie, &lengths).unwrap();
        root.walk()
            .iter()
            .map(|s| {
                let label = format!(
                    "{}{}",
                    s.node.kind.name(),
                    s.node
                        .attr("name")
                        .map_or(String::new(), |n| format!(":{n}"))
                );
                (label, round(s.start), round(s.duration))
            })
            .collect()
    }

    fn round(x: f64) -> f64 {
        (x * 1000.0).round() / 1000.0
    }

    fn movie(body: &str) -> String {
        format!("<movie service=\"craftsman-1.0\"><body>{body}</body></movie>")
    }

    const RED: &str = "<image color=\"#ff0000\"/>";

    fn effect(attrs: &str) -> String {
        format!("<effect type=\"none\" {attrs}>{RED}</effect>")
    }

    #[test]
    fn section_14_examples_have_their_documented_lengths() {
        // 14.1: the stack lasts the music (12 s); flower 5 s.
        assert_eq!(total(EXAMPLES[0]), 17.0);
        // 14.2: 10 + 15 − 2.
        assert_eq!(total(EXAMPLES[1]), 23.0);
        // 14.3: the voice (3.2 s) plus its 2 s margin-end.
        assert_eq!(round(total(EXAMPLES[2])), 5.2);
        // 14.4: 5 s clip, 0.5 s crossfade, the 7 s post-roll.
        assert_eq!(total(EXAMPLES[3]), 11.5);
        for (i, doc) in EXAMPLES.iter().enumerate().skip(4) {
            let expected = [10.0, 10.0, 10.0, 6.0][i - 4];
            assert_eq!(total(doc), expected, "14.{}", i + 1);
        }
    }

    #[test]
    fn the_default_is_5_s_and_transitions_overlap() {
        assert_eq!(total(&movie(&effect(""))), 5.0);
        let two = format!(
            "{}<transition type=\"crossfade\"/>{}",
            effect(""),
            effect("")
        );
        assert_eq!(total(&movie(&two)), 9.0);
        let ten = format!(
            "{}<transition type=\"crossfade\" duration=\"1\"/>{}",
            effect("duration=\"10\""),
            effect("duration=\"10\"")
        );
        assert_eq!(total(&movie(&ten)), 19.0);
        // The second item starts as the transition does.
        let s = spans(&movie(&ten));
        assert_eq!(s[1], ("effect".into(), 0.0, 10.0));
        assert_eq!(s[3], ("transition".into(), 9.0, 1.0));
        assert_eq!(s[4], ("effect".into(), 9.0, 10.0));
    }

    #[test]
    fn stacks_are_sized_by_their_children() {
        let doc = movie(&format!(
            "<stack>{}<audio filename=\"http://x/music.mp3\"/><text>t</text></stack>",
            effect("")
        ));
        // The song (12 s) sets the stack; the effect and text stretch to it.
        let s = spans(&doc);
        assert_eq!(s[0].2, 12.0);
        assert!(s.contains(&("effect".into(), 0.0, 12.0)), "{s:?}");
        assert!(s.contains(&("text".into(), 0.0, 12.0)), "{s:?}");
        // With duration="..", the music follows the picture instead.
        let bound = movie(&format!(
            "<stack>{}<audio filename=\"http://x/music.mp3\" duration=\"..\"/></stack>",
            effect("duration=\"4\"")
        ));
        assert_eq!(total(&bound), 4.0);
        // An explicit shorter child ends early (drake's decision).
        let short = movie(&format!(
            "<stack>{}{}</stack>",
            effect("duration=\"5\""),
            effect("duration=\"2.5\" name=\"top\"")
        ));
        assert!(spans(&short).contains(&("effect:top".into(), 0.0, 2.5)));
    }

    #[test]
    fn margins_place_children_in_a_stack() {
        let doc = movie(&format!(
            "<stack duration=\"4\">{}\
             <overlay name=\"a\" margin-start=\"1\" margin-end=\"2\">{RED}</overlay>\
             <overlay name=\"b\" duration=\"2\" margin-end=\"0\">{RED}</overlay>\
             <audio name=\"c\" filename=\"http://x/music.mp3\" margin-both=\"1\"/>\
             </stack>",
            effect("")
        ));
        let s = spans(&doc);
        assert!(s.contains(&("overlay:a".into(), 1.0, 1.0)), "{s:?}");
        assert!(s.contains(&("overlay:b".into(), 2.0, 2.0)), "{s:?}");
        assert!(s.contains(&("audio:c".into(), 1.0, 2.0)), "{s:?}");
        // sxml.md's example: a 15 s stack, music with margin-both 2 → 2..13.
        let song = movie(&format!(
            "<stack duration=\"15\">{}<audio name=\"m\" filename=\"http://x/song1.mp3\" fadeout=\"2\" margin-both=\"2\"/></stack>",
            effect("")
        ));
        assert!(spans(&song).contains(&("audio:m".into(), 2.0, 11.0)));
    }

    #[test]
    fn media_lengths_skip_speed_and_tts() {
        let clip = movie(
            "<effect type=\"none\"><video filename=\"http://x/clip.mp4\" skip=\"2\" speed=\"2\"/></effect>",
        );
        assert_eq!(total(&clip), 3.0);
        let voice = movie(&format!(
            "<stack>{}<audio voice=\"neospeech:julie\" margin-end=\"2.0\">Hello</audio></stack>",
            effect("")
        ));
        assert_eq!(round(total(&voice)), 5.2);
        // An unknown length counts as none: the 5 s default.
        let unknown =
            movie("<effect type=\"none\"><video filename=\"http://x/other.mp4\"/></effect>");
        assert_eq!(total(&unknown), 5.0);
    }

    #[test]
    fn nesting_multi_image_effects_and_modifiers() {
        // A sequence in a stack in a sequence, with transitions at both levels.
        let inner = format!(
            "<sequence>{}<transition duration=\"0.5\"/>{}</sequence>",
            effect("duration=\"3\""),
            effect("duration=\"3\"")
        );
        let doc = movie(&format!(
            "<stack>{inner}</stack><transition duration=\"2\"/>{}",
            effect("duration=\"4\"")
        ));
        assert_eq!(total(&doc), 5.5 + 4.0 - 2.0);
        // Diving: two items share 10 s; the video plays second.
        let diving = movie(
            "<effect type=\"diving\" duration=\"10\"><image color=\"#000000\"/><video name=\"v\" filename=\"http://x/clip.mp4\"/></effect>",
        );
        assert!(spans(&diving).contains(&("video:v".into(), 5.0, 5.0)));
        // Animators: slide-in at the start, slide-out at the end, grow all along.
        let anim = movie(&format!(
            "<stack duration=\"10\">{}<overlay margin-start=\"6\" duration=\"4\">{RED}\
             <animator name=\"in\" type=\"slide-in\" duration=\"1\"/>\
             <animator name=\"out\" type=\"slide-out\" duration=\"1\"/>\
             <animator name=\"g\" type=\"grow\"/></overlay></stack>",
            effect("")
        ));
        let s = spans(&anim);
        assert!(s.contains(&("animator:in".into(), 6.0, 1.0)), "{s:?}");
        assert!(s.contains(&("animator:out".into(), 9.0, 1.0)), "{s:?}");
        assert!(s.contains(&("animator:g".into(), 6.0, 4.0)), "{s:?}");
    }

    #[test]
    fn a_transition_longer_than_its_neighbour_is_an_error() {
        let doc = movie(&format!(
            "{}<transition duration=\"3\"/>{}",
            effect("duration=\"2\""),
            effect("")
        ));
        let movie = parse(&doc).unwrap();
        let e = resolve(&movie, &lengths).unwrap_err();
        assert!(e.message.contains("longer than a neighbour"), "{e}");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn director_themes_lay_items_out_with_crossfades() {
        let doc = movie(
            "<widget type=\"director.theme.tiles\"><track type=\"video\">\
             <image filename=\"http://x/1.jpg\" duration=\"2.5\"/>\
             <text duration=\"4.0\">A title</text>\
             <image filename=\"http://x/2.jpg\"/></track>\
             <track type=\"audio\"><audio filename=\"http://x/music.mp3\"/></track></widget>",
        );
        assert_eq!(total(&doc), 2.5 + 4.0 + 5.0 - 2.0);
        // A transition given between two items joins them for its own
        // length; the others keep the theme's crossfade.
        let doc = movie(
            "<widget type=\"director.theme.tiles\"><track type=\"video\">\
             <image filename=\"http://x/1.jpg\" duration=\"3\"/>\
             <transition type=\"cube\" duration=\"2\"/>\
             <image filename=\"http://x/2.jpg\" duration=\"3\"/>\
             <image filename=\"http://x/3.jpg\" duration=\"3\"/>\
             <transition type=\"swirl\"/></track></widget>",
        );
        assert_eq!(total(&doc), 3.0 * 3.0 - 2.0 - 1.0);
        let s = spans(&doc);
        let at = |label: &str| {
            s.iter()
                .find(|(l, _, _)| l == label)
                .map(|&(_, a, d)| (a, d))
        };
        assert_eq!(at("transition"), Some((1.0, 2.0)));
        let images: Vec<f64> = s
            .iter()
            .filter(|(l, _, _)| l == "image")
            .map(|&(_, a, _)| a)
            .collect();
        assert_eq!(images, [0.0, 1.0, 3.0]);
    }
}
