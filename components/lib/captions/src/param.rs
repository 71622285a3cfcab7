//! The `captions` parameter of `video.convert` and `video.create`: a URL,
//! or an object with the URL, burn-in or sidecar, and the style.

use drake_sdk::media::{Burn, CaptionCue, CaptionFont, CaptionPosition, CaptionStyle};
use drake_sdk::{Ctx, TaskError};
use serde::Deserialize;

use crate::Cue;

/// Largest caption file fetched: a three-hour film's SRT is ~150 KB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// `captions`: the URL of an SRT or WebVTT file (burned in with the
/// default style), or an object.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum CaptionsParam {
    /// URL of an SRT or WebVTT file, burned in.
    Url(String),
    /// URL, burn-in or sidecar, style.
    Options(CaptionOptions),
}

fn yes() -> bool {
    true
}

/// `captions` as an object.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptionOptions {
    /// URL of an SRT or WebVTT file (none with `video.create`'s
    /// `auto_captions`, which makes the cues).
    pub url: Option<String>,
    /// `true`: drawn into the picture; `false`: published as the WebVTT
    /// output file `captions` (and, in an HLS or DASH ladder, its
    /// subtitle track).
    #[serde(default = "yes")]
    pub burn: bool,
    /// `sans`, `serif` or `mono` (DejaVu).
    #[serde(default)]
    pub font: CaptionFont,
    /// Bold face.
    #[serde(default)]
    pub bold: bool,
    /// Font size in pixels of the output frame (default: a 18th of its
    /// height, 40 px at 720p).
    #[schemars(range(min = 4, max = 8192))]
    pub size: Option<u32>,
    /// Text colour, `#RRGGBB` (default white).
    pub color: Option<String>,
    /// Outline colour, `#RRGGBB` (default black).
    pub outline_color: Option<String>,
    /// Outline width in pixels (default a 12th of the size; 0 for none).
    #[schemars(range(max = 4096))]
    pub outline: Option<u32>,
    /// `bottom`, `middle` or `top`.
    #[serde(default)]
    pub position: CaptionPosition,
    /// Distance in pixels from the bottom or top edge (default a 20th of
    /// the height).
    #[schemars(range(max = 4096))]
    pub margin: Option<u32>,
}

impl Default for CaptionOptions {
    fn default() -> Self {
        CaptionOptions {
            url: None,
            burn: true,
            font: CaptionFont::default(),
            bold: false,
            size: None,
            color: None,
            outline_color: None,
            outline: None,
            position: CaptionPosition::default(),
            margin: None,
        }
    }
}

impl CaptionsParam {
    /// The parameter as an object.
    pub fn options(&self) -> CaptionOptions {
        match self {
            CaptionsParam::Url(url) => CaptionOptions {
                url: Some(url.clone()),
                ..CaptionOptions::default()
            },
            CaptionsParam::Options(o) => o.clone(),
        }
    }
}

/// Fetched and parsed captions, ready to burn or publish.
#[derive(Debug, Clone)]
pub struct Captions {
    /// The cues, in file order.
    pub cues: Vec<Cue>,
    /// What was asked.
    pub options: CaptionOptions,
}

/// Fetch (under the network policy, [`MAX_FILE_BYTES`]) and parse the
/// captions of parameter `param`; a malformed file is a parameter error
/// naming its line.
pub fn load(ctx: &mut dyn Ctx, param: &str, value: &CaptionsParam) -> Result<Captions, TaskError> {
    let options = value.options();
    // The style is checked before the download (colours are text).
    colour(param, "color", options.color.as_deref(), 0xFF_FFFF)?;
    colour(param, "outline_color", options.outline_color.as_deref(), 0)?;
    let Some(url) = options.url.as_deref() else {
        return Err(TaskError::parameter(param, "url is required"));
    };
    let file = ctx
        .fetch(url, Some(MAX_FILE_BYTES))
        .map_err(|e| e.into_task_error(param))?;
    let bytes = file.read_all();
    let cues = crate::parse(&bytes).map_err(|e| TaskError::parameter(param, e.to_string()))?;
    Ok(Captions { cues, options })
}

