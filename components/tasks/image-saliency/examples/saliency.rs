//! Run image.saliency natively on local files, one JSON line per file
//! (`{"file", "points", "map": {"width", "height", "values"}}`), for
//! `bench/image-quality`.
//!
//! `cargo run --release -p drake-task-image-saliency --example saliency -- a.jpg`

use drake_imaging::Size;
use drake_sdk::FakeCtx;
use drake_task_image_saliency::{ImageSaliency, limits, spectral};

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let mut ctx = FakeCtx::default().with_input("file:///in", "", bytes.clone());
        let params = serde_json::json!({ "url": "file:///in" }).to_string();
        let points = match drake_sdk::run_json::<ImageSaliency>(&mut ctx, &params) {
            Ok(v) => v["points"].clone(),
            Err(e) => {
                println!(
                    "{}",
                    serde_json::json!({ "file": path, "error": e.to_string() })
                );
                continue;
            }
        };
        let side = limits::WORKING_SIDE;
        let map = drake_imaging::open(bytes)
            .and_then(|o| o.decode(&mut ctx, Size::Within(side, side)))
            .map(|pic| spectral::saliency_map(&pic.luma([255, 255, 255])));
        let map = match map {
            Ok(m) => {
                serde_json::json!({ "width": m.width, "height": m.height, "values": m.values })
            }
            Err(_) => serde_json::Value::Null,
        };
        println!(
            "{}",
            serde_json::json!({ "file": path, "points": points, "map": map })
        );
    }
}
