//! The SXML corpus (issue 22): documents shaped like the ones real
//! Stupeflix clients send — string-built, single-quoted, with typos,
//! unescaped `&`, widgets of every family with style layers and text
//! slots, a map, short clips with large skips, FLV/WMV/MOV/MP4/GIF/PNG/
//! JPEG media of mixed sizes and aspect ratios — each rendered end to
//! end; its duration, size and the probes written in its header
//! (`<!-- duration: S -->`, `<!-- probe: T X Y R G B -->`) asserted.
//! `tests/benches/sxml_corpus.rs` renders the same corpus at 720p for
//! speed.
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use crate::common;

use std::path::Path;

use crate::common::{pixel, probe, save};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_document_renders_as_its_header_says() {
    let common::corpus::Corpus {
        drake, dir, docs, ..
    } = common::corpus::start().await;
    assert!(docs.len() >= 30, "{} documents", docs.len());
    let tasks: Vec<Value> = docs
        .iter()
        .map(|d| json!({"task_name": "video.create", "definition": d.text, "preview": false}))
        .collect();
    let created = drake.create(Value::Array(tasks), false).await;
    // Every document is looked at; the failures are reported together.
    let mut wrong = Vec::new();
    for (doc, s) in docs.iter().zip(&created) {
        let s = drake.wait(s["key"].as_str().unwrap()).await;
        if s["status"] != "success" {
            wrong.push(format!("{}: {s}", doc.name));
            continue;
        }
        let r = &s["result"];
        let got = r["duration"].as_f64().unwrap_or(0.0);
        if (got - doc.duration).abs() >= 0.05 {
            wrong.push(format!("{}: {got} s, not {} s", doc.name, doc.duration));
        }
        let video = save(dir.path(), &format!("{}.mp4", doc.name), &r["export"]).await;
        let (frames, w, h, rate, ..) = probe(&video);
        if (w, h) != (640, 360) {
            wrong.push(format!("{}: {w}x{h}", doc.name));
        }
        let expected = (got * rate).round() as u64;
        if frames.abs_diff(expected) > 1 {
            wrong.push(format!("{}: {frames} frames for {got} s", doc.name));
        }
        for &(t, x, y, want) in &doc.probes {
            let px = pixel(&video, t, x, y);
            if !px
                .iter()
                .zip(want)
                .all(|(g, w)| (i32::from(*g) - i32::from(w)).abs() <= 48)
            {
                wrong.push(format!(
                    "{} at {t} s ({x}, {y}): {px:?}, not {want:?}",
                    doc.name
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_corpus_dir_is_read(Path::new(common::corpus::DIR));
}

/// The corpus is what the directory holds (a file added is a file tested).
fn assert_corpus_dir_is_read(dir: &Path) {
    let files = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sxml")
        })
        .count();
    assert!(files >= 30, "{files} corpus files");
}
