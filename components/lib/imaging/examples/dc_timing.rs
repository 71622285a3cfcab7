//! Time the DC-only JPEG decoder natively: `cargo run --release -p
//! drake-imaging --example dc_timing -- FILE`.
#![allow(clippy::unwrap_used, reason = "a measuring tool")]

use std::time::Instant;

fn main() {
    let file = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let img = drake_imaging::jpeg_dc::decode(&bytes).unwrap().unwrap();
        std::hint::black_box(img);
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("{file}: DC decode, best of 20, {best:.2} ms");
}
