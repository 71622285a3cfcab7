//! The AVIF container reader on real files (Pillow's, from PyPI:
//! `tests/fixtures/avif`) and on every prefix of one.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use drake_imaging::avif;
use drake_imaging::probe::{self, Kind};
use image::metadata::Orientation;

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures/avif");
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn real_files_give_their_size_turn_alpha_icc_and_exif() {
    let orientations = [
        ("rot0mir0", Orientation::FlipVertical),
        ("rot0mir1", Orientation::FlipHorizontal),
        ("rot1mir0", Orientation::Rotate90FlipH),
        ("rot1mir1", Orientation::Rotate270FlipH),
        ("rot2mir0", Orientation::FlipHorizontal),
        ("rot2mir1", Orientation::FlipVertical),
        ("rot3mir0", Orientation::Rotate270FlipH),
        ("rot3mir1", Orientation::Rotate90FlipH),
    ];
    for (name, orientation) in orientations {
        let bytes = fixture(&format!("{name}.avif"));
        assert!(avif::sniff(&bytes));
        let file = avif::parse(&bytes).unwrap();
        assert_eq!(file.orientation, orientation, "{name}");
        let quarter = name.starts_with("rot1") || name.starts_with("rot3");
        let size = if quarter { (427, 640) } else { (640, 427) };
        assert_eq!((file.width, file.height), size, "{name}");
        assert_eq!(file.depth, 8);
        assert!(file.alpha.is_none() && file.icc.is_none());
        // The AV1 data: libavif starts it with a temporal delimiter OBU
        // (type 2), then the sequence header (type 1).
        assert_eq!((file.color[0] >> 3) & 15, 2, "{name}");
        assert_eq!((file.color[2] >> 3) & 15, 1, "{name}");
    }
    let alpha = avif::parse(&fixture("transparency.avif")).unwrap();
    assert_eq!((alpha.width, alpha.height), (64, 64));
    assert!(alpha.alpha.is_some());
    let icc = avif::parse(&fixture("icc_profile.avif")).unwrap();
    assert_eq!(icc.icc.as_ref().map(Vec::len), Some(3144));
    let exif = avif::parse(&fixture("exif.avif")).unwrap();
    let tiff = exif.exif.unwrap();
    assert!(
        tiff.starts_with(b"II*\0") || tiff.starts_with(b"MM\0*"),
        "{tiff:?}"
    );
    let header = probe::probe(&fixture("hopper.avif")).unwrap();
    assert_eq!(
        (header.kind, header.width, header.height),
        (Kind::Avif, 128, 128)
    );
}

#[test]
fn every_cut_of_a_file_is_an_error_or_the_whole_image_never_a_panic() {
    let bytes = fixture("transparency.avif");
    let whole = avif::parse(&bytes).unwrap();
    for len in 0..bytes.len() {
        match avif::parse(&bytes[..len]) {
            Err(e) => assert!(!e.0.is_empty()),
            // Cut inside trailing boxes the reader skips.
            Ok(file) => assert_eq!(file, whole, "cut at {len}"),
        }
    }
    // Bit flips anywhere: an answer, never a panic.
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x5A;
        let _ = avif::parse(&flipped);
    }
}
