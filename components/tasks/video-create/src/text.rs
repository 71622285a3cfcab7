//! `<text>` as `drawtext` filters (§6): one filter per line, so every
//! line is aligned on its own; the text reaches ffmpeg escaped for both
//! levels of filter-graph parsing and with `expansion=none` (no `%{…}`).

use std::fmt::Write as _;

use drake_sxml::time::Span;
use drake_sxml::{Kind, Node};

use crate::look::{self, Rect};
use crate::profile::Canvas;

/// Fonts: DejaVu (package `fonts-dejavu-core`, installed by the setup
/// command). Unknown `fontname`s fall back to DejaVu Sans.
const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// DejaVu Sans, the default face.
pub fn default_font() -> String {
    format!("{FONT_DIR}/DejaVuSans.ttf")
}

/// The font file for a text node's `fontname`, `face`, `weight`, `style`.
pub fn font_file(node: &Node) -> String {
    let name = node.attr("fontname").unwrap_or("").to_ascii_lowercase();
    let face = node.attr("face").unwrap_or("").to_ascii_lowercase();
    let bold = name.contains("bold") || node.attr("weight").is_some_and(|w| w.contains("bold"));
    let family = if name.contains("times") || face.contains("times") || face.contains("serif") {
        "DejaVuSerif"
    } else if name.contains("courier") || face.contains("mono") || face.contains("courier") {
        "DejaVuSansMono"
    } else {
        "DejaVuSans"
    };
    let suffix = if bold { "-Bold" } else { "" };
    format!("{FONT_DIR}/{family}{suffix}.ttf")
}

/// `s` as a `drawtext` option value inside a filter graph: escaped for
/// the option parser (`\ ' :`), then quoted for the graph parser.
pub fn quote(s: &str) -> String {
    let mut v = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '\\' | '\'' | ':') {
            v.push('\\');
        }
        v.push(if c.is_control() { ' ' } else { c });
    }
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// Advance of `c` in ems, roughly DejaVu Sans's: enough to wrap and to
/// choose a size; `drawtext` measures the real width for alignment.
fn advance(c: char) -> f64 {
    match c {
        ' ' => 0.32,
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '!' | '\'' | '|' | 'I' => 0.3,
        'f' | 't' | 'r' => 0.4,
        'm' | 'w' | 'M' | 'W' => 0.92,
        c if c.is_ascii_uppercase() => 0.72,
        c if c.is_ascii_digit() => 0.64,
        c if c.is_ascii() => 0.6,
        // CJK and other wide scripts.
        c if c as u32 >= 0x2E80 => 1.0,
        _ => 0.65,
    }
}

fn width(s: &str, size: f64) -> f64 {
    s.chars().map(advance).sum::<f64>() * size
}

