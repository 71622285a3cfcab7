//! Burned-in captions: a job's [`Burn`] becomes an ASS script written into
//! the job's directory and one `ass` filter appended to its graph.
//!
//! The guest hands over parsed cues and a typed style, never a filter
//! string or a file name: the graph checker keeps refusing `ass` and
//! `subtitles` in guest graphs (they open files), and the only file this
//! filter opens is the script the host wrote, under a fixed name. The
//! script's canvas is the frame's own size, so every length in the style
//! is a pixel of the video.

use std::fmt::Write as _;

use crate::bindings::ffmpeg::{Burn, CaptionCue, CaptionFont, CaptionPosition, CaptionStyle};

/// The script's name in the job's directory.
pub const SCRIPT: &str = "captions.ass";

/// Where libass finds the typefaces of [`CaptionFont`] (Debian's
/// `fonts-dejavu-core`, installed by the setup command), besides
/// fontconfig.
const FONTS_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// Most cues in one job: a feature film's subtitles hold ~2,000; the
/// caption parser stops at 10,000.
pub const MAX_CUES: usize = 10_000;

/// Most text in one job's cues, in bytes: 10,000 cues of ~100 characters
/// with room to spare; the script stays a few MiB at worst.
pub const MAX_TEXT: usize = 4 << 20;

/// Largest frame side a script is drawn on (the argv allow-list's sizes).
const MAX_SIDE: u32 = 8192;

/// The filter appended to the guest's graph.
pub fn filter(burn: &Burn) -> Result<String, String> {
    for (what, label) in [("input", &burn.input), ("output", &burn.output)] {
        let ok = (1..=32).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(format!(
                "captions {what} label {label:?} is not a pad label"
            ));
        }
    }
    Ok(format!(
        "[{}]ass=filename={SCRIPT}:fontsdir={FONTS_DIR}[{}]",
        burn.input, burn.output
    ))
}

/// The ASS script of `burn`: one style, one `Dialogue` per cue.
pub fn script(burn: &Burn) -> Result<String, String> {
    let (w, h) = (burn.width, burn.height);
    if !(2..=MAX_SIDE).contains(&w) || !(2..=MAX_SIDE).contains(&h) {
        return Err(format!(
            "captions frame size {w}x{h} is outside 2 to {MAX_SIDE}"
        ));
    }
    if burn.cues.len() > MAX_CUES {
        return Err(format!("more than {MAX_CUES} captions"));
    }
    let text: usize = burn.cues.iter().map(|c| c.text.len()).sum();
    if text > MAX_TEXT {
        return Err(format!(
            "the captions hold more than {MAX_TEXT} bytes of text"
        ));
    }
    let style = style_line(&burn.style, h)?;
    let mut out = String::with_capacity(1024 + text * 2 + burn.cues.len() * 64);
    // `ScaledBorderAndShadow` keeps the outline in canvas pixels; wrap
    // style 0 breaks long lines evenly; the canvas is the frame.
    let _ = write!(
        out,
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 0\n\
         ScaledBorderAndShadow: yes\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
         BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, \
         BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         {style}\n\n[Events]\n\
         Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    );
    for cue in &burn.cues {
        dialogue(&mut out, cue)?;
    }
    Ok(out)
}

fn style_line(s: &CaptionStyle, height: u32) -> Result<String, String> {
    if !(4..=height.max(4)).contains(&s.size) {
        return Err(format!(
            "caption size {} is outside 4 to the frame height",
            s.size
        ));
    }
    if s.outline > s.size / 2 {
        return Err(format!(
            "caption outline {} is over half the size",
            s.outline
        ));
    }
    if s.margin > height / 2 {
        return Err(format!(
            "caption margin {} is over half the frame height",
            s.margin
        ));
    }
    if s.color > 0xFF_FFFF || s.outline_color > 0xFF_FFFF {
        return Err("caption colours are 0xRRGGBB".into());
    }
    let font = match s.font {
        CaptionFont::Sans => "DejaVu Sans",
        CaptionFont::Serif => "DejaVu Serif",
        CaptionFont::Mono => "DejaVu Sans Mono",
    };
    // Numpad alignment, centred: 2 bottom, 5 middle, 8 top.
    let alignment = match s.position {
        CaptionPosition::Bottom => 2,
        CaptionPosition::Middle => 5,
        CaptionPosition::Top => 8,
    };
    let bold = if s.bold { -1 } else { 0 };
    let (fill, edge) = (ass_colour(s.color), ass_colour(s.outline_color));
    // Side margins: a twentieth of the height, so lines wrap before the
    // edge.
    let side = height / 20;
    Ok(format!(
        "Style: Default,{font},{},{fill},{fill},{edge},{edge},{bold},0,0,0,100,100,0,0,1,{},0,\
         {alignment},{side},{side},{},1",
        s.size, s.outline, s.margin
    ))
}

