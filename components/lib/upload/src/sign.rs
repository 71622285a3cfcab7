//! Request signing: Facebook's `appsecret_proof` and OAuth 1.0a
//! (RFC 5849, HMAC-SHA1) for Vimeo, plus the `multipart/form-data` body
//! the Graph API wants for video chunks.

use base64::Engine as _;
use hmac::{Hmac, Mac};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex HMAC-SHA256 of `message` keyed with `key`: the Graph API's
/// `appsecret_proof` (key: the app secret, message: the access token).
pub fn hmac_sha256_hex(key: &str, message: &str) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// OAuth 1.0a credentials.
pub struct OAuth1<'a> {
    /// Consumer (application) key.
    pub consumer_key: &'a str,
    /// Consumer secret.
    pub consumer_secret: &'a str,
    /// Access token.
    pub token: &'a str,
    /// Access token secret.
    pub token_secret: &'a str,
}

impl OAuth1<'_> {
    /// The `Authorization: OAuth …` header of a request to `url` (without
    /// query) with form or query `params`, at `timestamp` with `nonce`.
    pub fn header(
        &self,
        method: &str,
        url: &str,
        params: &[(&str, &str)],
        timestamp: u64,
        nonce: &str,
    ) -> String {
        let timestamp = timestamp.to_string();
        let oauth = [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", timestamp.as_str()),
            ("oauth_token", self.token),
            ("oauth_version", "1.0"),
        ];
        let signature = self.signature(method, url, params, &oauth);
        let mut fields: Vec<String> = oauth
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", crate::percent(v)))
            .collect();
        fields.push(format!(
            "oauth_signature=\"{}\"",
            crate::percent(&signature)
        ));
        format!("OAuth {}", fields.join(", "))
    }

    /// RFC 5849 §3.4: base64 HMAC-SHA1 of the signature base string.
    pub fn signature(
        &self,
        method: &str,
        url: &str,
        params: &[(&str, &str)],
        oauth: &[(&str, &str)],
    ) -> String {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .chain(oauth)
            .map(|(k, v)| (crate::percent(k), crate::percent(v)))
            .collect();
        pairs.sort();
        let normalized = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let base = format!(
            "{}&{}&{}",
            method.to_ascii_uppercase(),
            crate::percent(url),
            crate::percent(&normalized)
        );
        let key = format!(
            "{}&{}",
            crate::percent(self.consumer_secret),
            crate::percent(self.token_secret)
        );
        let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()) else {
            return String::new();
        };
        mac.update(base.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// A `multipart/form-data` body: text `fields`, then one file part.
/// Returns (content type with boundary, body).
pub fn multipart(
    fields: &[(&str, &str)],
    file_field: &str,
    file_name: &str,
    file_type: &str,
    file: &[u8],
) -> (String, Vec<u8>) {
    // Long enough that it cannot plausibly occur in a video chunk.
    let boundary = format!(
        "drake-{}",
        hex(&<sha1::Sha1 as sha1::Digest>::digest(file)[..12])
    );
    let mut body = Vec::with_capacity(file.len() + 1024);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; \
             filename=\"{file_name}\"\r\nContent-Type: {file_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn oauth1_signature_matches_rfc_5849() {
        // RFC 5849 §1.2's photos example (HMAC-SHA1 over GET with query).
        let creds = OAuth1 {
            consumer_key: "dpf43f3p2l4k3l03",
            consumer_secret: "kd94hf93k423kf44",
            token: "nnch734d00sl2jdk",
            token_secret: "pfkkdhi9sl3r4s00",
        };
        let oauth = [
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1191242096"),
            ("oauth_nonce", "kllo9940pd9333jh"),
            ("oauth_version", "1.0"),
        ];
        let sig = creds.signature(
            "GET",
            "http://photos.example.net/photos",
            &[("file", "vacation.jpg"), ("size", "original")],
            &oauth,
        );
        assert_eq!(sig, "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    }

    #[test]
    fn multipart_bodies_hold_fields_and_the_file() {
        let (ct, body) = multipart(
            &[("a", "1")],
            "video_file_chunk",
            "v.mp4",
            "video/mp4",
            b"\0\x01",
        );
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or("");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"a\"\r\n\r\n1\r\n"));
        assert!(text.contains("filename=\"v.mp4\"\r\nContent-Type: video/mp4\r\n\r\n\0\u{1}\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
