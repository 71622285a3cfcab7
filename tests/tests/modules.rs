//! No import circles: in every crate of the workspace, at every level of
//! the module tree, the sibling modules (each with its submodules) depend
//! on each other without a cycle. A module and its own submodules may use
//! each other freely (a parent wires its children; a child sees its
//! parent); two siblings may not both need the other, nor may a longer
//! ring of them — that is what makes a layer impossible to read, test or
//! move on its own.
//!
//! Dependencies are read from the source: `use crate::…`/`use super::…`
//! trees and paths written inline (`crate::store::now_micros()`), with
//! comments and string literals removed first, so doc links do not count.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A module path from the crate root (`["api", "create"]`).
type ModPath = Vec<String>;

/// One crate's modules: each file's module path, and the module paths
/// each module refers to (with the file and the text of the reference).
struct Crate {
    modules: BTreeSet<ModPath>,
    uses: Vec<(ModPath, ModPath, String)>,
}

/// Every `.rs` file under `src` as a module (`lib.rs` is the root; a
/// binary's `main.rs` and `bin/` are other crates and left out).
fn read_crate(src: &Path) -> Crate {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut modules = BTreeSet::new();
    let mut sources = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let mut path: ModPath = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if path == ["main"] || path.first().is_some_and(|p| p == "bin") {
            continue;
        }
        if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
            path.pop();
        }
        modules.insert(path.clone());
        sources.push((path, std::fs::read_to_string(&file).unwrap()));
    }
    let mut uses = Vec::new();
    for (path, text) in &sources {
        for (inline, reference) in references(&strip(text)) {
            let mut here = path.clone();
            here.extend(inline);
            if let Some(target) = resolve(&here, &reference, &modules) {
                uses.push((path.clone(), target, reference.join("::")));
            }
        }
    }
    Crate { modules, uses }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments, string and char literals blanked out.
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && !ident_before(b, i) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
        }
    }
    out
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Every `crate::…`/`super::…`/`self::…` path in stripped source, with
/// the inline modules (`mod tests { … }`) it is written in. `use` trees
/// are expanded (`use crate::{a::b, c};` gives `crate::a::b` and
/// `crate::c`).
fn references(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = tokenize(text);
    let mut found = Vec::new();
    // The inline modules open at each brace depth.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                inline.retain(|(d, _)| *d <= depth);
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                inline.push((depth + 1, tokens[i + 1].clone()));
            }
            "use" => {
                let mut end = i + 1;
                while end < tokens.len() && tokens[end] != ";" {
                    end += 1;
                }
                let mut paths = Vec::new();
                expand(&tokens[i + 1..end], Vec::new(), &mut paths);
                let here: Vec<String> = inline.iter().map(|(_, m)| m.clone()).collect();
                for p in paths {
                    if matches!(
                        p.first().map(String::as_str),
                        Some("crate" | "super" | "self")
                    ) {
                        found.push((here.clone(), p));
                    }
                }
                i = end;
            }
            "crate" | "super" if tokens.get(i + 1).is_some_and(|t| t == "::") => {
                if i > 0 && tokens[i - 1] == "::" {
                    i += 1;
                    continue;
                }
                let mut path = vec![t.to_owned()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(t))
                {
                    path.push(tokens[j + 1].clone());
                    j += 2;
                }
                let here = inline.iter().map(|(_, m)| m.clone()).collect();
                found.push((here, path));
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn is_ident(t: &str) -> bool {
    t.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, n)) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    end = i + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(text[start..end].to_owned());
        } else if c == ':' && chars.peek().is_some_and(|&(_, n)| n == ':') {
            chars.next();
            tokens.push("::".to_owned());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// A `use` tree's paths (`a::{b, c::d as e}` → `a::b`, `a::c::d`).
fn expand(tokens: &[String], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "::" => {}
            "{" => {
                let mut depth = 0;
                let mut start = i + 1;
                for j in i..tokens.len() {
                    match tokens[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                expand(&tokens[start..j], path.clone(), out);
                                return;
                            }
                        }
                        "," if depth == 1 => {
                            expand(&tokens[start..j], path.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" => break,
            "*" | "pub" | "(" | ")" | "in" => {}
            t if is_ident(t) => path.push(t.to_owned()),
            _ => {}
        }
        i += 1;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The module a path written in module `here` names: the longest prefix
/// of its absolute form that is a module of the crate.
fn resolve(here: &[String], path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut absolute: ModPath = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self" | "super") => {
            absolute = here.to_vec();
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "self" => {}
                    "super" => {
                        absolute.pop()?;
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    absolute.extend(rest.iter().cloned());
    while !absolute.is_empty() && !modules.contains(&absolute) {
        absolute.pop();
    }
    Some(absolute)
}

/// Every cycle among siblings, as readable lines.
fn sibling_cycles(krate: &Crate) -> Vec<String> {
    let mut problems = Vec::new();
    for parent in &krate.modules {
        let children: Vec<&ModPath> = krate
            .modules
            .iter()
            .filter(|m| m.len() == parent.len() + 1 && m.starts_with(parent))
            .collect();
        if children.len() < 2 {
            continue;
        }
        let child_of = |m: &ModPath| {
            children
                .iter()
                .position(|c| m.len() >= c.len() && m.starts_with(c))
        };
        // edges[i][j]: an example reference from subtree i into subtree j.
        let mut edges: BTreeMap<(usize, usize), String> = BTreeMap::new();
        for (from, to, text) in &krate.uses {
            if let (Some(i), Some(j)) = (child_of(from), child_of(to))
                && i != j
            {
                edges
                    .entry((i, j))
                    .or_insert_with(|| format!("{} uses {text}", from.join("::")));
            }
        }
        if let Some(cycle) = find_cycle(children.len(), &edges) {
            let ring: Vec<String> = cycle
                .windows(2)
                .map(|w| edges[&(w[0], w[1])].clone())
                .collect();
            problems.push(format!(
                "in {}: {}",
                if parent.is_empty() {
                    "the crate root".to_owned()
                } else {
                    parent.join("::")
                },
                ring.join(" → ")
            ));
        }
    }
    problems
}

/// A cycle (first node repeated at the end) in a graph of `n` nodes.
fn find_cycle(n: usize, edges: &BTreeMap<(usize, usize), String>) -> Option<Vec<usize>> {
    // 0 = unseen, 1 = on the stack, 2 = done.
    fn visit(
        v: usize,
        n: usize,
        edges: &BTreeMap<(usize, usize), String>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[v] = 1;
        stack.push(v);
        for w in 0..n {
            if !edges.contains_key(&(v, w)) {
                continue;
            }
            if state[w] == 1 {
                let start = stack.iter().position(|&x| x == w)?;
                let mut cycle = stack[start..].to_vec();
                cycle.push(w);
                return Some(cycle);
            }
            if state[w] == 0
                && let Some(c) = visit(w, n, edges, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[v] = 2;
        None
    }
    let mut state = vec![0u8; n];
    for v in 0..n {
        if state[v] == 0
            && let Some(c) = visit(v, n, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// The source roots of every crate in the workspace.
fn crate_roots() -> Vec<PathBuf> {
    let root = workspace();
    let mut roots = vec![root.join("host/src"), root.join("host/catalog/src")];
    for dir in ["components/lib", "components/tasks", "tests/guests"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("src"))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        roots.extend(found);
    }
    roots
}

#[test]
fn no_import_circles_in_any_crate() {
    let mut problems = Vec::new();
    let mut modules = 0;
    for src in crate_roots() {
        let krate = read_crate(&src);
        modules += krate.modules.len();
        for p in sibling_cycles(&krate) {
            problems.push(format!("{}: {p}", src.display()));
        }
    }
    // The walk saw the host's tree, not an empty directory.
    assert!(modules > 100, "{modules} modules");
    assert!(
        problems.is_empty(),
        "import circles:\n  {}",
        problems.join("\n  ")
    );
}

/// The walker itself: use trees, inline paths, `super` in inline modules,
/// comments and strings ignored, and a ring of three found.
#[test]
fn the_walker_sees_what_it_should() {
    let text = r#"
        //! See [`crate::c`].
        use crate::{a::{self, X}, b as bee};
        use super::sibling::*;
        fn f() { let s = "crate::c::d"; crate::d::go(); }
        #[cfg(test)]
        mod tests { use super::helper; }
    "#;
    let refs: Vec<String> = references(&strip(text))
        .into_iter()
        .map(|(inline, p)| format!("{}|{}", inline.join("::"), p.join("::")))
        .collect();
    assert_eq!(
        refs,
        [
            "|crate::a::self",
            "|crate::a::X",
            "|crate::b",
            "|super::sibling",
            "|crate::d::go",
            "tests|super::helper"
        ]
    );
    let modules: BTreeSet<ModPath> = [
        vec![],
        vec!["m".to_owned()],
        vec!["m".to_owned(), "n".to_owned()],
    ]
    .into_iter()
    .collect();
    let here = vec!["m".to_owned(), "n".to_owned(), "tests".to_owned()];
    let helper = ["super".to_owned(), "helper".to_owned()];
    assert_eq!(
        resolve(&here, &helper, &modules),
        Some(vec!["m".to_owned(), "n".to_owned()])
    );

    let path = |s: &str| -> ModPath { s.split("::").map(str::to_owned).collect() };
    let krate = Crate {
        modules: ["", "a", "b", "c", "c::d"]
            .iter()
            .map(|m| if m.is_empty() { vec![] } else { path(m) })
            .collect(),
        uses: vec![
            (path("a"), path("b"), "crate::b::X".into()),
            (path("b"), path("c::d"), "crate::c::d::Y".into()),
            (path("c::d"), path("a"), "crate::a::Z".into()),
            (path("c"), path("c::d"), "self::d".into()),
        ],
    };
    let cycles = sibling_cycles(&krate);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("c::d uses crate::a::Z"), "{cycles:?}");
}
