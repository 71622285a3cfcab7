//! Task outputs and uploads as inputs: wherever a task takes a URL, a
//! reference `drake:KEY/NAME` names output file `NAME` of task `KEY` (an
//! upload is a task whose one file is `output`). The `fetch` capability
//! reads it straight from the blob store — no HTTP round trip, no network
//! policy — for the run's own account only ([`StoredInputs`]); a create
//! checks the references it is given before storing the task
//! ([`references`], used by `api::insert`).
//!
//! A reference is a whole value: a JSON string, or an XML attribute value
//! inside one (SXML `filename="drake:KEY/output"`).

use std::sync::Arc;

use crate::outputs::Storage;
use crate::run::{InputSource, StoredInput};
use crate::store::{TaskRow, TaskState, TaskStore};

/// The task name an upload is stored under (no component has it, so no
/// create can make one).
pub const UPLOAD_TASK: &str = "upload";

/// The scheme of a reference.
pub const SCHEME: &str = "drake:";

/// Longest output name: output names are short words (`output`,
/// `preview`); this bounds what an error message repeats.
const MAX_NAME: usize = 64;

/// A parsed `drake:KEY/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// The task key, or `$N` (a task of the same request, by index).
    pub key: &'a str,
    /// The output file name (without extension).
    pub name: &'a str,
}

impl<'a> Reference<'a> {
    /// `None` when `url` is not a reference at all (another scheme);
    /// `Some(Err(why))` when it is a malformed one.
    pub fn parse(url: &'a str) -> Option<Result<Reference<'a>, String>> {
        let rest = url.strip_prefix(SCHEME)?;
        let bad = |why: &str| {
            let shown: String = url.chars().take(80).collect();
            Some(Err(format!(
                "{shown:?} is not a valid reference ({why}): write drake:KEY/NAME, \
                 e.g. drake:{}/output",
                "K".repeat(26)
            )))
        };
        let Some((key, name)) = rest.split_once('/') else {
            return bad("no output name");
        };
        let is_key = key.len() == 26 && key.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'));
        let is_index = key.strip_prefix('$').is_some_and(|n| {
            !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
        });
        if !is_key && !is_index {
            return bad("a task key is 26 characters A-Z and 2-7");
        }
        let plain = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !plain {
            return bad("an output name is letters, digits, '_' and '-'");
        }
        Some(Ok(Reference { key, name }))
    }

    /// Whether it names a task of the same request (`$N`).
    pub fn is_index(&self) -> bool {
        self.key.starts_with('$')
    }
}

impl std::fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.key, self.name)
    }
}

/// Every reference in a task's parameters, with the parameter it is in:
/// string values that are references, and quoted attribute values in a
/// string (an SXML document) that start with the scheme.
pub fn references(params: &serde_json::Map<String, serde_json::Value>) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    for (param, value) in params {
        walk(value, &mut |s| {
            if s.starts_with(SCHEME) {
                found.push((param.as_str(), s));
                return;
            }
            let mut at = 0;
            while let Some(i) = s[at..].find(SCHEME) {
                let start = at + i;
                at = start + SCHEME.len();
                let quote = match s.as_bytes()[..start].last() {
                    Some(&q @ (b'"' | b'\'')) => q as char,
                    _ => continue,
                };
                let end = s[start..].find(quote).map_or(s.len(), |n| start + n);
                found.push((param.as_str(), &s[start..end]));
                at = end;
            }
        });
    }
    found
}

