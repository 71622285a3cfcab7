#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! image.thumb end to end through the SDK's `FakeCtx`, on images made here
//! (including a hand-built EXIF block, a hand-built CMYK JPEG and a PNG
//! header that claims 80000x60000 pixels).

use std::io::Cursor;

use drake_sdk::{FakeCtx, TaskError, Values};
use drake_task_image_thumb::ImageThumb;
use image::{AnimationDecoder, DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::{Value, json};

const URL: &str = "http://images.test/in";

/// Run with `params` (the url is added) on `body`; the values and the
/// published output.
fn thumb(body: Vec<u8>, params: Value) -> Result<(Values, drake_sdk::Published), TaskError> {
    let mut ctx = FakeCtx::default().with_input(URL, "application/octet-stream", body);
    let mut params = params;
    params["url"] = URL.into();
    let values = drake_sdk::run_json::<ImageThumb>(&mut ctx, &params.to_string())?;
    let output = ctx.published.remove("output").expect("an output file");
    Ok((values, output))
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).unwrap()
}

fn size(v: &Values) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap();
    (
        n("width"),
        n("height"),
        n("original_width"),
        n("original_height"),
    )
}

fn rgb(w: u32, h: u32) -> DynamicImage {
    // A gradient, so resizes and turns are visible.
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    }))
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

// --- hand-built EXIF ------------------------------------------------------

/// A little-endian TIFF block with one IFD0 entry: Orientation.
fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut t = b"II*\0\x08\0\0\0".to_vec();
    t.extend(1u16.to_le_bytes()); // one entry
    t.extend(0x0112u16.to_le_bytes()); // Orientation
    t.extend(3u16.to_le_bytes()); // SHORT
    t.extend(1u32.to_le_bytes()); // count
    t.extend(orientation.to_le_bytes());
    t.extend([0, 0]); // value padding
    t.extend(0u32.to_le_bytes()); // no next IFD
    t
}

/// `jpeg` with an APP1 Exif segment inserted after SOI.
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend(&jpeg[2..]);
    out
}

// --- hand-built PNG and JPEG ----------------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
    out
}

