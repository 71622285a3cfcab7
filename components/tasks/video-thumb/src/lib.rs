//! `video.thumb`: one frame of a video at `time`, fitted or cropped to a
//! box, optionally with a play icon, as JPEG or PNG.
//!
//! Steps: fetch → probe → plan the geometry (in the video's orientation as
//! shot: ffmpeg turns rotated phone videos before filtering) → one ffmpeg
//! job (input seek, scale/crop, icon overlay, one frame) → publish.

use drake_sdk::media::{
    Job, JobInput, Plan, StillFormat, centis, duration_of, fetch_and_probe, opts, secs,
    video_stream,
};
use drake_sdk::{Ctx, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(VideoThumb);

fn zero() -> f64 {
    0.0
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
    /// Thumbnail width in pixels; without `height` the aspect ratio is kept;
    /// without both, the video's size.
    #[schemars(range(min = 1, max = 8192))]
    pub width: Option<u32>,
    /// Thumbnail height in pixels.
    #[schemars(range(min = 1, max = 8192))]
    pub height: Option<u32>,
    /// `false`: fit inside width × height; `true`: fill it and crop the
    /// centre.
    #[serde(default)]
    pub crop: bool,
    /// Time of the frame, in seconds from the start.
    #[serde(default = "zero")]
    #[schemars(range(min = 0.0))]
    pub time: f64,
    /// Image format.
    #[serde(default)]
    pub format: StillFormat,
    /// Draw a play icon in the centre.
    #[serde(default)]
    pub poster: bool,
}

/// The task.
pub struct VideoThumb;

impl Task for VideoThumb {
    const NAME: &'static str = "video.thumb";
    const SUMMARY: &'static str =
        "Grab a video frame at a time, fit or crop it to a box, optionally with a play icon.";
    const VALUES: &'static [&'static str] = &[
        "width",
        "height",
        "original_width",
        "original_height",
        "duration",
        "content_type",
    ];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let (media, info) = fetch_and_probe(ctx, "url", &p.url)?;
        let video = video_stream(&info)?;
        let (src_w, src_h) = video.display_size();
        let duration = duration_of(&info, video);
        if duration > 0.0 && p.time >= duration {
            return Err(TaskError::parameter(
                "time",
                format!("{} is past the end of the video ({duration:.2} s)", p.time),
            ));
        }
        let plan = Plan::new(src_w, src_h, p.width, p.height, p.crop);
        let graph = graph(&plan, p.poster);
        let (codec, content_type, ext) = match p.format {
            StillFormat::Jpeg => ("mjpeg", "image/jpeg", "jpg"),
            StillFormat::Png => ("png", "image/png", "png"),
        };
        let mut output = opts([
            ("map", "[v]"),
            ("frames:v", "1"),
            ("f", "image2"),
            ("c:v", codec),
        ]);
        if p.format == StillFormat::Jpeg {
            // qscale 2 ≈ JPEG quality 90.
            output.extend(opts([("q:v", "2")]));
        }
        let job = Job {
            inputs: vec![JobInput {
                media: media.as_ref(),
                options: opts([("ss", &secs(p.time))]),
            }],
            filter_complex: Some(graph),
            outputs: vec![output],
            progress_duration: None,
            progress_span: (0, 100),
            captions: None,
        };
        let mut outputs = ctx
            .ffmpeg(job)
            .map_err(drake_sdk::FfmpegError::into_task_error)?;
        let Some(image) = outputs.pop().filter(|o| o.size() > 0) else {
            return Err(TaskError::InvalidInput(format!(
                "no frame could be decoded at {} s",
                p.time
            )));
        };
        ctx.publish_input("output", image.as_ref(), content_type, ext)?;
        Ok(drake_sdk::values([
            ("width", plan.out_w.into()),
            ("height", plan.out_h.into()),
            ("original_width", src_w.into()),
            ("original_height", src_h.into()),
            ("duration", centis(duration).into()),
            ("content_type", content_type.into()),
        ]))
    }
}

/// The filter graph: scale, crop, and the play icon (a translucent dark
/// disc with a white triangle, drawn by `geq`, a quarter of the smaller
/// side across) overlaid in the centre.
pub fn graph(plan: &Plan, poster: bool) -> String {
    let mut g = plan.chain("0:v");
    if !poster {
        g.push_str("[v]");
        return g;
    }
    let s = (plan.out_w.min(plan.out_h) / 4).max(8);
    // In the disc: dark (alpha 110); in the triangle: white (alpha 235).
    let r = f64::from(s) / 2.0;
    let disc = format!("lte(hypot(X-{r},Y-{r}),{r})");
    let tri = format!(
        "gte(X,{x0})*lte(abs(Y-{r}),({x1}-X)*{k})",
        x0 = 0.38 * f64::from(s),
        x1 = 0.76 * f64::from(s),
        k = 0.22 / 0.38
    );
    g.push_str(&format!(
        "[base];color=c=black@0.0:s={s}x{s},format=rgba,\
         geq=r='255*{tri}':g='255*{tri}':b='255*{tri}':a='{disc}*(110+125*{tri})'[icon];\
         [base][icon]overlay=x=(W-w)/2:y=(H-h)/2:format=auto[v]"
    ));
    g
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, MediaInfo, StreamInfo};

    fn ctx_with_video(duration: f64) -> FakeCtx {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![0; 10]);
        ctx.probe_result = Some(MediaInfo {
            format: "mov,mp4".into(),
            duration,
            bit_rate: 0,
            streams: vec![StreamInfo {
                kind: "video".into(),
                codec: "h264".into(),
                width: 640,
                height: 360,
                rotation: 90,
                ..StreamInfo::default()
            }],
        });
        ctx
    }

    #[test]
    fn one_job_with_seek_and_geometry() {
        let mut ctx = ctx_with_video(10.0);
        ctx.job_results.push_back(Ok(vec![b"jpeg".to_vec()]));
        let v = drake_sdk::run_json::<VideoThumb>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "width": 90, "time": 2.5, "poster": true}"#,
        )
        .unwrap();
        // Rotated 90°: as shot the video is 360×640.
        assert_eq!(
            (v["original_width"].as_u64(), v["original_height"].as_u64()),
            (Some(360), Some(640))
        );
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(90), Some(160))
        );
        let job = &ctx.jobs[0];
        assert_eq!(job.inputs[0], vec![("ss".to_owned(), "2.500".to_owned())]);
        let g = job.filter_complex.as_deref().unwrap();
        assert!(
            g.starts_with("[0:v]scale=90:160") && g.contains("overlay"),
            "{g}"
        );
        assert_eq!(ctx.published["output"].content_type, "image/jpeg");
    }

    #[test]
    fn time_past_the_end_names_the_parameter() {
        let mut ctx = ctx_with_video(3.0);
        let e =
            drake_sdk::run_json::<VideoThumb>(&mut ctx, r#"{"url": "http://x/v.mp4", "time": 5}"#)
                .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("time")),
            "{e:?}"
        );
        let e = drake_sdk::run_json::<VideoThumb>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "format": "gif"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            TaskError::parameter(
                "format",
                "\"gif\" is not a valid choice, choose one of: jpeg, png"
            )
        );
    }
}
