//! The text an author sent: line and column of any byte offset (through
//! the stray-character recovery), and that recovery itself.
//!
//! Client code builds SXML by string concatenation and often forgets to
//! escape user text (sxml.md §15): `Fish & Chips`, `a < b`, a URL's
//! `?w=1&h=2` in an attribute. The original service rendered such
//! documents, so drake recovers them — each stray `&` or `<` becomes the
//! literal character it was meant to be, with a warning — rather than
//! refusing what the author could not see was wrong.

use crate::model::{Error, Warning};

/// Stray characters named one by one in the warnings; past this, one
/// summary (a generated document may hold thousands of URLs with `&`).
const MAX_NAMED_STRAYS: usize = 16;

/// Line and column lookups for one document, in O(log n) each (roxmltree's
/// own `text_pos_at` rescans the text from its start on every call).
pub(crate) struct Source<'t> {
    text: &'t str,
    /// Byte offset where each line starts, and whether it is all ASCII
    /// (then a column is a byte difference, not a character count).
    lines: Vec<(usize, bool)>,
    /// The recovery's replacements in the parsed text, in order:
    /// (offset of the replacement, bytes it added, bytes added up to and
    /// including it).
    inserts: Vec<(usize, usize, usize)>,
}

impl<'t> Source<'t> {
    pub(crate) fn new(text: &'t str) -> Source<'t> {
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            lines.push((start, line.is_ascii()));
            start += line.len();
        }
        if lines.is_empty() {
            lines.push((0, true));
        }
        Source {
            text,
            lines,
            inserts: Vec::new(),
        }
    }

    /// 1-based (line, column) in the author's text of `offset` in the
    /// parsed text.
    pub(crate) fn pos(&self, offset: usize) -> (u32, u32) {
        let original = self.original(offset).min(self.text.len());
        let line = self.lines.partition_point(|&(s, _)| s <= original).max(1);
        let (start, ascii) = self.lines[line - 1];
        let column = if ascii {
            original - start
        } else {
            self.text
                .get(start..original)
                .map_or(original - start, |s| s.chars().count())
        };
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column + 1).unwrap_or(u32::MAX),
        )
    }

    /// The author's byte offset of `offset` in the parsed text (a place
    /// inside a replacement maps to the character it replaced).
    fn original(&self, offset: usize) -> usize {
        let i = self.inserts.partition_point(|&(at, _, _)| at < offset);
        let Some(&(at, added, through)) = i.checked_sub(1).and_then(|i| self.inserts.get(i)) else {
            return offset;
        };
        if offset > at + added {
            offset - through
        } else {
            at - (through - added)
        }
    }
}

