#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! image.smartcrop end to end through `FakeCtx`: the subject on a flat
//! background is in the best box, boxes never overlap and have the exact
//! ratio, `reverse` starts from the background, parameters are checked,
//! and every shared edge case answers or fails cleanly.

use drake_imaging::samples::{self, Expect};
use drake_sdk::{FakeCtx, TaskError, Values};
use drake_task_image_smartcrop::ImageSmartcrop;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::{Value, json};

const URL: &str = "http://images.test/in";

fn smartcrop(body: Vec<u8>, params: Value) -> Result<Values, TaskError> {
    let mut ctx = FakeCtx::default().with_input(URL, "image/jpeg", body);
    let mut params = params;
    params["url"] = URL.into();
    drake_sdk::run_json::<ImageSmartcrop>(&mut ctx, &params.to_string())
}

#[derive(Debug, Clone, Copy)]
struct Box {
    x: u64,
    y: u64,
    w: u64,
    h: u64,
    score: f64,
}

fn boxes(v: &Values) -> Vec<Box> {
    v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Box {
            x: p["x"].as_u64().unwrap(),
            y: p["y"].as_u64().unwrap(),
            w: p["width"].as_u64().unwrap(),
            h: p["height"].as_u64().unwrap(),
            score: p["score"].as_f64().unwrap(),
        })
        .collect()
}

/// A 1200x800 flat blue-grey image with a detailed 160x120 subject
/// (stripes and a checkerboard) whose top-left corner is `at`.
fn subject_photo(at: (u32, u32)) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(1200, 800, |x, y| {
        let inside = (at.0..at.0 + 160).contains(&x) && (at.1..at.1 + 120).contains(&y);
        if !inside {
            return Rgb([110, 130, 150]);
        }
        let (u, v) = (x - at.0, y - at.1);
        if v < 60 {
            if (u / 6) % 2 == 0 {
                Rgb([250, 220, 30])
            } else {
                Rgb([20, 20, 20])
            }
        } else if (u / 10 + v / 10) % 2 == 0 {
            Rgb([200, 30, 30])
        } else {
            Rgb([240, 240, 240])
        }
    }))
}

fn overlap(a: &Box, b: &Box) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

#[test]
fn the_subject_is_in_the_best_box() {
    for at in [(820, 120), (60, 600), (500, 340)] {
        let png = samples::encode(&subject_photo(at), ImageFormat::Png);
        let v = smartcrop(png, json!({})).unwrap();
        let b = boxes(&v);
        assert!(!b.is_empty() && b.len() <= 10);
        let best = b[0];
        let (sx, sy) = (u64::from(at.0), u64::from(at.1));
        assert!(
            best.x <= sx
                && sx + 160 <= best.x + best.w
                && best.y <= sy
                && sy + 120 <= best.y + best.h,
            "subject at {at:?}, best box {best:?}"
        );
        assert!(best.score > 0.0);
    }
}

#[test]
fn boxes_never_overlap_and_keep_the_ratio() {
    let png = samples::encode(&samples::gradient(1000, 700), ImageFormat::Png);
    for (ratio, diag, n) in [(16.0 / 9.0, 0.3, 10), (1.0, 0.2, 30), (0.5, 0.15, 50)] {
        let v = smartcrop(
            png.clone(),
            json!({"aspect_ratio": ratio, "diag_ratio": diag, "boxes_number": n}),
        )
        .unwrap();
        let b = boxes(&v);
        assert!(!b.is_empty() && b.len() <= n);
        for (i, a) in b.iter().enumerate() {
            assert!(a.x + a.w <= 1000 && a.y + a.h <= 700);
            if ratio >= 1.0 {
                assert_eq!(a.w, (a.h as f64 * ratio).round() as u64, "{a:?}");
            } else {
                assert_eq!(a.h, (a.w as f64 / ratio).round() as u64, "{a:?}");
            }
            for c in &b[i + 1..] {
                assert!(!overlap(a, c), "{a:?} {c:?}");
            }
        }
        for w in b.windows(2) {
            assert!(w[0].score >= w[1].score);
        }
    }
}

#[test]
fn reverse_starts_from_the_background() {
    let png = samples::encode(&subject_photo((820, 120)), ImageFormat::Png);
    let v = smartcrop(png, json!({"reverse": true, "boxes_number": 3})).unwrap();
    let b = boxes(&v);
    assert_eq!(b.len(), 3);
    assert_eq!(b[0].score, 0.0);
    assert!(b.windows(2).all(|w| w[0].score <= w[1].score));
}

#[test]
fn boxes_are_in_the_upright_image() {
    // The subject at (820, 120) upright; stored turned, EXIF 6.
    let stored = subject_photo((820, 120)).rotate270();
    let jpeg = samples::encode(&stored, ImageFormat::Jpeg);
    let v = smartcrop(samples::with_orientation(&jpeg, 6), json!({})).unwrap();
    let best = boxes(&v)[0];
    assert!(best.w > best.h, "a landscape box in the landscape image");
    assert!(best.x <= 820 && 980 <= best.x + best.w, "{best:?}");
    assert!(best.y <= 120 && 240 <= best.y + best.h, "{best:?}");
}

#[test]
fn parameter_errors() {
    let png = samples::encode(&samples::gradient(10, 10), ImageFormat::Png);
    let err = smartcrop(
        png,
        json!({"aspect_ratio": 0, "boxes_number": 0, "step_ratio": 2, "diag_ratio": "big",
               "reverse": 1}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        TaskError::parameters([
            ("aspect_ratio", "must be greater than 0"),
            ("boxes_number", "must be at least 1"),
            ("diag_ratio", "not a valid number"),
            ("reverse", "not a valid boolean"),
            ("step_ratio", "must be at most 1"),
        ])
    );
}

#[test]
fn no_box_fits_a_tiny_image() {
    let png = samples::encode(&samples::gradient(1, 1), ImageFormat::Png);
    let v = smartcrop(png.clone(), json!({})).unwrap();
    assert_eq!(v["points"], json!([]));
    let v = smartcrop(png, json!({"aspect_ratio": 1.0})).unwrap();
    assert_eq!(boxes(&v).len(), 1);
}

#[test]
fn edge_cases_answer_or_fail_cleanly() {
    for (name, body, expect) in samples::edge_cases() {
        let got = smartcrop(body, json!({}));
        match (expect, &got) {
            (Expect::Ok | Expect::OkOrInvalid, Ok(v)) => {
                assert!(v["points"].as_array().unwrap().len() <= 10);
            }
            (Expect::Invalid | Expect::OkOrInvalid, Err(TaskError::InvalidInput(_)))
            | (Expect::Limit, Err(TaskError::Limit(_))) => {}
            _ => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
}