/// `0xRRGGBB` as ASS's `&HAABBGGRR` (opaque).
fn ass_colour(rgb: u32) -> String {
    let (r, g, b) = ((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF);
    format!("&H00{b:02X}{g:02X}{r:02X}")
}

fn dialogue(out: &mut String, cue: &CaptionCue) -> Result<(), String> {
    if cue.end_ms <= cue.start_ms {
        return Err(format!(
            "a caption ends ({} ms) before it starts ({} ms)",
            cue.end_ms, cue.start_ms
        ));
    }
    out.push_str("Dialogue: 0,");
    timestamp(out, cue.start_ms);
    out.push(',');
    timestamp(out, cue.end_ms);
    out.push_str(",Default,,0,0,0,,");
    escape_into(out, &cue.text);
    out.push('\n');
    Ok(())
}

/// ASS time: `H:MM:SS.cc` (centiseconds).
fn timestamp(out: &mut String, ms: u32) {
    let cs = ms / 10;
    let _ = write!(
        out,
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    );
}

/// Cue text as literal ASS text: braces (override blocks) escaped, a
/// backslash followed by a word joiner so it never starts an escape
/// (`\N`, `\h`), line breaks as `\N`, other control characters dropped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '\\' => out.push_str("\\\u{2060}"),
            '\n' => out.push_str("\\N"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn burn(cues: Vec<CaptionCue>) -> Burn {
        Burn {
            cues,
            style: CaptionStyle {
                font: CaptionFont::Sans,
                bold: false,
                size: 36,
                color: 0xFFFF00,
                outline_color: 0x102030,
                outline: 2,
                position: CaptionPosition::Bottom,
                margin: 24,
            },
            width: 640,
            height: 360,
            input: "v0".into(),
            output: "vc".into(),
        }
    }

    fn cue(start_ms: u32, end_ms: u32, text: &str) -> CaptionCue {
        CaptionCue {
            start_ms,
            end_ms,
            text: text.into(),
        }
    }

    #[test]
    fn the_script_is_the_frame_with_one_style() {
        let s = script(&burn(vec![cue(
            1_500,
            3_726_010,
            "Hello, {world}\nC:\\Nope",
        )]))
        .unwrap();
        assert!(s.contains("PlayResX: 640\nPlayResY: 360\n"), "{s}");
        assert!(
            s.contains(
                "Style: Default,DejaVu Sans,36,&H0000FFFF,&H0000FFFF,&H00302010,&H00302010,0,"
            ),
            "{s}"
        );
        assert!(s.contains(",1,2,0,2,18,18,24,1\n"), "{s}");
        assert!(
            s.ends_with(
                "Dialogue: 0,0:00:01.50,1:02:06.01,Default,,0,0,0,,Hello, \\{world\\}\\NC:\\\u{2060}Nope\n"
            ),
            "{s}"
        );
    }

    #[test]
    fn fonts_weights_and_positions_reach_the_style() {
        let mut b = burn(vec![]);
        b.style.font = CaptionFont::Mono;
        b.style.bold = true;
        b.style.position = CaptionPosition::Top;
        let s = script(&b).unwrap();
        assert!(s.contains("Style: Default,DejaVu Sans Mono,36,"), "{s}");
        assert!(
            s.contains(",-1,0,0,0,100,100,0,0,1,2,0,8,18,18,24,1\n"),
            "{s}"
        );
        b.style.font = CaptionFont::Serif;
        b.style.position = CaptionPosition::Middle;
        let s = script(&b).unwrap();
        assert!(
            s.contains("DejaVu Serif,36,") && s.contains(",1,2,0,5,18,18,24,1\n"),
            "{s}"
        );
    }

    #[test]
    fn bad_bursts_are_refused() {
        assert!(script(&burn(vec![cue(5, 5, "x")])).is_err());
        let mut b = burn(vec![]);
        b.style.size = 361;
        assert!(script(&b).is_err());
        let mut b = burn(vec![]);
        b.style.margin = 181;
        assert!(script(&b).is_err());
        let mut b = burn(vec![]);
        b.style.color = 0x1_000000;
        assert!(script(&b).is_err());
        let mut b = burn(vec![]);
        b.width = 9000;
        assert!(script(&b).is_err());
        let huge = burn((0..=MAX_CUES as u32).map(|i| cue(i, i + 1, "x")).collect());
        assert!(script(&huge).is_err());
        for label in ["", "v]ass=filename=/etc/passwd[x", "a b", &"x".repeat(33)] {
            let mut b = burn(vec![]);
            b.input = label.into();
            assert!(filter(&b).is_err(), "{label}");
        }
        assert_eq!(
            filter(&burn(vec![])).unwrap(),
            "[v0]ass=filename=captions.ass:fontsdir=/usr/share/fonts/truetype/dejavu[vc]"
        );
    }

    #[test]
    fn control_characters_cannot_break_the_line() {
        let s = script(&burn(vec![cue(0, 10, "a\r\nDialogue: 0,\u{0}b")])).unwrap();
        assert_eq!(s.matches("\nDialogue:").count(), 1, "{s}");
    }
}