/// The text with every stray `&` and `<` escaped, and a warning for each
/// (`None` when there is none: the document's fault lies elsewhere).
pub(crate) fn recover<'t>(source: &mut Source<'t>) -> Option<(String, Vec<Warning>)> {
    let text = source.text;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 64);
    let mut strays = Vec::new();
    let (mut i, mut copied) = (0, 0);
    let mut fix = |out: &mut String, copied: &mut usize, at: usize, with: &str| {
        out.push_str(&text[*copied..at]);
        strays.push((at, out.len(), with.len() - 1));
        out.push_str(with);
        *copied = at + 1;
    };
    let skip_to = |from: usize, end: &[u8]| -> usize {
        bytes[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(bytes.len(), |p| from + p + end.len())
    };
    // Inside a tag: the quote that opened the current attribute value.
    let mut tag: Option<Option<u8>> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match tag {
            Some(quote) => {
                match (quote, b) {
                    (None, q @ (b'"' | b'\'')) => tag = Some(Some(q)),
                    (Some(q), c) if c == q => tag = Some(None),
                    (None, b'>') => tag = None,
                    (Some(_), b'&') if !is_reference(&bytes[i..]) => {
                        fix(&mut out, &mut copied, i, "&amp;");
                    }
                    (Some(_), b'<') => fix(&mut out, &mut copied, i, "&lt;"),
                    _ => {}
                }
                i += 1;
            }
            None => match b {
                b'<' if bytes[i..].starts_with(b"<!--") => i = skip_to(i, b"-->"),
                b'<' if bytes[i..].starts_with(b"<![CDATA[") => i = skip_to(i, b"]]>"),
                b'<' if bytes[i..].starts_with(b"<?") => i = skip_to(i, b"?>"),
                b'<' if bytes[i..].starts_with(b"<!") => i = skip_to(i, b">"),
                b'<' if starts_name(&bytes[i + 1..])
                    || (bytes.get(i + 1) == Some(&b'/') && starts_name(&bytes[i + 2..])) =>
                {
                    tag = Some(None);
                    i += 1;
                }
                b'<' => {
                    fix(&mut out, &mut copied, i, "&lt;");
                    i += 1;
                }
                b'&' if !is_reference(&bytes[i..]) => {
                    fix(&mut out, &mut copied, i, "&amp;");
                    i += 1;
                }
                _ => i += 1,
            },
        }
    }
    if strays.is_empty() {
        return None;
    }
    out.push_str(&text[copied..]);
    let mut through = 0;
    let mut warnings = Vec::new();
    for (n, &(at, parsed_at, added)) in strays.iter().enumerate() {
        through += added;
        source.inserts.push((parsed_at, added, through));
        if n < MAX_NAMED_STRAYS {
            let (line, column) = source.pos(parsed_at);
            let (c, escape) = if bytes[at] == b'&' {
                ('&', "&amp;")
            } else {
                ('<', "&lt;")
            };
            warnings.push(Error::at(
                line,
                column,
                format!(
                    "an unescaped {c:?} is read as the character itself (XML writes it {escape})"
                ),
            ));
        }
    }
    if strays.len() > MAX_NAMED_STRAYS {
        warnings.push(Error::whole(format!(
            "{} more unescaped '&' or '<' read as the characters themselves",
            strays.len() - MAX_NAMED_STRAYS
        )));
    }
    Some((out, warnings))
}

/// `&…;` is one of XML's five escapes or a character reference.
fn is_reference(at: &[u8]) -> bool {
    let Some(end) = at.iter().take(12).position(|&b| b == b';') else {
        return false;
    };
    match &at[1..end] {
        b"amp" | b"lt" | b"gt" | b"quot" | b"apos" => true,
        [b'#', b'x', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A tag name can start here (ASCII letter, `_`, `:` or any non-ASCII).
fn starts_name(at: &[u8]) -> bool {
    at.first()
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\ncdé\nxyz";
        let s = Source::new(text);
        assert_eq!(s.pos(0), (1, 1));
        assert_eq!(s.pos(3), (2, 1));
        assert_eq!(s.pos(text.find('x').unwrap()), (3, 1));
        // 'é' is two bytes, one column.
        assert_eq!(s.pos(text.find("\nxyz").unwrap()), (2, 4));
        assert_eq!(s.pos(text.len()), (3, 4));
    }

    #[test]
    fn stray_ampersands_and_angles_are_escaped_and_positions_map_back() {
        let text = "<t a=\"x?w=1&h=2\">Fish & Chips &amp; a < b &#65; &lol;</t>";
        let mut s = Source::new(text);
        let (fixed, warnings) = recover(&mut s).unwrap();
        assert_eq!(
            fixed,
            "<t a=\"x?w=1&amp;h=2\">Fish &amp; Chips &amp; a &lt; b &#65; &amp;lol;</t>"
        );
        let at: Vec<(u32, u32)> = warnings.iter().map(|w| (w.line, w.column)).collect();
        let col = |pat: &str| u32::try_from(text.find(pat).unwrap() + 1).unwrap();
        assert_eq!(
            at,
            [
                (1, col("&h")),
                (1, col("& C")),
                (1, col("< b")),
                (1, col("&lol"))
            ]
        );
        // A place after the replacements maps to the author's column.
        assert_eq!(s.pos(fixed.find("</t>").unwrap()), (1, col("</t>")));
        // Inside a replacement: the character it replaced.
        assert_eq!(s.pos(fixed.find("lt;").unwrap()), (1, col("< b")));
    }

    #[test]
    fn tags_comments_and_cdata_are_left_alone() {
        let mut s = Source::new("<a><!-- & < --><![CDATA[ & < ]]><?pi & ?></a>");
        assert!(recover(&mut s).is_none());
    }
}