/// A PNG of IHDR and IEND only, with correct CRCs.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, adaptive, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// An 8x8 baseline JPEG of one flat colour with four components, as
/// Photoshop writes CMYK: an Adobe APP14 marker (transform 0) and inverted
/// samples (stored = 255 - ink). Each block is DC-only, quantiser 1.
fn cmyk_jpeg(ink: [u8; 4]) -> Vec<u8> {
    fn segment(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
        out.extend([0xFF, marker]);
        out.extend(((data.len() + 2) as u16).to_be_bytes());
        out.extend(data);
    }
    let mut j = vec![0xFF, 0xD8];
    let mut adobe = b"Adobe".to_vec();
    adobe.extend([0, 100, 0, 0, 0, 0, 0]); // version 100, flags, transform 0
    segment(&mut j, 0xEE, &adobe);
    let mut dqt = vec![0];
    dqt.extend([1u8; 64]);
    segment(&mut j, 0xDB, &dqt);
    let mut sof = vec![8, 0, 8, 0, 8, 4];
    for id in 1..=4 {
        sof.extend([id, 0x11, 0]);
    }
    segment(&mut j, 0xC0, &sof);
    // DC table: categories 0–11, each a 4-bit code equal to the category.
    let mut dht = vec![0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    dht.extend(0..12u8);
    segment(&mut j, 0xC4, &dht);
    // AC table: only EOB, code `0`.
    let mut dht = vec![0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    dht.push(0x00);
    segment(&mut j, 0xC4, &dht);
    let mut sos = vec![4];
    for id in 1..=4 {
        sos.extend([id, 0x00]);
    }
    sos.extend([0, 63, 0]);
    segment(&mut j, 0xDA, &sos);

    let mut bits: Vec<bool> = Vec::new();
    let mut put = |value: u32, len: u32| {
        for i in (0..len).rev() {
            bits.push(value >> i & 1 == 1);
        }
    };
    for k in ink {
        let stored = 255 - i32::from(k);
        let dc = 8 * (stored - 128); // the DC of a flat block
        let category = 32 - dc.unsigned_abs().leading_zeros();
        put(category, 4);
        let extra = if dc >= 0 {
            dc
        } else {
            dc + (1 << category) - 1
        };
        put(extra as u32, category);
        put(0, 1); // EOB
    }
    while !bits.len().is_multiple_of(8) {
        bits.push(true);
    }
    for byte in bits.chunks(8) {
        let b = byte.iter().fold(0u8, |acc, &bit| acc << 1 | u8::from(bit));
        j.push(b);
        if b == 0xFF {
            j.push(0);
        }
    }
    j.extend([0xFF, 0xD9]);
    j
}

// --- geometry ---------------------------------------------------------------

#[test]
fn fit_and_crop() {
    let png = encode(&rgb(400, 300), ImageFormat::Png);
    let (v, out) = thumb(png.clone(), json!({"width": 100, "height": 100})).unwrap();
    assert_eq!(size(&v), (100, 75, 400, 300));
    assert_eq!(
        (out.content_type.as_str(), out.extension.as_str()),
        ("image/jpeg", "jpg")
    );
    let img = decode(&out.bytes);
    assert_eq!((img.width(), img.height()), (100, 75));

    let (v, out) = thumb(png, json!({"width": 100, "height": 100, "crop": true})).unwrap();
    assert_eq!(size(&v), (100, 100, 400, 300));
    let img = decode(&out.bytes);
    assert_eq!((img.width(), img.height()), (100, 100));
}

#[test]
fn one_side_keeps_the_aspect_ratio() {
    let png = encode(&rgb(400, 300), ImageFormat::Png);
    let (v, _) = thumb(png.clone(), json!({"width": 200})).unwrap();
    assert_eq!(size(&v), (200, 150, 400, 300));
    let (v, _) = thumb(png.clone(), json!({"height": 30, "crop": true})).unwrap();
    assert_eq!(size(&v), (40, 30, 400, 300));
    let (v, out) = thumb(png.clone(), json!({})).unwrap();
    assert_eq!(size(&v), (400, 300, 400, 300));
    assert_eq!(decode(&out.bytes).width(), 400);
    // The box is followed even when it upscales.
    let (v, out) = thumb(png, json!({"width": 800, "format": "png"})).unwrap();
    assert_eq!(size(&v), (800, 600, 400, 300));
    assert_eq!(decode(&out.bytes).height(), 600);
}

#[test]
fn rotation_parameter() {
    // Red top-left corner block on white.
    let mut img = RgbImage::from_pixel(400, 300, Rgb([255, 255, 255]));
    for y in 0..60 {
        for x in 0..60 {
            img.put_pixel(x, y, Rgb([255, 0, 0]));
        }
    }
    let png = encode(&DynamicImage::ImageRgb8(img), ImageFormat::Png);
    let (v, out) = thumb(png.clone(), json!({"rotation": 90, "format": "png"})).unwrap();
    // The original is the source as shot; the thumbnail is turned.
    assert_eq!(size(&v), (300, 400, 400, 300));
    let out = decode(&out.bytes).to_rgb8();
    // Counter-clockwise: the top-left corner goes to the bottom-left.
    assert_eq!(out.get_pixel(10, 390).0, [255, 0, 0]);
    assert_eq!(out.get_pixel(10, 10).0, [255, 255, 255]);

    // The box applies to the turned image.
    let (v, _) = thumb(png.clone(), json!({"rotation": 270, "width": 150})).unwrap();
    assert_eq!(size(&v), (150, 200, 400, 300));
    let (v, out) = thumb(png, json!({"rotation": 180, "width": 200, "format": "png"})).unwrap();
    assert_eq!(size(&v), (200, 150, 400, 300));
    let out = decode(&out.bytes).to_rgb8();
    assert!(close(out.get_pixel(195, 145).0, [255, 0, 0], 2));
}

#[test]
fn exif_orientation_6_swaps_the_sides() {
    // Stored 40x20: left half red, right half blue. Orientation 6 means
    // "turn 90° clockwise to view": red ends on top.
    let img = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let jpeg = encode(&DynamicImage::ImageRgb8(img), ImageFormat::Jpeg);
    let jpeg = with_exif(&jpeg, &exif_orientation(6));
    let (v, out) = thumb(jpeg.clone(), json!({"format": "png"})).unwrap();
    assert_eq!(size(&v), (20, 40, 20, 40));
    let out = decode(&out.bytes).to_rgb8();
    assert!(
        close(out.get_pixel(10, 5).0, [255, 0, 0], 40),
        "{:?}",
        out.get_pixel(10, 5)
    );
    assert!(
        close(out.get_pixel(10, 35).0, [0, 0, 255], 40),
        "{:?}",
        out.get_pixel(10, 35)
    );

    let (v, _) = thumb(jpeg.clone(), json!({"width": 10})).unwrap();
    assert_eq!(size(&v), (10, 20, 20, 40));
    // Then the rotation parameter: 90° counter-clockwise undoes it.
    let (v, _) = thumb(jpeg, json!({"width": 10, "rotation": 90})).unwrap();
    assert_eq!(size(&v), (10, 5, 20, 40));
}

#[test]
fn mirrored_exif_orientation() {
    // Orientation 2: mirrored left-right; red on the left is shown right.
    let img = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let jpeg = encode(&DynamicImage::ImageRgb8(img), ImageFormat::Jpeg);
    let (v, out) = thumb(
        with_exif(&jpeg, &exif_orientation(2)),
        json!({"format": "png"}),
    )
    .unwrap();
    assert_eq!(size(&v), (40, 20, 40, 20));
    let out = decode(&out.bytes).to_rgb8();
    assert!(close(out.get_pixel(35, 10).0, [255, 0, 0], 40));
}

// --- look -------------------------------------------------------------------

#[test]
fn poster_draws_on_the_centre() {
    let png = encode(
        &DynamicImage::ImageRgb8(RgbImage::from_pixel(200, 100, Rgb([200, 40, 40]))),
        ImageFormat::Png,
    );
    let (_, plain) = thumb(png.clone(), json!({"format": "png"})).unwrap();
    let (_, poster) = thumb(png, json!({"format": "png", "poster": true})).unwrap();
    let (plain, poster) = (
        decode(&plain.bytes).to_rgb8(),
        decode(&poster.bytes).to_rgb8(),
    );
    assert_eq!(plain.get_pixel(100, 50).0, [200, 40, 40]);
    let centre = poster.get_pixel(100, 50).0;
    assert!(
        centre[1] > 200,
        "white triangle in the centre, got {centre:?}"
    );
    assert!(poster.get_pixel(86, 50).0[0] < 120, "dark disc around it");
    assert_eq!(poster.get_pixel(5, 5).0, plain.get_pixel(5, 5).0);
}

#[test]
fn alpha_is_flattened_on_white_for_jpeg_and_kept_for_png() {
    let img = RgbaImage::from_fn(40, 40, |x, _| {
        if x < 20 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let png = encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png);
    let (_, out) = thumb(png.clone(), json!({})).unwrap();
    let out = decode(&out.bytes).to_rgb8();
    assert!(close(out.get_pixel(5, 20).0, [255, 255, 255], 3));
    assert!(close(out.get_pixel(35, 20).0, [0, 0, 255], 6));
    let (_, out) = thumb(png, json!({"format": "png", "width": 20})).unwrap();
    let out = decode(&out.bytes);
    assert!(out.color().has_alpha());
    assert_eq!(out.to_rgba8().get_pixel(2, 10)[3], 0);
    assert_eq!(out.to_rgba8().get_pixel(18, 10).0, [0, 0, 255, 255]);
}

#[test]
fn sixteen_bit_and_grey_sources() {
    let img16 = DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(
        30,
        20,
        Rgba([65535u16, 32768, 0, 65535]),
    ));
    let (v, out) = thumb(
        encode(&img16, ImageFormat::Png),
        json!({"width": 15, "format": "png"}),
    )
    .unwrap();
    assert_eq!(size(&v), (15, 10, 30, 20));
    let out = decode(&out.bytes).to_rgba8();
    assert_eq!(out.get_pixel(7, 5).0, [255, 128, 0, 255]);

    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(30, 20, image::Luma([90])));
    for format in [ImageFormat::Png, ImageFormat::Jpeg] {
        let (_, out) = thumb(encode(&grey, format), json!({"width": 10, "format": "png"})).unwrap();
        assert!(close(
            decode(&out.bytes).to_rgb8().get_pixel(5, 3).0,
            [90, 90, 90],
            2
        ));
    }
}

#[test]
fn cmyk_jpeg_is_converted() {
    // Magenta + yellow ink = red; cyan ink = cyan; black ink = black.
    for (ink, expected) in [
        ([0, 255, 255, 0], [255, 0, 0]),
        ([255, 0, 0, 0], [0, 255, 255]),
        ([0, 0, 0, 255], [0, 0, 0]),
        ([0, 0, 0, 0], [255, 255, 255]),
    ] {
        let (v, out) = thumb(cmyk_jpeg(ink), json!({"format": "png"})).unwrap();
        assert_eq!(size(&v), (8, 8, 8, 8));
        let got = decode(&out.bytes).to_rgb8().get_pixel(4, 4).0;
        assert!(close(got, expected, 3), "ink {ink:?}: {got:?}");
    }
}

// --- formats ----------------------------------------------------------------

#[test]
fn every_format_in_and_out() {
    let src = rgb(64, 48);
    for input in [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ] {
        let body = encode(&src, input);
        for (format, content_type, extension, image_format) in [
            ("jpeg", "image/jpeg", "jpg", ImageFormat::Jpeg),
            ("png", "image/png", "png", ImageFormat::Png),
            ("gif", "image/gif", "gif", ImageFormat::Gif),
        ] {
            let (v, out) = thumb(body.clone(), json!({"width": 32, "format": format})).unwrap();
            assert_eq!(size(&v), (32, 24, 64, 48), "{input:?} → {format}");
            assert_eq!(out.content_type, content_type);
            assert_eq!(out.extension, extension);
            assert_eq!(image::guess_format(&out.bytes).unwrap(), image_format);
            let img = decode(&out.bytes);
            assert_eq!(
                (img.width(), img.height()),
                (32, 24),
                "{input:?} → {format}"
            );
        }
    }
}

#[test]
fn large_jpeg_is_decoded_at_a_reduced_scale() {
    let big = rgb(1600, 1200);
    let jpeg = encode(&big, ImageFormat::Jpeg);
    let (v, out) = thumb(
        jpeg,
        json!({"width": 100, "height": 100, "crop": true, "format": "png"}),
    )
    .unwrap();
    assert_eq!(size(&v), (100, 100, 1600, 1200));
    // The gradient survives: left dark red channel, right bright.
    let out = decode(&out.bytes).to_rgb8();
    assert!(out.get_pixel(2, 50)[0] < out.get_pixel(97, 50)[0]);
}

fn animated_gif(colours: &[[u8; 4]], delay_ms: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut out);
        enc.set_repeat(image::codecs::gif::Repeat::Infinite)
            .unwrap();
        for c in colours {
            let frame = image::Frame::from_parts(
                RgbaImage::from_pixel(40, 30, Rgba(*c)),
                0,
                0,
                image::Delay::from_numer_denom_ms(delay_ms, 1),
            );
            enc.encode_frame(frame).unwrap();
        }
    }
    out
}

