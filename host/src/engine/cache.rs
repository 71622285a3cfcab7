//! Precompiled components: compiling a component costs 0.1–5 s,
//! deserializing a precompiled one about a millisecond, so no start should
//! compile.
//!
//! A precompiled component is keyed by the SHA-256 of the component's
//! bytes and the engine's compatibility hash (wasmtime's version and
//! settings), so a changed component or another engine never loads stale
//! code. It is looked for in two places:
//!
//! 1. beside the `.wasm` file, as `<stem>.<key>.cwasm`: written by
//!    `drake precompile` (which `make build` runs), so every user of a
//!    build starts without compiling;
//! 2. in a per-user cache (`engine.cache_dir`, by default
//!    `$XDG_CACHE_HOME/drake/components` or `~/.cache/drake/components`),
//!    filled by any start that had to compile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::error::Context as _;

/// The per-user cache when none is configured.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("drake").join("components"))
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Precompiled beside the `.wasm` file.
    Beside,
    /// The per-user cache.
    Cache,
    /// Compiled now.
    Compiled,
}

/// Load the component at `wasm`, precompiled when a valid entry exists.
pub fn load(
    engine: &wasmtime::Engine,
    wasm: &Path,
    cache_dir: Option<&Path>,
) -> wasmtime::Result<(Component, Source)> {
    let bytes = std::fs::read(wasm).context("reading the component")?;
    let key = key(engine, &bytes);
    let beside = beside(wasm, &key);
    let cached = cache_dir.map(|dir| dir.join(format!("{key}.cwasm")));
    for (path, source) in [
        (Some(beside), Source::Beside),
        (cached.clone(), Source::Cache),
    ] {
        let Some(path) = path.filter(|p| p.is_file()) else {
            continue;
        };
        // SAFETY: the file was written by `precompile_component` of an
        // engine with the same compatibility hash (it is in the name), by
        // drake, beside the build's components or in this user's cache;
        // wasmtime still checks its header.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok((component, source)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring a bad precompiled component")
            }
        }
    }
    let compiled = engine
        .precompile_component(&bytes)
        .context("compiling the component")?;
    if let Some(path) = cached
        && let Err(e) = write_atomically(&path, &compiled)
    {
        // A read-only home still serves; it compiles again next time.
        tracing::warn!(path = %path.display(), error = %e, "cannot cache a compiled component");
    }
    // SAFETY: produced just above by this very engine.
    let component = unsafe { Component::deserialize(engine, &compiled) }
        .context("loading the compiled component")?;
    Ok((component, Source::Compiled))
}

/// Compile the component at `wasm` and write it beside it, removing the
/// stale ones of earlier builds; the path written.
pub fn precompile(engine: &wasmtime::Engine, wasm: &Path) -> wasmtime::Result<PathBuf> {
    let bytes = std::fs::read(wasm).context("reading the component")?;
    let key = key(engine, &bytes);
    let path = beside(wasm, &key);
    if !path.is_file() {
        let compiled = engine
            .precompile_component(&bytes)
            .context("compiling the component")?;
        write_atomically(&path, &compiled)?;
    }
    let stem = stem(wasm);
    let keep = path.file_name().map(ToOwned::to_owned);
    if let Some(dir) = wasm.parent()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let stale = text.starts_with(&format!("{stem}."))
                && text.ends_with(".cwasm")
                && Some(&name) != keep.as_ref();
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(path)
}

/// `<hex of 16 bytes of SHA-256>-<engine hash>`.
fn key(engine: &wasmtime::Engine, bytes: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(bytes);
    format!(
        "{}-{:016x}",
        hex::encode(&digest[..16]),
        engine_hash.finish()
    )
}

fn stem(wasm: &Path) -> String {
    wasm.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<dir>/<stem>.<key>.cwasm`.
fn beside(wasm: &Path, key: &str) -> PathBuf {
    wasm.with_file_name(format!("{}.{key}.cwasm", stem(wasm)))
}

/// Write then rename: a concurrent start never reads half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> wasmtime::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}
