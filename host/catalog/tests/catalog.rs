//! The task list is derived, never kept by hand: the generated files match
//! the task crates, and a new task crate is picked up by everything that
//! lists tasks with no other edit.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::path::{Path, PathBuf};
use std::process::Command;

use drake_catalog::{REGISTRY_RS, SPIN_TOML, TASK_DIRS, scan};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `host/src/registry/catalog.rs` and `spin.toml` are what the task crates
/// say (`DRAKE_BLESS=1` rewrites them, as `make catalog` does).
#[test]
fn generated_files_are_current() {
    let root = workspace();
    let catalog = scan(&root).unwrap();
    assert_eq!(catalog.tasks.iter().filter(|t| !t.test_only).count(), 21);
    assert_eq!(catalog.spin_tasks().count(), 10);
    let stale = catalog.stale(&root);
    if std::env::var_os("DRAKE_BLESS").is_some() {
        for (path, text) in catalog.generated() {
            std::fs::write(root.join(path), text).unwrap();
        }
        return;
    }
    assert!(
        stale.is_empty(),
        "{stale:?} disagree with the task crates: run `make catalog`"
    );
}

/// Writes `text` at `root/path`, creating directories.
fn put(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A copy of the workspace's task crates (manifests and a stub library
/// each, dependencies dropped) under the workspace's own member globs.
fn fixture() -> tempfile::TempDir {
    let root = workspace();
    let tmp = tempfile::tempdir().unwrap();
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let globs: Vec<String> = manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| TASK_DIRS.iter().any(|(dir, _)| m.starts_with(dir)))
        .map(|m| format!("{m:?}"))
        .collect();
    assert_eq!(
        globs.len(),
        TASK_DIRS.len(),
        "{globs:?}: a glob per task folder"
    );
    put(
        tmp.path(),
        "Cargo.toml",
        &format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            globs.join(", ")
        ),
    );
    for (dir, _) in TASK_DIRS {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let name = entry.file_name().into_string().unwrap();
            let Ok(text) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
                continue;
            };
            put(
                tmp.path(),
                &format!("{dir}/{name}/Cargo.toml"),
                &standalone(&text),
            );
            put(tmp.path(), &format!("{dir}/{name}/src/lib.rs"), "");
        }
    }
    tmp
}

/// A task manifest without its workspace inheritance and dependencies.
fn standalone(text: &str) -> String {
    let mut manifest: toml::Table = toml::from_str(text).unwrap();
    for section in [
        "dependencies",
        "dev-dependencies",
        "build-dependencies",
        "lints",
        "features",
    ] {
        manifest.remove(section);
    }
    manifest.remove("target");
    let package = manifest["package"].as_table_mut().unwrap();
    package.retain(|k, _| ["name", "metadata", "publish"].contains(&k));
    package.insert("version".into(), "0.1.0".into());
    package.insert("edition".into(), "2024".into());
    package.remove("build");
    toml::to_string(&manifest).unwrap()
}

const NEW_TASK: &str = r#"
[package]
name = "drake-task-image-sepia"
version = "0.1.0"
edition = "2024"
publish = false

[package.metadata.drake]
task = "image.sepia"
spin = true
time_limit = "45s"

[lib]
crate-type = ["cdylib", "rlib"]
"#;

