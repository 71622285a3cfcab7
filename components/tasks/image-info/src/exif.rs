//! The EXIF fields image.info reports, parsed from a raw TIFF block with
//! `kamadak-exif`. Every field is optional: a missing, mistyped or damaged
//! field is `None` (JSON `null`), never an error.

use exif::{In, Reader, Tag, Value};

/// The reported EXIF fields.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fields {
    /// `Orientation`, 1–8.
    pub orientation: Option<u8>,
    /// `DateTimeOriginal`, else `DateTime`, as stored (`YYYY:MM:DD HH:MM:SS`).
    pub date_time: Option<String>,
    /// Bit 0 of `Flash`: whether the flash fired.
    pub flash: Option<bool>,
    /// `FocalLength` in millimetres.
    pub focal_length: Option<f64>,
    /// The ISO speed ([`iso_speed`]).
    pub iso_speed: Option<u32>,
    /// `ExposureTime` in seconds.
    pub exposure_time: Option<f64>,
}

impl Fields {
    /// Degrees counter-clockwise to turn the stored image to view it as
    /// shot; mirrored orientations give their rotation part (the mirror is
    /// left to `exif_orientation`).
    pub fn rotation(&self) -> Option<u16> {
        match self.orientation? {
            1 | 2 => Some(0),
            3 | 4 => Some(180),
            5 | 6 => Some(270),
            7 | 8 => Some(90),
            _ => None,
        }
    }
}

/// Parse `tiff` (the EXIF block without its `Exif\0\0` prefix).
pub fn read(tiff: &[u8]) -> Fields {
    let mut reader = Reader::new();
    // Keep the good fields of a partly damaged block.
    reader.continue_on_error(true);
    let exif = match reader.read_raw(tiff.to_vec()) {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => partial.into_inner().0,
        Err(_) => return Fields::default(),
    };
    let field = |tag: Tag| exif.get_field(tag, In::PRIMARY).map(|f| &f.value);

    Fields {
        orientation: field(Tag::Orientation)
            .and_then(|v| v.get_uint(0))
            .and_then(|o| u8::try_from(o).ok())
            .filter(|o| (1..=8).contains(o)),
        date_time: field(Tag::DateTimeOriginal)
            .and_then(ascii)
            .or_else(|| field(Tag::DateTime).and_then(ascii)),
        flash: field(Tag::Flash)
            .and_then(|v| v.get_uint(0))
            .map(|f| f & 1 == 1),
        focal_length: field(Tag::FocalLength).and_then(rational),
        iso_speed: iso_speed(&|tag| field(tag).and_then(|v| v.get_uint(0)).filter(|&n| n > 0)),
        exposure_time: field(Tag::ExposureTime).and_then(rational),
    }
}

/// The ISO speed from wherever EXIF puts it: `PhotographicSensitivity`
/// (0x8827, once `ISOSpeedRatings`), unless it is absent or saturated at
/// 65535 — a SHORT cannot hold ISO 102400 — where EXIF 2.3 moved the value
/// into `StandardOutputSensitivity`, `RecommendedExposureIndex` or
/// `ISOSpeed`: the one `SensitivityType` names, else the first present
/// (ISO speed, SOS, REI). Zero means unknown. `number` reads a tag's first
/// value.
fn iso_speed(number: &dyn Fn(Tag) -> Option<u32>) -> Option<u32> {
    let photographic = number(Tag::PhotographicSensitivity);
    if let Some(iso) = photographic.filter(|&iso| iso < 65535) {
        return Some(iso);
    }
    let sos = || number(Tag::StandardOutputSensitivity);
    let rei = || number(Tag::RecommendedExposureIndex);
    let speed = || number(Tag::ISOSpeed);
    // What 0x8827 holds for each type (EXIF 2.3 §4.6.5, SensitivityType).
    let named = match number(Tag::SensitivityType) {
        Some(1 | 4 | 5 | 7) => sos(),
        Some(2 | 6) => rei(),
        Some(3) => speed(),
        _ => None,
    };
    named
        .or_else(speed)
        .or_else(sos)
        .or_else(rei)
        .or(photographic)
}

/// An ASCII field as text; `None` when empty or "unknown" (EXIF writes an
/// unknown date as blanks and colons).
fn ascii(value: &Value) -> Option<String> {
    let Value::Ascii(parts) = value else {
        return None;
    };
    let raw = parts.first()?;
    let text: String = raw
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { ' ' })
        .collect();
    let text = text.trim();
    if text.chars().all(|c| c == ' ' || c == ':') {
        return None;
    }
    Some(text.to_owned())
}

/// The first rational of a field as a finite number.
fn rational(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Rational(v) => {
            let r = v.first()?;
            if r.denom == 0 {
                return None;
            }
            r.to_f64()
        }
        Value::SRational(v) => {
            let r = v.first()?;
            if r.denom == 0 {
                return None;
            }
            r.to_f64()
        }
        other => f64::from(other.get_uint(0)?),
    };
    n.is_finite().then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_from_orientation() {
        let rot = |o| {
            Fields {
                orientation: Some(o),
                ..Fields::default()
            }
            .rotation()
        };
        let got: Vec<_> = (1..=8).map(rot).collect();
        let want = [0, 0, 180, 180, 270, 270, 90, 90].map(Some);
        assert_eq!(got, want);
        assert_eq!(Fields::default().rotation(), None);
    }

    #[test]
    fn garbage_is_no_exif() {
        assert_eq!(read(b"not a tiff"), Fields::default());
        assert_eq!(read(b""), Fields::default());
        assert_eq!(read(b"II*\0\xff\xff\xff\xff"), Fields::default());
    }
}