/// `#RRGGBB` (or `#RGB`) as `0xRRGGBB`; `default` when absent.
fn colour(param: &str, field: &str, text: Option<&str>, default: u32) -> Result<u32, TaskError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let hex = text.strip_prefix('#').unwrap_or(text);
    let value = match hex.len() {
        6 => u32::from_str_radix(hex, 16).ok(),
        3 => u32::from_str_radix(hex, 16).ok().map(|v| {
            let (r, g, b) = ((v >> 8) & 0xF, (v >> 4) & 0xF, v & 0xF);
            ((r * 0x11) << 16) | ((g * 0x11) << 8) | (b * 0x11)
        }),
        _ => None,
    };
    value.ok_or_else(|| {
        TaskError::parameter(param, format!("{field} {text:?} is not a colour (#RRGGBB)"))
    })
}

impl Captions {
    /// Captions made by the task (`auto_captions`), with the style of
    /// `param` when given.
    pub fn made(cues: Vec<Cue>, param: Option<&CaptionsParam>) -> Captions {
        let options = param.map(CaptionsParam::options).unwrap_or_default();
        Captions { cues, options }
    }

    /// The style on a `width` × `height` frame: the defaults follow the
    /// height, so captions look alike at every size.
    pub fn style(&self, param: &str, height: u32) -> Result<CaptionStyle, TaskError> {
        let o = &self.options;
        let size = o.size.unwrap_or((height / 18).max(8));
        if size > height {
            return Err(TaskError::parameter(
                param,
                format!("size {size} is taller than the {height}-pixel frame"),
            ));
        }
        let outline = o.outline.unwrap_or(size.div_ceil(12));
        if outline > size / 2 {
            return Err(TaskError::parameter(
                param,
                format!("outline {outline} is over half the size {size}"),
            ));
        }
        let margin = o.margin.unwrap_or(height / 20);
        if margin > height / 2 {
            return Err(TaskError::parameter(
                param,
                format!("margin {margin} is over half the {height}-pixel frame"),
            ));
        }
        Ok(CaptionStyle {
            font: o.font,
            bold: o.bold,
            size,
            color: colour(param, "color", o.color.as_deref(), 0xFF_FFFF)?,
            outline_color: colour(param, "outline_color", o.outline_color.as_deref(), 0)?,
            outline,
            position: o.position,
            margin,
        })
    }

    /// The job's burn of these captions into pad `input` (a `width` ×
    /// `height` frame), as pad `output`.
    pub fn burn(
        &self,
        param: &str,
        (width, height): (u32, u32),
        input: &str,
        output: &str,
    ) -> Result<Burn, TaskError> {
        self.burn_scaled(param, (width, height), height, input, output)
    }

    /// [`Captions::burn`] on a frame drawn smaller than the output (a
    /// preview): the style is the one of a `reference`-pixel-high frame,
    /// scaled down.
    pub fn burn_scaled(
        &self,
        param: &str,
        (width, height): (u32, u32),
        reference: u32,
        input: &str,
        output: &str,
    ) -> Result<Burn, TaskError> {
        let mut style = self.style(param, reference)?;
        if reference != height && reference > 0 {
            let scale = |v: u32| (u64::from(v) * u64::from(height) / u64::from(reference)) as u32;
            style.size = scale(style.size).max(4);
            style.outline = scale(style.outline).min(style.size / 2);
            style.margin = scale(style.margin).min(height / 2);
        }
        Ok(Burn {
            cues: self.cues.iter().map(wire_cue).collect(),
            style,
            width,
            height,
            input: input.to_owned(),
            output: output.to_owned(),
        })
    }

