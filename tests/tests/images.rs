//! The image analysis tasks through the real server: image.face,
//! image.saliency, image.smartcrop and image.gif (their algorithms are
//! tested in depth inside their crates; this checks the wiring, the
//! result shapes and the published files).
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use crate::common::{Drake, Fixtures};
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
    png(img.into())
}

/// `img` as PNG.
fn png(img: image::DynamicImage) -> Vec<u8> {
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

/// `bytes` decoded by the `image` crate as `format`, RGBA.
fn rgba(bytes: &[u8], format: image::ImageFormat) -> image::RgbaImage {
    image::load_from_memory_with_format(bytes, format)
        .unwrap()
        .into_rgba8()
}

/// Whether two RGBA pixels are within `tolerance` on every channel.
fn close(a: image::Rgba<u8>, b: [u8; 4], tolerance: u8) -> bool {
    a.0.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
}

/// A 320×240 PNG: left half opaque red, right half fully transparent.
fn half_transparent() -> Vec<u8> {
    half_transparent_of(320, 240)
}

/// A `w`×`h` PNG: left half opaque red, right half fully transparent.
fn half_transparent_of(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            image::Rgba([220, 30, 30, 255])
        } else {
            image::Rgba([0, 0, 255, 0])
        }
    });
    png(img.into())
}

#[tokio::test]
async fn thumbnails_as_webp_and_avif_keep_alpha_and_read_back() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let source = fx.add("half.png", "image/png", half_transparent());
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": source, "width": 160, "format": "webp"},
                {"task_name": "image.thumb", "url": source, "width": 160, "format": "avif"},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["result"]["width"], 160, "{s}");
        assert_eq!(s["result"]["height"], 120, "{s}");
    }
    let webp_url = statuses[0]["result"]["output"].as_str().unwrap();
    let avif_url = statuses[1]["result"]["output"].as_str().unwrap();
    assert!(webp_url.ends_with("/output.webp") && avif_url.ends_with("/output.avif"));
    let r = common::client().get(webp_url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/webp");
    let webp = rgba(&r.bytes().await.unwrap(), image::ImageFormat::WebP);
    assert_eq!(webp.dimensions(), (160, 120));
    assert!(
        close(*webp.get_pixel(20, 60), [220, 30, 30, 255], 12),
        "{:?}",
        webp.get_pixel(20, 60)
    );
    assert_eq!(
        webp.get_pixel(140, 60).0[3],
        0,
        "transparent stays transparent"
    );

    let r = common::client().get(avif_url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/avif");
    let avif = r.bytes().await.unwrap();
    assert_eq!(&avif[4..12], b"ftypavif", "an AVIF file");
    // Read back by drake itself (AVIF input): a PNG keeping the alpha, and
    // the headers through image.info.
    let served = fx.add("thumb.avif", "image/avif", avif.to_vec());
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": served, "format": "png"},
                {"task_name": "image.info", "url": served},
            ]),
            true,
        )
        .await;
    assert_eq!(statuses[0]["status"], "success", "{}", statuses[0]);
    let png = common::download(statuses[0]["result"]["output"].as_str().unwrap()).await;
    let back = rgba(&png, image::ImageFormat::Png);
    assert_eq!(back.dimensions(), (160, 120));
    assert!(
        close(*back.get_pixel(20, 60), [220, 30, 30, 255], 16),
        "{:?}",
        back.get_pixel(20, 60)
    );
    assert_eq!(back.get_pixel(140, 60).0[3], 0, "the alpha plane survives");
    let info = &statuses[1]["result"];
    assert_eq!(info["content_type"], "image/avif", "{info}");
    assert_eq!(
        (info["width"].clone(), info["height"].clone()),
        (json!(160), json!(120))
    );
    assert_eq!(info["alpha"], true, "{info}");
}

