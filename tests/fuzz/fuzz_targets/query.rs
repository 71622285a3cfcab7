//! GET query strings as task parameters (`drake_rules::query`, shared by
//! drake's create_file, its CLI and the Spin entry point): any query gives
//! an object whose values have the declared types where they could be read
//! as such, and decoding it into the task's parameters never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let schema = serde_json::to_value(schemars::schema_for!(common::Params)).unwrap_or_default();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let params =
        drake_rules::query::params(&schema, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (key, value) in &params {
        if key == "width" && value.is_number() {
            assert!(
                value.as_u64().is_some() || value.as_i64().is_some(),
                "{value}"
            );
        }
        if key == "crop" {
            assert!(value.is_boolean() || value.is_string(), "{value}");
        }
        if key == "tags" {
            assert!(value.is_array(), "{value}");
        }
    }
    let _ = serde_json::from_value::<common::Params>(serde_json::Value::Object(params));
});
