//! Filter-graph checking: a guest-written `-filter_complex` graph is split
//! into filters with ffmpeg's own quoting rules; every filter name must be
//! on the allow-list ([`FILTERS`]) and every option key on that filter's
//! own list (`filter_options`), which leaves out the options that read or
//! write files. Filters that open files or the network (`movie`,
//! `amovie`, `subtitles`, `ass`, `lut3d`, `sendcmd`, `zmq`, ...) are simply
//! not on the list, and keys are plain words (`[A-Za-z0-9_]`), so ffmpeg
//! 6.1's `/key=path` (the value read from a file) never passes.
//!
//! Syntax handled (ffmpeg-filters(1) "Filtergraph syntax"): chains split by
//! `;`, filters by `,`, link labels `[name]`, `name@instance=args`,
//! arguments split by `:`, quoting with `'...'` and escaping with `\`.

/// Filters a task may use (pure frame/sample transforms and generators,
/// each an in-memory operation on its inputs) and the option keys each
/// may be given.
pub use super::filter_options::FILTERS;

/// The option keys `filter` may be given, if it is allowed at all.
fn options_of(filter: &str) -> Option<&'static [&'static str]> {
    FILTERS
        .iter()
        .find(|(name, _)| *name == filter)
        .map(|(_, keys)| *keys)
}

use super::filter_options::{GENERIC, REFUSED};

/// Fonts a `drawtext` filter may name: only system font directories.
const FONT_DIRS: &[&str] = &["/usr/share/fonts/"];

/// Longest graph accepted: a long SXML timeline compiles to a few hundred
/// KiB at most; a larger graph is a bug or an attack on the parser.
pub const MAX_GRAPH_BYTES: usize = 1 << 20;

/// Why a graph is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Check a filter graph; returns the names of its filters.
pub fn check_graph(graph: &str) -> Result<Vec<String>, Refused> {
    if graph.len() > MAX_GRAPH_BYTES {
        return Err(Refused(format!(
            "filter graph longer than {MAX_GRAPH_BYTES} bytes"
        )));
    }
    let mut names = Vec::new();
    for filter in split_top(graph, &[';', ','])? {
        let filter = strip_labels(filter.trim())?;
        if filter.is_empty() {
            continue;
        }
        let (head, args) = match find_unquoted(filter, '=') {
            Some(i) => (&filter[..i], Some(&filter[i + 1..])),
            None => (filter, None),
        };
        let name = head.split('@').next().unwrap_or(head).trim();
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || name.is_empty() {
            return Err(Refused(format!("invalid filter name {name:?}")));
        }
        let Some(keys) = options_of(name) else {
            return Err(Refused(format!("filter {name:?} is not allowed")));
        };
        if let Some(args) = args {
            check_args(name, keys, args)?;
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// Every named option must be one `filter` takes ([`options_of`], which
/// leaves out those that read or write files), except a drawtext font from
/// a system font directory. Checked as the filter will see them: ffmpeg
/// removes one level of quoting from the arguments (graph level) before
/// the filter splits them into options, so a key quoted at the graph level
/// is still a key. Positional options are refused for `drawtext`, whose
/// first option is `fontfile`.
fn check_args(filter: &str, keys: &[&str], args: &str) -> Result<(), Refused> {
    let options = unquote(args);
    for arg in split_top(&options, &[':'])? {
        let Some(i) = find_unquoted(arg, '=') else {
            // A positional value fills the filter's next option in ffmpeg's
            // order, which reaches a file option as well as a key does:
            // filters that have one take named options only.
            let has_file_option = filter == "drawtext" || REFUSED.iter().any(|(f, _)| *f == filter);
            if has_file_option && !arg.trim().is_empty() {
                return Err(Refused(format!(
                    "{filter} takes named options only (one of its options names a file)"
                )));
            }
            continue;
        };
        let key = unquote(arg[..i].trim());
        let value = unquote(arg[i + 1..].trim());
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Refused(format!(
                "option {key:?} of filter {filter:?} is not a plain name"
            )));
        }
        if key == "fontfile" && filter == "drawtext" {
            if FONT_DIRS.iter().any(|d| value.starts_with(d)) && !value.contains("..") {
                continue;
            }
            return Err(Refused(format!(
                "drawtext fontfile {value:?} is outside the font directories"
            )));
        }
        if !keys.contains(&key.as_str()) && !GENERIC.contains(&key.as_str()) {
            return Err(Refused(format!(
                "option {key:?} of filter {filter:?} is not allowed"
            )));
        }
    }
    Ok(())
}

/// Remove leading and trailing `[label]`s.
fn strip_labels(mut s: &str) -> Result<&str, Refused> {
    while let Some(rest) = s.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| Refused("unclosed link label".into()))?;
        s = rest[end + 1..].trim_start();
    }
    while s.ends_with(']') {
        let start = s
            .rfind('[')
            .ok_or_else(|| Refused("unopened link label".into()))?;
        s = s[..start].trim_end();
    }
    Ok(s)
}

/// Split at any of `seps` outside quotes and escapes, with ffmpeg's
/// `av_get_token` rules: `\\` escapes the next character outside quotes;
/// inside `'…'` everything is literal up to the closing quote.
fn split_top<'a>(s: &'a str, seps: &[char]) -> Result<Vec<&'a str>, Refused> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if !quoted => {
                chars.next();
            }
            '\'' => quoted = !quoted,
            c if !quoted && seps.contains(&c) => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return Err(Refused("unbalanced quote in filter graph".into()));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let mut quoted = false;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if !quoted => {
                chars.next();
            }
            '\'' => quoted = !quoted,
            c if c == target && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Drop one level of quotes and escapes (`av_get_token`).
fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !quoted => out.extend(chars.next()),
            '\'' => quoted = !quoted,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn real_graphs_pass() {
        for g in [
            "[0:v]scale=320:-2,crop=320:180[v]",
            "[0:v]trim=start=1:end=3,setpts=PTS-STARTPTS[a];[1:v]fade=t=in:d=0.5[b];[a][b]xfade=transition=fade:duration=1:offset=1[out]",
            "color=c=black:s=640x360:d=5[bg];[bg][0:v]overlay=x=(W-w)/2:y=(H-h)/2",
            "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:text='a\\:b, c; d':x=10:y=10",
            "[0:a]volume=0.5,afade=t=out:st=4:d=1[a]",
            "[0:v]select='eq(n\\,0)+eq(n\\,10)',tile=5x2",
        ] {
            assert!(check_graph(g).is_ok(), "{g}: {:?}", check_graph(g));
        }
        assert_eq!(
            check_graph("[0:v]scale=1:1,hflip[x];[x]null").unwrap(),
            ["scale", "hflip", "null"]
        );
    }

    #[test]
    fn file_and_network_filters_are_refused() {
        for g in [
            "movie=/etc/passwd",
            "[0:v]scale=2:2;movie=filename=/etc/passwd[m]",
            "amovie=http\\://example.com/a.mp3",
            "subtitles=/etc/passwd",
            "ass=x.ass",
            "lut3d=file=/etc/passwd",
            "sendcmd=f=/etc/passwd",
            "zmq",
            "drawtext=textfile=/etc/passwd",
            "drawtext=fontfile=/etc/passwd:text=x",
            "drawtext=fontfile=/usr/share/fonts/../../../etc/passwd:text=x",
            "scale=2:2,'movie'=/etc/passwd",
            "scale=2:2[a];[a]Movie=/x",
            "[0:v]scale=2:2,movie@x=/etc/passwd",
            "drawtext=text='unbalanced",
            // A key quoted at the graph level is a key to the filter.
            "drawtext=text='a:fontfile=/etc/passwd'",
            // drawtext's first positional option is fontfile.
            "drawtext=/etc/passwd:text=x",
            // Options that write or read files.
            "curves=plot=/tmp/x.gnuplot",
            "curves=psfile=/etc/passwd",
            "paletteuse=debug_kdtree=/tmp/tree.dot",
            "[0:v]split[a][b];[b]palettegen[p];[a][p]paletteuse=debug_kdtree=x",
            // ffmpeg >= 6.1 reads `/key`'s value from the file it names.
            "drawtext=text=hi:/text=/etc/passwd",
            "drawtext=text=hi:'/text'=/etc/passwd",
            "scale=w=2:/h=/etc/passwd",
            // Positional values reach the file options too.
            "paletteuse=bayer:2:rectangle:0:128:/tmp/tree.dot",
            "curves=none:0/0 1/1",
            // Keys no filter has, or another filter's.
            "scale=bogus=1",
            "volume=volume=1:plot=x",
            "scale=w=2:te-xt=1",
        ] {
            assert!(check_graph(g).is_err(), "{g} passed");
        }
    }

    /// The table is the installed ffmpeg's own: every key it lists for a
    /// filter is one that filter has, and every key that filter has is
    /// listed or refused on purpose. (A different ffmpeg fails here: its
    /// options must be looked at before drake passes them.)
    #[test]
    fn the_option_table_is_ffmpegs() {
        let Ok(probe) = std::process::Command::new("ffmpeg")
            .arg("-version")
            .output()
        else {
            // Without ffmpeg, no graph runs either: nothing to hold.
            return;
        };
        assert!(probe.status.success());
        for (filter, keys) in FILTERS {
            let help = std::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-h", &format!("filter={filter}")])
                .output()
                .unwrap();
            let help = String::from_utf8_lossy(&help.stdout);
            let listed: Vec<&str> = help
                .lines()
                .filter(|l| l.starts_with("   ") && !l.starts_with("    "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|k| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .collect();
            for key in *keys {
                assert!(listed.contains(key), "{filter} has no option {key}");
            }
            for key in &listed {
                let refused = REFUSED.contains(&(*filter, *key));
                assert!(
                    keys.contains(key) || refused,
                    "{filter}'s option {key} is neither allowed nor refused"
                );
            }
        }
    }

    #[test]
    fn quotes_do_not_hide_separators_from_the_name_check() {
        // A quoted separator stays inside the argument...
        assert!(check_graph("drawtext=text='a;movie=/etc/passwd'").is_ok());
        // ...and an escaped one too; both are plain text for drawtext.
        assert!(check_graph("drawtext=text=a\\;movie").is_ok());
    }

    #[test]
    fn backslashes_are_literal_inside_quotes() {
        // video.create's quoting of `it's: ok` for drawtext's text.
        let g = "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:text='it\\'\\''s\\: ok':x=1";
        assert_eq!(check_graph(g).unwrap(), ["drawtext"]);
        assert_eq!(unquote("'it\\'\\''s\\: ok'"), "it\\'s\\: ok");
    }
}
