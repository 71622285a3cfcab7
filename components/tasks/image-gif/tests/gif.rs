#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! image.gif end to end through `FakeCtx`: frames, sizes, letterboxing,
//! timing and loop count read back with `image`'s GIF decoder; photo
//! quality; caps; parameter errors; every shared edge case as a frame.

use std::io::Cursor;

use drake_imaging::samples::{self, Expect};
use drake_sdk::{FakeCtx, Published, TaskError, Values};
use drake_task_image_gif::ImageGif;
use image::codecs::gif::GifDecoder;
use image::metadata::LoopCount;
use image::{AnimationDecoder, DynamicImage, ImageFormat, Rgb, RgbImage, RgbaImage};
use serde_json::{Value, json};

/// Serve `bodies` as `http://images.test/<i>` and run with `params` (the
/// `images` list is added when missing).
fn gif(bodies: Vec<Vec<u8>>, params: Value) -> Result<(Values, Published), TaskError> {
    let mut ctx = FakeCtx::default();
    let mut urls = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let url = format!("http://images.test/{i}");
        ctx = ctx.with_input(&url, "image/png", body);
        urls.push(url);
    }
    let mut params = params;
    if params.get("images").is_none() {
        params["images"] = json!(urls);
    }
    let values = drake_sdk::run_json::<ImageGif>(&mut ctx, &params.to_string())?;
    let output = ctx.published.remove("output").expect("an output file");
    Ok((values, output))
}

fn solid(w: u32, h: u32, c: [u8; 3]) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(c)));
    samples::encode(&img, ImageFormat::Png)
}

/// Every frame (RGBA), with its delay in 1/100 s, and the loop count
/// (0 = forever).
fn frames(bytes: &[u8]) -> (Vec<(RgbaImage, u32)>, u32) {
    let decoder = GifDecoder::new(Cursor::new(bytes)).unwrap();
    let loops = match decoder.loop_count() {
        LoopCount::Infinite => 0,
        LoopCount::Finite(n) => n.get(),
    };
    let frames = decoder
        .into_frames()
        .map(|f| {
            let f = f.unwrap();
            let (n, d) = f.delay().numer_denom_ms();
            (f.into_buffer(), n / d / 10)
        })
        .collect();
    (frames, loops)
}

fn close(a: [u8; 4], b: [u8; 3], tolerance: u8) -> bool {
    (0..3).all(|c| a[c].abs_diff(b[c]) <= tolerance)
}

#[test]
fn three_frames_in_order() {
    let (values, output) = gif(
        vec![
            solid(40, 30, [255, 0, 0]),
            solid(40, 30, [0, 255, 0]),
            solid(40, 30, [0, 0, 255]),
        ],
        json!({}),
    )
    .unwrap();
    assert_eq!(
        (values["width"].clone(), values["height"].clone()),
        (json!(40), json!(30))
    );
    assert_eq!(values["frames"], 3);
    assert_eq!(output.content_type, "image/gif");
    assert_eq!(output.extension, "gif");
    let (frames, loops) = frames(&output.bytes);
    assert_eq!(loops, 0);
    assert_eq!(frames.len(), 3);
    for ((img, delay), colour) in frames.iter().zip([[255, 0, 0], [0, 255, 0], [0, 0, 255]]) {
        assert_eq!(img.dimensions(), (40, 30));
        assert_eq!(*delay, 10);
        assert!(img.pixels().all(|p| p.0[..3] == colour));
    }
}

#[test]
fn other_shapes_are_fitted_and_centred_on_black() {
    let (values, output) = gif(
        vec![
            solid(400, 300, [255, 255, 255]),
            solid(100, 200, [255, 0, 0]),
            solid(40, 10, [0, 0, 255]),
        ],
        json!({}),
    )
    .unwrap();
    assert_eq!(values["width"], 400);
    let (frames, _) = frames(&output.bytes);
    // 100x200 fitted: 150x300, centred: columns 125..275.
    let tall = &frames[1].0;
    assert!(close(tall.get_pixel(10, 150).0, [0, 0, 0], 0));
    assert!(close(tall.get_pixel(200, 150).0, [255, 0, 0], 2));
    assert!(close(tall.get_pixel(130, 5).0, [255, 0, 0], 2));
    // 40x10 scaled up: 400x100, rows 100..200.
    let wide = &frames[2].0;
    assert!(close(wide.get_pixel(200, 50).0, [0, 0, 0], 0));
    assert!(close(wide.get_pixel(200, 150).0, [0, 0, 255], 2));
}

#[test]
fn size_timing_and_loop_parameters() {
    let (values, output) = gif(
        vec![solid(400, 300, [9, 9, 9]), solid(30, 30, [200, 9, 9])],
        json!({"width": 200, "frame_duration": 0.123, "loop": 3}),
    )
    .unwrap();
    assert_eq!(
        (values["width"].clone(), values["height"].clone()),
        (json!(200), json!(150))
    );
    let (frames, loops) = frames(&output.bytes);
    assert_eq!(loops, 3);
    assert!(
        frames
            .iter()
            .all(|(img, d)| *d == 12 && img.dimensions() == (200, 150))
    );
    let (values, _) = gif(vec![solid(400, 300, [9, 9, 9])], json!({"height": 30})).unwrap();
    assert_eq!(
        (values["width"].clone(), values["height"].clone()),
        (json!(40), json!(30))
    );
}

