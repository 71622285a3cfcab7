//! Everything drake signs, in one place: signed `create_file` URLs (api.md
//! §2, for `<img src>` links: an HMAC under the account's secret of the
//! canonical query), callback signatures (api.md §6), and the HMAC that
//! S3 pre-signed links are built on.
//!
//! ```text
//! signature          = hex HMAC-SHA256(secret, canonical query)
//! X-Drake-Signature  = t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The query parameters a signed URL adds (auth, not task parameters).
pub const SIGNED_PARAMS: [&str; 3] = ["api_key", "expires", "signature"];

/// The callback signature header.
pub const CALLBACK_HEADER: &str = "x-drake-signature";

/// HMAC-SHA256 under `key` of `parts` end to end.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The hex HMAC-SHA256 under `secret` of `parts` end to end.
pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), parts))
}

/// Percent-encode all but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a signed URL signs: every query pair but `signature`, sorted by
/// name then value, each `name=value` percent-encoded (RFC 3986
/// unreserved characters kept), joined with `&`.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    kept.sort();
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed URL's `signature`: [`hmac_hex`] of the canonical query.
pub fn url_signature(secret: &str, canonical: &str) -> String {
    hmac_hex(secret, &[canonical.as_bytes()])
}

/// A signed, expiring `create_file` URL:
/// `<base>/v1/create_file[/<filename>]?<canonical query>&signature=<hex>`,
/// for task `task` with `params` (name, value), authorised by `api_key`
/// until `expires` (unix seconds) and signed with `secret`.
pub fn create_file_url(
    base: &str,
    filename: Option<&str>,
    task: &str,
    params: &[(String, String)],
    api_key: &str,
    secret: &str,
    expires: u64,
) -> Result<String, String> {
    let mut pairs = vec![("task_name".to_owned(), task.to_owned())];
    for (k, v) in params {
        if SIGNED_PARAMS.contains(&k.as_str()) || k == "secret" || k == "task_name" {
            return Err(format!("{k} is set by the signer"));
        }
        pairs.push((k.clone(), v.clone()));
    }
    pairs.push(("api_key".into(), api_key.to_owned()));
    pairs.push(("expires".into(), expires.to_string()));
    let canonical = canonical_query(&pairs);
    let path = match filename {
        Some(name) => format!("/v1/create_file/{}", encode(name)),
        None => "/v1/create_file".to_owned(),
    };
    Ok(format!(
        "{}{path}?{canonical}&signature={}",
        base.trim_end_matches('/'),
        url_signature(secret, &canonical)
    ))
}

/// The [`CALLBACK_HEADER`] of a callback body sent at `t`:
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn callback_signature(secret: &str, t: u64, body: &[u8]) -> String {
    let v1 = hmac_hex(secret, &[format!("{t}.").as_bytes(), body]);
    format!("t={t},v1={v1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_sorts_and_encodes() {
        let pairs: Vec<(String, String)> = [
            ("url", "https://x.org/a b.jpg?q=1&r=2"),
            ("width", "200"),
            ("task_name", "image.thumb"),
            ("signature", "ignored"),
            ("api_key", "k"),
            ("expires", "1900000000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            canonical_query(&pairs),
            "api_key=k&expires=1900000000&task_name=image.thumb\
             &url=https%3A%2F%2Fx.org%2Fa%20b.jpg%3Fq%3D1%26r%3D2&width=200"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_hex("Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn create_file_urls_sign_their_query() {
        let params = [("width".to_owned(), "200".to_owned())];
        let url = create_file_url(
            "http://h/",
            Some("a b.jpg"),
            "image.thumb",
            &params,
            "k",
            "s",
            9,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let canonical = "api_key=k&expires=9&task_name=image.thumb&width=200";
        assert_eq!(
            url,
            format!(
                "http://h/v1/create_file/a%20b.jpg?{canonical}&signature={}",
                url_signature("s", canonical)
            )
        );
        let secret = [("secret".to_owned(), "x".to_owned())];
        assert!(create_file_url("http://h", None, "image.thumb", &secret, "k", "s", 9).is_err());
    }
}
