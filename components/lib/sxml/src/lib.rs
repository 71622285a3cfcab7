//! SXML, the `video.create` timeline language (`../shared/spec/sxml.md`):
//! parsing into a checked node tree, and the time model.
//!
//! - [`parse`]: XML → [`Movie`]. Every error names its line and column;
//!   DTDs are refused, so entities are never declared, let alone expanded
//!   (billion laughs cannot happen); size, depth and node count are capped.
//!   Attribute values are checked against the language (tiers A and B);
//!   unknown attributes and elements are ignored and listed in
//!   [`Movie::warnings`], as the original service ignored what it did not
//!   know, and so are unknown values of known attributes (their defaults
//!   stand in), stray `&` and `<` (read as text) and transitions with
//!   nothing to join; tier C features (spheres, shaders) are refused by
//!   name and line.
//! - [`time::resolve`]: the two-pass duration algorithm of sxml.md §3 —
//!   intrinsic durations bottom-up, assigned spans top-down.
//!
//! Pure Rust with no I/O: the `video.create` component, its native tests
//! and the fuzz target all use it as is.

mod model;
mod parse;
mod source;
pub mod time;

/// sxml.md §14.1–§14.8 (the fragments wrapped in a movie), for the tests
/// of every module.
#[cfg(test)]
const EXAMPLES: &[&str] = &[
    include_str!("../tests/examples/14.1.sxml"),
    include_str!("../tests/examples/14.2.sxml"),
    include_str!("../tests/examples/14.3.sxml"),
    include_str!("../tests/examples/14.4.sxml"),
    include_str!("../tests/examples/14.5.sxml"),
    include_str!("../tests/examples/14.6.sxml"),
    include_str!("../tests/examples/14.7.sxml"),
    include_str!("../tests/examples/14.8.sxml"),
];

pub use model::{Error, Kind, Movie, Node, Warning};
pub use parse::{
    EFFECTS, MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS, MAX_SECONDS, TRANSITIONS, WIDGET_FAMILIES, parse,
};
