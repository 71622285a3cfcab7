#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! The shared loader end to end through `FakeCtx`: every edge case gives a
//! picture or the expected error, orientation and working sizes hold.

use drake_imaging::samples::{self, Expect};
use drake_imaging::{Picture, Size};
use drake_sdk::{FakeCtx, TaskError};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

const URL: &str = "http://images.test/in";

fn load(body: Vec<u8>, size: Size) -> Result<Picture, TaskError> {
    let mut ctx = FakeCtx::default().with_input(URL, "image/jpeg", body);
    drake_imaging::load(&mut ctx, URL, "url", size)
}

#[test]
fn edge_cases() {
    for (name, body, expect) in samples::edge_cases() {
        for size in [Size::Full, Size::Within(64, 64), Size::Fit(100, 100)] {
            let got = load(body.clone(), size);
            match (expect, &got) {
                (Expect::Ok | Expect::OkOrInvalid, Ok(_))
                | (Expect::Invalid | Expect::OkOrInvalid, Err(TaskError::InvalidInput(_)))
                | (Expect::Limit, Err(TaskError::Limit(_))) => {}
                _ => panic!(
                    "{name} at {size:?}: expected {expect:?}, got {:?}",
                    got.err()
                ),
            }
        }
    }
}

#[test]
fn exif_orientation_is_applied_before_sizing() {
    // Stored 80x40 with a red left half; orientation 6 (turn 90° clockwise
    // to view) gives 40x80 with red on top.
    let img = RgbImage::from_fn(80, 40, |x, _| {
        if x < 40 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let jpeg = samples::encode(&DynamicImage::ImageRgb8(img), ImageFormat::Jpeg);
    let pic = load(samples::with_orientation(&jpeg, 6), Size::Within(20, 20)).unwrap();
    assert_eq!((pic.width, pic.height), (40, 80));
    assert_eq!(pic.image.dimensions(), (10, 20));
    assert!(pic.image.get_pixel(5, 2)[0] > 200);
    assert!(pic.image.get_pixel(5, 17)[2] > 200);
    assert_eq!(pic.scale(), (4.0, 4.0));
}

#[test]
fn working_size_of_a_big_photo() {
    let jpeg = samples::encode(&samples::gradient(3000, 2000), ImageFormat::Jpeg);
    let pic = load(jpeg, Size::Within(300, 300)).unwrap();
    assert_eq!((pic.width, pic.height), (3000, 2000));
    assert_eq!(pic.image.dimensions(), (300, 200));
    let png = samples::encode(&samples::gradient(30, 20), ImageFormat::Png);
    let pic = load(png, Size::Fit(300, 300)).unwrap();
    assert_eq!(pic.image.dimensions(), (300, 200));
}

#[test]
fn fetch_errors_name_the_parameter() {
    let mut ctx = FakeCtx::default();
    let err = drake_imaging::load(&mut ctx, URL, "images", Size::Full).err();
    assert!(matches!(err, Some(TaskError::Failed(m)) if m.starts_with("images:")));
}
