//! ffprobe's JSON (`-show_format -show_streams`) as the WIT `media-info`:
//! what a task learns about a media file without reading it.

use serde_json::Value;

use crate::bindings::ffmpeg::{FfmpegError, MediaInfo, StreamInfo};

/// The argv of a probe of `in0`: only the demuxers drake reads, no
/// protocol but files.
pub(super) fn probe_argv() -> Vec<String> {
    [
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        super::argv::DEMUXERS,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "in0",
    ]
    .map(String::from)
    .to_vec()
}

/// ffprobe JSON → `media-info`.
pub(super) fn media_info(json: &Value) -> Result<MediaInfo, FfmpegError> {
    let format = &json["format"];
    let num = |v: &Value| -> f64 {
        match v {
            Value::String(s) => s.parse().unwrap_or(0.0),
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            _ => 0.0,
        }
    };
    let streams = json["streams"]
        .as_array()
        .map(|list| list.iter().map(stream_info).collect())
        .unwrap_or_default();
    if format.is_null() {
        return Err(FfmpegError::InvalidInput(
            "the input is not readable media".into(),
        ));
    }
    Ok(MediaInfo {
        format: format["format_name"].as_str().unwrap_or("").to_owned(),
        duration: num(&format["duration"]),
        bit_rate: num(&format["bit_rate"]) as u64,
        streams,
    })
}

fn rational(s: &str) -> f64 {
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            if b == 0.0 { 0.0 } else { a / b }
        }
        None => s.parse().unwrap_or(0.0),
    }
}

/// Pixel formats with an alpha channel (ffmpeg's naming).
fn has_alpha(pix_fmt: &str) -> bool {
    pix_fmt.starts_with("yuva")
        || pix_fmt.starts_with("gbrap")
        || pix_fmt.starts_with("ya")
        || ["rgba", "bgra", "argb", "abgr", "rgba64", "bgra64"]
            .iter()
            .any(|p| pix_fmt.starts_with(p))
}

/// Counter-clockwise degrees to view as shot: ffprobe's display-matrix
/// `rotation` is counter-clockwise already (−90 for a portrait phone
/// video); the legacy `rotate` tag is clockwise.
fn rotation(stream: &Value) -> u32 {
    let from_matrix = stream["side_data_list"].as_array().and_then(|list| {
        list.iter().find_map(|d| {
            d["rotation"]
                .as_f64()
                .or_else(|| d["rotation"].as_str().and_then(|s| s.parse().ok()))
        })
    });
    let ccw = match from_matrix {
        Some(r) => r,
        None => match stream["tags"]["rotate"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
        {
            Some(cw) => -cw,
            None => 0.0,
        },
    };
    let normalised = ((ccw.round() as i64 % 360) + 360) % 360;
    // Snap to a quarter turn: anything else is not a display rotation.
    (((normalised + 45) / 90 * 90) % 360) as u32
}

fn stream_info(s: &Value) -> StreamInfo {
    let u = |v: &Value| -> u64 {
        match v {
            Value::String(s) => s.parse().unwrap_or(0),
            Value::Number(n) => n.as_u64().unwrap_or(0),
            _ => 0,
        }
    };
    let pix = s["pix_fmt"].as_str().unwrap_or("").to_owned();
    let mut frame_rate = rational(s["avg_frame_rate"].as_str().unwrap_or(""));
    if frame_rate == 0.0 {
        frame_rate = rational(s["r_frame_rate"].as_str().unwrap_or(""));
    }
    StreamInfo {
        index: u(&s["index"]) as u32,
        kind: s["codec_type"].as_str().unwrap_or("").to_owned(),
        codec: s["codec_name"].as_str().unwrap_or("").to_owned(),
        width: u(&s["width"]) as u32,
        height: u(&s["height"]) as u32,
        frame_rate,
        rotation: rotation(s),
        alpha: has_alpha(&pix),
        pixel_format: pix,
        sample_rate: u(&s["sample_rate"]) as u32,
        channels: u(&s["channels"]) as u32,
        bit_rate: u(&s["bit_rate"]),
        duration: s["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rotation_directions() {
        assert_eq!(
            rotation(&json!({"side_data_list": [{"rotation": -90}]})),
            270
        );
        assert_eq!(rotation(&json!({"side_data_list": [{"rotation": 90}]})), 90);
        assert_eq!(
            rotation(&json!({"side_data_list": [{"rotation": 180}]})),
            180
        );
        assert_eq!(rotation(&json!({"tags": {"rotate": "90"}})), 270);
        assert_eq!(rotation(&json!({})), 0);
    }

    #[test]
    fn probe_json_maps() {
        let info = media_info(&json!({
            "format": {"format_name": "mov,mp4", "duration": "2.500000", "bit_rate": "1000"},
            "streams": [
                {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 320, "height": 240,
                 "avg_frame_rate": "30000/1001", "pix_fmt": "yuva420p", "duration": "2.5"},
                {"index": 1, "codec_type": "audio", "codec_name": "aac", "sample_rate": "48000", "channels": 2}
            ]
        }))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(info.duration, 2.5);
        assert!((info.streams[0].frame_rate - 29.97).abs() < 0.01);
        assert!(info.streams[0].alpha);
        assert_eq!(info.streams[1].sample_rate, 48000);
    }
}