    /// The sidecar file: WebVTT.
    pub fn webvtt(&self) -> String {
        crate::to_webvtt(&self.cues)
    }
}

/// A parsed cue for the host ([`crate::MAX_MS`] fits in `u32`).
fn wire_cue(c: &Cue) -> CaptionCue {
    let ms = |v: u64| u32::try_from(v.min(crate::MAX_MS)).unwrap_or(u32::MAX);
    CaptionCue {
        start_ms: ms(c.start),
        end_ms: ms(c.end),
        text: c.text.clone(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::FakeCtx;

    const SRT: &[u8] =
        b"1\n00:00:01,000 --> 00:00:02,500\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\nWorld\n";

    fn param(json: serde_json::Value) -> CaptionsParam {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_url_burns_with_the_default_style() {
        let mut ctx = FakeCtx::default().with_input("http://x/c.srt", "text/plain", SRT.to_vec());
        let c = load(
            &mut ctx,
            "captions",
            &param(serde_json::json!("http://x/c.srt")),
        )
        .unwrap();
        assert!(c.options.burn);
        let burn = c.burn("captions", (1280, 720), "v0", "vc").unwrap();
        assert_eq!(burn.cues.len(), 2);
        assert_eq!((burn.cues[0].start_ms, burn.cues[0].end_ms), (1000, 2500));
        assert_eq!(burn.style.size, 40);
        assert_eq!(burn.style.outline, 4);
        assert_eq!(burn.style.margin, 36);
        assert_eq!((burn.style.color, burn.style.outline_color), (0xFFFFFF, 0));
    }

    #[test]
    fn a_preview_gets_the_export_style_scaled_down() {
        let mut ctx = FakeCtx::default().with_input("http://x/c.srt", "text/plain", SRT.to_vec());
        let p = param(
            serde_json::json!({"url": "http://x/c.srt", "size": 72, "outline": 6, "margin": 40}),
        );
        let c = load(&mut ctx, "captions", &p).unwrap();
        let burn = c
            .burn_scaled("captions", (320, 180), 720, "vpre", "vcap")
            .unwrap();
        assert_eq!((burn.width, burn.height), (320, 180));
        assert_eq!(
            (burn.style.size, burn.style.outline, burn.style.margin),
            (18, 1, 10)
        );
        let full = c.burn("captions", (1280, 720), "vpre", "vcap").unwrap();
        assert_eq!(
            (full.style.size, full.style.outline, full.style.margin),
            (72, 6, 40)
        );
    }

    #[test]
    fn options_and_their_errors_name_the_parameter() {
        let mut ctx = FakeCtx::default().with_input("http://x/c.srt", "text/plain", SRT.to_vec());
        let p = param(serde_json::json!({
            "url": "http://x/c.srt", "burn": false, "color": "#ff0", "size": 30,
            "position": "top", "font": "serif"
        }));
        let c = load(&mut ctx, "captions", &p).unwrap();
        assert!(!c.options.burn);
        let style = c.style("captions", 360).unwrap();
        assert_eq!((style.color, style.size), (0xFFFF00, 30));
        assert!(
            c.webvtt()
                .starts_with("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\n")
        );
        let e = c.style("captions", 20).unwrap_err();
        assert!(format!("{e:?}").contains("taller"), "{e:?}");

        let bad = param(serde_json::json!({"url": "http://x/c.srt", "color": "red-ish"}));
        let e = load(&mut ctx, "captions", &bad).unwrap_err();
        assert!(format!("{e:?}").contains("color"), "{e:?}");

        let mut ctx = FakeCtx::default().with_input(
            "http://x/bad.srt",
            "text/plain",
            b"1\n00:00:01,000 --> 00:00:00,500\nBackwards\n".to_vec(),
        );
        let e = load(
            &mut ctx,
            "captions",
            &param(serde_json::json!("http://x/bad.srt")),
        )
        .unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("captions") && text.contains("line 2"),
            "{text}"
        );
    }
}
