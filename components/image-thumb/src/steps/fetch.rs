//! Step 1: the source bytes, under the image download cap.

use drake_sdk::{Ctx, TaskError};

use crate::limits::MAX_INPUT_BYTES;

/// Fetch `url` whole (the parameter is `url` in error messages).
pub fn fetch(ctx: &mut dyn Ctx, url: &str) -> Result<Vec<u8>, TaskError> {
    let input = ctx
        .fetch(url, Some(MAX_INPUT_BYTES))
        .map_err(|e| e.into_task_error("url"))?;
    Ok(input.read_all())
}
