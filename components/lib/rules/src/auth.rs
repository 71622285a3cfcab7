//! Credentials (api.md §2), as drake's API and the Spin entry point read
//! them: in the JSON body (`"secret"`, `"api_key"`), in an `Authorization`
//! header (`Secret <key>`, `Api-Key <key>`; the scheme matched without
//! case, whitespace ignored), or in the query (`?secret=`, `?api_key=`).
//! Body first, then the header, then the query. Keys are compared in time
//! independent of their contents.
//!
//! Signed `create_file` URLs are the host's alone (they need the account's
//! secret to check) and live in the host.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fields that carry a credential in a body or a query; they never
/// become task parameters.
pub const FIELDS: [&str; 2] = ["secret", "api_key"];

/// A credential found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A secret: server to server.
    Secret(String),
    /// An API key: browsers, with a whitelisted Referer or Origin.
    ApiKey(String),
}

/// Where a credential was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The JSON body's top level.
    Body,
    /// The `Authorization` header.
    Header,
    /// The query string.
    Query,
}

/// A credential given in a form no rule accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// `"secret": 42` in a body.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// An `Authorization` header of another scheme, or without a key.
    #[error("expected \"Secret <key>\" or \"Api-Key <key>\"")]
    Scheme,
}

/// Take the credential fields out of a JSON body (whether or not one is
/// used: they are never parameters); the first one present wins.
pub fn take_from_body(
    body: &mut Map<String, Value>,
) -> Result<Option<Credential>, CredentialError> {
    let mut found = None;
    for field in FIELDS {
        match body.remove(field) {
            None => {}
            Some(Value::String(key)) => {
                found.get_or_insert_with(|| credential(field, key.trim()));
            }
            Some(_) => return Err(CredentialError::NotAString(field)),
        }
    }
    Ok(found)
}

/// An `Authorization` header's credential.
pub fn from_authorization(value: &str) -> Result<Credential, CredentialError> {
    let text = value.trim();
    let (scheme, key) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let key = key.trim();
    if key.is_empty() {
        return Err(CredentialError::Scheme);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "secret" => Ok(Credential::Secret(key.to_owned())),
        "api-key" => Ok(Credential::ApiKey(key.to_owned())),
        _ => Err(CredentialError::Scheme),
    }
}

/// The first credential field of a query, in query order.
pub fn from_query(query: &[(String, String)]) -> Option<Credential> {
    query.iter().find_map(|(k, v)| {
        FIELDS
            .into_iter()
            .find(|field| field == k)
            .map(|field| credential(field, v.trim()))
    })
}

/// The request's credential by api.md §2's order: body, header, query.
/// The body loses its credential fields either way.
pub fn find(
    body: Option<&mut Map<String, Value>>,
    authorization: Option<&str>,
    query: &[(String, String)],
) -> Result<Option<(Credential, Source)>, CredentialError> {
    if let Some(body) = body
        && let Some(found) = take_from_body(body)?
    {
        return Ok(Some((found, Source::Body)));
    }
    if let Some(header) = authorization {
        return from_authorization(header).map(|c| Some((c, Source::Header)));
    }
    Ok(from_query(query).map(|c| (c, Source::Query)))
}

fn credential(field: &str, key: &str) -> Credential {
    if field == "secret" {
        Credential::Secret(key.to_owned())
    } else {
        Credential::ApiKey(key.to_owned())
    }
}

/// Whether two keys are equal, in time independent of where they differ
/// and of their lengths (both are hashed first).
pub fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn body_then_header_then_query() {
        let query = [("secret".to_owned(), " q ".to_owned())];
        let mut b = body(json!({"secret": " b ", "width": 1}));
        assert_eq!(
            find(Some(&mut b), Some("Secret h"), &query).unwrap(),
            Some((Credential::Secret("b".into()), Source::Body))
        );
        assert_eq!(b, body(json!({"width": 1})), "credentials leave the body");
        assert_eq!(
            find(None, Some("  API-KEY   h "), &query).unwrap(),
            Some((Credential::ApiKey("h".into()), Source::Header))
        );
        assert_eq!(
            find(Some(&mut body(json!({}))), None, &query).unwrap(),
            Some((Credential::Secret("q".into()), Source::Query))
        );
        assert_eq!(find(None, None, &[]).unwrap(), None);
    }

    #[test]
    fn malformed_credentials() {
        for bad in ["Bearer x", "Secret", "Secret   ", ""] {
            assert_eq!(
                from_authorization(bad),
                Err(CredentialError::Scheme),
                "{bad}"
            );
        }
        let mut b = body(json!({"api_key": 3}));
        assert_eq!(
            take_from_body(&mut b),
            Err(CredentialError::NotAString("api_key"))
        );
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("s3cret", "s3cret"));
        assert!(!same_key("s3cret", "s3cre"));
        assert!(!same_key("", "x"));
    }
}
