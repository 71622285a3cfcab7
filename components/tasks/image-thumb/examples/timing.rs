//! Time image.thumb natively on a file: `cargo run --release -p
//! drake-task-image-thumb --example timing -- FILE WIDTH`.
#![allow(clippy::unwrap_used, reason = "a measuring tool")]

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (file, width) = (args.next().unwrap(), args.next().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    let params = format!(r#"{{"url": "http://x/photo.jpg", "width": {width}}}"#);
    let mut best = f64::MAX;
    for _ in 0..10 {
        let mut ctx = drake_sdk::FakeCtx::default().with_input(
            "http://x/photo.jpg",
            "image/jpeg",
            bytes.clone(),
        );
        let t = Instant::now();
        drake_sdk::run_json::<drake_task_image_thumb::ImageThumb>(&mut ctx, &params).unwrap();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("{file}: best of 10, {best:.1} ms");
}