/// `simple` (a lossy WebP of one `VP8 ` chunk, `w`×`h`) rewritten as an
/// extended file carrying an EXIF orientation, as cameras and phones'
/// converters write it.
fn webp_with_orientation(simple: &[u8], w: u32, h: u32, orientation: u8) -> Vec<u8> {
    assert_eq!(&simple[12..16], b"VP8 ", "a simple lossy WebP");
    let chunk = |kind: &[u8; 4], body: &[u8]| {
        let mut out = kind.to_vec();
        out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
        out
    };
    let mut vp8x = vec![0x08, 0, 0, 0]; // flags: EXIF
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    // A little-endian TIFF block: IFD0 with one entry, Orientation.
    let tiff = [
        b'I',
        b'I',
        42,
        0,
        8,
        0,
        0,
        0,
        1,
        0,
        0x12,
        0x01,
        3,
        0,
        1,
        0,
        0,
        0,
        orientation,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    let body = [
        &b"WEBP"[..],
        &chunk(b"VP8X", &vp8x),
        &simple[12..],
        &chunk(b"EXIF", &tiff),
    ]
    .concat();
    [
        &b"RIFF"[..],
        &u32::try_from(body.len()).unwrap().to_le_bytes(),
        &body,
    ]
    .concat()
}

/// Still WebP inputs of a megapixel or more go to the native decoder
/// (ffmpeg's, resampled on load): a lossy photo-sized file turned by its
/// EXIF orientation, and a lossy file with an alpha plane, keep their look.
#[tokio::test]
async fn still_webp_inputs_keep_orientation_and_alpha() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    // 1280×960, red left half, blue right half; orientation 6 (turn 90°
    // clockwise to view): 960×1280, red on top.
    let halves = image::RgbImage::from_fn(1280, 960, |x, _| {
        if x < 640 {
            image::Rgb([220, 30, 30])
        } else {
            image::Rgb([30, 30, 220])
        }
    });
    std::fs::write(dir.path().join("halves.png"), png(halves.into())).unwrap();
    std::fs::write(dir.path().join("half.png"), half_transparent_of(1280, 960)).unwrap();
    let input = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let lossy = common::ffmpeg_make(
        dir.path(),
        "halves.webp",
        &[
            "-i",
            &input("halves.png"),
            "-c:v",
            "libwebp",
            "-quality",
            "90",
        ],
    );
    let turned = fx.add(
        "turned.webp",
        "image/webp",
        webp_with_orientation(&lossy, 1280, 960, 6),
    );
    let alpha = common::ffmpeg_make(
        dir.path(),
        "half.webp",
        &[
            "-i",
            &input("half.png"),
            "-c:v",
            "libwebp",
            "-quality",
            "90",
        ],
    );
    assert_eq!(&alpha[12..16], b"VP8X", "an extended WebP with alpha");
    let alpha = fx.add("half.webp", "image/webp", alpha);
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": turned, "width": 120, "format": "png"},
                {"task_name": "image.thumb", "url": alpha, "width": 160, "format": "png"},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
    }
    assert_eq!(
        (
            statuses[0]["result"]["width"].clone(),
            statuses[0]["result"]["height"].clone()
        ),
        (json!(120), json!(160))
    );
    let png = common::download(statuses[0]["result"]["output"].as_str().unwrap()).await;
    let upright = rgba(&png, image::ImageFormat::Png);
    assert_eq!(upright.dimensions(), (120, 160));
    for (y, colour) in [(30, [220, 30, 30, 255]), (130, [30, 30, 220, 255])] {
        let px = *upright.get_pixel(60, y);
        assert!(close(px, colour, 24), "at y {y}: {px:?}");
    }
    let png = common::download(statuses[1]["result"]["output"].as_str().unwrap()).await;
    let cut = rgba(&png, image::ImageFormat::Png);
    assert_eq!(cut.dimensions(), (160, 120));
    let px = *cut.get_pixel(20, 60);
    assert!(close(px, [220, 30, 30, 255], 24), "{px:?}");
    assert_eq!(
        cut.get_pixel(140, 60).0[3],
        0,
        "transparent stays transparent"
    );
}

