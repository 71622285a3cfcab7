//! Print the filter graph `video.create` compiles for an SXML file, every
//! picture taken as a 1920×1280 still (inputs in document order):
//! `cargo run --release -p drake-task-video-create --example graph -- doc.sxml [720p]`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a developer tool")]

use std::collections::BTreeMap;

use drake_task_video_create::profile::{self, Canvas};
use drake_task_video_create::render::{self, Asset, asset_key};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("an SXML file");
    let name = args.next().unwrap_or_else(|| "720p".into());
    let text = std::fs::read_to_string(path).expect("readable");
    let movie = drake_sxml::parse(&text).expect("a valid document");
    let mut assets = BTreeMap::new();
    for node in movie.body.walk() {
        if let Some(k) = asset_key(node) {
            let n = assets.len();
            assets
                .entry(k)
                .or_insert_with(|| Asset::still(n, (1920, 1280), false));
        }
    }
    let body = drake_sxml::time::resolve(&movie, &|_: &drake_sxml::Node| None).expect("resolves");
    let p = profile::find(&name).expect("a profile");
    let (width, height) = p.drawn();
    let canvas = Canvas {
        width,
        height,
        rate: p.rate,
    };
    let graph = render::compile(&body, canvas, &assets, "").expect("compiles");
    println!("{}", graph.text);
}
