//! The task registry: which tasks this build serves, and the one naming
//! rule from a task name to its component.
//!
//! Names are listed explicitly because the reverse mapping (component id →
//! task name) is ambiguous: `video-upload-fb` could be `video.upload.fb`
//! or `video.upload-fb`.

use std::time::Duration;

/// The tasks served, in `/v1/tasks` order.
pub const TASKS: &[&str] = &[
    "image.info",
    "image.thumb",
    "image.face",
    "image.saliency",
    "image.smartcrop",
    "image.gif",
    "video.info",
    "video.thumb",
    "video.convert",
    "video.strip",
    "video.reverse",
    "video.create",
    "audio.info",
    "audio.waveform",
    "audio.convert",
    "audio.tts",
    "audio.beats",
    "html.scrape",
    "video.upload.youtube",
    "video.upload.vimeo",
    "video.upload.fb",
];

/// Test-only tasks, loaded with `test_tasks = true` (hostile guests for
/// the sandbox tests).
pub const TEST_TASKS: &[&str] = &["test.hostile"];

/// The tasks that also deploy on Spin (`spin.toml`, `make spin`): they need
/// only the network and their own code. The video tasks, audio.convert,
/// audio.tts and the uploads (which probe their source) need the ffmpeg
/// capability, which Spin cannot load.
pub const SPIN_TASKS: &[&str] = &[
    "image.info",
    "image.thumb",
    "image.face",
    "image.saliency",
    "image.smartcrop",
    "image.gif",
    "audio.info",
    "audio.waveform",
    "audio.beats",
    "html.scrape",
];

/// Component id: every `.` becomes `-` (`video.upload.vimeo` →
/// `video-upload-vimeo`), the Spin component id and the crate directory.
pub fn component_id(task: &str) -> String {
    task.replace('.', "-")
}

/// The built artefact: `drake_task_<id with _>.wasm`.
pub fn component_file(task: &str) -> String {
    format!("drake_task_{}.wasm", task.replace(['.', '-'], "_"))
}

/// Where `make spin` puts a task's Spin component, relative to the
/// workspace (the `spin` profile keeps it apart from drake's component).
pub fn spin_artifact(task: &str) -> String {
    format!("target/wasm32-wasip2/spin/{}", component_file(task))
}

/// How `spin.toml`, [`SPIN_TASKS`] and the built Spin components compare.
#[derive(Debug, Default)]
pub struct SpinCheck {
    /// Disagreements between the manifest, the registry and the artefacts.
    pub problems: Vec<String>,
    /// Artefacts not built yet (`make spin`).
    pub missing: Vec<std::path::PathBuf>,
}

/// Check `manifest` (the text of `spin.toml`) against the registry, and the
/// artefacts it names under `root` (the workspace): one component and one
/// route `/v1/run/<task>` per Spin task, sources where `make spin` writes
/// them, built with the SDK's `spin` feature, outbound hosts from a
/// variable; each built artefact exports `wasi:http/incoming-handler` and
/// none of drake's task world.
pub fn check_spin(manifest: &str, root: &std::path::Path) -> SpinCheck {
    let mut check = SpinCheck::default();
    let doc: toml::Table = match toml::from_str(manifest) {
        Ok(doc) => doc,
        Err(e) => {
            check.problems.push(format!("spin.toml is not TOML: {e}"));
            return check;
        }
    };
    let problems = &mut check.problems;
    if doc
        .get("spin_manifest_version")
        .and_then(toml::Value::as_integer)
        != Some(2)
    {
        problems.push("spin.toml: spin_manifest_version must be 2".into());
    }
    let empty = toml::Table::new();
    let components = doc
        .get("component")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);
    for id in components.keys() {
        if !SPIN_TASKS.iter().any(|t| component_id(t) == *id) {
            problems.push(format!("spin.toml: component {id} is not a Spin task"));
        }
    }
    let routes: Vec<(&str, &str)> = doc
        .get("trigger")
        .and_then(|t| t.get("http"))
        .and_then(toml::Value::as_array)
        .map(|routes| {
            routes
                .iter()
                .map(|r| {
                    let field = |k: &str| r.get(k).and_then(toml::Value::as_str).unwrap_or("");
                    (field("route"), field("component"))
                })
                .collect()
        })
        .unwrap_or_default();
    for (route, id) in &routes {
        let task = route.strip_prefix("/v1/run/").unwrap_or(route);
        if component_id(task) != *id || !SPIN_TASKS.contains(&task) {
            problems.push(format!("spin.toml: route {route} goes to component {id}"));
        }
    }
    for task in SPIN_TASKS {
        let id = component_id(task);
        let route = format!("/v1/run/{task}");
        if routes.iter().filter(|(r, _)| *r == route).count() != 1 {
            problems.push(format!("spin.toml: {task} needs exactly one route {route}"));
        }
        let Some(component) = components.get(&id) else {
            problems.push(format!("spin.toml: no component {id} for {task}"));
            continue;
        };
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(component, |v, k| v.get(*k))
                .and_then(toml::Value::as_str)
                .unwrap_or("")
        };
        let source = field(&["source"]);
        if source != spin_artifact(task) {
            problems.push(format!(
                "spin.toml: {id} source is {source:?}, `make spin` writes {:?}",
                spin_artifact(task)
            ));
        }
        let build = format!("{} ", field(&["build", "command"]));
        for part in [
            format!("-p drake-task-{id} "),
            "--profile spin ".into(),
            "--features drake-sdk/spin ".into(),
        ] {
            if !build.contains(&part) {
                problems.push(format!(
                    "spin.toml: {id} build command lacks `{}`",
                    part.trim()
                ));
            }
        }
        let hosts = component
            .get("allowed_outbound_hosts")
            .and_then(toml::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let templated = |h: &toml::Value| h.as_str().is_some_and(|h| h.contains("{{"));
        if hosts.is_empty() || !hosts.iter().all(templated) {
            problems.push(format!(
                "spin.toml: {id} allowed_outbound_hosts must come from a variable"
            ));
        }
        let path = root.join(source);
        match std::fs::read(&path) {
            Err(_) => check.missing.push(path),
            Ok(bytes) => {
                let has = |needle: &[u8]| memchr::memmem::find(&bytes, needle).is_some();
                if !has(b"wasi:http/incoming-handler@") || has(b"drake:task/") {
                    problems.push(format!(
                        "{} is not a Spin build of {task} (run `make spin`)",
                        path.display()
                    ));
                }
            }
        }
    }
    check
}

