//! XML text → checked [`Movie`]: the grammar of sxml.md §1–§11 as tables
//! (which children each element takes, which attributes, of which type).

use roxmltree::{Document, NodeType, ParsingOptions};

use crate::model::{Error, Kind, Movie, Node, Warning};
use crate::source::{self, Source};

/// Largest definition: drake's request body cap, and far more than any
/// hand- or machine-written timeline needs.
pub const MAX_BYTES: usize = 1 << 20;
/// Deepest element nesting: real timelines nest a handful of levels; the
/// cap keeps every recursive walk shallow.
pub const MAX_DEPTH: usize = 64;
/// Most elements: 10,000 items at 5 s each is a 14-hour film.
pub const MAX_ELEMENTS: usize = 10_000;
/// Longest time any attribute may give: a day is longer than any render,
/// and keeps every sum of durations finite.
pub const MAX_SECONDS: f64 = 86_400.0;
/// XML nodes the parser builds before giving up (elements, text,
/// comments): bounds parse memory well before the element count is known.
const MAX_XML_NODES: u32 = 4 * MAX_ELEMENTS as u32;

/// How an attribute's value is checked.
#[derive(Clone, Copy)]
enum Ty {
    /// Any text.
    Any,
    /// A finite number ≥ 0.
    Seconds,
    /// A finite number.
    Number,
    /// `duration`: seconds or `".."` (the parent's duration).
    Duration,
    /// `true`/`false` (`1`/`0`).
    Bool,
    /// `#RRGGBB` or `#RRGGBBAA`.
    Color,
    /// A fraction of the frame or `auto`.
    Place,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A number in this range.
    Range(f64, f64),
}

const TIME: &[(&str, Ty)] = &[
    ("duration", Ty::Duration),
    ("margin-start", Ty::Seconds),
    ("margin-end", Ty::Seconds),
    ("margin-both", Ty::Seconds),
    ("start", Ty::Seconds),
    // XSD-client: a label on any node.
    ("name", Ty::Any),
];

const PLACEMENT: &[(&str, Ty)] = &[
    ("top", Ty::Place),
    ("bottom", Ty::Place),
    ("left", Ty::Place),
    ("right", Ty::Place),
    ("width", Ty::Place),
    ("height", Ty::Place),
];

/// The 11 effect types (§4).
pub const EFFECTS: &[&str] = &[
    "none",
    "kenburns",
    "panel",
    "explode",
    "flower",
    "slice",
    "rectangles",
    "diving",
    "rotator",
    "sliding",
    "square",
];

/// The 14 transition types (§5).
pub const TRANSITIONS: &[&str] = TRANSITION_TYPES.split_at(14).0;

/// The transition types and `custom` (a `set.transitions.*` widget draws
/// the transition, §5).
const TRANSITION_TYPES: &[&str] = &[
    "crossfade",
    "waterdrop",
    "circle",
    "radial",
    "swirl",
    "strip",
    "scan",
    "scans",
    "move",
    "over",
    "under",
    "cube",
    "spiral",
    "dualmove",
    "custom",
];

/// The widget families drawn with looks of their own
/// (docs/sxml-rendering.md); any other type gets the generic renderer.
pub const WIDGET_FAMILIES: &[&str] = &[
    "director.theme.",
    "slideshow.reflect.",
    "set.scrapbook.",
    "set.moviestyle.",
    "set.transitions.",
];

/// Filter types rendered (tiers A and B, §9).
const FILTERS: &[&str] = &[
    "alpha",
    "blur",
    "gaussianBlur",
    "hgaussianBlur",
    "vgaussianBlur",
    "hblur",
    "vblur",
    "frame",
    "borderBlur",
    "colormap",
    "tint",
    "mask",
    "fixedAdapter",
    "panoramicAdapter",
    "zoomAdapter",
    "kenburnsAdapter",
    "fitAdapter",
    "distancemap",
    "distancecolor",
    "identity",
];

/// Filter types of the schemas drake does not render (tier C).
const UNRENDERED_FILTERS: &[&str] = &[
    "custom",
    "flick",
    "glow",
    "grow",
    "tv",
    "flashback",
    "noise",
    "cornerCut",
    "combine",
    "key",
    "makeTransparent",
    "subRender",
    "dof",
    "antialias",
    "quad",
    "threetint",
    "threshold",
    "bleach",
    "displacement",
    "motionInterpolate",
    "exposure",
    "directionalBlur",
    "maskedBlur",
    "bilateralBlur",
    "alphamask",
    "alphainvmask",
    "lumamask",
    "lumainvmask",
    "gradient",
    "radialGradient",
];

const ADAPTERS: &[&str] = &[
    "none",
    "panoramicAdapter",
    "zoomAdapter",
    "fixedAdapter",
    "kenburnsAdapter",
    "fitAdapter",
];

/// Every parameter a `<filter>` may carry (§9.2); values vary by type.
const FILTER_PARAMS: &[&str] = &[
    "color",
    "color0",
    "color1",
    "whiteColor",
    "blackColor",
    "mediumColor",
    "opaqueColor",
    "transparentColor",
    "rgba-bias-matrix",
    "preset",
    "threshold",
    "originalBlend",
    "diameter",
    "diameterX",
    "diameterY",
    "bias",
    "biasX",
    "biasY",
    "margin",
    "width",
    "colorWidth",
    "transWidth",
    "height",
    "aspectRatio",
    "rate",
    "gamma",
    "offset",
    "alphaStart",
    "alphaEnd",
    "direction",
    "angle",
    "point0",
    "point1",
    "center",
    "centerStart",
    "centerEnd",
    "zoomStart",
    "zoomEnd",
    "zoomLimit",
    "security",
    "distanceWidth",
    "fillOpacity",
    "strokeWidth",
    "strokeColor",
    "strokeOpacity",
    "strokePosition",
    "depthEnable",
];

/// Prefixes of the shadow and glow parameter families of `distancecolor`.
const FILTER_PARAM_FAMILIES: &[&str] = &["innerShadow", "dropShadow", "outerGlow", "innerGlow"];

