//! Everything drake signs, in one place: signed `create_file` URLs (api.md
//! §2, for `<img src>` links: an HMAC under the account's secret of the
//! path and the query), callback signatures (api.md §6), and the HMAC that
//! S3 pre-signed links are built on.
//!
//! ```text
//! signature          = hex HMAC-SHA256(secret, "<path>?<canonical query>")
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

/// The query a signed URL carries: every pair but `signature`, each
/// `name=value` percent-encoded (RFC 3986 unreserved characters kept),
/// ordered by name — pairs of one name keep their given order, which is a
/// list parameter's order (`images=a&images=b` is not `images=b&images=a`)
/// — joined with `&`.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    // Stable: equal names stay in their given order.
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A request path as a signature sees it: each segment percent-decoded,
/// then encoded as [`encode`] does, so that a client that spells `~` or
/// `%7E` signs and sends the same path.
pub fn canonical_path(path: &str) -> String {
    path.split('/')
        .map(|segment| encode(&percent_encoding::percent_decode_str(segment).decode_utf8_lossy()))
        .collect::<Vec<_>>()
        .join("/")
}

/// What a signed URL signs: `<canonical path>?<canonical query>` — the
/// path too, so the output file a link names (`/v1/create_file/{name}`) is
/// signed with the task.
pub fn signing_string(path: &str, pairs: &[(String, String)]) -> String {
    format!("{}?{}", canonical_path(path), canonical_query(pairs))
}

/// A signed URL's `signature`: [`hmac_hex`] of its [`signing_string`].
pub fn url_signature(secret: &str, signing_string: &str) -> String {
    hmac_hex(secret, &[signing_string.as_bytes()])
}

/// A signed, expiring `create_file` URL:
/// `<base>/v1/create_file[/<filename>]?<canonical query>&signature=<hex>`
/// (the HMAC of the path and the query, [`signing_string`]),
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
    let path = match filename {
        Some(name) => format!("/v1/create_file/{}", encode(name)),
        None => "/v1/create_file".to_owned(),
    };
    Ok(format!(
        "{}{path}?{}&signature={}",
        base.trim_end_matches('/'),
        canonical_query(&pairs),
        url_signature(secret, &signing_string(&path, &pairs))
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
    fn create_file_urls_sign_their_path_and_query() {
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
        let query = "api_key=k&expires=9&task_name=image.thumb&width=200";
        let signed = format!("/v1/create_file/a%20b.jpg?{query}");
        assert_eq!(
            url,
            format!(
                "http://h/v1/create_file/a%20b.jpg?{query}&signature={}",
                url_signature("s", &signed)
            )
        );
        let secret = [("secret".to_owned(), "x".to_owned())];
        assert!(create_file_url("http://h", None, "image.thumb", &secret, "k", "s", 9).is_err());
    }

    /// Another file name, or a list's values in another order, is another
    /// signing string.
    #[test]
    fn the_path_and_the_order_of_a_list_are_signed() {
        let pairs = |order: [&str; 2]| -> Vec<(String, String)> {
            vec![
                ("images".to_owned(), order[0].to_owned()),
                ("a".to_owned(), "1".to_owned()),
                ("images".to_owned(), order[1].to_owned()),
            ]
        };
        let ab = signing_string("/v1/create_file/x.gif", &pairs(["a", "b"]));
        assert_eq!(ab, "/v1/create_file/x.gif?a=1&images=a&images=b");
        assert_ne!(
            ab,
            signing_string("/v1/create_file/x.gif", &pairs(["b", "a"]))
        );
        assert_ne!(
            ab,
            signing_string("/v1/create_file/y.gif", &pairs(["a", "b"]))
        );
        // Spelled with or without escapes, a path is one path.
        assert_eq!(
            canonical_path("/v1/create_file/a%20b%7E.jpg"),
            canonical_path("/v1/create_file/a b~.jpg")
        );
    }
}
