//! drake-catalog: the one list of tasks, read from the task crates
//! themselves.
//!
//! A task is a crate in `components/tasks/<id>/` (a test guest: in
//! `tests/guests/<id>/`) whose `Cargo.toml` says what it is:
//!
//! ```toml
//! [package.metadata.drake]
//! task = "image.thumb"   # the dragon task name; <id> is it with '.' → '-'
//! spin = true            # also a Spin HTTP component (needs no ffmpeg)
//! time_limit = "60s"     # wall clock per run, unless the config says otherwise
//! ```
//!
//! Everything else that lists tasks is derived from that:
//!
//! - the workspace takes every crate by glob (`components/tasks/*`), and
//!   the Makefile builds them by name pattern (`-p 'drake-task-*'`);
//! - [`Catalog::registry_rs`] is the host's table
//!   (`host/src/registry/catalog.rs`), and [`Catalog::spin_toml`] is
//!   `spin.toml`, whose package list `make spin` reads;
//! - both files are generated (`make catalog`) and checked by a test, so a
//!   drifted one fails `make test` rather than a start-up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where task crates live, relative to the workspace, and whether the
/// tasks there are test-only.
pub const TASK_DIRS: [(&str, bool); 2] = [("components/tasks", false), ("tests/guests", true)];

/// The generated host table, relative to the workspace.
pub const REGISTRY_RS: &str = "host/src/registry/catalog.rs";

/// The generated Spin manifest, relative to the workspace.
pub const SPIN_TOML: &str = "spin.toml";

/// One task crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The dragon task name (`video.upload.vimeo`).
    pub name: String,
    /// The crate (`drake-task-video-upload-vimeo`).
    pub crate_name: String,
    /// Also built as a Spin HTTP component.
    pub spin: bool,
    /// A test guest: loaded only when the host is configured for tests.
    pub test_only: bool,
    /// Its own wall-clock limit, in seconds.
    pub time_limit_secs: Option<u64>,
}

impl Task {
    /// The component id: every `.` becomes `-` (`video.upload.vimeo` →
    /// `video-upload-vimeo`), also the crate's directory and the Spin
    /// component's id.
    pub fn id(&self) -> String {
        component_id(&self.name)
    }
}

/// The component id of a task name (every `.` becomes `-`).
pub fn component_id(task: &str) -> String {
    task.replace('.', "-")
}

/// The built component's file name: `drake_task_<id with _>.wasm`.
pub fn component_file(task: &str) -> String {
    format!("drake_task_{}.wasm", task.replace(['.', '-'], "_"))
}

/// Where `make spin` writes a task's Spin component, relative to the
/// workspace (the `spin` profile keeps it apart from drake's component).
pub fn spin_artifact(task: &str) -> String {
    format!("target/wasm32-wasip2/spin/{}", component_file(task))
}

/// Every task of a workspace, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The tasks.
    pub tasks: Vec<Task>,
}

/// What is wrong with the task crates; every problem at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the task crates disagree:\n  {}", self.0.join("\n  "))
    }
}

impl std::error::Error for Problems {}