struct Grammar {
    kind: Kind,
    attrs: &'static [&'static [(&'static str, Ty)]],
    /// Accepts attributes of any name (widgets, keys: free-form).
    lax: bool,
    children: &'static [&'static str],
    /// Takes text content.
    text: bool,
}

fn grammar(name: &str) -> Option<Grammar> {
    const MEDIA_AND_ATOMS: &[&str] = &[
        "image", "video", "sequence", "stack", "effect", "text", "overlay", "audio", "widget",
        "filter", "animator",
    ];
    let g = |kind, attrs, children, text| Grammar {
        kind,
        attrs,
        lax: false,
        children,
        text,
    };
    Some(match name {
        "body" => g(Kind::Body, &[TIME], SEQUENCE_CHILDREN, false),
        "sequence" => g(Kind::Sequence, &[TIME], SEQUENCE_CHILDREN, false),
        "stack" => g(
            Kind::Stack,
            &[
                TIME,
                &[
                    ("screenWidth", Ty::Number),
                    ("screenHeight", Ty::Number),
                    ("static", Ty::Bool),
                ],
            ],
            &[
                "sequence", "stack", "effect", "text", "overlay", "audio", "widget", "filter",
                "animator", "camera",
            ],
            false,
        ),
        "effect" => g(
            Kind::Effect,
            &[
                TIME,
                &[
                    ("type", Ty::OneOf(EFFECTS)),
                    ("depthEnable", Ty::Bool),
                    ("direction", Ty::Any),
                    ("cameramove", Ty::OneOf(&["left", "right", "up", "down"])),
                    ("filterType", Ty::OneOf(&["grow"])),
                    ("transWidth", Ty::Number),
                    ("width", Ty::Number),
                    ("color", Ty::Color),
                    ("adapter", Ty::OneOf(ADAPTERS)),
                    ("timeOffset", Ty::Number),
                ],
            ],
            MEDIA_AND_ATOMS,
            false,
        ),
        "text" => g(
            Kind::Text,
            &[
                TIME,
                PLACEMENT,
                &[
                    ("type", Ty::OneOf(&["legend", "zone", "advanced"])),
                    ("align", Ty::Any),
                    (
                        "direction",
                        Ty::OneOf(&["left", "right", "up", "down", "static"]),
                    ),
                    ("fontsize", Ty::Range(0.0, 10_000.0)),
                    ("fontname", Ty::Any),
                    ("face", Ty::Any),
                    ("weight", Ty::Any),
                    ("style", Ty::Any),
                    ("stretch", Ty::Any),
                    ("fontcolor", Ty::Color),
                    ("backgroundcolor", Ty::Color),
                    ("speed", Ty::Number),
                    ("vector", Ty::Bool),
                    ("reference", Ty::Any),
                    ("wrap", Ty::Bool),
                    ("interlign", Ty::Number),
                    ("depthEnable", Ty::Bool),
                    ("name", Ty::Any),
                ],
            ],
            &["filter", "animator"],
            true,
        ),
        "overlay" => g(
            Kind::Overlay,
            &[
                TIME,
                PLACEMENT,
                &[("depthEnable", Ty::Bool), ("name", Ty::Any)],
            ],
            MEDIA_AND_ATOMS,
            false,
        ),
        "audio" => g(
            Kind::Audio,
            &[
                TIME,
                &[
                    ("filename", Ty::Any),
                    ("fadein", Ty::Seconds),
                    ("fadeout", Ty::Seconds),
                    ("skip", Ty::Seconds),
                    ("volume", Ty::Range(0.0, 10.0)),
                    ("loop", Ty::Bool),
                    ("voice", Ty::Any),
                    ("speed", Ty::Range(0.01, 100.0)),
                    ("name", Ty::Any),
                    ("duck-others", Ty::Range(0.0, 1.0)),
                    ("duck-threshold", Ty::Range(0.0, 1.0)),
                    ("duck-margin", Ty::Seconds),
                    ("duck-fade", Ty::Seconds),
                ],
            ],
            &[],
            true,
        ),
        "image" => g(
            Kind::Image,
            &[&[
                ("filename", Ty::Any),
                ("color", Ty::Color),
                ("duration", Ty::Duration),
                ("type", Ty::Any),
                ("width", Ty::Any),
                ("height", Ty::Any),
                ("top", Ty::Any),
                ("bottom", Ty::Any),
                ("left", Ty::Any),
                ("right", Ty::Any),
                ("name", Ty::Any),
                ("alt_filename", Ty::Any),
                ("nativeHeightRatio", Ty::Number),
                // Map images (§8.1; drawn from the server's tiles).
                ("center", Ty::Any),
                ("zoom", Ty::Any),
                ("size", Ty::Any),
                ("markers", Ty::Any),
                ("maptype", Ty::Any),
                ("mapkey", Ty::Any),
            ]],
            &["filter", "track"],
            false,
        ),
        "video" => g(
            Kind::Video,
            &[&[
                ("filename", Ty::Any),
                ("skip", Ty::Seconds),
                ("audio", Ty::Bool),
                ("volume", Ty::Range(0.0, 10.0)),
                ("duration", Ty::Duration),
                ("margin-start", Ty::Seconds),
                ("speed", Ty::Range(0.01, 100.0)),
                ("audiospeed", Ty::Range(0.01, 100.0)),
                ("name", Ty::Any),
                ("duck-others", Ty::Range(0.0, 1.0)),
                ("duck-threshold", Ty::Range(0.0, 1.0)),
                ("duck-margin", Ty::Seconds),
                ("duck-fade", Ty::Seconds),
            ]],
            &["filter"],
            false,
        ),
        "transition" => g(
            Kind::Transition,
            &[&[
                ("type", Ty::OneOf(TRANSITION_TYPES)),
                ("duration", Ty::Seconds),
                ("direction", Ty::Any),
                (
                    "rotCenter",
                    Ty::OneOf(&["middle", "left", "right", "top", "bottom"]),
                ),
                ("angle", Ty::Number),
                ("directions", Ty::Any),
                ("rotCenters", Ty::Any),
                ("angles", Ty::Any),
                ("depthEnable", Ty::Bool),
                ("drawOrder", Ty::OneOf(&["normal", "inverted"])),
                ("start", Ty::Seconds),
            ]],
            &["widget"],
            false,
        ),
        "filter" => g(
            Kind::Filter,
            &[TIME, &[("type", Ty::Any)]],
            &[
                "image", "video", "filter", "animator", "sequence", "stack", "effect", "text",
                "overlay", "audio", "widget",
            ],
            false,
        ),
        "animator" => g(
            Kind::Animator,
            &[
                TIME,
                &[
                    (
                        "type",
                        Ty::OneOf(&[
                            "slide-in",
                            "slide-out",
                            "slide",
                            "rot-in",
                            "rot-out",
                            "grow",
                            "custom",
                        ]),
                    ),
                    ("direction", Ty::OneOf(&["left", "right", "up", "down"])),
                    ("angle", Ty::Number),
                    ("growStart", Ty::Number),
                    ("growEnd", Ty::Number),
                    ("mode", Ty::OneOf(&["linear", "quadratic"])),
                ],
            ],
            &["key"],
            false,
        ),
        "key" => Grammar {
            kind: Kind::Key,
            attrs: &[&[("time", Ty::Number)]],
            lax: true,
            children: &[],
            text: false,
        },
        "camera" => g(
            Kind::Camera,
            &[TIME, &[("relative", Ty::Bool)]],
            &["animator"],
            false,
        ),
        "widget" => Grammar {
            kind: Kind::Widget,
            attrs: &[TIME],
            lax: true,
            children: &[
                "text",
                "image",
                "video",
                "track",
                "style",
                "audio",
                "transition",
            ],
            text: false,
        },
        "track" => g(
            Kind::Track,
            &[&[("type", Ty::OneOf(&["video", "audio", "caption"]))]],
            // Transitions between a theme's items: the original's
            // samples put them there (and last, where they join nothing).
            &["image", "video", "text", "audio", "transition"],
            false,
        ),
        "style" => Grammar {
            kind: Kind::Style,
            attrs: &[&[
                ("layer", Ty::Any),
                ("color", Ty::Color),
                ("visible", Ty::Bool),
            ]],
            lax: true,
            children: &[],
            text: false,
        },
        _ => return None,
    })
}

const SEQUENCE_CHILDREN: &[&str] = &[
    "sequence",
    "stack",
    "effect",
    "text",
    "overlay",
    "audio",
    "widget",
    "filter",
    "animator",
    "transition",
];

/// Elements of the schemas drake refuses (tier C), with why.
fn refused(name: &str) -> Option<&'static str> {
    Some(match name {
        "sphere" => "3-D spheres are not supported",
        "head" | "filtercode" => "custom shaders (<head>/<filtercode>) are not supported",
        _ => return None,
    })
}