/// A damaged lossy WebP gets one outcome whatever size is asked of it
/// through the real decoders (ffmpeg's, image-webp's for a file cut
/// short): success at every size or the same error at every size.
#[tokio::test]
async fn damaged_webps_are_judged_the_same_at_every_size() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    // A megapixel or more: the native decoder's side of the threshold.
    let gradient = image::RgbImage::from_fn(1280, 960, |x, y| {
        image::Rgb([(x * 255 / 1280) as u8, (y * 255 / 960) as u8, 128])
    });
    std::fs::write(dir.path().join("g.png"), png(gradient.into())).unwrap();
    let source = dir.path().join("g.png").to_string_lossy().into_owned();
    let good = common::ffmpeg_make(
        dir.path(),
        "g.webp",
        &["-i", &source, "-c:v", "libwebp", "-quality", "85"],
    );
    let n = good.len();
    let mut variants = vec![
        ("cut in half".to_owned(), good[..n / 2].to_vec()),
        ("cut 16 bytes short".to_owned(), good[..n - 16].to_vec()),
    ];
    let mut zeros = good.clone();
    zeros[n / 2..].fill(0);
    variants.push(("zero-filled from the middle".to_owned(), zeros));
    for at in [40, n / 3, n * 9 / 10] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x10;
        variants.push((format!("a bit flipped at {at}"), flipped));
    }
    for (name, bytes) in variants {
        let url = fx.add(
            &format!("{}.webp", name.replace(' ', "-")),
            "image/webp",
            bytes,
        );
        // 64 px, 200, 512, and the full size (no width).
        let tasks: Vec<_> = [Some(64), Some(200), Some(512), None]
            .into_iter()
            .map(|w| {
                let mut task = json!({"task_name": "image.thumb", "url": url});
                if let Some(w) = w {
                    task["width"] = json!(w);
                }
                task
            })
            .collect();
        let statuses = drake.create(json!(tasks), true).await;
        let outcomes: Vec<_> = statuses
            .iter()
            .map(|s| {
                let status = s["status"].as_str().unwrap().to_owned();
                let why = if status == "error" {
                    s["result"].to_string()
                } else {
                    String::new()
                };
                (status, why)
            })
            .collect();
        assert!(
            outcomes.iter().all(|o| o == &outcomes[0]),
            "{name}: {outcomes:?}"
        );
        if name.starts_with("cut") {
            assert_eq!(outcomes[0].0, "error", "{name}");
        }
    }
}