/// Read every task crate under `root`'s [`TASK_DIRS`].
pub fn scan(root: &Path) -> Result<Catalog, Problems> {
    let mut tasks = Vec::new();
    let mut problems = Vec::new();
    for (dir, test_only) in TASK_DIRS {
        let mut crates: Vec<PathBuf> = match std::fs::read_dir(root.join(dir)) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect(),
            Err(e) => {
                problems.push(format!("{dir}: {e}"));
                continue;
            }
        };
        crates.sort();
        for path in crates {
            match read_task(&path, test_only) {
                Ok(task) => tasks.push(task),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
    }
    tasks.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in tasks.windows(2) {
        if pair[0].name == pair[1].name {
            problems.push(format!("two crates are task {:?}", pair[0].name));
        }
    }
    if problems.is_empty() {
        Ok(Catalog { tasks })
    } else {
        Err(Problems(problems))
    }
}

/// One crate's `[package.metadata.drake]`, checked against its names.
fn read_task(dir: &Path, test_only: bool) -> Result<Task, String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let manifest: toml::Table = toml::from_str(&text).map_err(|e| e.to_string())?;
    let package = manifest
        .get("package")
        .and_then(toml::Value::as_table)
        .ok_or("no [package]")?;
    let crate_name = package
        .get("name")
        .and_then(toml::Value::as_str)
        .ok_or("no package name")?;
    let meta = package
        .get("metadata")
        .and_then(|m| m.get("drake"))
        .and_then(toml::Value::as_table)
        .ok_or("no [package.metadata.drake] (task = \"…\")")?;
    for key in meta.keys() {
        if !matches!(key.as_str(), "task" | "spin" | "time_limit") {
            return Err(format!("[package.metadata.drake]: unknown key {key:?}"));
        }
    }
    let name = meta
        .get("task")
        .and_then(toml::Value::as_str)
        .ok_or("[package.metadata.drake] task must be a string")?;
    if !valid_task_name(name) {
        return Err(format!(
            "task {name:?}: lowercase words joined by dots, like image.thumb"
        ));
    }
    let id = component_id(name);
    if crate_name != format!("drake-task-{id}") {
        return Err(format!(
            "task {name:?} must be the crate drake-task-{id}, not {crate_name}"
        ));
    }
    if dir.file_name().and_then(|n| n.to_str()) != Some(id.as_str()) {
        return Err(format!("task {name:?} must be in a directory named {id}"));
    }
    if name.starts_with("test.") != test_only {
        return Err(format!(
            "task {name:?}: test.* tasks, and only they, live in tests/guests"
        ));
    }
    let cdylib = manifest
        .get("lib")
        .and_then(|l| l.get("crate-type"))
        .and_then(toml::Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
    if !cdylib {
        return Err("[lib] crate-type needs \"cdylib\" (the component)".into());
    }
    let spin = match meta.get("spin") {
        None => false,
        Some(v) => v.as_bool().ok_or("spin must be true or false")?,
    };
    if spin && test_only {
        return Err("test guests are not Spin components".into());
    }
    let time_limit_secs = match meta.get("time_limit") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(parse_seconds)
                .ok_or("time_limit must be like \"60s\", \"5m\" or \"1h\"")?,
        ),
    };
    Ok(Task {
        name: name.to_owned(),
        crate_name: crate_name.to_owned(),
        spin,
        test_only,
        time_limit_secs,
    })
}

fn valid_task_name(name: &str) -> bool {
    let words: Vec<&str> = name.split('.').collect();
    words.len() >= 2
        && words.iter().all(|w| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// `"90s"`, `"5m"`, `"1h"` → seconds (more than zero).
fn parse_seconds(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    n.checked_mul(scale).filter(|s| *s > 0)
}

const GENERATED: &str = "@generated by drake-catalog (`make catalog`) from the task crates' \
                         [package.metadata.drake]: edit those, not this file.";

impl Catalog {
    /// The Spin tasks.
    pub fn spin_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.spin)
    }

    /// `host/src/registry/catalog.rs`.
    pub fn registry_rs(&self) -> String {
        let mut out = format!(
            "// {GENERATED}\n\nuse super::TaskEntry;\n\n\
             /// Every task of this build, by name.\n\
             pub const TASKS: &[TaskEntry] = &[\n"
        );
        for t in &self.tasks {
            let limit = match t.time_limit_secs {
                Some(secs) => format!("Some({secs})"),
                None => "None".to_owned(),
            };
            let _ = write!(
                out,
                "    TaskEntry {{\n        name: {:?},\n        spin: {},\n        \
                 test_only: {},\n        time_limit_secs: {limit},\n    }},\n",
                t.name, t.spin, t.test_only
            );
        }
        out.push_str("];\n");
        out
    }

    /// `spin.toml`: one component and one route per Spin task.
    pub fn spin_toml(&self) -> String {
        let mut out = format!("# {GENERATED}\n#\n{SPIN_HEADER}");
        for t in self.spin_tasks() {
            let id = t.id();
            let _ = write!(
                out,
                "\n[[trigger.http]]\nroute = \"/v1/run/{name}\"\ncomponent = \"{id}\"\n\n\
                 [component.{id}]\nsource = \"{source}\"\n\
                 allowed_outbound_hosts = [\"https://{{{{ fetch_hosts }}}}\", \"http://{{{{ fetch_hosts }}}}\"]\n\
                 [component.{id}.build]\n\
                 command = \"cargo build --profile spin --target wasm32-wasip2 -p {krate} --features drake-sdk/spin\"\n",
                name = t.name,
                source = spin_artifact(&t.name),
                krate = t.crate_name,
            );
        }
        out
    }

    /// The generated files: (path relative to the workspace, contents).
    pub fn generated(&self) -> [(&'static str, String); 2] {
        [
            (REGISTRY_RS, self.registry_rs()),
            (SPIN_TOML, self.spin_toml()),
        ]
    }

    /// The generated files under `root` that differ from what this
    /// catalog generates.
    pub fn stale(&self, root: &Path) -> Vec<&'static str> {
        self.generated()
            .into_iter()
            .filter(|(path, text)| {
                std::fs::read_to_string(root.join(path)).ok().as_ref() != Some(text)
            })
            .map(|(path, _)| path)
            .collect()
    }
}

