//! Time the reduced JPEG decoders natively against jpeg-decoder at the
//! same scale: `cargo run --release -p drake-imaging --example dc_timing
//! -- FILE`.
#![allow(clippy::unwrap_used, reason = "a measuring tool")]

use std::time::Instant;

use drake_imaging::jpeg_dc::{self, Scale};

fn best(f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..10 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

fn main() {
    let file = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    for (scale, div) in [(Scale::Eighth, 8), (Scale::Quarter, 4), (Scale::Half, 2)] {
        let ours = best(&mut || {
            std::hint::black_box(jpeg_dc::decode_at(&bytes, scale).unwrap());
        });
        let theirs = best(&mut || {
            let mut d = jpeg_decoder::Decoder::new(&bytes[..]);
            d.read_info().unwrap();
            let info = d.info().unwrap();
            d.scale(info.width.div_ceil(div), info.height.div_ceil(div))
                .unwrap();
            std::hint::black_box(d.decode().unwrap());
        });
        println!("{file} at 1/{div}: drake {ours:.1} ms, jpeg-decoder {theirs:.1} ms (best of 10)");
    }
}
