//! The image analysis tasks through the real server: image.face,
//! image.saliency, image.smartcrop and image.gif (their algorithms are
//! tested in depth inside their crates; this checks the wiring, the
//! result shapes and the published files).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::{Drake, Fixtures};
use serde_json::json;

/// A white disk of radius `r` at (`cx`, `cy`) on black, as PNG.
fn disk(w: u32, h: u32, cx: i64, cy: i64, r: i64) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (i64::from(x) - cx, i64::from(y) - cy);
        if dx * dx + dy * dy <= r * r {
            image::Rgb([250, 250, 250])
        } else {
            image::Rgb([10, 10, 10])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn analysis_tasks_return_their_shapes() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let subject = fx.add("disk.png", "image/png", disk(400, 300, 300, 150, 30));
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.face", "url": subject},
                {"task_name": "image.saliency", "url": subject},
                {"task_name": "image.smartcrop", "url": subject, "aspect_ratio": 1.0, "boxes_number": 3},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
    }
    assert_eq!(
        statuses[0]["result"]["faces"],
        json!([]),
        "no face in a disk"
    );
    let first = &statuses[1]["result"]["points"][0];
    let (x, y) = (first["x"].as_f64().unwrap(), first["y"].as_f64().unwrap());
    assert!(
        (x - 300.0).abs() < 60.0 && (y - 150.0).abs() < 60.0,
        "most salient point near the disk: {first}"
    );
    let boxes = statuses[2]["result"]["points"].as_array().unwrap();
    assert!(!boxes.is_empty() && boxes.len() <= 3);
    let best = &boxes[0];
    let (bx, by, bw, bh) = (
        best["x"].as_f64().unwrap(),
        best["y"].as_f64().unwrap(),
        best["width"].as_f64().unwrap(),
        best["height"].as_f64().unwrap(),
    );
    assert_eq!(bw, bh, "aspect ratio 1");
    assert!(
        bx <= 270.0 && bx + bw >= 330.0 && by <= 120.0 && by + bh >= 180.0,
        "the subject is in the best box: {best}"
    );
}

#[tokio::test]
async fn gif_animates_the_given_images() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let images: Vec<String> = (0..3)
        .map(|i| {
            fx.add(
                &format!("f{i}.png"),
                "image/png",
                disk(120, 90, 30 + 30 * i, 45, 15),
            )
        })
        .collect();
    let s = &drake
        .create(
            json!({"task_name": "image.gif", "images": images, "frame_duration": 0.2, "width": 60}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["frames"], 3);
    assert_eq!(s["result"]["width"], 60);
    let url = s["result"]["output"].as_str().unwrap();
    assert!(url.ends_with("/output.gif"));
    let r = common::client().get(url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/gif");
    let bytes = r.bytes().await.unwrap();
    let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    let frames = image::AnimationDecoder::into_frames(decoder)
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].delay().numer_denom_ms(), (200, 1));
    // A missing image names its position.
    let s = &drake
        .create(
            json!({"task_name": "image.gif", "images": [images[0], fx.url("/f/nope.png")]}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "error");
    assert!(s["result"].as_str().unwrap().contains("images[1]"), "{s}");
}
