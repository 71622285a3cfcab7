//! `cargo bench --profile release -p drake-tests --bench sxml_corpus`
//! (part of `make bench`): every document of the SXML corpus
//! (`tests/fixtures/sxml-corpus/`, documents shaped like real clients')
//! rendered by `video.create` at 720p through drake — create with
//! `block`, fetch over loopback, preview, export, thumbnail, stored — one
//! at a time on the default workers. Prints each document's × real time
//! (movie seconds / wall seconds), the worst and the median (goals: every
//! document ≥ 1×, median ≥ 3×).
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::SECRET;
use serde_json::json;

#[tokio::main]
async fn main() {
    let common::corpus::Corpus { drake, docs, .. } = common::corpus::start().await;
    println!(
        "video.create, the SXML corpus at 720p (whole task: preview, export, thumbnail), one at a time:"
    );
    let mut speeds = Vec::new();
    for doc in &docs {
        let task = json!({"task_name": "video.create", "definition": doc.text, "profile": "720p"});
        let t = Instant::now();
        let (code, body) = drake
            .post(
                "/v1/create",
                json!({"secret": SECRET, "block": true, "tasks": task}),
            )
            .await;
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(code, 200);
        assert_eq!(body[0]["status"], "success", "{}: {body}", doc.name);
        let x = doc.duration / wall;
        println!(
            "  {:<36} {:>6.2} s movie  {:>6.2} s wall  {:>6.2}× real time",
            doc.name, doc.duration, wall, x
        );
        speeds.push((x, doc.name.clone()));
    }
    speeds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (worst, name) = &speeds[0];
    let median = speeds[speeds.len() / 2].0;
    println!("  worst: {worst:.2}× ({name}; goal ≥ 1×)   median: {median:.2}× (goal ≥ 3×)");
}
