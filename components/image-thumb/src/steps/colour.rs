//! Step 7c: colour to sRGB through the source's ICC profile (output always
//! Rgb8 or Rgba8). The code is shared with the other image tasks in
//! `drake-imaging`.

pub use drake_imaging::colour::*;
