//! The AOT cache: compiling a component costs 0.1–5 s, deserializing a
//! precompiled one about a millisecond. Entries are keyed by the SHA-256 of
//! the component bytes and the engine's compatibility hash, so a changed
//! component or an upgraded wasmtime/config never loads stale code.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::error::Context as _;

/// Load `path`, from the cache when a valid entry exists.
pub fn load(
    engine: &wasmtime::Engine,
    path: &Path,
    cache_dir: &Path,
) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(path).context("reading the component")?;
    let entry = entry_path(engine, &bytes, cache_dir);
    if entry.is_file() {
        // SAFETY: the file was written by `precompile_component` of an
        // engine with the same compatibility hash (it is in the name), into
        // drake's own data directory; wasmtime still checks its header.
        match unsafe { Component::deserialize_file(engine, &entry) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %entry.display(), error = %e, "ignoring a bad AOT cache entry")
            }
        }
    }
    let compiled = engine
        .precompile_component(&bytes)
        .context("compiling the component")?;
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    // Write then rename: a concurrent start never reads half a file.
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &entry).with_context(|| format!("renaming to {}", entry.display()))?;
    // SAFETY: produced just above by this very engine.
    unsafe { Component::deserialize(engine, &compiled) }.context("loading the compiled component")
}

fn entry_path(engine: &wasmtime::Engine, bytes: &[u8], cache_dir: &Path) -> PathBuf {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(bytes);
    cache_dir.join(format!(
        "{}-{:016x}.cwasm",
        hex::encode(&digest[..16]),
        engine_hash.finish()
    ))
}