#[test]
fn animated_gif_stays_animated_only_as_gif() {
    let gif = animated_gif(&[[255, 0, 0, 255], [0, 0, 255, 255], [0, 255, 0, 255]], 120);
    let (v, out) = thumb(
        gif.clone(),
        json!({"width": 20, "format": "gif", "poster": true}),
    )
    .unwrap();
    assert_eq!(size(&v), (20, 15, 40, 30));
    let frames = image::codecs::gif::GifDecoder::new(Cursor::new(out.bytes))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 3);
    for f in &frames {
        assert_eq!(f.delay().numer_denom_ms(), (120, 1));
        assert_eq!(f.buffer().dimensions(), (20, 15));
    }
    let corner = |i: usize| frames[i].buffer().get_pixel(1, 1).0;
    assert!(corner(0)[0] > 200 && corner(1)[2] > 200 && corner(2)[1] > 200);

    // Any other format: the first frame.
    let (_, out) = thumb(gif, json!({"width": 20, "format": "png"})).unwrap();
    let out = decode(&out.bytes).to_rgb8();
    assert_eq!(out.get_pixel(1, 1).0, [255, 0, 0]);
}

// --- limits and errors ------------------------------------------------------

#[test]
fn pixel_cap_from_headers() {
    let err = thumb(png_header_only(80_000, 60_000), json!({})).unwrap_err();
    assert_eq!(
        err,
        TaskError::Limit("image is 80000x60000 pixels; the limit is 50000000".into())
    );
    // GIF: a 65535x65535 logical screen.
    let gif = b"GIF89a\xff\xff\xff\xff\x00\x00\x00;".to_vec();
    assert!(matches!(thumb(gif, json!({})), Err(TaskError::Limit(_))));
}

