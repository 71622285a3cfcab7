#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

//! image.info end to end through the SDK's `FakeCtx`, on images made here.

use drake_sdk::{FakeCtx, TaskError, Value};
use drake_task_image_info::ImageInfo;
use serde_json::json;

const URL: &str = "http://images.test/in";

fn run(body: Vec<u8>) -> Result<drake_sdk::Values, TaskError> {
    let mut ctx = FakeCtx::default().with_input(URL, "application/octet-stream", body);
    drake_sdk::run_json::<ImageInfo>(&mut ctx, &json!({ "url": URL }).to_string())
}

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

// --- hand-built EXIF -----------------------------------------------------

/// One TIFF directory entry: tag, type, count, value bytes (little-endian).
struct Entry(u16, u16, u32, Vec<u8>);

const SHORT: u16 = 3;
const LONG: u16 = 4;
const ASCII: u16 = 2;
const RATIONAL: u16 = 5;

fn short(tag: u16, v: u16) -> Entry {
    Entry(tag, SHORT, 1, v.to_le_bytes().to_vec())
}
fn ascii(tag: u16, s: &str) -> Entry {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    Entry(tag, ASCII, b.len() as u32, b)
}
fn rational(tag: u16, n: u32, d: u32) -> Entry {
    let mut b = n.to_le_bytes().to_vec();
    b.extend(d.to_le_bytes());
    Entry(tag, RATIONAL, 1, b)
}

/// A little-endian TIFF block: IFD0 entries, then (if any) an Exif IFD
/// linked from IFD0 by an ExifIFDPointer.
fn tiff(mut ifd0: Vec<Entry>, exif: Vec<Entry>) -> Vec<u8> {
    let ifd_len = |n: usize| 2 + 12 * n + 4;
    let n0 = ifd0.len() + usize::from(!exif.is_empty());
    let exif_at = 8 + ifd_len(n0);
    if !exif.is_empty() {
        ifd0.push(Entry(
            0x8769,
            LONG,
            1,
            (exif_at as u32).to_le_bytes().to_vec(),
        ));
    }
    let mut data_at = exif_at
        + if exif.is_empty() {
            0
        } else {
            ifd_len(exif.len())
        };
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    let mut data = Vec::new();
    for ifd in [&ifd0, &exif] {
        if ifd.is_empty() {
            continue;
        }
        out.extend((ifd.len() as u16).to_le_bytes());
        for Entry(tag, ty, count, bytes) in ifd.iter() {
            out.extend(tag.to_le_bytes());
            out.extend(ty.to_le_bytes());
            out.extend(count.to_le_bytes());
            if bytes.len() <= 4 {
                let mut inline = bytes.clone();
                inline.resize(4, 0);
                out.extend(inline);
            } else {
                out.extend((data_at as u32).to_le_bytes());
                data.extend(bytes);
                if bytes.len() % 2 == 1 {
                    data.push(0);
                }
                data_at = exif_at
                    + if exif.is_empty() {
                        0
                    } else {
                        ifd_len(exif.len())
                    }
                    + data.len();
            }
        }
        out.extend(0u32.to_le_bytes());
    }
    out.extend(data);
    out
}

/// A JPEG with an APP1 `Exif` segment right after SOI.
fn jpeg_with_exif(width: u32, height: u32, tiff: &[u8]) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        width,
        height,
        image::Rgb([120, 60, 30]),
    ));
    let jpeg = encode(&img, image::ImageFormat::Jpeg);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend(&jpeg[2..]);
    out
}

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

/// Insert a chunk right after IHDR (PNG signature 8 + IHDR 25 bytes).
fn png_with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend(data);
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    let mut out = png[..33].to_vec();
    out.extend(chunk);
    out.extend(&png[33..]);
    out
}

fn camera_exif(orientation: u16) -> Vec<u8> {
    tiff(
        vec![
            short(0x0112, orientation),
            ascii(0x0132, "2022:01:01 00:00:00"),
        ],
        vec![
            rational(0x829A, 1, 125),             // ExposureTime
            short(0x8827, 200),                   // PhotographicSensitivity
            ascii(0x9003, "2021:03:04 05:06:07"), // DateTimeOriginal
            short(0x9209, 0x19),                  // Flash: fired, auto
            rational(0x920A, 42, 10),             // FocalLength
        ],
    )
}

// --- tests ---------------------------------------------------------------

