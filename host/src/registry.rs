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

/// Component id: every `.` becomes `-` (`video.upload.vimeo` →
/// `video-upload-vimeo`), the Spin component id and the crate directory.
pub fn component_id(task: &str) -> String {
    task.replace('.', "-")
}

/// The built artefact: `drake_task_<id with _>.wasm`.
pub fn component_file(task: &str) -> String {
    format!("drake_task_{}.wasm", task.replace(['.', '-'], "_"))
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
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest: toml::Value = toml::from_str(&text).unwrap();
        let components = manifest["component"].as_table().unwrap();
        for (id, component) in components {
            let task = TASKS
                .iter()
                .find(|t| component_id(t) == *id)
                .unwrap_or_else(|| panic!("spin.toml component {id} is not a registered task"));
            let source = component["source"].as_str().unwrap();
            assert!(source.ends_with(&component_file(task)), "{id}: {source}");
        }
        for route in manifest["trigger"]["http"].as_array().unwrap() {
            let id = route["component"].as_str().unwrap();
            let task = route["route"]
                .as_str()
                .unwrap()
                .trim_start_matches("/v1/run/");
            assert_eq!(component_id(task), id);
        }
    }
}
