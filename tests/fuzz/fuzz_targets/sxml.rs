//! SXML definitions (`drake_sxml`): parsing never panics or overflows the
//! stack, whatever the text; a document that parses resolves to a timeline
//! of finite, non-negative spans (or a clear error), and that timeline
//! compiles to a filter graph (video.create's renderer) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(movie) = drake_sxml::parse(text) else {
        return;
    };
    // Media lengths from the file name, so lengths vary with the input.
    let lengths = |node: &drake_sxml::Node| {
        let name = node.attr("filename").or(node.attr("voice"))?;
        Some((name.len() % 17) as f64 * 0.75)
    };
    let Ok(root) = drake_sxml::time::resolve(&movie, &lengths) else {
        return;
    };
    for span in root.walk() {
        assert!(span.start.is_finite() && span.start >= 0.0, "{span:?}");
        assert!(
            span.duration.is_finite() && span.duration >= 0.0,
            "{span:?}"
        );
    }
    // Every asset, with sizes and kinds that vary with the input.
    use drake_task_video_create::profile::Canvas;
    use drake_task_video_create::render::{self, Asset, asset_key};
    let mut assets = std::collections::BTreeMap::new();
    for node in movie.body.walk() {
        let Some(key) = asset_key(node) else { continue };
        let n = key.len() as u32;
        let kind = node.kind;
        let input = assets.len();
        assets.entry(key).or_insert(Asset {
            input,
            width: 1 + n * 37 % 4000,
            height: 1 + n * 53 % 3000,
            duration: lengths(node).unwrap_or(0.0),
            video: kind != drake_sxml::Kind::Audio,
            audio: kind != drake_sxml::Kind::Image || n % 2 == 0,
            still: kind == drake_sxml::Kind::Image,
            alpha: n % 3 == 0,
        });
    }
    let canvas = Canvas {
        width: 64,
        height: 36,
        rate: drake_task_video_create::profile::Rate { num: 25, den: 2 },
    };
    if let Ok(graph) = render::compile(&root, canvas, &assets, "") {
        assert!(graph.frames >= 1 && !graph.text.is_empty());
    }
});