#[tokio::test]
async fn an_animated_gif_stays_animated_as_webp() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .unwrap();
        for (i, ms) in [100u32, 200, 300].into_iter().enumerate() {
            let shade = 60 * (i as u8 + 1);
            let frame =
                image::RgbaImage::from_pixel(80, 60, image::Rgba([shade, 0, 255 - shade, 255]));
            let delay = image::Delay::from_numer_denom_ms(ms, 1);
            encoder
                .encode_frame(image::Frame::from_parts(frame, 0, 0, delay))
                .unwrap();
        }
    }
    let url = fx.add("anim.gif", "image/gif", gif);
    let s = &drake
        .create(
            json!({"task_name": "image.thumb", "url": url, "width": 40, "format": "webp"}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    let bytes = common::download(s["result"]["output"].as_str().unwrap()).await;
    let decoder = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    assert!(decoder.has_animation());
    let frames = image::AnimationDecoder::into_frames(decoder)
        .collect_frames()
        .unwrap();
    let delays: Vec<_> = frames.iter().map(|f| f.delay().numer_denom_ms()).collect();
    assert_eq!(delays, [(100, 1), (200, 1), (300, 1)]);
    let first = frames[0].buffer();
    assert_eq!(first.dimensions(), (40, 30));
    assert!(
        close(*first.get_pixel(20, 15), [60, 0, 195, 255], 12),
        "{:?}",
        first.get_pixel(20, 15)
    );
}

/// The committed real AVIF files (`tests/fixtures/avif`, from Pillow).
fn avif_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/avif")
        .join(name);
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn real_avif_files_are_read_upright_with_alpha_and_metadata() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    // One photo stored eight ways (turned and mirrored): the same upright
    // thumbnail from each.
    let mut thumbs = Vec::new();
    let mut tasks = Vec::new();
    for rot in 0..4 {
        for mir in 0..2 {
            let name = format!("rot{rot}mir{mir}.avif");
            let url = fx.add(&name, "image/avif", avif_fixture(&name));
            tasks.push(
                json!({"task_name": "image.thumb", "url": url, "width": 64, "format": "png"}),
            );
            tasks.push(json!({"task_name": "image.info", "url": url}));
        }
    }
    let statuses = drake.create(json!(tasks), true).await;
    let orientations: Vec<_> = statuses
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair[0]["status"], "success", "{}", pair[0]);
            assert_eq!(pair[1]["status"], "success", "{}", pair[1]);
            pair[1]["result"]["exif_orientation"].clone()
        })
        .collect();
    assert_eq!(
        orientations,
        json!([4, 2, 5, 7, 2, 4, 7, 5]).as_array().unwrap().clone()
    );
    for pair in statuses.chunks(2) {
        assert_eq!(pair[0]["result"]["width"], 64, "{}", pair[0]);
        assert_eq!(pair[0]["result"]["height"], 43, "{}", pair[0]);
        let png = common::download(pair[0]["result"]["output"].as_str().unwrap()).await;
        thumbs.push(rgba(&png, image::ImageFormat::Png));
    }
    for (i, thumb) in thumbs.iter().enumerate().skip(1) {
        let diff: u64 = thumb
            .pixels()
            .zip(thumbs[0].pixels())
            .map(|(a, b)| {
                a.0.iter()
                    .zip(b.0)
                    .map(|(&x, y)| u64::from(x.abs_diff(y)))
                    .sum::<u64>()
            })
            .sum();
        let mean = diff as f64 / (64.0 * 43.0 * 4.0);
        assert!(
            mean < 6.0,
            "thumbnail {i} differs from the first by {mean:.1} per channel"
        );
    }
    // Stored sizes in image.info; the turn in `rotation`.
    let info = &statuses[5]["result"]; // rot1mir0
    assert_eq!(
        (info["width"].clone(), info["height"].clone()),
        (json!(427), json!(640)),
        "{info}"
    );

    // Alpha, an ICC profile, an EXIF item; a cut file and a sequence.
    let transparency = fx.add("t.avif", "image/avif", avif_fixture("transparency.avif"));
    let icc = fx.add("icc.avif", "image/avif", avif_fixture("icc_profile.avif"));
    let exif = fx.add("exif.avif", "image/avif", avif_fixture("exif.avif"));
    let mut cut = avif_fixture("hopper.avif");
    cut.truncate(cut.len() / 2);
    let cut = fx.add("cut.avif", "image/avif", cut);
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": transparency, "format": "png"},
                {"task_name": "image.info", "url": transparency},
                {"task_name": "image.thumb", "url": icc, "width": 32, "format": "webp"},
                {"task_name": "image.info", "url": exif},
                {"task_name": "image.thumb", "url": cut},
                {"task_name": "image.saliency", "url": exif},
            ]),
            true,
        )
        .await;
    for i in [0, 1, 2, 3, 5] {
        assert_eq!(statuses[i]["status"], "success", "{}", statuses[i]);
    }
    let png = common::download(statuses[0]["result"]["output"].as_str().unwrap()).await;
    let alpha = rgba(&png, image::ImageFormat::Png);
    assert!(alpha.pixels().any(|p| p.0[3] < 128) && alpha.pixels().any(|p| p.0[3] > 128));
    assert_eq!(statuses[1]["result"]["alpha"], true);
    assert_eq!(statuses[3]["result"]["width"], 512);
    assert_eq!(statuses[4]["status"], "error", "{}", statuses[4]);
    let message = statuses[4]["result"].as_str().unwrap();
    assert!(message.contains("could not be decoded"), "{message}");
}
