//! `cargo bench -p drake-tests --bench video_create` (part of `make
//! bench`): a 60 s 720p slideshow — 12 photos with Ken Burns moves, 11
//! crossfades, a title, music — rendered by `video.create` through drake
//! (create, fetch over loopback, probe, preview, export, thumbnail,
//! stored). Reports × real time (goal ≥ 4× on 2 cores) for the whole
//! task and for the export alone, and the export against the same
//! slideshow written by hand as one ffmpeg command (the peer, same run,
//! same encoder settings).
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Drake, Fixtures, Options, SECRET};
use serde_json::{Value, json};

/// Rounds per side, alternating, so drift hits both.
const ROUNDS: usize = 3;
/// Seconds of movie.
const MOVIE: f64 = 60.0;
/// Photos, each shown 71/12 s with 1 s crossfades: 12 × 71/12 − 11 = 60.
const PHOTOS: usize = 12;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn make(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    common::ffmpeg_make(dir, name, args)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixtures::start().await;
    // Photo-sized JPEGs (3:2, 1920×1280) with detail everywhere.
    let mut photos = Vec::new();
    for i in 0..PHOTOS {
        let name = format!("{i}.jpg");
        let src = format!(
            "mandelbrot=s=1920x1280:start_scale={}",
            0.5 + i as f64 * 0.7
        );
        let bytes = make(
            dir.path(),
            &name,
            &["-f", "lavfi", "-i", &src, "-frames:v", "1", "-q:v", "3"],
        );
        photos.push(fx.add(&name, "image/jpeg", bytes));
    }
    let music = make(
        dir.path(),
        "music.mp3",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=70",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "192k",
        ],
    );
    let music_url = fx.add("music.mp3", "audio/mpeg", music);
    let item = 71.0 / PHOTOS as f64;
    let mut seq = String::new();
    for (i, p) in photos.iter().enumerate() {
        if i > 0 {
            seq.push_str(r#"<transition type="crossfade" duration="1"/>"#);
        }
        let dir = if i % 2 == 0 { "positive" } else { "negative" };
        seq.push_str(&format!(
            r#"<effect type="kenburns" direction="{dir}" duration="{item:.6}"><image filename="{p}"/></effect>"#
        ));
    }
    let definition = format!(
        r##"<movie service="craftsman-1.0"><body><stack>
          <sequence>{seq}</sequence>
          <text type="zone" top="0.35" height="0.3" duration="4" fontcolor="#ffffff">A trip in twelve pictures</text>
          <audio filename="{music_url}" duration=".." fadeout="2"/>
        </stack></body></movie>"##
    );

    let drake = Drake::start_with(Options::default()).await;
    let run = |preview: bool| {
        let task = json!({"task_name": "video.create", "definition": definition,
                          "profile": "720p", "preview": preview});
        let drake = &drake;
        async move {
            let t = Instant::now();
            let (code, body) = drake
                .post(
                    "/v1/create",
                    json!({"secret": SECRET, "block": true, "tasks": task}),
                )
                .await;
            let took = t.elapsed();
            assert_eq!(code, 200);
            assert_eq!(body[0]["status"], "success", "{body}");
            assert_eq!(body[0]["result"]["duration"], MOVIE);
            (took, body[0]["result"].clone())
        }
    };
    // The peer: the same slideshow as a hand-written ffmpeg command.
    let frames = (item * 25.0).round() as usize;
    let peer = |out: &Path| {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
        let mut graph = Vec::new();
        for i in 0..PHOTOS {
            cmd.arg("-i").arg(dir.path().join(format!("{i}.jpg")));
            graph.push(format!(
                "[{i}:v]scale=1600:900:force_original_aspect_ratio=increase,crop=1600:900,zoompan=z='1+0.25*on/{frames}':x='(iw-iw/zoom)/2':y='(ih-ih/zoom)/2':d={frames}:s=1280x720:fps=25,setpts=N/25/TB[v{i}]"
            ));
        }
        cmd.arg("-i").arg(dir.path().join("music.mp3"));
        let mut acc = "v0".to_owned();
        let mut len = frames;
        for i in 1..PHOTOS {
            graph.push(format!(
                "[{acc}][v{i}]xfade=transition=fade:duration=1:offset={:.4}[x{i}]",
                (len - 25) as f64 / 25.0
            ));
            acc = format!("x{i}");
            len += frames - 25;
        }
        graph.push(format!(
            "[{acc}]drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:text='A trip in twelve pictures':fontsize=80:fontcolor=white:x=(w-tw)/2:y=(h-th)/2:enable='lt(t,4)',format=yuv420p[v]"
        ));
        graph.push(format!("[{PHOTOS}:a]atrim=0:60,afade=t=out:st=58:d=2[a]"));
        cmd.args([
            "-filter_complex",
            &graph.join(";"),
            "-map",
            "[v]",
            "-map",
            "[a]",
        ]);
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "superfast",
            "-b:v",
            "1500k",
            "-pix_fmt",
            "yuv420p",
        ]);
        cmd.args(["-c:a", "aac", "-b:a", "256k", "-f", "mp4"])
            .arg(out);
        assert!(cmd.status().unwrap().success());
    };

    let out = dir.path().join("peer.mp4");
    let (_, result) = run(true).await;
    peer(&out);
    let (mut whole, mut export, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        peer(&out);
        theirs.push(t.elapsed());
        whole.push(run(true).await.0);
        export.push(run(false).await.0);
    }
    let (whole, export, theirs) = (median(whole), median(export), median(theirs));
    let x = |d: Duration| MOVIE / d.as_secs_f64();
    println!(
        "video.create, 60 s 720p slideshow (12 photos, kenburns, crossfades, title, music), {ROUNDS} rounds, medians:"
    );
    println!(
        "  whole task (preview + export + thumbnail): {:>6.2} s = {:.2}× real time (goal ≥ 4×)",
        whole.as_secs_f64(),
        x(whole)
    );
    println!(
        "  export only (+ thumbnail):                 {:>6.2} s = {:.2}× real time",
        export.as_secs_f64(),
        x(export)
    );
    println!(
        "  hand-written ffmpeg command (peer):        {:>6.2} s = {:.2}× real time",
        theirs.as_secs_f64(),
        x(theirs)
    );
    println!(
        "  drake export / peer: {:.2}×",
        export.as_secs_f64() / theirs.as_secs_f64()
    );
    let v: &Value = &result;
    assert!(v["export"].as_str().is_some() && v["preview"].as_str().is_some());
}