#[test]
fn png_with_alpha() {
    let img = image::DynamicImage::ImageRgba8(image::RgbaImage::new(5, 3));
    let out = run(encode(&img, image::ImageFormat::Png)).unwrap();
    assert_eq!(
        Value::Object(out),
        json!({
            "content_type": "image/png", "type": "image", "width": 5, "height": 3,
            "alpha": true, "rotation": null, "exif_orientation": null, "date_time": null,
            "flash": null, "focal_length": null, "iso_speed": null, "exposure_time": null,
        })
    );
}

#[test]
fn png_without_alpha_and_with_trns() {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::new(7, 2));
    let png = encode(&img, image::ImageFormat::Png);
    let out = run(png.clone()).unwrap();
    assert_eq!(out["alpha"], false);
    // A tRNS chunk makes an RGB PNG transparent.
    let out = run(png_with_chunk(&png, b"tRNS", &[0, 0, 0, 0, 0, 0])).unwrap();
    assert_eq!(out["alpha"], true);
}

#[test]
fn jpeg_with_camera_exif() {
    let out = run(jpeg_with_exif(40, 20, &camera_exif(6))).unwrap();
    assert_eq!(out["content_type"], "image/jpeg");
    // Stored dimensions; rotation tells how to view it.
    assert_eq!(out["width"], 40);
    assert_eq!(out["height"], 20);
    assert_eq!(out["alpha"], false);
    assert_eq!(out["exif_orientation"], 6);
    assert_eq!(out["rotation"], 270);
    assert_eq!(out["date_time"], "2021:03:04 05:06:07");
    assert_eq!(out["flash"], true);
    assert_eq!(out["focal_length"], 4.2);
    assert_eq!(out["iso_speed"], 200);
    assert_eq!(out["exposure_time"], 0.008);
}

#[test]
fn jpeg_orientations_and_fallbacks() {
    for (orientation, rotation) in [
        (1, 0),
        (2, 0),
        (3, 180),
        (4, 180),
        (5, 270),
        (7, 90),
        (8, 90),
    ] {
        let exif = tiff(vec![short(0x0112, orientation)], vec![]);
        let out = run(jpeg_with_exif(8, 8, &exif)).unwrap();
        assert_eq!(
            out["exif_orientation"], orientation,
            "orientation {orientation}"
        );
        assert_eq!(out["rotation"], rotation, "orientation {orientation}");
        assert_eq!(out["date_time"], Value::Null);
        assert_eq!(out["flash"], Value::Null);
    }
    // DateTime when DateTimeOriginal is missing; an out-of-range orientation is null.
    let exif = tiff(
        vec![short(0x0112, 9), ascii(0x0132, "2020:02:02 02:02:02")],
        vec![],
    );
    let out = run(jpeg_with_exif(8, 8, &exif)).unwrap();
    assert_eq!(out["exif_orientation"], Value::Null);
    assert_eq!(out["rotation"], Value::Null);
    assert_eq!(out["date_time"], "2020:02:02 02:02:02");
}

#[test]
fn jpeg_with_damaged_exif_is_still_described() {
    let out = run(jpeg_with_exif(8, 4, b"II*\0\xff\xff\xff\x7f")).unwrap();
    assert_eq!(out["width"], 8);
    assert_eq!(out["exif_orientation"], Value::Null);
}

#[test]
fn png_exif_chunk() {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::new(3, 9));
    let png = png_with_chunk(
        &encode(&img, image::ImageFormat::Png),
        b"eXIf",
        &camera_exif(8),
    );
    let out = run(png).unwrap();
    assert_eq!(out["exif_orientation"], 8);
    assert_eq!(out["rotation"], 90);
    assert_eq!(out["iso_speed"], 200);
}

#[test]
fn gif_and_webp() {
    let mut rgba = image::RgbaImage::from_pixel(6, 4, image::Rgba([1, 2, 3, 255]));
    let opaque = image::DynamicImage::ImageRgba8(rgba.clone());
    rgba.put_pixel(1, 1, image::Rgba([0, 0, 0, 0]));
    let transparent = image::DynamicImage::ImageRgba8(rgba);

    let out = run(encode(&opaque, image::ImageFormat::Gif)).unwrap();
    assert_eq!(
        (out["content_type"].clone(), out["alpha"].clone()),
        (json!("image/gif"), json!(false))
    );
    assert_eq!(
        (out["width"].clone(), out["height"].clone()),
        (json!(6), json!(4))
    );
    let out = run(encode(&transparent, image::ImageFormat::Gif)).unwrap();
    assert_eq!(out["alpha"], true);

    let out = run(encode(&transparent, image::ImageFormat::WebP)).unwrap();
    assert_eq!(out["content_type"], "image/webp");
    assert_eq!(out["alpha"], true);
    assert_eq!(out["width"], 6);
    let rgb = image::DynamicImage::ImageRgb8(opaque.to_rgb8());
    let out = run(encode(&rgb, image::ImageFormat::WebP)).unwrap();
    assert_eq!(out["alpha"], false);
}