/// Adding a task is adding its folder: the catalog, the host's table,
/// spin.toml, the workspace and the Makefile's Spin list all see it.
#[test]
fn a_new_task_folder_is_picked_up_everywhere() {
    let tmp = fixture();
    let root = tmp.path();
    let before = scan(root).unwrap();
    put(root, "components/tasks/image-sepia/Cargo.toml", NEW_TASK);
    put(root, "components/tasks/image-sepia/src/lib.rs", "");
    let after = scan(root).unwrap();
    assert_eq!(after.tasks.len(), before.tasks.len() + 1);
    let sepia = after
        .tasks
        .iter()
        .find(|t| t.name == "image.sepia")
        .unwrap();
    assert!(sepia.spin && !sepia.test_only);
    assert_eq!(sepia.time_limit_secs, Some(45));

    // The host's table.
    let registry = after.registry_rs();
    assert!(
        registry.contains("name: \"image.sepia\",\n        spin: true,"),
        "{registry}"
    );
    assert!(registry.contains("time_limit_secs: Some(45)"));
    // spin.toml: a route, a component, a build of the crate.
    let spin = after.spin_toml();
    for needle in [
        "route = \"/v1/run/image.sepia\"\ncomponent = \"image-sepia\"",
        "[component.image-sepia]",
        "source = \"target/wasm32-wasip2/spin/drake_task_image_sepia.wasm\"",
        "-p drake-task-image-sepia --features drake-sdk/spin",
    ] {
        assert!(spin.contains(needle), "{needle}");
    }
    let parsed: toml::Table = toml::from_str(&spin).unwrap();
    assert_eq!(parsed["spin_manifest_version"].as_integer(), Some(2));
    // The hosts the components may reach are the deployer's to name: no
    // wildcard by default (a component cannot see what a name resolves to).
    let hosts = &parsed["variables"]["fetch_hosts"];
    assert_eq!(
        hosts.get("required").and_then(toml::Value::as_bool),
        Some(true)
    );
    assert!(hosts.get("default").is_none(), "{hosts}");
    assert_eq!(
        parsed["trigger"]["http"].as_array().unwrap().len(),
        after.spin_tasks().count()
    );

    // The workspace: cargo lists the new crate as a member, and the
    // Makefile builds members by the pattern `drake-task-*`.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = stdout(
        Command::new(cargo)
            .args([
                "metadata",
                "--no-deps",
                "--offline",
                "--format-version",
                "1",
            ])
            .current_dir(root),
    );
    assert!(metadata.contains("\"name\":\"drake-task-image-sepia\""));
    let make = |target: &str, dry: bool| {
        stdout(
            Command::new("make")
                .arg(if dry { "-n" } else { "-s" })
                .arg("-f")
                .arg(workspace().join("Makefile"))
                .arg("-C")
                .arg(root)
                .arg(target),
        )
    };
    let build = make("components", true);
    assert!(
        build.contains("--target wasm32-wasip2 -p 'drake-task-*'"),
        "the Makefile builds every task crate by pattern: {build}"
    );

    // The Makefile's Spin list comes from the generated spin.toml.
    std::fs::write(root.join(SPIN_TOML), &spin).unwrap();
    let listed = make("spin-tasks", false);
    assert!(
        listed
            .split_whitespace()
            .any(|p| p == "drake-task-image-sepia"),
        "{listed}"
    );
    assert_eq!(
        listed.split_whitespace().count(),
        after.spin_tasks().count()
    );

    // Nothing else to write by hand: the generated files were the only
    // ones the new task changes.
    assert_eq!(after.stale(root), [REGISTRY_RS], "the fixture has no host");
}

/// What `command` prints, once it has succeeded.
fn stdout(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        command,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A crate that does not follow the naming rule is refused by name.
#[test]
fn misnamed_crates_are_refused() {
    let tmp = fixture();
    let root = tmp.path();
    put(
        root,
        "components/tasks/image-sepia/Cargo.toml",
        &NEW_TASK.replace("drake-task-image-sepia", "sepia"),
    );
    put(
        root,
        "components/tasks/image-blur/Cargo.toml",
        &NEW_TASK
            .replace("drake-task-image-sepia", "drake-task-image-blur")
            .replace("image.sepia", "image.blur")
            .replace("45s", "soon"),
    );
    put(
        root,
        "tests/guests/test-oops/Cargo.toml",
        "[package]\nname = \"x\"\n",
    );
    let problems = scan(root).unwrap_err().0;
    for needle in [
        "must be the crate drake-task-image-sepia, not sepia",
        "time_limit must be like",
        "no [package.metadata.drake]",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle}: {problems:#?}"
        );
    }
}
