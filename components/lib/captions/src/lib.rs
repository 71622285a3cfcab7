//! Captions for the video tasks (issue 25): SRT and WebVTT files parsed
//! into [`Cue`]s, every problem reported with its line number, and
//! WebVTT written back (the sidecar output).
//!
//! The parser is lenient where real files are sloppy (missing or wrong
//! SRT indices, `.` for `,`, one-digit hours, CRLF, a BOM, trailing
//! spaces, tags) and strict where a cue would be wrong (malformed or
//! reversed times); it bounds what a hostile file costs: [`MAX_CUES`],
//! [`MAX_CUE_CHARS`], and text only (a NUL byte or invalid UTF-8 is not
//! a caption file).

use std::fmt::Write as _;

mod param;

pub use param::{CaptionOptions, Captions, CaptionsParam, MAX_FILE_BYTES, load};

/// Most cues in one file: a three-hour film has about 2,000.
pub const MAX_CUES: usize = 10_000;
/// Most characters of one cue's text: two full lines are ~80.
pub const MAX_CUE_CHARS: usize = 1_000;
/// The latest time a cue may end: a day, beyond any video drake makes.
pub const MAX_MS: u64 = 24 * 3600 * 1000;

/// One caption: shown from `start` to `end` (milliseconds), `text` in
/// lines, tags removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Milliseconds.
    pub start: u64,
    /// Milliseconds, after `start`.
    pub end: u64,
    /// Plain text, lines joined with `\n`.
    pub text: String,
}

/// Why a file is not captions: the 1-based line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line number (1 for whole-file problems).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn error(line: usize, message: impl Into<String>) -> Error {
    Error {
        line,
        message: message.into(),
    }
}

/// `[HH:]MM:SS[,.]mmm` in milliseconds (SRT writes `,`, WebVTT `.`;
/// files mix them).
fn timestamp(text: &str) -> Option<u64> {
    let (clock, millis) = text.trim().rsplit_once([',', '.'])?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let number = |s: &str, max: u64| -> Option<u64> {
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|v| *v < max)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m, s] => (number(h, 100)?, number(m, 60)?, number(s, 60)?),
        [m, s] => (0, number(m, 60)?, number(s, 60)?),
        _ => return None,
    };
    Some(((h * 60 + m) * 60 + s) * 1000 + millis.parse::<u64>().ok()?)
}

/// A timing line's start and end (WebVTT settings after the end are
/// ignored), or `None` when the line is not one.
fn timing(line: &str) -> Option<Result<(u64, u64), String>> {
    let (a, b) = line.split_once("-->")?;
    let b = b.split_whitespace().next().unwrap_or("");
    Some(match (timestamp(a), timestamp(b)) {
        (Some(start), Some(end)) if end <= start => Err(format!(
            "the cue ends ({}) before it starts ({})",
            b,
            a.trim()
        )),
        (Some(_), Some(end)) if end > MAX_MS => Err(format!("{b} is past 24 hours")),
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Err(format!(
            "{:?} is not a timing line (HH:MM:SS,mmm --> HH:MM:SS,mmm)",
            line.trim()
        )),
    })
}

