#![allow(dead_code, reason = "each fuzz target uses a part")]
//! A task with one parameter of every kind the schemas use, and a fake
//! network: what the fuzz targets push requests through.

use drake_sdk::spin::Net;
use drake_sdk::{Ctx, Task, TaskError, Values, http};

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub url: String,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub ratio: Option<f64>,
    #[serde(default)]
    pub crop: Option<bool>,
    #[serde(default)]
    pub format: Option<Format>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// Fetches `url` and publishes it (a file task, like image.thumb).
pub struct Probe;

impl Task for Probe {
    const NAME: &'static str = "fuzz.probe";
    const SUMMARY: &'static str = "Copy the input.";
    const VALUES: &'static [&'static str] = &["size"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;
    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let input = ctx
            .fetch(&p.url, None)
            .map_err(|e| e.into_task_error("url"))?;
        let bytes = input.read_all();
        ctx.publish("output", &bytes, "image/png", "png")?;
        Ok(drake_sdk::values([("size", bytes.len().into())]))
    }
}

/// Answers every request with a few bytes (or a redirect, for `/r`).
pub struct FakeNet;

impl Net for FakeNet {
    fn send(
        &mut self,
        request: &http::Request<'_>,
        _limit: u64,
    ) -> Result<http::Response, http::Error> {
        let (status, headers) = if request.url.ends_with("/r") {
            (302, vec![("location".to_owned(), "/a.png".to_owned())])
        } else {
            (
                200,
                vec![("content-type".to_owned(), "image/png".to_owned())],
            )
        };
        Ok(http::Response {
            status,
            headers,
            body: b"\x89PNG....".to_vec(),
        })
    }
}