fn walk<'a>(value: &'a serde_json::Value, visit: &mut dyn FnMut(&'a str)) {
    match value {
        serde_json::Value::String(s) if s.contains(SCHEME) => visit(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

/// Why `row` (of the right account, or `None`) cannot be read as
/// `reference`; `Ok` with its file otherwise. One wording for a create's
/// check and a run's read.
pub fn readable<'r>(
    reference: &Reference<'_>,
    row: Option<&'r TaskRow>,
) -> Result<&'r crate::store::OutputFile, String> {
    let key = reference.key;
    let Some(row) = row else {
        return Err(format!(
            "{reference}: task {key} not found (no task of this account has that key, \
             or it has expired)"
        ));
    };
    match row.state {
        TaskState::Succeeded => {}
        TaskState::Failed => {
            return Err(format!(
                "{reference}: task {key} failed, so it has no output"
            ));
        }
        // A create waits for these instead ([`TaskState::Waiting`]): a run
        // meets one only if the store was changed behind its back.
        TaskState::Waiting | TaskState::Queued | TaskState::Running => {
            return Err(format!("{reference}: task {key} has not finished"));
        }
    }
    row.files.get(reference.name).ok_or_else(|| {
        let names: Vec<&str> = row.files.keys().map(String::as_str).collect();
        format!(
            "{reference}: task {key} has no output {:?} (it has: {})",
            reference.name,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )
    })
}

/// References resolved from the task store and the blob store, for the
/// tasks of one account.
pub struct StoredInputs {
    /// Task rows.
    pub store: Arc<dyn TaskStore>,
    /// Their files.
    pub storage: Storage,
    /// The running task's account: only its tasks can be read.
    pub account: String,
}

#[async_trait::async_trait]
impl InputSource for StoredInputs {
    async fn open(&self, url: &str) -> Result<StoredInput, String> {
        let reference = match Reference::parse(url) {
            Some(Ok(r)) => r,
            Some(Err(why)) => return Err(why),
            None => return Err(format!("{url:?} is not a drake: reference")),
        };
        if reference.is_index() {
            return Err(format!(
                "{reference}: an index reference is resolved when the task is created"
            ));
        }
        // Past its expiry too: the reaper keeps a task while a dependent
        // that reads it is unfinished (this run's task is one).
        let row = self
            .store
            .task_get(reference.key, crate::store::Micros::MIN)
            .await
            .map_err(|e| format!("{reference}: the task store failed: {e}"))?
            .filter(|row| row.account == self.account);
        let file = readable(&reference, row.as_ref())?;
        let object = self
            .storage
            .get(&file.path, None)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    format!("{reference}: the file is gone (expired or deleted)")
                }
                e => format!("{reference}: the blob store failed: {e}"),
            })?;
        Ok(StoredInput {
            size: object.size,
            content_type: file.content_type.clone(),
            body: object.body,
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    #[test]
    fn references_parse() {
        let r = Reference::parse("drake:ABCDEFGHIJKLMNOPQRSTUVWXYZ/output")
            .unwrap()
            .unwrap();
        assert_eq!((r.key, r.name, r.is_index()), (KEY, "output", false));
        let r = Reference::parse("drake:$12/thumb_1").unwrap().unwrap();
        assert_eq!((r.key, r.name, r.is_index()), ("$12", "thumb_1", true));
        assert_eq!(r.to_string(), "drake:$12/thumb_1");
        assert!(Reference::parse("https://x/y").is_none());
        assert!(Reference::parse("Drake:x").is_none());
        for bad in [
            "drake:",
            "drake:ABC/output",
            "drake:ABCDEFGHIJKLMNOPQRSTUVWXY1/output",
            "drake:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "drake:ABCDEFGHIJKLMNOPQRSTUVWXYZ/",
            "drake:ABCDEFGHIJKLMNOPQRSTUVWXYZ/../x",
            "drake:ABCDEFGHIJKLMNOPQRSTUVWXYZ/output/360p.m3u8",
            "drake:$/output",
            "drake:$1234/output",
            "drake:$-1/output",
        ] {
            let why = Reference::parse(bad).unwrap().unwrap_err();
            assert!(why.contains("not a valid reference"), "{bad}: {why}");
        }
    }

    #[test]
    fn references_are_found_in_values_and_attributes() {
        let params = json!({
            "url": format!("drake:{KEY}/output"),
            "images": ["http://a/b.png", format!("drake:{KEY}/preview"), "drake:$0/output"],
            "definition": format!(
                "<movie><image filename=\"drake:{KEY}/output\"/><image filename='drake:$1/output'/>\
                 <text>see drake:{KEY}/output</text></movie>"
            ),
            "width": 3,
        });
        let found = references(params.as_object().unwrap());
        let want_key = format!("drake:{KEY}/output");
        let want_preview = format!("drake:{KEY}/preview");
        assert_eq!(
            found,
            vec![
                ("definition", want_key.as_str()),
                ("definition", "drake:$1/output"),
                ("images", want_preview.as_str()),
                ("images", "drake:$0/output"),
                ("url", want_key.as_str()),
            ]
        );
        // An unterminated attribute ends at the end of the string.
        let params = json!({"d": "<a b=\"drake:$0/output"});
        assert_eq!(
            references(params.as_object().unwrap()),
            vec![("d", "drake:$0/output")]
        );
    }
}