fn check_value(ty: Ty, value: &str) -> Result<(), String> {
    let v = value.trim();
    let number = || -> Result<f64, String> {
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(format!("{value:?} is not a number")),
        }
    };
    match ty {
        Ty::Any => Ok(()),
        Ty::Number => number().map(drop),
        Ty::Seconds => match number()? {
            n if (0.0..=MAX_SECONDS).contains(&n) => Ok(()),
            n if n < 0.0 => Err(format!("{value:?} is negative")),
            _ => Err(format!("{value:?} is over {MAX_SECONDS} s")),
        },
        Ty::Duration if v == ".." => Ok(()),
        Ty::Duration => match number()? {
            n if n > 0.0 && n <= MAX_SECONDS => Ok(()),
            _ => Err(format!(
                "{value:?} is not a duration in (0, {MAX_SECONDS}] s (or \"..\")"
            )),
        },
        Ty::Bool => match v {
            "true" | "false" | "1" | "0" => Ok(()),
            _ => Err(format!("{value:?} is not true or false")),
        },
        Ty::Color => {
            let hex = v.strip_prefix('#').unwrap_or("");
            if matches!(hex.len(), 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(())
            } else {
                Err(format!(
                    "{value:?} is not a colour like #RRGGBB or #RRGGBBAA"
                ))
            }
        }
        Ty::Place if v == "auto" => Ok(()),
        Ty::Place => match number()? {
            n if (-10.0..=10.0).contains(&n) => Ok(()),
            _ => Err(format!(
                "{value:?} is not a fraction of the frame (or auto)"
            )),
        },
        Ty::OneOf(words) => {
            if words.contains(&v) {
                Ok(())
            } else {
                Err(format!("{value:?} is not one of {}", words.join(", ")))
            }
        }
        Ty::Range(lo, hi) => match number()? {
            n if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(format!("{value:?} is not between {lo} and {hi}")),
        },
    }
}

/// Parse and check an SXML document.
pub fn parse(text: &str) -> Result<Movie, Error> {
    if text.len() > MAX_BYTES {
        return Err(Error::whole(format!(
            "{} bytes, over the {MAX_BYTES}-byte limit",
            text.len()
        )));
    }
    check_depth(text)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    let mut source = Source::new(text);
    let mut warnings = Vec::new();
    let recovered;
    let doc = match Document::parse_with_options(text, options) {
        Ok(doc) => doc,
        Err(e @ (roxmltree::Error::DtdDetected | roxmltree::Error::NodesLimitReached)) => {
            return Err(xml_error(text, &source, text, &e));
        }
        Err(e) => {
            // Perhaps only unescaped `&` and `<` (sxml.md §15): read them
            // as the characters they are, and say so.
            let Some((fixed, said)) = source::recover(&mut source) else {
                return Err(xml_error(text, &source, text, &e));
            };
            recovered = fixed;
            warnings = said;
            Document::parse_with_options(&recovered, options)
                .map_err(|e| xml_error(text, &source, &recovered, &e))?
        }
    };
    let mut cx = Cx {
        source: &source,
        count: 0,
        warnings,
    };
    let root = doc.root_element();
    let pos = |n: roxmltree::Node<'_, '_>| source.pos(n.range().start);
    let (line, column) = pos(root);
    if root.tag_name().name() != "movie" {
        return Err(Error::at(
            line,
            column,
            format!(
                "the root element is <{}>, not <movie>",
                root.tag_name().name()
            ),
        ));
    }
    let mut body = None;
    let mut defaults = Vec::new();
    for attr in root.attributes() {
        match attr.name() {
            "service" if attr.value() == "craftsman-1.0" => {}
            "service" => {
                return Err(Error::at(
                    line,
                    column,
                    format!("<movie>: service {:?} is not craftsman-1.0", attr.value()),
                ));
            }
            other => cx.warnings.push(Error::at(
                line,
                column,
                format!("<movie>: unknown attribute {other:?} ignored"),
            )),
        }
    }
    if root.attribute("service").is_none() {
        return Err(Error::at(
            line,
            column,
            "<movie>: service=\"craftsman-1.0\" is missing",
        ));
    }
    for child in root.children() {
        match child.node_type() {
            NodeType::Element => {}
            NodeType::Text if child.text().unwrap_or("").trim().is_empty() => continue,
            NodeType::Text => {
                let (l, c) = pos(child);
                return Err(Error::at(l, c, "<movie>: unexpected text"));
            }
            _ => continue,
        }
        let name = child.tag_name().name();
        let (l, c) = pos(child);
        match name {
            "body" if body.is_some() => {
                return Err(Error::at(l, c, "<movie>: a second <body>"));
            }
            "body" => body = cx.convert(child, 1)?,
            "head" if child.children().all(|n| !n.is_element()) => {}
            "default" => {
                for d in child.children().filter(roxmltree::Node::is_element) {
                    let Some(node) = cx.convert(d, 2)? else {
                        continue;
                    };
                    if !matches!(node.kind, Kind::Transition | Kind::Effect) {
                        return Err(Error::on(
                            &node,
                            "<default> takes a transition and an effect",
                        ));
                    }
                    defaults.push(node);
                }
            }
            other => match refused(other) {
                Some(why) => return Err(Error::at(l, c, format!("<{other}>: {why}"))),
                None if self::grammar(other).is_some() => {
                    return Err(Error::at(
                        l,
                        c,
                        format!("<{other}> cannot be inside <movie>"),
                    ));
                }
                None => cx.warnings.push(Error::at(
                    l,
                    c,
                    format!("<movie>: unknown element <{other}> ignored"),
                )),
            },
        }
    }
    let Some(body) = body else {
        return Err(Error::at(line, column, "<movie>: <body> is missing"));
    };
    if body.children.iter().all(|c| !c.kind.is_atom()) {
        // What was ignored may be what the author meant to play.
        let ignored: Vec<String> = cx
            .warnings
            .iter()
            .map(|w| format!("line {}, column {}: {}", w.line, w.column, w.message))
            .collect();
        let also = if ignored.is_empty() {
            String::new()
        } else {
            format!(" (also {})", ignored.join("; "))
        };
        return Err(Error::on(
            &body,
            format!("nothing to play: add an effect, stack or sequence{also}"),
        ));
    }
    Ok(Movie {
        body,
        defaults,
        warnings: cx.warnings,
    })
}

