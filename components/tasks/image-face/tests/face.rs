#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! image.face end to end through `FakeCtx`, on the group photo the
//! `rustface` crate package ships beside its model (the 1927 Solvay
//! conference, 29 people; `build.rs` finds the package), turned by EXIF,
//! on faceless images and on every shared edge case.

use std::path::PathBuf;

use drake_imaging::samples::{self, Expect};
use drake_sdk::{FakeCtx, TaskError, Values};
use drake_task_image_face::ImageFace;
use image::{DynamicImage, ImageFormat};
use serde_json::{Value, json};

const URL: &str = "http://images.test/in";

fn face(body: Vec<u8>, params: Value) -> Result<Values, TaskError> {
    let mut ctx = FakeCtx::default().with_input(URL, "image/jpeg", body);
    let mut params = params;
    params["url"] = URL.into();
    drake_sdk::run_json::<ImageFace>(&mut ctx, &params.to_string())
}

/// The Solvay photo (1666x1136 PNG).
fn group_photo() -> DynamicImage {
    let path = PathBuf::from(env!("DRAKE_SEETA_MODEL"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("test.png");
    image::open(path).unwrap()
}

/// (x, y, width, height, confidence) of every face.
fn boxes(v: &Values) -> Vec<(u64, u64, u64, u64, f64)> {
    v["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "frontal");
            (
                f["x"].as_u64().unwrap(),
                f["y"].as_u64().unwrap(),
                f["width"].as_u64().unwrap(),
                f["height"].as_u64().unwrap(),
                f["confidence"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn finds_the_faces_of_a_group_photo() {
    let photo = group_photo();
    let jpeg = samples::encode(&DynamicImage::ImageRgb8(photo.to_rgb8()), ImageFormat::Jpeg);
    let faces = boxes(&face(jpeg, json!({})).unwrap());
    // 29 people face the camera; a few may be missed or doubled at most.
    assert!((25..=32).contains(&faces.len()), "{}", faces.len());
    for w in faces.windows(2) {
        assert!(w[0].4 >= w[1].4, "sorted by confidence");
    }
    for &(x, y, w, h, c) in &faces {
        assert!(c > 0.0 && c < 1.0);
        assert!(x + w <= 1666 && y + h <= 1136);
        // Faces are 40–80 px here, all in the upper 60 % of the photo.
        assert!(
            (30..=100).contains(&w) && (30..=100).contains(&h),
            "{w}x{h}"
        );
        assert!(y < 700);
    }
}

#[test]
fn boxes_are_in_the_upright_image() {
    // Store the photo turned a quarter counter-clockwise with EXIF 6
    // ("turn 90° clockwise to view"): the faces come back where they are
    // in the upright photo.
    let photo = DynamicImage::ImageRgb8(group_photo().to_rgb8());
    let upright = boxes(&face(samples::encode(&photo, ImageFormat::Jpeg), json!({})).unwrap());
    let stored = samples::encode(&photo.rotate270(), ImageFormat::Jpeg);
    let turned = boxes(&face(samples::with_orientation(&stored, 6), json!({})).unwrap());
    assert!(turned.len() + 3 >= upright.len() && upright.len() + 3 >= turned.len());
    let near = |a: &(u64, u64, u64, u64, f64), b: &(u64, u64, u64, u64, f64)| {
        a.0.abs_diff(b.0) < 15 && a.1.abs_diff(b.1) < 15
    };
    let matched = upright
        .iter()
        .filter(|u| turned.iter().any(|t| near(u, t)))
        .count();
    assert!(
        matched + 3 >= upright.len(),
        "{matched} of {}",
        upright.len()
    );
}

#[test]
fn no_faces_in_a_gradient_or_a_tiny_image() {
    let v = face(
        samples::encode(&samples::gradient(800, 600), ImageFormat::Png),
        json!({}),
    )
    .unwrap();
    assert_eq!(v["faces"], json!([]));
    // Thinner than the detector's 40 px window, and just as thin.
    for (w, h) in [(39, 500), (500, 39), (40, 1600), (1600, 40), (40, 40)] {
        let v = face(
            samples::encode(&samples::gradient(w, h), ImageFormat::Png),
            json!({}),
        )
        .unwrap();
        assert_eq!(v["faces"], json!([]), "{w}x{h}");
    }
}

#[test]
fn edge_cases_answer_or_fail_cleanly() {
    for (name, body, expect) in samples::edge_cases() {
        let got = face(body, json!({}));
        match (expect, &got) {
            (Expect::Ok | Expect::OkOrInvalid, Ok(v)) => assert!(v["faces"].is_array()),
            (Expect::Invalid | Expect::OkOrInvalid, Err(TaskError::InvalidInput(_)))
            | (Expect::Limit, Err(TaskError::Limit(_))) => {}
            _ => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn parameter_errors() {
    let mut ctx = FakeCtx::default();
    let err = drake_sdk::run_json::<ImageFace>(&mut ctx, r#"{"zoom": 2}"#).unwrap_err();
    assert_eq!(
        err,
        TaskError::parameters([
            ("url", "this field is required"),
            ("zoom", "unknown parameter")
        ])
    );
}
