#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! image.saliency end to end through `FakeCtx`: a lone object is the first
//! point, in the upright frame; flat images have none; every shared edge
//! case answers or fails cleanly.

use drake_imaging::samples::{self, Expect};
use drake_sdk::{FakeCtx, TaskError, Values};
use drake_task_image_saliency::ImageSaliency;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::json;

const URL: &str = "http://images.test/in";

fn saliency(body: Vec<u8>) -> Result<Values, TaskError> {
    let mut ctx = FakeCtx::default().with_input(URL, "image/jpeg", body);
    let params = json!({ "url": URL });
    drake_sdk::run_json::<ImageSaliency>(&mut ctx, &params.to_string())
}

fn points(v: &Values) -> Vec<(u64, u64, f64)> {
    v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["x"].as_u64().unwrap(),
                p["y"].as_u64().unwrap(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// An 800x600 soft grey gradient with a red disk (radius 40) at `centre`.
fn disk_photo(centre: (i64, i64)) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(800, 600, |x, y| {
        let (dx, dy) = (i64::from(x) - centre.0, i64::from(y) - centre.1);
        if dx * dx + dy * dy < 40 * 40 {
            Rgb([210, 40, 30])
        } else {
            let g = 90 + (x / 40 + y / 60) as u8;
            Rgb([g, g, g + 10])
        }
    }))
}

fn near(p: (u64, u64, f64), centre: (u64, u64), tolerance: u64) -> bool {
    p.0.abs_diff(centre.0) <= tolerance && p.1.abs_diff(centre.1) <= tolerance
}

#[test]
fn a_lone_object_is_the_first_point() {
    let v = saliency(samples::encode(&disk_photo((600, 150)), ImageFormat::Jpeg)).unwrap();
    let p = points(&v);
    assert!(!p.is_empty() && p.len() <= 20);
    assert_eq!(p[0].2, 1.0);
    assert!(near(p[0], (600, 150), 60), "{:?}", p[0]);
    for w in p.windows(2) {
        assert!(w[0].2 >= w[1].2);
    }
    for &(x, y, value) in &p {
        assert!(x < 800 && y < 600 && (0.0..=1.0).contains(&value));
    }
}

#[test]
fn points_are_in_the_upright_image() {
    // Stored turned a quarter counter-clockwise, EXIF 6 turns it back.
    let stored = samples::encode(&disk_photo((600, 150)).rotate270(), ImageFormat::Jpeg);
    let v = saliency(samples::with_orientation(&stored, 6)).unwrap();
    let p = points(&v);
    assert!(near(p[0], (600, 150), 60), "{:?}", p[0]);
}

#[test]
fn a_flat_image_has_no_point() {
    let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(300, 200, Rgb([40, 90, 200])));
    let v = saliency(samples::encode(&flat, ImageFormat::Png)).unwrap();
    assert_eq!(v["points"], json!([]));
}

#[test]
fn edge_cases_answer_or_fail_cleanly() {
    for (name, body, expect) in samples::edge_cases() {
        let got = saliency(body);
        match (expect, &got) {
            (Expect::Ok | Expect::OkOrInvalid, Ok(v)) => {
                assert!(v["points"].as_array().unwrap().len() <= 20);
            }
            (Expect::Invalid | Expect::OkOrInvalid, Err(TaskError::InvalidInput(_)))
            | (Expect::Limit, Err(TaskError::Limit(_))) => {}
            _ => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn parameter_errors() {
    let mut ctx = FakeCtx::default();
    let err = drake_sdk::run_json::<ImageSaliency>(&mut ctx, r#"{"url": 3}"#).unwrap_err();
    assert_eq!(err, TaskError::parameters([("url", "not a valid string")]));
}