#[test]
fn thumbnail_cap() {
    let png = encode(&rgb(40, 30), ImageFormat::Png);
    let err = thumb(
        png.clone(),
        json!({"width": 60000, "height": 60000, "crop": true}),
    )
    .unwrap_err();
    assert!(matches!(err, TaskError::Limit(m) if m.contains("thumbnail would be 60000x60000")));
    let err = thumb(png, json!({"width": 65535})).unwrap_err();
    assert!(matches!(err, TaskError::Limit(_)));
}

#[test]
fn damaged_input() {
    let jpeg = encode(&rgb(64, 64), ImageFormat::Jpeg);
    let err = thumb(jpeg[..jpeg.len() / 2].to_vec(), json!({})).unwrap_err();
    assert!(
        matches!(&err, TaskError::InvalidInput(m) if m.starts_with("the image could not be decoded")),
        "{err:?}"
    );

    let png = encode(&rgb(64, 64), ImageFormat::Png);
    let err = thumb(png[..png.len() / 2].to_vec(), json!({})).unwrap_err();
    assert!(matches!(err, TaskError::InvalidInput(_)), "{err:?}");
    // Header only, no image data.
    let err = thumb(png_header_only(10, 10), json!({})).unwrap_err();
    assert!(matches!(err, TaskError::InvalidInput(_)), "{err:?}");

    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(
        thumb(noise, json!({})).unwrap_err(),
        TaskError::InvalidInput(
            "the file is not a supported image (jpeg, png, gif, webp, avif)".into()
        )
    );
}