#[test]
fn first_image_size_is_as_shot() {
    let jpeg = samples::encode(&samples::gradient(80, 40), ImageFormat::Jpeg);
    let (values, _) = gif(vec![samples::with_orientation(&jpeg, 6)], json!({})).unwrap();
    assert_eq!(
        (values["width"].clone(), values["height"].clone()),
        (json!(40), json!(80))
    );
}

#[test]
fn a_photo_keeps_its_look() {
    // A smooth colour photo-like image: far more than 256 colours.
    let src = RgbImage::from_fn(320, 240, |x, y| {
        let (fx, fy) = (x as f32 / 320.0, y as f32 / 240.0);
        Rgb([
            (255.0 * fx) as u8,
            (255.0 * (0.5 + 0.5 * (fx * 6.0 + fy * 3.0).sin())) as u8,
            (255.0 * fy) as u8,
        ])
    });
    let jpeg = samples::encode(&DynamicImage::ImageRgb8(src), ImageFormat::Png);
    let (_, output) = gif(vec![jpeg.clone()], json!({})).unwrap();
    let (frames, _) = frames(&output.bytes);
    let src = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    let gif = DynamicImage::ImageRgba8(frames[0].0.clone()).to_rgb8();
    // Dithering trades pixel noise for the right colour on average: the
    // raw PSNR is modest, the PSNR seen at a slight blur (as the eye sees
    // dither) high, and no banding (undithered NeuQuant gives 31 dB here).
    let raw = psnr(&src, &gif);
    let seen = psnr(
        &image::imageops::blur(&src, 1.0),
        &image::imageops::blur(&gif, 1.0),
    );
    assert!(
        raw > 27.0 && seen > 37.0,
        "PSNR {raw:.1} dB, {seen:.1} dB blurred"
    );
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let mse: f64 = a
        .pixels()
        .zip(b.pixels())
        .flat_map(|(a, b)| (0..3).map(move |c| (f64::from(a[c]) - f64::from(b[c])).powi(2)))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[test]
fn caps_are_limits() {
    // Too many images: refused before any fetch.
    let many: Vec<String> = (0..101)
        .map(|i| format!("http://images.test/{i}"))
        .collect();
    let err = gif(vec![], json!({"images": many})).unwrap_err();
    assert_eq!(
        err,
        TaskError::Limit("101 images given; the limit is 100 frames".into())
    );
    // Too large a frame, from the parameters: before any fetch.
    let err = gif(
        vec![],
        json!({"images": ["http://x.test/a"], "width": 5000, "height": 5000}),
    )
    .unwrap_err();
    assert!(matches!(err, TaskError::Limit(m) if m.contains("a frame")));
    // Too many pixels over all frames, from the first image's size.
    let big = solid(1200, 1000, [1, 2, 3]);
    let err = gif(vec![big; 60], json!({})).unwrap_err();
    assert!(matches!(err, TaskError::Limit(m) if m.contains("over all frames")),);
    // A pixel bomb as a frame.
    let err = gif(
        vec![
            solid(10, 10, [0, 0, 0]),
            samples::png_header(100_000, 100_000),
        ],
        json!({}),
    )
    .unwrap_err();
    assert!(
        matches!(err, TaskError::Limit(m) if m.starts_with("images[1]: image is 100000x100000"))
    );
}

#[test]
fn parameter_errors() {
    let err = gif(
        vec![],
        json!({"images": [], "frame_duration": 0, "loop": -1, "width": 0, "zoom": 1}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        TaskError::parameters([
            ("frame_duration", "must be greater than 0"),
            ("images", "needs at least 1 item(s)"),
            ("loop", "must be at least 0"),
            ("width", "must be at least 1"),
            ("zoom", "unknown parameter"),
        ])
    );
    let err = gif(vec![], json!({"images": ["http://ok.test/", 3]})).unwrap_err();
    assert_eq!(
        err,
        TaskError::parameters([("images", "item 1: not a valid string")])
    );
}

#[test]
fn errors_name_the_image() {
    let err = gif(
        vec![solid(10, 10, [0, 0, 0]), b"<html>".to_vec()],
        json!({}),
    )
    .unwrap_err();
    assert!(matches!(err, TaskError::InvalidInput(m) if m.starts_with("images[1]: ")));
    let err = gif(vec![], json!({"images": ["http://images.test/missing"]})).unwrap_err();
    assert!(matches!(err, TaskError::Failed(m) if m.starts_with("images[0]: could not fetch")));
}

#[test]
fn edge_cases_answer_or_fail_cleanly() {
    for (name, body, expect) in samples::edge_cases() {
        for bodies in [
            vec![body.clone()],
            vec![solid(16, 16, [1, 2, 3]), body.clone()],
        ] {
            let got = gif(bodies, json!({}));
            match (expect, &got) {
                (Expect::Ok | Expect::OkOrInvalid, Ok((_, out))) => {
                    assert!(!frames(&out.bytes).0.is_empty());
                }
                (Expect::Invalid | Expect::OkOrInvalid, Err(TaskError::InvalidInput(_)))
                | (Expect::Limit, Err(TaskError::Limit(_))) => {}
                _ => panic!("{name}: expected {expect:?}, got {:?}", got.err()),
            }
        }
    }
}
