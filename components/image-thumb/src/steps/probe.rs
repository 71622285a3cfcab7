//! Step 2: format and pixel size from the headers only, so the pixel cap is
//! checked before any allocation that depends on the size. The code is
//! shared with the other image tasks in `drake-imaging`.

pub use drake_imaging::probe::*;
