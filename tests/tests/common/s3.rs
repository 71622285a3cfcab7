//! A real S3-protocol server for the tests: moto's standalone server (from
//! PyPI; `make test-deps` installs it into `~/.cache/drake/venv`), on a
//! free loopback port, stopped on drop. Never skipped: a missing server is
//! a failure that says how to install it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

/// A program of the Python virtualenv `make test-deps` fills
/// (`$DRAKE_VENV`, default `~/.cache/drake/venv`).
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("DRAKE_VENV").map_or_else(
        || {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache/drake/venv")
        },
        PathBuf::from,
    );
    venv.join("bin").join(name)
}

impl S3Server {
    /// Start a server with the empty bucket `bucket`.
    pub async fn start(bucket: &str) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let program = venv_bin("moto_server");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): `make test-deps` installs moto[server] there \
                     (or set DRAKE_VENV)",
                    program.display()
                )
            });
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        let http = super::client();
        loop {
            let created = http
                .put(format!("{}/{bucket}", server.endpoint))
                .send()
                .await;
            match created {
                Ok(r) if r.status().is_success() => break,
                _ if started.elapsed() > Duration::from_secs(60) => {
                    panic!("moto did not answer on {} within 60 s", server.endpoint)
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        server
    }

    /// Every key under `prefix` in `bucket` (ListObjectsV2, all pages).
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2".to_owned()), ("prefix", prefix.to_owned())];
            if let Some(t) = &token {
                query.push(("continuation-token", t.clone()));
            }
            let body = super::client()
                .get(format!("{}/{bucket}", self.endpoint))
                .query(&query)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            keys.extend(elements(&body, "Key"));
            token = elements(&body, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// The TOML of a `[blobs]` table storing into `bucket`/`prefix` here,
    /// with `keys` (raw TOML lines) added to it.
    pub fn blobs_table(&self, bucket: &str, prefix: &str, keys: &str) -> String {
        format!(
            "[blobs]\nurl = \"s3://{bucket}/{prefix}\"\n{keys}\n\
             [blobs.s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
             access_key_id = \"test\"\nsecret_access_key = \"test\"\nallow_http = true\n",
            self.endpoint
        )
    }
}

/// The text of every `<name>…</name>` element (S3's XML is flat enough).
fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_owned());
        rest = &after[end + close.len()..];
    }
    out
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
