//! Whole requests through the Spin entry point (method, path, query,
//! headers, body → response): the JSON and query decoding, auth, parameter
//! validation and the error shapes drake's API shares. Never a panic; every
//! answer is one of the documented statuses, and JSON where it says so.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

#[derive(Arbitrary, Debug)]
struct Input {
    post: bool,
    other_path: bool,
    accept_json: bool,
    secret: Option<String>,
    query: String,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut headers = Vec::new();
    if input.accept_json {
        headers.push(("Accept".to_owned(), "application/json".to_owned()));
    }
    if let Some(secret) = &input.secret {
        headers.push(("Authorization".to_owned(), format!("Secret {secret}")));
    }
    let request = drake_sdk::spin::Request {
        method: if input.post { "POST" } else { "GET" }.to_owned(),
        path: if input.other_path {
            "/v1/run/x"
        } else {
            "/v1/run/fuzz.probe"
        }
        .to_owned(),
        query: input.query,
        headers,
        body: input.body,
    };
    let settings =
        drake_sdk::spin::Settings::from_env(|k| (k == "DRAKE_SECRET").then(|| "s".to_owned()))
            .expect("a valid environment");
    let response =
        drake_sdk::spin::serve::<common::Probe>(&request, &settings, &mut common::FakeNet);
    assert!(
        matches!(response.status, 200 | 400 | 401 | 404 | 405 | 413),
        "{}",
        response.status
    );
    let json = response
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/json");
    if json {
        let body: serde_json::Value =
            serde_json::from_slice(&response.body).expect("JSON answers parse");
        assert!(body.get("status").is_some(), "{body}");
    }
});