/// Text without markup: WebVTT/SRT tags (`<i>`, `<c.yellow>`,
/// `<v Speaker>`, `<00:01.000>`), SSA overrides in SRT (`{\an8}`), and
/// the five XML entities WebVTT uses.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['<', '{']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // A tag (`<` then a letter, digit or `/`) runs to its closing
        // bracket; a lone `<` (`a < b`) or a brace that opens no
        // override is text.
        let close = match tail.as_bytes() {
            [b'<', c, ..] if c.is_ascii_alphanumeric() || *c == b'/' => tail.find('>'),
            [b'{', b'\\', ..] => tail.find('}'),
            _ => None,
        };
        match close {
            Some(end) => rest = &tail[end + 1..],
            None => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Parse an SRT or WebVTT file (WebVTT when it opens with `WEBVTT`).
pub fn parse(bytes: &[u8]) -> Result<Vec<Cue>, Error> {
    if bytes.contains(&0) {
        return Err(error(1, "the file is binary, not SRT or WebVTT text"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        error(line, "not UTF-8 text")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let vtt = lines.first().is_some_and(|l| {
        l.starts_with("WEBVTT") && l[6..].chars().next().is_none_or(char::is_whitespace)
    });
    let mut cues = Vec::new();
    let mut i = usize::from(vtt);
    if vtt {
        // The header block runs to the first blank line.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    while i < lines.len() {
        // Skip blank lines between blocks.
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let block_start = i;
        let mut block_end = i;
        while block_end < lines.len() && !lines[block_end].trim().is_empty() {
            block_end += 1;
        }
        let block = &lines[block_start..block_end];
        i = block_end;
        let first = block[0].trim();
        if vtt && (first.starts_with("NOTE") || first == "STYLE" || first == "REGION") {
            continue;
        }
        // The timing line: the first line, or the second after an
        // identifier (an SRT index, a WebVTT cue id).
        let (at, times) = match (timing(block[0]), block.get(1).and_then(|l| timing(l))) {
            (Some(t), _) => (0, t),
            (None, Some(t)) => (1, t),
            (None, None) => {
                return Err(error(
                    block_start + 1,
                    format!(
                        "expected a cue (a timing line HH:MM:SS,mmm --> HH:MM:SS,mmm), found {first:?}"
                    ),
                ));
            }
        };
        let line = block_start + at + 1;
        let (start, end) = times.map_err(|m| error(line, m))?;
        if cues.len() == MAX_CUES {
            return Err(error(line, format!("more than {MAX_CUES} cues")));
        }
        let text = plain(&block[at + 1..].join("\n"));
        let text = text.trim().to_owned();
        if text.chars().count() > MAX_CUE_CHARS {
            return Err(error(
                line,
                format!("a cue of more than {MAX_CUE_CHARS} characters"),
            ));
        }
        if !text.is_empty() {
            cues.push(Cue { start, end, text });
        }
    }
    if cues.is_empty() {
        return Err(error(1, "no cue in the file"));
    }
    Ok(cues)
}

/// `HH:MM:SS.mmm`, WebVTT's timestamp (hours always present), of `ms`
/// milliseconds.
pub fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The cues as a WebVTT file (text escaped, so it reads back the same).
pub fn to_webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for cue in cues {
        let text = cue
            .text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        // A blank line inside the text would end the cue.
        let text = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let _ = write!(
            out,
            "\n{} --> {}\n{text}\n",
            vtt_time(cue.start),
            vtt_time(cue.end)
        );
    }
    out
}

/// Shortest caption [`sentences`] makes, in characters: shorter
/// sentences ("Yes.", "Hi!") join the next, so a long text costs at most
/// one speech run per 24 characters.
pub const MIN_SENTENCE_CHARS: usize = 24;

/// `text` cut into sentences for speaking and captioning one at a time:
/// after `.`, `!`, `?` or `…` (with closing quotes and brackets) followed
/// by a space, and at line breaks; whitespace collapsed; a sentence with
/// nothing to say (no letter or digit) or shorter than
/// [`MIN_SENTENCE_CHARS`] joins the next.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut ended = false;
    for c in text.chars() {
        let space = c.is_whitespace();
        if space && (ended || c == '\n') && enough(&current) {
            out.push(std::mem::take(&mut current));
            ended = false;
            continue;
        }
        if space {
            if !current.is_empty() && !current.ends_with(' ') {
                current.push(' ');
            }
            continue;
        }
        if c.is_control() {
            continue;
        }
        current.push(c);
        ended = match c {
            '.' | '!' | '?' | '\u{2026}' => true,
            '"' | '\'' | ')' | ']' | '\u{201D}' | '\u{2019}' | '\u{BB}' => ended,
            _ => false,
        };
    }
    let rest = current.trim_end().to_owned();
    if !rest.is_empty() {
        match out.last_mut() {
            Some(last) if !rest.chars().any(char::is_alphanumeric) => {
                last.push(' ');
                last.push_str(&rest);
            }
            _ => out.push(rest),
        }
    }
    for s in &mut out {
        let trimmed = s.trim_end().len();
        s.truncate(trimmed);
    }
    out
}

fn enough(s: &str) -> bool {
    s.chars().count() >= MIN_SENTENCE_CHARS && s.chars().any(char::is_alphanumeric)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn srt_as_real_files_write_it() {
        let srt = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i>, world\r\nsecond line\r\n\r\n\
                   7\r\n0:00:03.000 --> 00:00:04,000\r\n{\\an8}Top &amp; tail\r\n\r\n\r\n\
                   00:00:05,000 --> 00:00:06,000\r\nno index\r\n";
        let cues = parse(srt.as_bytes()).unwrap();
        assert_eq!(
            cues,
            [
                Cue {
                    start: 1000,
                    end: 2500,
                    text: "Hello, world\nsecond line".into()
                },
                Cue {
                    start: 3000,
                    end: 4000,
                    text: "Top & tail".into()
                },
                Cue {
                    start: 5000,
                    end: 6000,
                    text: "no index".into()
                },
            ]
        );
    }

    #[test]
    fn webvtt_with_ids_notes_styles_and_settings() {
        let vtt = "WEBVTT - a title\nKind: captions\n\nNOTE a comment\nspanning lines\n\nSTYLE\n::cue { color: red }\n\n\
                   intro\n00:01.000 --> 00:02.000 align:start line:10%\n<v Roger>Hi &lt;there&gt;\n\n\
                   01:00:00.000 --> 01:00:01.000\n<c.yellow>late</c>\n";
        let cues = parse(vtt.as_bytes()).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "Hi <there>");
        assert_eq!((cues[1].start, cues[1].text.as_str()), (3_600_000, "late"));
        // Written back and read again: the same cues.
        assert_eq!(parse(to_webvtt(&cues).as_bytes()).unwrap(), cues);
        assert!(to_webvtt(&cues).contains("00:00:01.000 --> 00:00:02.000\nHi &lt;there&gt;\n"));
    }

    #[test]
    fn markup_is_removed_text_is_kept() {
        assert_eq!(plain("a < b and c > d"), "a < b and c > d");
        assert_eq!(
            plain("<b>bold</b> {\\an8}{not an override}"),
            "bold {not an override}"
        );
        assert_eq!(plain("<00:00:01.000>karaoke"), "karaoke");
        assert_eq!(plain("&amp;lt;"), "&lt;");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, words) in [
            ("1\n00:00:02,000 --> 00:00:01,000\nx\n", 2, "ends"),
            ("1\n00:00:01,000 -> 00:00:02,000\nx\n", 1, "expected a cue"),
            (
                "1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n00:61:00,000 --> 00:62:00,000\ny\n",
                6,
                "timing line",
            ),
            ("WEBVTT\n\n00:01.000 --> 00:02.00\nx\n", 3, "timing line"),
            ("hello\nworld\n", 1, "expected a cue"),
            ("", 1, "no cue"),
            ("1\n99:00:00,000 --> 99:00:01,000\nx\n", 2, "24 hours"),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(words), "{text:?}: {e}");
        }
        assert!(
            parse(b"\x00\x01\x02")
                .unwrap_err()
                .message
                .contains("binary")
        );
        let e = parse(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "not UTF-8 text"));
    }

    /// Overlapping cues are kept (burned stacked); 10,000 cues parse, the
    /// 10,001st is an error naming its line; a huge cue is refused.
    #[test]
    fn hostile_files_stay_within_limits() {
        let overlap = "00:00:01,000 --> 00:00:05,000\na\n\n00:00:02,000 --> 00:00:03,000\nb\n";
        assert_eq!(parse(overlap.as_bytes()).unwrap().len(), 2);
        let many = |n: usize| {
            (0..n)
                .map(|i| {
                    format!(
                        "{i}\n{} --> {}\nc{i}\n\n",
                        vtt_time(i as u64 * 10),
                        vtt_time(i as u64 * 10 + 5)
                    )
                })
                .collect::<String>()
        };
        assert_eq!(parse(many(MAX_CUES).as_bytes()).unwrap().len(), MAX_CUES);
        let e = parse(many(MAX_CUES + 1).as_bytes()).unwrap_err();
        assert_eq!(e.line, MAX_CUES * 4 + 2);
        let huge = format!(
            "00:00:01,000 --> 00:00:02,000\n{}\n",
            "x".repeat(MAX_CUE_CHARS + 1)
        );
        assert!(
            parse(huge.as_bytes())
                .unwrap_err()
                .message
                .contains("characters")
        );
    }

    #[test]
    fn sentences_are_cut_for_speaking() {
        let s = sentences(
            "Welcome to the tour of our new office.  It opened in May!\nDo you like it? \"Yes,\" said Ann. ...",
        );
        assert_eq!(
            s,
            [
                "Welcome to the tour of our new office.",
                "It opened in May! Do you like it?",
                "\"Yes,\" said Ann. ...",
            ]
        );
        assert_eq!(sentences("   "), Vec::<String>::new());
        assert_eq!(sentences("no end in sight"), ["no end in sight"]);
        // A thousand "a. " make at most one sentence per 24 characters.
        assert!(sentences(&"a. ".repeat(1000)).len() <= 3000 / MIN_SENTENCE_CHARS);
    }
}