/// Lines of `text` wrapped word by word to `max` pixels at `size`
/// (a word longer than a line is cut by character).
fn wrap(text: &str, size: f64, max: f64, wrap: bool) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.lines() {
        let para = para.trim();
        if !wrap {
            out.push(para.to_owned());
            continue;
        }
        let mut line = String::new();
        for word in para.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if width(&candidate, size) <= max || line.is_empty() && width(word, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                if width(&line, size) + advance(c) * size > max && !line.is_empty() {
                    out.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
        }
        out.push(line);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// The look of one text.
struct Style {
    font: String,
    size: f64,
    color: String,
    box_color: Option<String>,
    border: Option<(f64, String)>,
    shadow: Option<(f64, f64, String)>,
}

/// Horizontal and vertical alignment from `align` (§6).
fn align(node: &Node, default: (&'static str, &'static str)) -> (String, String) {
    let Some(a) = node.attr("align") else {
        return (default.0.into(), default.1.into());
    };
    let mut parts = a.split(',').map(str::trim);
    let first = parts.next().unwrap_or("");
    match (first, parts.next()) {
        ("top" | "bottom", None) => ("center".into(), first.into()),
        (h, None) => (h.into(), "center".into()),
        (h, Some(v)) => (h.into(), v.into()),
    }
}

/// `drawtext` filters for a `<text>` in a container whose clock starts
/// at `origin`.
pub fn drawtext(span: &Span<'_>, origin: f64, c: Canvas) -> Result<Vec<String>, String> {
    let node = span.node;
    let legend = node.ty() == "legend";
    let placed = ["left", "right", "top", "bottom", "width", "height"]
        .iter()
        .any(|a| node.attr(a).is_some());
    if node.ty() == "advanced"
        && let Some(reference) = node.attr("reference")
        && span.duration > 0.0
        && !node.text.trim().is_empty()
    {
        return advanced(span, origin, c, reference);
    }
    let rect = if legend && !placed {
        legend_rect(c)
    } else {
        look::place(node, c.width, c.height, None)
    };
    let defaults = if legend {
        ("center", "bottom")
    } else {
        ("center", "center")
    };
    render(span, origin, c, rect, defaults, legend)
}

/// A director theme's caption: a legend over its item.
pub fn caption(span: &Span<'_>, origin: f64, c: Canvas) -> Result<Vec<String>, String> {
    render(span, origin, c, legend_rect(c), ("center", "bottom"), true)
}

/// A legend's band: the bottom fifth, 5 % side margins.
fn legend_rect(c: Canvas) -> Rect {
    let (w, h) = (f64::from(c.width), f64::from(c.height));
    Rect {
        x: (w * 0.05).round(),
        y: (h * 0.74).round(),
        w: ((w * 0.9) as u32) & !1,
        h: ((h * 0.2) as u32) & !1,
    }
}

fn render(
    span: &Span<'_>,
    origin: f64,
    c: Canvas,
    rect: Rect,
    defaults: (&'static str, &'static str),
    legend: bool,
) -> Result<Vec<String>, String> {
    let node = span.node;
    if node.text.trim().is_empty() || span.duration <= 0.0 {
        return Ok(Vec::new());
    }
    let unit = f64::from(c.height) / 360.0;
    let spacing = 1.25 * node.number("interlign").unwrap_or(1.0).clamp(0.5, 4.0);
    let wrap_on = node.flag("wrap") != Some(false);
    let (max_w, max_h) = (f64::from(rect.w), f64::from(rect.h));
    // `fontsize` is in pixels of a 360-line frame (the default profile),
    // scaled with the output; without it a legend uses 6 % of the
    // height and a zone the largest size that fits.
    let (size, lines) = match node.number("fontsize") {
        Some(fs) => {
            let size = (fs * unit).max(1.0);
            (size, wrap(&node.text, size, max_w, wrap_on))
        }
        None if legend => {
            let size = f64::from(c.height) * 0.06;
            (size, wrap(&node.text, size, max_w, wrap_on))
        }
        None => {
            let mut size = (max_h / spacing).min(f64::from(c.height) * 0.3);
            loop {
                let lines = wrap(&node.text, size, max_w, wrap_on);
                let tall = lines.len() as f64 * size * spacing;
                let wide = lines.iter().map(|l| width(l, size)).fold(0.0, f64::max);
                if (tall <= max_h && wide <= max_w) || size <= 4.0 {
                    break (size, lines);
                }
                size *= 0.92;
            }
        }
    };
    draw(span, origin, c, rect, (size, lines), defaults, legend)
}

/// `type="advanced"` with a `reference` (§6): the reference text's box,
/// centred on the screen, holds the text; lines past the reference's
/// count, or too long for its width, end with an ellipsis.
fn advanced(
    span: &Span<'_>,
    origin: f64,
    c: Canvas,
    reference: &str,
) -> Result<Vec<String>, String> {
    let node = span.node;
    let (size, max_w, rows, rect) = reference_box(node, c, reference);
    let mut lines = wrap(&node.text, size, max_w, true);
    let cut = lines.len() > rows;
    lines.truncate(rows);
    for (i, line) in lines.iter_mut().enumerate() {
        if (cut && i + 1 == rows) || width(line, size) > max_w {
            while !line.is_empty() && width(&format!("{line}…"), size) > max_w {
                line.pop();
            }
            line.push('…');
        }
    }
    draw(span, origin, c, rect, (size, lines), ("left", "top"), false)
}

/// An advanced text's size, line width, line count and box (centred).
fn reference_box(node: &Node, c: Canvas, reference: &str) -> (f64, f64, usize, Rect) {
    let unit = f64::from(c.height) / 360.0;
    let size = node
        .number("fontsize")
        .map_or(f64::from(c.height) * 0.06, |fs| (fs * unit).max(1.0));
    let spacing = 1.25 * node.number("interlign").unwrap_or(1.0).clamp(0.5, 4.0);
    let refs: Vec<&str> = reference.lines().collect();
    let max_w = refs.iter().map(|l| width(l, size)).fold(1.0, f64::max);
    let rows = refs.len().max(1);
    let (w, h) = (max_w.min(f64::from(c.width)), size * spacing * rows as f64);
    let rect = Rect {
        x: ((f64::from(c.width) - w) / 2.0).round(),
        y: ((f64::from(c.height) - h) / 2.0).round(),
        w: (w as u32).max(2) & !1,
        h: (h as u32).max(2) & !1,
    };
    (size, max_w, rows, rect)
}

/// The box a text is laid out in: a legend's band, an advanced text's
/// reference box, or the placement (default: the frame).
pub fn text_rect(span: &Span<'_>, c: Canvas) -> Rect {
    let node = span.node;
    let placed = ["left", "right", "top", "bottom", "width", "height"]
        .iter()
        .any(|a| node.attr(a).is_some());
    match (node.ty(), node.attr("reference")) {
        ("legend", _) if !placed => legend_rect(c),
        ("advanced", Some(reference)) => reference_box(node, c, reference).3,
        _ => look::place(node, c.width, c.height, None),
    }
}

/// A text with `rot-*` or `grow` animators, drawn still on its own
/// clock (its other animators move the box it is cut to): the filters
/// and the box.
pub fn drawtext_still(span: &Span<'_>, c: Canvas) -> Result<(Vec<String>, Rect), String> {
    let mut still = span.clone();
    still.children.retain(|a| a.node.kind != Kind::Animator);
    Ok((drawtext(&still, span.start, c)?, text_rect(span, c)))
}

/// `drawtext` filters for laid-out `lines` at `size` in `rect`.
fn draw(
    span: &Span<'_>,
    origin: f64,
    c: Canvas,
    rect: Rect,
    (size, lines): (f64, Vec<String>),
    defaults: (&'static str, &'static str),
    legend: bool,
) -> Result<Vec<String>, String> {
    let node = span.node;
    let spacing = 1.25 * node.number("interlign").unwrap_or(1.0).clamp(0.5, 4.0);
    let max_h = f64::from(rect.h);
    let max_w = f64::from(rect.w);
    let style = style(node, size, legend);
    let (h_align, v_align) = align(node, defaults);
    let line_h = size * spacing;
    let block = line_h * lines.len() as f64;
    let top = match v_align.as_str() {
        "top" => rect.y,
        "bottom" => rect.y + max_h - block,
        _ => rect.y + (max_h - block) / 2.0,
    };
    let (dx, dy) = look::motion_terms(span, origin, rect, c.width, c.height);
    let alpha = alpha_expr(span, origin);
    let (from, to) = (span.start - origin, span.end() - origin);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let x = match h_align.as_str() {
            "left" | "justify" => format!("{:.1}", rect.x),
            "right" => format!("{:.1}-tw", rect.x + max_w),
            _ => format!("{:.1}+({max_w:.1}-tw)/2", rect.x),
        };
        // Lines share a baseline grid: y is the line's top plus the
        // font's ascent offset drawtext applies.
        let y = top + line_h * i as f64 + (line_h - size) / 2.0;
        let mut f = format!(
            "drawtext=fontfile={}:text={}:expansion=none:fontsize={:.1}:fontcolor={}:x='{x}{dx}':y='{y:.1}{dy}'",
            style.font,
            quote(line),
            style.size,
            style.color
        );
        if let Some(a) = &alpha {
            let _ = write!(f, ":alpha='{a}'");
        }
        if let Some(b) = &style.box_color {
            let _ = write!(
                f,
                ":box=1:boxcolor={b}:boxborderw={}",
                (size * 0.25).round()
            );
        }
        if let Some((w, col)) = &style.border {
            let _ = write!(f, ":borderw={w:.0}:bordercolor={col}");
        }
        if let Some((sx, sy, col)) = &style.shadow {
            let _ = write!(f, ":shadowx={sx:.0}:shadowy={sy:.0}:shadowcolor={col}");
        }
        let _ = write!(f, ":enable='between(t,{from:.4},{to:.4})'");
        out.push(f);
    }
    Ok(out)
}

fn style(node: &Node, size: f64, legend: bool) -> Style {
    let mut s = Style {
        font: font_file(node),
        size,
        color: look::color(node.attr("fontcolor").unwrap_or("#FFFFFF")).0,
        box_color: node
            .attr("backgroundcolor")
            .map(|b| look::color(b).0)
            .or_else(|| legend.then(|| "0x000000@0.5".to_owned())),
        border: None,
        shadow: None,
    };
    // Vector text styling (§9.2 distancecolor) maps to drawtext's own.
    for f in node.children.iter().filter(|f| f.kind == Kind::Filter) {
        if f.ty() != "distancecolor" {
            continue;
        }
        if let Some(col) = f.attr("color") {
            s.color = look::color(col).0;
        }
        let stroke = f.number("strokeWidth").unwrap_or(0.0);
        if stroke > 0.0 {
            let col = look::color(f.attr("strokeColor").unwrap_or("#000000")).0;
            s.border = Some(((stroke * size * 2.0).max(1.0), col));
        }
        if let Some(shadow) = f.attr("dropShadowColor") {
            let pos = f.attr("dropShadowPosition").unwrap_or("0.02,-0.02");
            let mut it = pos
                .split(',')
                .map(|v| v.trim().parse::<f64>().unwrap_or(0.0));
            let (x, y) = (it.next().unwrap_or(0.0), it.next().unwrap_or(0.0));
            s.shadow = Some((x * size * 2.0, -y * size * 2.0, look::color(shadow).0));
        }
    }
    s
}

/// Opacity over time from `alpha` filters: each ramps from `alphaStart`
/// to `alphaEnd` over its window, holding its start value before and
/// its end value after; several multiply.
fn alpha_expr(span: &Span<'_>, origin: f64) -> Option<String> {
    let terms: Vec<String> = span
        .children
        .iter()
        .filter(|f| f.node.kind == Kind::Filter && f.node.ty() == "alpha")
        .map(|f| {
            let s = f.node.number("alphaStart").unwrap_or(0.0).clamp(0.0, 1.0);
            let e = f.node.number("alphaEnd").unwrap_or(1.0).clamp(0.0, 1.0);
            let st = f.start - origin;
            let d = f.duration.max(1e-3);
            format!("({s:.4}+({:.4})*clip((t-{st:.4})/{d:.4},0,1))", e - s)
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join("*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_both_parsers() {
        assert_eq!(quote("a:b"), r"'a\:b'");
        assert_eq!(quote("it's"), r"'it\'\''s'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote("a\tb"), "'a b'");
    }

    #[test]
    fn an_advanced_text_keeps_to_its_reference_box_with_an_ellipsis() {
        let doc = "<movie service=\"craftsman-1.0\"><body><stack duration=\"2\">\
            <text type=\"advanced\" reference=\"WWWWW&#10;WWWWW\">one two three four five six seven</text>\
            </stack></body></movie>";
        let movie = drake_sxml::parse(doc).unwrap_or_else(|e| panic!("{e}"));
        let none = |_: &Node| None;
        let body = drake_sxml::time::resolve(&movie, &none).unwrap_or_else(|e| panic!("{e}"));
        let text = &body.children[0].children[0];
        let c = Canvas {
            width: 640,
            height: 360,
            rate: crate::profile::Rate { num: 25, den: 1 },
        };
        let filters = drawtext(text, 0.0, c).unwrap_or_default();
        assert_eq!(filters.len(), 2, "{filters:?}");
        assert!(filters[1].contains('…'), "{}", filters[1]);
        assert!(!filters[0].contains('…'), "{}", filters[0]);
    }

    #[test]
    fn wrapping_keeps_words_and_cuts_long_ones() {
        let lines = wrap("hello big world", 10.0, 40.0, true);
        assert_eq!(lines, ["hello", "big", "world"]);
        let lines = wrap("abcdefghijkl", 10.0, 30.0, true);
        assert!(lines.len() >= 3, "{lines:?}");
        assert_eq!(wrap("one\ntwo", 10.0, 1000.0, true), ["one", "two"]);
        assert_eq!(wrap("a b c", 10.0, 5.0, false), ["a b c"]);
    }
}