/// A task kind's own time limit, when it differs from the configured
/// default.
pub fn default_time_limit(task: &str) -> Option<Duration> {
    match task {
        // Header parsing only: anything longer is a stuck fetch.
        "image.info" => Some(Duration::from_secs(60)),
        // A 50 MP decode + resize takes a few seconds in wasm.
        "image.thumb" => Some(Duration::from_secs(60)),
        // A 50 MP decode, then a detector pass on at most 1600 px.
        "image.face" => Some(Duration::from_secs(60)),
        // A 50 MP decode; the map itself is 64 px.
        "image.saliency" => Some(Duration::from_secs(60)),
        // A 50 MP decode; the entropy is measured at 256 px.
        "image.smartcrop" => Some(Duration::from_secs(60)),
        // Up to 100 fetches and decodes, quantised and dithered frame by
        // frame (up to 64 Mpx in all).
        "image.gif" => Some(Duration::from_secs(300)),
        // A probe (plus the download of up to 512 MiB).
        "video.info" => Some(Duration::from_secs(180)),
        // A probe and one seek-and-decode (plus the download).
        "video.thumb" => Some(Duration::from_secs(180)),
        // A full transcode: 20 min covers an hour of 720p at 3× real time
        // on one core.
        "video.convert" => Some(Duration::from_secs(1200)),
        // Up to 100 seek-and-decode jobs.
        "video.strip" => Some(Duration::from_secs(300)),
        // A decode and encode per segment plus a final mux: slower than a
        // convert by the re-decoded keyframe runs.
        "video.reverse" => Some(Duration::from_secs(1800)),
        // Fetches, a preview, the export and a thumbnail: a one-hour movie
        // (the task's cap) renders in about 15 min at 720p (≥ 4× real time).
        "video.create" => Some(Duration::from_secs(3600)),
        // Headers, or one pass over the packets (no decoding).
        "audio.info" => Some(Duration::from_secs(120)),
        // One decode of the file (an hour of MP3 is ~20 s in wasm).
        "audio.waveform" => Some(Duration::from_secs(300)),
        // One decode and encode (an hour of MP3 is ~40 s at LAME V2).
        "audio.convert" => Some(Duration::from_secs(600)),
        // flite speaks 5 000 characters in a few seconds, then one encode.
        "audio.tts" => Some(Duration::from_secs(120)),
        // One decode (an hour of MP3 is ~20 s in wasm); tracking an hour
        // takes under a second.
        "audio.beats" => Some(Duration::from_secs(300)),
        // One page (≤ 10 MiB) fetched and parsed.
        "html.scrape" => Some(Duration::from_secs(120)),
        // A download, a probe and an upload of up to 512 MiB (~35 Mbit/s
        // each way), with retries.
        "video.upload.youtube" | "video.upload.vimeo" | "video.upload.fb" => {
            Some(Duration::from_secs(900))
        }
        _ => None,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn naming_rule() {
        assert_eq!(component_id("video.upload.vimeo"), "video-upload-vimeo");
        assert_eq!(component_file("image.thumb"), "drake_task_image_thumb.wasm");
        assert_eq!(
            component_file("test.hostile"),
            "drake_task_test_hostile.wasm"
        );
        for task in TASKS {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../components")
                .join(component_id(task));
            assert!(dir.is_dir(), "{task}: no {}", dir.display());
        }
    }

    #[test]
    fn spin_manifest_agrees_with_the_registry() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("spin.toml")).unwrap();
        let check = check_spin(&text, &root);
        assert!(check.problems.is_empty(), "{:#?}", check.problems);
        for task in SPIN_TASKS {
            assert!(TASKS.contains(task), "{task}");
        }
        // A drifted manifest is caught.
        let drifted = text
            .replace("/v1/run/image.gif", "/v1/run/image.giff")
            .replace(" --features drake-sdk/spin\"\n", "\"\n")
            .replace("[component.html-scrape]", "[component.html-scraper]");
        let problems = check_spin(&drifted, &root).problems;
        for expected in [
            "image.gif needs exactly one route",
            "lacks `--features drake-sdk/spin`",
            "html-scrape source is \"\"",
            "component html-scraper is not a Spin task",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:#?}"
            );
        }
    }
}
