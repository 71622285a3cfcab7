//! SXML definitions (`drake_sxml`): parsing never panics or overflows the
//! stack, whatever the text; a document that parses resolves to a timeline
//! of finite, non-negative spans (or a clear error).
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
});