#[test]
fn every_prefix_is_handled_without_panic() {
    for format in [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ] {
        let body = encode(&rgb(24, 16), format);
        for cut in (0..body.len()).step_by(7) {
            let _ = thumb(body[..cut].to_vec(), json!({"width": 8}));
        }
    }
}

#[test]
fn parameter_errors() {
    let mut ctx = FakeCtx::default();
    let run = |ctx: &mut FakeCtx, p: Value| drake_sdk::run_json::<ImageThumb>(ctx, &p.to_string());
    assert_eq!(
        run(&mut ctx, json!({})).unwrap_err(),
        TaskError::parameters([("url", "this field is required")])
    );
    assert_eq!(
        run(&mut ctx, json!({"url": URL, "format": "bmp"})).unwrap_err(),
        TaskError::parameters([(
            "format",
            "\"bmp\" is not a valid choice, choose one of: jpeg, gif, png, webp, avif"
        )])
    );
    assert_eq!(
        run(&mut ctx, json!({"url": URL, "rotation": 45})).unwrap_err(),
        TaskError::parameters([(
            "rotation",
            "45 is not a valid choice, choose one of: 0, 90, 180, 270"
        )])
    );
    assert_eq!(
        run(
            &mut ctx,
            json!({"url": URL, "width": 0, "crop": "yes", "url_callback": "x"})
        )
        .unwrap_err(),
        TaskError::parameters([
            ("crop", "not a valid boolean"),
            ("url_callback", "unknown parameter"),
            ("width", "must be at least 1"),
        ])
    );
}

#[test]
fn schema_lists_defaults_and_descriptions() {
    let info = drake_sdk::info::<ImageThumb>();
    let schema: Value = serde_json::from_str(&info.params_schema).unwrap();
    let props = &schema["properties"];
    assert_eq!(props["format"]["default"], "jpeg");
    assert_eq!(props["rotation"]["default"], 0);
    assert_eq!(props["crop"]["default"], false);
    assert_eq!(props["poster"]["default"], false);
    for name in [
        "url", "width", "height", "crop", "rotation", "poster", "format",
    ] {
        assert!(
            props[name]["description"].is_string(),
            "{name} has no description"
        );
    }
    assert_eq!(schema["required"], json!(["url"]));
}