/// Refuse nesting deeper than [`MAX_DEPTH`] before the XML parser sees
/// it: roxmltree descends one call per level, so 10,000 nested elements
/// would exhaust a wasm stack. A tag-level scan (comments, CDATA,
/// declarations and quoted attribute values skipped) is enough to count
/// levels; the parser checks everything else.
fn check_depth(text: &str) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let (mut i, mut depth, mut line, mut line_start) = (0, 0usize, 1u32, 0usize);
    let skip_to = |from: usize, end: &[u8]| -> usize {
        bytes[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(bytes.len(), |p| from + p + end.len())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
            }
            b'<' if bytes[i..].starts_with(b"<!--") => i = skip_to(i, b"-->"),
            b'<' if bytes[i..].starts_with(b"<![CDATA[") => i = skip_to(i, b"]]>"),
            b'<' if matches!(bytes.get(i + 1), Some(b'?' | b'!')) => i = skip_to(i, b">"),
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                depth = depth.saturating_sub(1);
                i = skip_to(i, b">");
            }
            b'<' => {
                let column = i - line_start + 1;
                // To the tag's end, outside quotes.
                let mut j = i + 1;
                let mut quote = None;
                while j < bytes.len() {
                    match (quote, bytes[j]) {
                        (None, q @ (b'"' | b'\'')) => quote = Some(q),
                        (Some(q), c) if c == q => quote = None,
                        (None, b'>') => break,
                        (_, b'\n') => {
                            line += 1;
                            line_start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if bytes.get(j.wrapping_sub(1)) != Some(&b'/') {
                    depth += 1;
                    if depth > MAX_DEPTH + 1 {
                        return Err(Error::at(
                            line,
                            u32::try_from(column).unwrap_or(u32::MAX),
                            format!("elements nested deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// A parse error, placed in the author's text (`parsed` is what was
/// parsed: the author's text or its recovery).
fn xml_error(text: &str, source: &Source<'_>, parsed: &str, e: &roxmltree::Error) -> Error {
    match e {
        roxmltree::Error::DtdDetected => {
            let (line, column) = source.pos(text.find("<!DOCTYPE").unwrap_or(0));
            Error::at(
                line,
                column,
                "DOCTYPE declarations are not accepted (entities are never expanded)",
            )
        }
        roxmltree::Error::NodesLimitReached => Error::whole(format!(
            "more than {MAX_XML_NODES} XML nodes; at most {MAX_ELEMENTS} elements"
        )),
        other => {
            let p = other.pos();
            // The byte offset of roxmltree's (row, column) in `parsed`.
            let line_start = parsed
                .split_inclusive('\n')
                .take(p.row.saturating_sub(1) as usize)
                .map(str::len)
                .sum::<usize>();
            let offset = parsed[line_start..]
                .char_indices()
                .nth(p.col.saturating_sub(1) as usize)
                .map_or(parsed.len(), |(i, _)| line_start + i);
            let (line, column) = source.pos(offset);
            // roxmltree's messages end with their own position.
            let message = other.to_string();
            let message = message
                .rsplit_once(" at ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_owned();
            Error::at(line, column, format!("malformed XML: {message}"))
        }
    }
}

/// What a walk over the document carries: where things are, how many
/// elements so far, what was ignored.
struct Cx<'s, 't> {
    source: &'s Source<'t>,
    count: usize,
    warnings: Vec<Warning>,
}

impl Cx<'_, '_> {
    /// One element and what is inside it; `None` when it is ignored
    /// (with a warning: an animator of an unknown type).
    fn convert(
        &mut self,
        el: roxmltree::Node<'_, '_>,
        depth: usize,
    ) -> Result<Option<Node>, Error> {
        let (line, column) = self.source.pos(el.range().start);
        let name = el.tag_name().name();
        if depth > MAX_DEPTH {
            return Err(Error::at(
                line,
                column,
                format!("<{name}>: nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.count += 1;
        if self.count > MAX_ELEMENTS {
            return Err(Error::at(
                line,
                column,
                format!("<{name}>: more than {MAX_ELEMENTS} elements"),
            ));
        }
        if el.tag_name().namespace().is_some() {
            return Err(Error::at(
                line,
                column,
                format!("<{name}>: namespaces are not SXML"),
            ));
        }
        if let Some(why) = refused(name) {
            return Err(Error::at(line, column, format!("<{name}>: {why}")));
        }
        let Some(grammar) = grammar(name) else {
            return Err(Error::at(line, column, format!("unknown element <{name}>")));
        };
        let mut node = Node {
            kind: grammar.kind,
            attrs: Vec::new(),
            text: String::new(),
            children: Vec::new(),
            line,
            column,
        };
        for attr in el.attributes() {
            let key = attr.name();
            let ty = grammar
                .attrs
                .iter()
                .flat_map(|set| set.iter())
                .find(|(k, _)| *k == key)
                .map(|(_, ty)| *ty);
            let ty = match (ty, grammar.kind) {
                (Some(ty), _) => ty,
                (None, Kind::Filter)
                    if FILTER_PARAMS.contains(&key)
                        || FILTER_PARAM_FAMILIES.iter().any(|f| key.starts_with(f)) =>
                {
                    if key.ends_with("Color") || key == "color" || key.starts_with("color") {
                        Ty::Color
                    } else {
                        Ty::Any
                    }
                }
                (None, _) if grammar.lax => Ty::Any,
                // A client's typo (`alighn`) or a feature of the original
                // drake does not know: ignored, as the original did.
                (None, _) => {
                    self.warn(
                        line,
                        column,
                        format!("<{name}>: unknown attribute {key:?} ignored"),
                    );
                    continue;
                }
            };
            let value = attr.value();
            match check_value(ty, value) {
                Ok(()) => node.attrs.push((key.to_owned(), value.to_owned())),
                // A word, colour or flag the language does not know: the
                // attribute's default, as the original fell back.
                Err(why) if matches!(ty, Ty::OneOf(_) | Ty::Color | Ty::Bool) => {
                    match (grammar.kind, key) {
                        (Kind::Animator, "type") => {
                            self.warn(
                                line,
                                column,
                                format!("<{name}> {key}: {why}; the animator is ignored"),
                            );
                            return Ok(None);
                        }
                        // Required, so their defaults stand in: the plain
                        // effect, a black picture.
                        (kind, _) if let Some((value, said)) = required_default(kind, key) => {
                            self.warn(
                                line,
                                column,
                                format!("<{name}> {key}: {why}; {said} is used"),
                            );
                            node.attrs.push((key.to_owned(), value.to_owned()));
                        }
                        _ => self.warn(
                            line,
                            column,
                            format!("<{name}> {key}: {why}; the default is used"),
                        ),
                    }
                }
                // A number out of range or unreadable: a time or size
                // nothing can stand in for.
                Err(why) => return Err(Error::at(line, column, format!("<{name}> {key}: {why}"))),
            }
        }
        self.lenient_types(&mut node);
        check_element(&node)?;
        for child in el.children() {
            match child.node_type() {
                NodeType::Element => {}
                NodeType::Text => {
                    let text = child.text().unwrap_or("");
                    if grammar.text {
                        node.text.push_str(text);
                    } else if !text.trim().is_empty() {
                        let (l, c) = self.source.pos(child.range().start);
                        return Err(Error::at(
                            l,
                            c,
                            format!("<{name}>: unexpected text {:?}", short(text.trim())),
                        ));
                    }
                    continue;
                }
                _ => continue,
            }
            let child_name = child.tag_name().name();
            if grammar.children.contains(&child_name) {
                node.children.extend(self.convert(child, depth + 1)?);
            } else if refused(child_name).is_some() || self::grammar(child_name).is_some() {
                // A known element in the wrong place, or a refused one.
                let (l, c) = self.source.pos(child.range().start);
                return Err(match self.convert(child, depth + 1)? {
                    Some(converted) => Error::on(
                        &converted,
                        format!("cannot be inside <{name}> (line {line})"),
                    ),
                    None => Error::at(
                        l,
                        c,
                        format!("<{child_name}> cannot be inside <{name}> (line {line})"),
                    ),
                });
            } else {
                // Not SXML at all: ignored with everything inside it.
                let (l, c) = self.source.pos(child.range().start);
                self.warn(
                    l,
                    c,
                    format!("<{name}>: unknown element <{child_name}> ignored"),
                );
            }
        }
        node.text = node.text.trim().to_owned();
        self.lenient_children(&mut node);
        content_filters(&mut node);
        check_children(&node)?;
        Ok(Some(node))
    }

    fn warn(&mut self, line: u32, column: u32, message: String) {
        self.warnings.push(Error::at(line, column, message));
    }

    /// `type` values of free-form attributes that the renderer cannot
    /// draw fall back, with a warning (tier C filters stay refused).
    fn lenient_types(&mut self, node: &mut Node) {
        let fallback = match (node.kind, node.attr("type")) {
            (Kind::Filter, Some(t))
                if !t.is_empty() && !FILTERS.contains(&t) && !UNRENDERED_FILTERS.contains(&t) =>
            {
                Some((
                    "identity",
                    format!("<filter>: unknown filter type {t:?}; drawn unfiltered"),
                ))
            }
            (Kind::Widget, t)
                if !WIDGET_FAMILIES
                    .iter()
                    .any(|f| t.unwrap_or("").starts_with(f)) =>
            {
                let t = t.unwrap_or("");
                self.warn(
                    node.line,
                    node.column,
                    format!("<widget>: type {t:?} is not one of drake's widget families; drawn by the generic widget renderer"),
                );
                None
            }
            (Kind::Image, Some(t)) if t != "map" => {
                Some(("", format!("<image>: unknown image type {t:?} ignored")))
            }
            _ => None,
        };
        if let Some((value, message)) = fallback {
            node.attrs.retain(|(k, _)| k != "type");
            if !value.is_empty() {
                node.attrs.push(("type".to_owned(), value.to_owned()));
            }
            self.warn(node.line, node.column, message);
        }
    }

    /// Transitions the original accepted where no neighbour is: first,
    /// last or doubled in a sequence or track. Nothing to join, so they
    /// are dropped, with a warning.
    fn lenient_children(&mut self, node: &mut Node) {
        if node.kind == Kind::Transition {
            let drawn = node
                .children
                .iter()
                .any(|w| w.ty().starts_with("set.transitions."));
            match (node.ty() == "custom", drawn) {
                (true, false) => self.warn(
                    node.line,
                    node.column,
                    "<transition>: a custom transition without a set.transitions.* widget; a crossfade is drawn".to_owned(),
                ),
                (false, _) if !node.children.is_empty() => self.warn(
                    node.line,
                    node.column,
                    "<transition>: only a custom transition uses a widget; ignored".to_owned(),
                ),
                _ => {}
            }
            return;
        }
        if !matches!(
            node.kind,
            Kind::Body | Kind::Sequence | Kind::Track | Kind::Widget
        ) {
            return;
        }
        let is_item = |c: &Node| c.kind.is_atom() || matches!(c.kind, Kind::Image | Kind::Video);
        let mut keep = vec![true; node.children.len()];
        // Whether the last thing kept was an item.
        let mut after_item = false;
        for (i, c) in node.children.iter().enumerate() {
            if is_item(c) {
                after_item = true;
                continue;
            }
            if c.kind != Kind::Transition {
                continue;
            }
            let next = node.children[i + 1..]
                .iter()
                .find(|n| is_item(n) || n.kind == Kind::Transition);
            let why = match next {
                _ if !after_item => "nothing comes before it",
                None => "nothing follows it",
                Some(n) if n.kind == Kind::Transition => "another transition follows it",
                Some(_) => {
                    after_item = false;
                    continue;
                }
            };
            keep[i] = false;
            self.warn(
                c.line,
                c.column,
                format!("<transition>: {why} in <{}>; ignored", node.kind.name()),
            );
        }
        let mut keep = keep.into_iter();
        node.children.retain(|_| keep.next().unwrap_or(true));
    }
}

/// Draws in time: an atom, media, or a filter holding either.
fn is_content(node: &Node) -> bool {
    node.kind.is_atom() || matches!(node.kind, Kind::Image | Kind::Video) || holds_content(node)
}

/// A filter wrapping what it filters (a mask's child is its source, not
/// its content).
fn holds_content(node: &Node) -> bool {
    node.kind == Kind::Filter && node.ty() != "mask" && node.children.iter().any(is_content)
}

/// Filters wrapping content (`<stack><filter type="blur"><effect …/>
/// </filter></stack>`, as client samples write them) draw that content
/// filtered. In a sequence or stack the filter becomes a stack of its
/// content (media in a plain effect) with the filter over it, on the
/// filter's own time; in an effect or overlay, which show one picture,
/// the content joins the container and the filter filters it.
fn content_filters(node: &mut Node) {
    if !node.children.iter().any(holds_content) {
        return;
    }
    let children = std::mem::take(&mut node.children);
    node.children = match node.kind {
        Kind::Body | Kind::Sequence | Kind::Stack => children
            .into_iter()
            .map(|c| {
                if holds_content(&c) {
                    filtered_stack(c)
                } else {
                    c
                }
            })
            .collect(),
        Kind::Effect | Kind::Overlay => {
            let mut out = Vec::with_capacity(children.len() + 1);
            for mut c in children {
                if holds_content(&c) {
                    let (content, modifiers) = std::mem::take(&mut c.children)
                        .into_iter()
                        .partition(is_content);
                    out.extend(content);
                    c.children = modifiers;
                }
                out.push(c);
            }
            out
        }
        _ => children,
    };
}

/// A content-holding filter as a stack (see [`content_filters`]).
fn filtered_stack(mut filter: Node) -> Node {
    const TIME: &[&str] = &["duration", "margin-start", "margin-end", "margin-both"];
    let (time, attrs) = std::mem::take(&mut filter.attrs)
        .into_iter()
        .partition(|(k, _)| TIME.contains(&k.as_str()));
    filter.attrs = attrs;
    let (content, modifiers): (Vec<Node>, Vec<Node>) = std::mem::take(&mut filter.children)
        .into_iter()
        .partition(is_content);
    // Nested filters apply first, then this one; animators animate it.
    let (nested, animators): (Vec<Node>, Vec<Node>) =
        modifiers.into_iter().partition(|c| c.kind == Kind::Filter);
    filter.children = animators;
    let mut children: Vec<Node> = content
        .into_iter()
        .map(|c| match c.kind {
            Kind::Image | Kind::Video => Node {
                kind: Kind::Effect,
                attrs: vec![("type".to_owned(), "none".to_owned())],
                text: String::new(),
                line: c.line,
                column: c.column,
                children: vec![c],
            },
            Kind::Filter => filtered_stack(c),
            _ => c,
        })
        .collect();
    children.extend(nested);
    let (line, column) = (filter.line, filter.column);
    children.push(filter);
    Node {
        kind: Kind::Stack,
        attrs: time,
        text: String::new(),
        children,
        line,
        column,
    }
}

/// What stands in for a required attribute whose value drake does not
/// know: the value, and how the warning names it.
fn required_default(kind: Kind, key: &str) -> Option<(&'static str, &'static str)> {
    match (kind, key) {
        (Kind::Effect, "type") => Some(("none", "\"none\"")),
        (Kind::Image, "color") => Some(("#000000", "black")),
        _ => None,
    }
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Rules on one element's attributes (types are already checked).
fn check_element(node: &Node) -> Result<(), Error> {
    let has = |k: &str| node.attr(k).is_some();
    // Margins (§3.2 rule 7).
    if has("margin-both") && (has("margin-start") || has("margin-end") || has("duration")) {
        return Err(Error::on(
            node,
            "margin-both excludes margin-start, margin-end and duration",
        ));
    }
    if has("margin-start") && has("margin-end") && has("duration") {
        return Err(Error::on(
            node,
            "margin-start, duration and margin-end together over-constrain the time; drop one",
        ));
    }
    match node.kind {
        Kind::Effect if !has("type") => Err(Error::on(node, "type is missing")),
        Kind::Animator if !has("type") => Err(Error::on(node, "type is missing")),
        Kind::Key if !has("time") => Err(Error::on(node, "time is missing")),
        Kind::Filter => match node.ty() {
            "" => Err(Error::on(node, "type is missing")),
            t if FILTERS.contains(&t) => Ok(()),
            t if UNRENDERED_FILTERS.contains(&t) => Err(Error::on(
                node,
                format!("filter type {t:?} is not supported"),
            )),
            t => Err(Error::on(node, format!("unknown filter type {t:?}"))),
        },
        Kind::Image => match (node.attr("type"), has("filename"), has("color")) {
            // A map draws what it says: a filename or colour beside it is
            // not looked at.
            (Some("map"), _, _) if has("center") || has("markers") => Ok(()),
            (Some("map"), _, _) => Err(Error::on(
                node,
                "a map needs a center (a place name or lat,lng) or markers",
            )),
            (Some(t), _, _) => Err(Error::on(node, format!("unknown image type {t:?}"))),
            (None, true, true) => Err(Error::on(node, "give filename or color, not both")),
            (None, false, false) => Err(Error::on(node, "filename or color is missing")),
            _ => Ok(()),
        },
        Kind::Video if !has("filename") => Err(Error::on(node, "filename is missing")),
        Kind::Audio if has("filename") && has("voice") => {
            Err(Error::on(node, "give filename or voice, not both"))
        }
        _ => Ok(()),
    }
}

/// Rules on an element's children and content.
fn check_children(node: &Node) -> Result<(), Error> {
    let count = |k: Kind| node.children.iter().filter(|c| c.kind == k).count();
    let media = count(Kind::Image) + count(Kind::Video);
    let atoms = node.children.iter().filter(|c| c.kind.is_atom()).count();
    match node.kind {
        Kind::Effect => {
            let multi = matches!(node.ty(), "diving" | "rotator" | "sliding" | "square");
            let shown = media + atoms;
            if multi && !(1..=100).contains(&shown) {
                return Err(Error::on(
                    node,
                    format!("a {} effect shows 1 to 100 items", node.ty()),
                ));
            }
            if !multi && shown != 1 {
                return Err(Error::on(
                    node,
                    format!(
                        "a {} effect shows exactly one item ({shown} given)",
                        node.ty()
                    ),
                ));
            }
        }
        Kind::Overlay if media + atoms == 0 => {
            return Err(Error::on(
                node,
                "shows nothing: add an image, video or atom",
            ));
        }
        Kind::Audio => match (node.attr("filename"), node.attr("voice")) {
            (None, None) => return Err(Error::on(node, "filename or voice is missing")),
            (None, Some(_)) if node.text.is_empty() => {
                return Err(Error::on(node, "a voice needs the text to speak"));
            }
            (Some(_), None) if !node.text.is_empty() => {
                return Err(Error::on(node, "text is spoken only with a voice"));
            }
            _ => {}
        },
        // An empty text is accepted and draws nothing: client code
        // fills text slots from data that is sometimes empty.
        Kind::Animator if node.ty() == "custom" && count(Kind::Key) == 0 => {
            return Err(Error::on(node, "a custom animator needs <key> children"));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn err(doc: &str) -> Error {
        parse(doc).unwrap_err()
    }

    fn movie(body: &str) -> String {
        format!("<movie service=\"craftsman-1.0\"><body>{body}</body></movie>")
    }

    #[test]
    fn every_section_14_example_parses() {
        for example in crate::EXAMPLES {
            parse(example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        }
    }

    #[test]
    fn malformed_xml_names_line_and_column() {
        let e = err(
            "<movie service=\"craftsman-1.0\">\n<body>\n  <effect type=\"none\">\n</body></movie>",
        );
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.starts_with("malformed XML"), "{e}");
        assert!(e.to_string().contains("line 4, column"), "{e}");
    }

    #[test]
    fn entities_are_never_declared_or_expanded() {
        let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
                      <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n\
                      <movie service=\"craftsman-1.0\"><body><text>&lol2;</text></body></movie>";
        let e = err(laughs);
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.message.contains("DOCTYPE"), "{e}");
        // An undeclared entity is never expanded: read as the text it is.
        let m = parse(&movie("<text type=\"zone\">&lol;</text>")).unwrap();
        assert_eq!(m.body.children[0].text, "&lol;");
        assert!(m.warnings[0].message.contains("unescaped '&'"));
        // The five XML escapes and character references are just text.
        let m = parse(&movie(
            "<effect type=\"none\"><image color=\"#000000\"/></effect><text>a &amp; b &#65;</text>",
        ))
        .unwrap();
        assert_eq!(m.body.children[1].text, "a & b A");
    }

    #[test]
    fn unknown_elements_and_attributes_are_ignored_with_warnings() {
        // As client code that ran against the original sends them: a typo,
        // an element of its own; ignored, each named with its place.
        let doc = "<movie service=\"craftsman-1.0\" version=\"2\"><meta/><body>\n\
            <effect type=\"none\" alighn=\"left\"><image color=\"#000000\"/><picture filename=\"x\"><image color=\"#ffffff\"/></picture></effect>\n\
            </body></movie>";
        let movie = parse(doc).unwrap();
        let said: Vec<String> = movie.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "definition: line 1, column 1: <movie>: unknown attribute \"version\" ignored",
                "definition: line 1, column 44: <movie>: unknown element <meta> ignored",
                "definition: line 2, column 1: <effect>: unknown attribute \"alighn\" ignored",
                "definition: line 2, column 59: <effect>: unknown element <picture> ignored",
            ]
        );
        let effect = &movie.body.children[0];
        assert_eq!(effect.attr("alighn"), None);
        assert_eq!(
            effect.children.len(),
            1,
            "the unknown element and its contents are gone"
        );
    }

    #[test]
    fn an_empty_text_is_accepted() {
        assert!(parse(&movie("<text duration=\"2\"></text>")).is_ok());
    }

    #[test]
    fn nothing_to_play_names_what_was_ignored() {
        let e = err(&movie("<bogus/>"));
        assert!(e.message.contains("nothing to play"), "{e}");
        assert!(e.message.contains("unknown element <bogus> ignored"), "{e}");
    }

    #[test]
    fn bad_values_and_misplaced_elements_are_named() {
        let e = err(&movie("<sequence><video filename=\"x\"/></sequence>"));
        assert!(e.message.contains("cannot be inside <sequence>"), "{e}");
        let e = err(&movie(
            "<stack><audio filename=\"a\" volume=\"11\"/></stack>",
        ));
        assert!(e.message.contains("between 0 and 10"), "{e}");
        assert_eq!((e.line, e.column), (1, 45), "{e}");
        let e = err(&movie(
            "<effect type=\"none\" duration=\"soon\"><image color=\"#000000\"/></effect>",
        ));
        assert!(
            e.message.contains("duration: \"soon\" is not a number"),
            "{e}"
        );
    }

    #[test]
    fn unknown_values_fall_back_to_their_defaults() {
        let doc = movie(concat!(
            "<effect type=\"tv\"><image color=\"red\"><filter type=\"sparkle\"/></image></effect>",
            "<transition type=\"wipe\"/>",
            "<stack><effect type=\"none\"><image color=\"#000000\"/></effect>",
            "<animator type=\"wobble\"/><text fontcolor=\"blue\" vector=\"yes\">x</text></stack>",
        ));
        let m = parse(&doc).unwrap();
        let said: Vec<&str> = m.warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            said,
            [
                "<effect> type: \"tv\" is not one of none, kenburns, panel, explode, flower, slice, rectangles, diving, rotator, sliding, square; \"none\" is used",
                "<image> color: \"red\" is not a colour like #RRGGBB or #RRGGBBAA; black is used",
                "<filter>: unknown filter type \"sparkle\"; drawn unfiltered",
                "<transition> type: \"wipe\" is not one of crossfade, waterdrop, circle, radial, swirl, strip, scan, scans, move, over, under, cube, spiral, dualmove, custom; the default is used",
                "<animator> type: \"wobble\" is not one of slide-in, slide-out, slide, rot-in, rot-out, grow, custom; the animator is ignored",
                "<text> fontcolor: \"blue\" is not a colour like #RRGGBB or #RRGGBBAA; the default is used",
                "<text> vector: \"yes\" is not true or false; the default is used",
            ]
        );
        let effect = &m.body.children[0];
        assert_eq!(effect.ty(), "none");
        assert_eq!(effect.children[0].attr("color"), Some("#000000"));
        assert_eq!(effect.children[0].children[0].ty(), "identity");
        assert_eq!(m.body.children[1].attr("type"), None);
        let last = &m.body.children[2];
        assert_eq!(last.children.len(), 2, "the animator is gone");
        assert_eq!(last.children[1].attr("fontcolor"), None);
    }

    #[test]
    fn stray_ampersands_and_angles_are_recovered_with_their_places() {
        let doc = "<movie service=\"craftsman-1.0\"><body>\n\
            <effect type=\"none\"><image filename=\"http://x/a.jpg?w=1&h=2\"/></effect>\n\
            <text>Fish & Chips < 5 €</text>\n\
            </body></movie>";
        let m = parse(doc).unwrap();
        assert_eq!(
            m.body.children[0].children[0].attr("filename"),
            Some("http://x/a.jpg?w=1&h=2")
        );
        assert_eq!(m.body.children[1].text, "Fish & Chips < 5 €");
        let at: Vec<(u32, u32)> = m.warnings.iter().map(|w| (w.line, w.column)).collect();
        assert_eq!(at, [(2, 56), (3, 12), (3, 20)]);
        // An error after a recovery still names the author's place.
        let e = err("<movie service=\"craftsman-1.0\"><body>&&&<effect></body></movie>");
        assert!(e.message.starts_with("malformed XML"), "{e}");
        assert_eq!((e.line, e.column), (1, 49), "{e}");
    }

    #[test]
    fn transitions_with_nothing_to_join_are_ignored() {
        let item = "<effect type=\"none\"><image color=\"#000000\"/></effect>";
        let m = parse(&movie(&format!(
            "<transition/>{item}<transition/><transition type=\"cube\"/>{item}<transition/>"
        )))
        .unwrap();
        let kinds: Vec<&str> = m.body.children.iter().map(|c| c.kind.name()).collect();
        assert_eq!(kinds, ["effect", "transition", "effect"]);
        assert_eq!(m.body.children[1].ty(), "cube");
        let said: Vec<&str> = m.warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            said,
            [
                "<transition>: nothing comes before it in <body>; ignored",
                "<transition>: another transition follows it in <body>; ignored",
                "<transition>: nothing follows it in <body>; ignored",
            ]
        );
        // In a theme's track, last: as the original's widget samples have it.
        let m = parse(&movie(
            "<widget type=\"director.theme.tiles\"><track type=\"video\"><image color=\"#000000\"/><transition type=\"swirl\"/><image color=\"#ffffff\"/><transition/></track></widget>",
        ))
        .unwrap();
        assert_eq!(m.body.children[0].children[0].children.len(), 3);
        assert_eq!(m.warnings.len(), 1);
    }

    #[test]
    fn every_widget_type_parses_and_unknown_families_are_named() {
        let m = parse(&movie(concat!(
            "<widget type=\"set.scrapbook.text.01b.m.01\"><style layer=\"background:lightColor\" color=\"#F892FE\"/><text>Hi</text></widget>",
            "<widget type=\"customers2.acme.01\" duration=\"3\"><image color=\"#ff0000\"/><text>A</text></widget>",
            "<widget><image color=\"#ff0000\"/></widget>",
            "<transition type=\"custom\" duration=\"1\"><widget type=\"set.transitions.dissolve.01\"/></transition>",
            "<widget type=\"slideshow.reflect.simple.index\"><image color=\"#ff0000\"/></widget>",
        )))
        .unwrap();
        let said: Vec<&str> = m.warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            said,
            [
                "<widget>: type \"customers2.acme.01\" is not one of drake's widget families; drawn by the generic widget renderer",
                "<widget>: type \"\" is not one of drake's widget families; drawn by the generic widget renderer",
            ]
        );
        let m = parse(&movie(concat!(
            "<widget type=\"set.moviestyle.machete.solo.01\"><image color=\"#ff0000\"/></widget>",
            "<transition type=\"custom\"/>",
            "<widget type=\"set.moviestyle.machete.solo.01\"><image color=\"#ff0000\"/></widget>",
        )))
        .unwrap();
        assert!(
            m.warnings[0].message.contains("a crossfade is drawn"),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn filters_in_stacks_overlays_in_sequences_and_auto_places_parse() {
        let m = parse(&movie(concat!(
            "<stack><filter type=\"blur\"><effect type=\"none\"><image color=\"#000000\"/></effect></filter></stack>",
            "<sequence><overlay top=\"auto\" bottom=\"auto\" width=\"0.5\"><image color=\"#ffffff\"/></overlay></sequence>",
        )))
        .unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn zero_negative_and_nan_durations_are_refused() {
        for bad in ["0", "-1", "NaN", "inf", "1e400", "1e300", "five"] {
            let e = err(&movie(&format!(
                "<effect type=\"none\" duration=\"{bad}\"><image color=\"#000000\"/></effect>"
            )));
            assert!(e.message.contains("duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn tier_c_is_refused_by_name() {
        let e = err(&movie(
            "<effect type=\"none\"><image type=\"map\" zoom=\"3\"/></effect>",
        ));
        assert!(e.message.contains("a map needs a center"), "{e}");
        let e = err(&movie("<sphere radius=\"1\"/>"));
        assert!(e.message.contains("<sphere>: 3-D spheres"), "{e}");
        let e = err(
            "<movie service=\"craftsman-1.0\"><head><filtercode name=\"x\">void main(){}</filtercode></head><body/></movie>",
        );
        assert!(e.message.contains("shaders"), "{e}");
        let e = err(&movie(
            "<stack><effect type=\"none\"><image color=\"#000000\"><filter type=\"tv\"/></image></effect></stack>",
        ));
        assert!(e.message.contains("\"tv\" is not supported"), "{e}");
    }

    #[test]
    fn deep_nesting_and_huge_documents_stop_early() {
        let deep = format!(
            "<movie service=\"craftsman-1.0\"><body>{}<effect type=\"none\"><image color=\"#000000\"/></effect>{}</body></movie>",
            "<stack>".repeat(10_000),
            "</stack>".repeat(10_000)
        );
        let e = err(&deep);
        assert!(e.message.contains("nested deeper than 64"), "{e}");
        assert_eq!(e.line, 1);
        // Quotes, comments and CDATA do not fool the depth scan.
        let tricky = movie(&format!(
            "<!-- <stack> <stack> --><![CDATA[<stack><stack>]]><stack><text name=\"a>b\">x</text></stack>{}",
            "<effect type=\"none\"><image color=\"#000000\"/></effect>"
        ));
        assert!(!matches!(parse(&tricky), Err(e) if e.message.contains("nested")));
        let many =
            movie(&"<effect type=\"none\"><image color=\"#000000\"/></effect>".repeat(100_000));
        let e = err(&many);
        assert!(
            e.message.contains("limit")
                || e.message.contains("elements")
                || e.message.contains("XML nodes"),
            "{e}"
        );
        let big = " ".repeat(MAX_BYTES + 1);
        assert!(err(&big).message.contains("limit"));
    }

    #[test]
    fn structure_rules() {
        let e = err("<movie service=\"craftsman-1.0\"><body><transition/></body></movie>");
        assert!(e.message.contains("nothing to play"), "{e}");
        let e = err(&movie(
            "<effect type=\"kenburns\"><image color=\"#000000\"/><image color=\"#000000\"/></effect>",
        ));
        assert!(e.message.contains("exactly one item"), "{e}");
        let e = err(&movie(
            "<stack><audio filename=\"a\" margin-both=\"1\" duration=\"2\"/></stack>",
        ));
        assert!(e.message.contains("margin-both excludes"), "{e}");
        let e = err(&movie("<stack><transition/></stack>"));
        assert!(e.message.contains("cannot be inside <stack>"), "{e}");
        let e = err("<movie><body/></movie>");
        assert!(e.message.contains("service"), "{e}");
        let e = err(&movie("<stack><audio voice=\"neospeech:julie\"/></stack>"));
        assert!(e.message.contains("text to speak"), "{e}");
    }

    #[test]
    fn filters_wrapping_content_draw_it_filtered() {
        let m = parse(&movie(
            "<stack><filter type=\"blur\" duration=\"2\"><filter type=\"colormap\"/><effect type=\"none\"><image color=\"#FF0000\"/></effect><video filename=\"v\"/></filter></stack>",
        ))
        .unwrap();
        let stack = &m.body.children[0].children[0];
        assert_eq!(stack.kind, Kind::Stack);
        assert_eq!(stack.attr("duration"), Some("2"));
        let kinds: Vec<Kind> = stack.children.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Effect, Kind::Effect, Kind::Filter, Kind::Filter],
            "content, the bare video in a plain effect, nested filter, the filter"
        );
        assert_eq!(stack.children[3].ty(), "blur");
        assert_eq!(stack.children[3].attr("duration"), None);
        // In an overlay the content joins it and the filter filters it.
        let m = parse(&movie(
            "<overlay><filter type=\"blur\"><image color=\"#FF0000\"/></filter></overlay>",
        ))
        .unwrap();
        let kinds: Vec<Kind> = m.body.children[0].children.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [Kind::Image, Kind::Filter]);
        // A mask's child is its source, left where it is.
        let m = parse(&movie(
            "<stack><effect type=\"none\"><image color=\"#FF0000\"/></effect><filter type=\"mask\"><image color=\"#FFFFFF\"/></filter></stack>",
        ))
        .unwrap();
        assert_eq!(m.body.children[0].children[1].kind, Kind::Filter);
    }
}
