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

/// A damaged file gets one outcome whatever size is asked of it (the 1/8
/// DC-only decoder, the DCT-scaled one and the full decode judge it
/// alike), and that outcome says what is wrong.
#[test]
fn damaged_files_are_judged_the_same_at_every_size() {
    use jpeg_encoder::{ColorType, Encoder};
    let img = samples::gradient(1600, 1200);
    let progressive = {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, 85);
        e.set_progressive(true);
        let rgb = img.to_rgb8();
        e.encode(rgb.as_raw(), 1600, 1200, ColorType::Rgb).unwrap();
        out
    };
    let sources = [
        ("jpeg", samples::encode(&img, ImageFormat::Jpeg)),
        ("progressive jpeg", progressive),
        ("png", samples::encode(&img, ImageFormat::Png)),
        ("webp", samples::encode(&img, ImageFormat::WebP)),
    ];
    // 64 px: the DC-only decoder; 200 and 512: DCT scales; full size.
    let sizes = [
        Size::Within(64, 64),
        Size::Within(200, 200),
        Size::Within(512, 512),
        Size::Full,
    ];
    for (format, good) in &sources {
        let n = good.len();
        let mut variants: Vec<(String, Vec<u8>)> = [300, n / 20, n / 4, n / 2, n - 64]
            .into_iter()
            .map(|cut| (format!("cut at {cut} of {n}"), good[..cut].to_vec()))
            .collect();
        // Headers, then a few bytes of scan data (the 10×8 grey thumbnail
        // the DC decoder once made of it).
        if let Some(sos) = good.windows(2).position(|w| w == [0xFF, 0xDA]) {
            variants.push(("cut just inside its scan".into(), good[..sos + 30].to_vec()));
        }
        let mut zeros = good.clone();
        zeros[n / 2..].fill(0);
        variants.push(("zero-filled from the middle".into(), zeros));
        for at in [n / 3, n / 2, n * 9 / 10] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x10;
            variants.push((format!("a bit flipped at {at}"), flipped));
        }
        for (name, body) in variants {
            let outcomes: Vec<String> = sizes
                .iter()
                .map(|&size| match load(body.clone(), size) {
                    Ok(_) => "ok".to_owned(),
                    Err(TaskError::InvalidInput(why)) => why,
                    Err(e) => format!("{e:?}"),
                })
                .collect();
            assert!(
                outcomes.iter().all(|o| *o == outcomes[0]),
                "{format} {name}: {outcomes:?}"
            );
            let cut = name.starts_with("cut");
            if cut && *format != "progressive jpeg" {
                assert_ne!(outcomes[0], "ok", "{format} {name}");
            }
        }
    }
    // What each says: cut short, in its headers or its data.
    let jpeg = &sources[0].1;
    let why = |body: &[u8]| match load(body.to_vec(), Size::Within(64, 64)) {
        Err(TaskError::InvalidInput(why)) => why,
        other => panic!("{:?}", other.map(|_| ())),
    };
    let headers = why(&jpeg[..300]);
    assert!(headers.contains("cut short"), "{headers}");
    assert!(why(&jpeg[..jpeg.len() / 2]).contains("cut short"));
    // Only the end-of-image marker missing: a picture at every size.
    for (format, good) in &sources[..2] {
        for size in sizes {
            let body = good[..good.len() - 2].to_vec();
            let got = load(body, size);
            assert!(
                got.is_ok(),
                "{format} without EOI at {size:?}: {:?}",
                got.err()
            );
        }
    }
    // A PNG missing only its IEND chunk too.
    let png = &sources[2].1;
    for size in sizes {
        assert!(
            load(png[..png.len() - 12].to_vec(), size).is_ok(),
            "{size:?}"
        );
    }
}

/// A still WebP of a megapixel or more goes to the native decoder (one
/// ffmpeg job, resampled on load to the working size); without ffmpeg
/// (Spin; here, no job result queued) image-webp decodes it, a file cut
/// short never reaches ffmpeg, and neither does a small one.
#[test]
fn still_webp_is_decoded_natively_at_the_working_size() {
    let halves = |w: u32, h: u32| {
        let img = RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        samples::encode(&DynamicImage::ImageRgb8(img), ImageFormat::WebP)
    };
    let webp = halves(1600, 800);
    // What "ffmpeg" returns: 20x10 green, so its use shows in the result.
    let mut ctx = FakeCtx::default().with_input(URL, "image/webp", webp.clone());
    ctx.job_results
        .push_back(Ok(vec![[0u8, 255, 0].repeat(20 * 10)]));
    let pic = drake_imaging::load(&mut ctx, URL, "url", Size::Within(20, 20)).unwrap();
    assert_eq!((pic.width, pic.height), (1600, 800));
    assert_eq!(pic.image.dimensions(), (20, 10));
    assert_eq!(pic.image.get_pixel(3, 3).0, [0, 255, 0, 255]);
    let job = &ctx.jobs[0];
    let has =
        |opts: &[(String, String)], k: &str, v: &str| opts.iter().any(|(a, b)| a == k && b == v);
    assert!(has(&job.inputs[0], "f", "webp_pipe"), "{:?}", job.inputs);
    assert!(
        has(
            &job.outputs[0],
            "vf",
            "scale=40:20:flags=area,scale=20:10:flags=lanczos"
        ),
        "{:?}",
        job.outputs
    );
    assert!(has(&job.outputs[0], "pix_fmt", "rgb24"));
    // No ffmpeg: image-webp, the real pixels.
    let pic = load(webp.clone(), Size::Within(20, 20)).unwrap();
    assert_eq!(pic.image.dimensions(), (20, 10));
    assert!(pic.image.get_pixel(2, 5)[0] > 200 && pic.image.get_pixel(17, 5)[2] > 200);
    // Cut short: no ffmpeg job, image-webp's error.
    let mut ctx =
        FakeCtx::default().with_input(URL, "image/webp", webp[..webp.len() - 10].to_vec());
    let err = drake_imaging::load(&mut ctx, URL, "url", Size::Within(20, 20)).err();
    assert!(ctx.jobs.is_empty());
    assert!(matches!(err, Some(TaskError::InvalidInput(_))), "{err:?}");
    // Under a megapixel: the guest decodes it, no job.
    let mut ctx = FakeCtx::default().with_input(URL, "image/webp", halves(800, 400));
    let pic = drake_imaging::load(&mut ctx, URL, "url", Size::Within(20, 20)).unwrap();
    assert!(ctx.jobs.is_empty());
    assert!(pic.image.get_pixel(2, 5)[0] > 200 && pic.image.get_pixel(17, 5)[2] > 200);
}