const SPIN_HEADER: &str = r#"# Spin manifest (version 2): the ffmpeg-free drake tasks as Spin HTTP
# components, built from the same task code as drake's own components
# (`make spin`: the SDK's `spin` feature exports a wasi:http handler instead
# of drake's task world). See docs/spin.md.
#
#   POST /v1/run/<task_name>   {"url": "...", ...}
#   GET  /v1/run/<task_name>?url=...&width=200
#
# Configuration is the components' environment (`spin up --env`, or an
# `environment` table per component): DRAKE_SECRET (requests must carry it
# when set), DRAKE_FETCH_ALLOW (hosts/CIDRs exempt from the block of
# literal private addresses) and DRAKE_FETCH_TIMEOUT (seconds a fetched
# server may stall, default 20).
spin_manifest_version = 2

[application]
name = "drake"
version = "0.1.0"
description = "drake media tasks (Stupeflix Tasks API v1) on Spin"

[variables]
# Hosts the tasks may fetch from (Spin's allowed_outbound_hosts): one host,
# or `*.example.com`. Required, with no `*` default: a component cannot
# resolve names, so it judges only IP-literal URLs — a name that resolves
# to an internal address (169.254.169.254, a 10.x service) is stopped only
# by this list. Set it to the hosts your media comes from
# (`SPIN_VARIABLE_FETCH_HOSTS=media.example.com spin up`); `*` is yours to
# choose, knowing that.
fetch_hosts = { required = true }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_rule() {
        assert_eq!(component_id("video.upload.vimeo"), "video-upload-vimeo");
        assert_eq!(component_file("image.thumb"), "drake_task_image_thumb.wasm");
        assert_eq!(
            spin_artifact("test.hostile"),
            "target/wasm32-wasip2/spin/drake_task_test_hostile.wasm"
        );
        for good in ["image.thumb", "video.upload.fb", "a1.b2"] {
            assert!(valid_task_name(good), "{good}");
        }
        for bad in [
            "thumb",
            "Image.thumb",
            "image..thumb",
            "image.thumb.",
            "image-thumb",
            ".a",
        ] {
            assert!(!valid_task_name(bad), "{bad}");
        }
    }

    #[test]
    fn time_limits() {
        assert_eq!(parse_seconds("60s"), Some(60));
        assert_eq!(parse_seconds("5m"), Some(300));
        assert_eq!(parse_seconds("1h"), Some(3600));
        for bad in ["", "60", "s", "0s", "1.5m", "-1s", "60 s", "1d"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }
}