#[test]
fn not_an_image() {
    let err = run(b"<html>hello</html>".to_vec()).unwrap_err();
    assert_eq!(
        err,
        TaskError::InvalidInput(
            "the file is not a supported image (jpeg, png, gif, webp, avif)".into()
        )
    );
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(run(noise), Err(TaskError::InvalidInput(_))));
}

#[test]
fn truncated_headers_are_invalid_input() {
    let jpeg = jpeg_with_exif(8, 8, &camera_exif(1));
    for cut in [3, 10, 40] {
        assert!(
            matches!(run(jpeg[..cut].to_vec()), Err(TaskError::InvalidInput(_))),
            "cut {cut}"
        );
    }
    let png = encode(
        &image::DynamicImage::ImageRgb8(image::RgbImage::new(2, 2)),
        image::ImageFormat::Png,
    );
    assert!(matches!(
        run(png[..20].to_vec()),
        Err(TaskError::InvalidInput(_))
    ));
}

#[test]
fn every_prefix_of_a_jpeg_is_handled() {
    // Never a panic, whatever the cut.
    let jpeg = jpeg_with_exif(16, 16, &camera_exif(6));
    for cut in 0..jpeg.len() {
        let _ = run(jpeg[..cut].to_vec());
    }
}

#[test]
fn parameters() {
    let mut ctx = FakeCtx::default();
    let err = drake_sdk::run_json::<ImageInfo>(&mut ctx, "{}").unwrap_err();
    assert_eq!(
        err,
        TaskError::parameters([("url", "this field is required")])
    );
    let err =
        drake_sdk::run_json::<ImageInfo>(&mut ctx, r#"{"url": "u", "width": 3}"#).unwrap_err();
    assert_eq!(err, TaskError::parameters([("width", "unknown parameter")]));
}

#[test]
fn fetch_failure() {
    let mut ctx = FakeCtx::default();
    let err = drake_sdk::run_json::<ImageInfo>(&mut ctx, r#"{"url": "http://nowhere.test/x"}"#)
        .unwrap_err();
    assert!(matches!(err, TaskError::Failed(m) if m.contains("404")));
}

/// Real camera files from 17 makers, and four with the EXIF 2.3 fields
/// written by exiftool (`tests/cameras/README.md`): `iso_speed` is the
/// value exiftool reads from the field that holds it.
#[test]
fn iso_speed_agrees_with_exiftool_on_camera_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cameras");
    let table = std::fs::read_to_string(dir.join("exiftool.tsv")).unwrap();
    let mut checked = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, make, iso, kind, sos, rei, speed] = cols[..] else {
            panic!("{line}");
        };
        let number = |c: &str| c.parse::<u64>().ok().filter(|&n| n > 0);
        // 0x8827 below its ceiling; else (absent or 65535) the EXIF 2.3
        // field SensitivityType names, else the first present.
        let want = match (number(iso).filter(|&n| n < 65535), kind) {
            (Some(n), _) => Some(n),
            (None, "1") => number(sos),
            (None, "2") => number(rei),
            (None, "3") => number(speed),
            (None, _) => number(speed).or(number(sos)).or(number(rei)),
        };
        let out = run(std::fs::read(dir.join(file)).unwrap()).unwrap();
        assert_eq!(
            out["iso_speed"],
            want.map_or(Value::Null, Value::from),
            "{file} ({make})"
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} files");
    // The made ones, spelled out: past 65535, with and without a type.
    let iso =
        |file: &str| run(std::fs::read(dir.join(file)).unwrap()).unwrap()["iso_speed"].clone();
    assert_eq!(iso("iso-rei.jpg"), 102_400);
    assert_eq!(iso("iso-sos.jpg"), 3200);
    assert_eq!(iso("iso-speed.jpg"), 204_800);
    assert_eq!(iso("iso-untyped.jpg"), 51_200);
}
