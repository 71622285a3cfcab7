//! Run image.face natively on local files, one JSON line per file
//! (`{"file": …, "faces": […]}`), for `bench/image-quality`.
//!
//! `cargo run --release -p drake-task-image-face --example faces -- a.jpg b.png`

use drake_sdk::FakeCtx;
use drake_task_image_face::ImageFace;

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let mut ctx = FakeCtx::default().with_input("file:///in", "", bytes);
        let params = serde_json::json!({ "url": "file:///in" }).to_string();
        let start = std::time::Instant::now();
        let line = match drake_sdk::run_json::<ImageFace>(&mut ctx, &params) {
            Ok(v) => serde_json::json!({
                "file": path,
                "faces": v["faces"],
                "ms": start.elapsed().as_millis() as u64,
            }),
            Err(e) => serde_json::json!({ "file": path, "error": e.to_string() }),
        };
        println!("{line}");
    }
}
