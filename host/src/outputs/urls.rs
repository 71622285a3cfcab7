//! Output file URLs (api.md §5 `GET /v1/storage`): served by drake, or
//! straight from the object store — a public base (bucket website, CDN) or
//! S3 pre-signed GETs, valid until the task expires.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::config::{S3Config, S3Signing};
use crate::store::Micros;

/// How clients reach an output file.
#[derive(Debug, Clone)]
pub enum FileUrls {
    /// `<public base>/v1/storage/<key>/<name>`: drake serves the file
    /// (ranges, ETag, cache headers) from whatever backend holds it.
    Drake {
        /// drake's public base URL, without a trailing slash.
        base: String,
    },
    /// `<base>/<key>/<name>`: a public bucket or a CDN in front of it.
    Public {
        /// The public base URL, without a trailing slash.
        base: String,
    },
    /// An S3 pre-signed GET of the object; playlists (whose segments are
    /// relative references, which a signature does not carry over) are
    /// served by drake at `drake`'s base.
    Presigned {
        /// Signs GETs.
        presigner: Presigner,
        /// drake's public base URL, without a trailing slash.
        drake: String,
    },
}

/// Whether the object at `path` is a playlist whose parts it refers to
/// relatively (HLS, DASH).
fn is_playlist(path: &str) -> bool {
    path.ends_with(".m3u8") || path.ends_with(".mpd")
}

impl FileUrls {
    /// The URL of the object at `path` (`<key>/<name>.<ext>`) of a task
    /// that expires at `expires_at`.
    pub fn url(&self, path: &str, expires_at: Micros, now: Micros) -> String {
        match self {
            FileUrls::Drake { base } => format!("{base}/v1/storage/{path}"),
            FileUrls::Public { base } => format!("{base}/{path}"),
            FileUrls::Presigned { drake, .. } if is_playlist(path) => {
                format!("{drake}/v1/storage/{path}")
            }
            FileUrls::Presigned { presigner, .. } => presigner.presign(path, expires_at, now),
        }
    }

    /// drake's own URLs (for `drake run` and tests).
    pub fn drake(base: &str) -> FileUrls {
        FileUrls::Drake {
            base: base.trim_end_matches('/').to_owned(),
        }
    }
}

/// AWS Signature V4 query signing of GETs (the "pre-signed URL" of the S3
/// docs), with `UNSIGNED-PAYLOAD` and only `host` signed.
#[derive(Clone)]
pub struct Presigner {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// `host[:port]` as sent in the Host header.
    pub host: String,
    /// Path before the object key: `/bucket` (path style) or empty
    /// (virtual-hosted style), then the configured prefix.
    pub path_prefix: String,
    /// Signing region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presigner")
            .field("origin", &self.origin)
            .field("path_prefix", &self.path_prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// S3's longest pre-signature validity: 7 days.
const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// SigV4 URI encoding: everything but the unreserved characters.
const SIGV4: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    crate::sign::hmac_sha256(key, &[data.as_bytes()]).to_vec()
}

/// `segment`, SigV4-URI-encoded.
fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, SIGV4).to_string()
}

impl Presigner {
    /// The pre-signer of objects under `bucket`/`prefix` of `s3`.
    pub fn for_s3(s3: &S3Config, bucket: &str, prefix: &str) -> Result<Presigner, String> {
        s3.signing(bucket, prefix).map(Presigner::new)
    }

    /// The pre-signer of what `[blobs.s3]` says about the bucket.
    pub fn new(s3: S3Signing) -> Presigner {
        let mut path_prefix = s3.base_path;
        for segment in &s3.segments {
            path_prefix.push('/');
            path_prefix.push_str(&encode(segment));
        }
        Presigner {
            origin: s3.origin,
            host: s3.host,
            path_prefix,
            region: s3.region,
            access_key_id: s3.access_key_id,
            secret_access_key: s3.secret_access_key,
        }
    }

    /// A URL valid until the task expires (at most S3's 7 days). The
    /// signing time is the start of the current hour, so a status polled
    /// many times links the same URL for an hour (caches keep working).
    pub fn presign(&self, path: &str, expires_at: Micros, now: Micros) -> String {
        let now_secs = now.div_euclid(1_000_000);
        let signed_at = now_secs - now_secs.rem_euclid(3600);
        let expires = (expires_at.div_euclid(1_000_000) - signed_at).clamp(1, MAX_EXPIRES_SECS);
        self.presign_at(path, signed_at, expires)
    }

    /// The pre-signed URL of `path`, signed at `signed_at` (Unix seconds)
    /// and valid `expires` seconds.
    pub fn presign_at(&self, path: &str, signed_at: i64, expires: i64) -> String {
        let (date, stamp) = amz_date(signed_at);
        let key: Vec<String> = path.split('/').map(encode).collect();
        let uri = format!("{}/{}", self.path_prefix, key.join("/"));
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let credential = format!("{}/{scope}", self.access_key_id);
        // Already in the canonical (sorted) order.
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={stamp}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            encode(&credential)
        );
        let canonical = format!(
            "GET\n{uri}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
            self.host
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut k = hmac(format!("AWS4{}", self.secret_access_key).as_bytes(), &date);
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            k = hmac(&k, part);
        }
        let signature = hex::encode(hmac(&k, &to_sign));
        format!("{}{uri}?{query}&X-Amz-Signature={signature}", self.origin)
    }
}

/// `("20130524", "20130524T000000Z")` of a Unix time.
fn amz_date(secs: i64) -> (String, String) {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let date = format!("{:04}{:02}{:02}", dt.year(), u8::from(dt.month()), dt.day());
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    (date, stamp)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn example() -> Presigner {
        Presigner {
            origin: "https://examplebucket.s3.amazonaws.com".into(),
            host: "examplebucket.s3.amazonaws.com".into(),
            path_prefix: String::new(),
            region: "us-east-1".into(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    /// The worked example of AWS's "Authenticating Requests: Using Query
    /// Parameters (AWS Signature Version 4)" page.
    #[test]
    fn matches_the_aws_documentation_example() {
        // 2013-05-24T00:00:00Z
        let url = example().presign_at("test.txt", 1_369_353_600, 86_400);
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn urls_are_stable_within_the_hour_and_end_with_the_task() {
        let p = example();
        let hour = 1_369_353_600_i64 * 1_000_000;
        let expires_at = hour + 600 * 1_000_000;
        let a = p.presign("K/output.jpg", expires_at, hour + 1_000_000);
        let b = p.presign("K/output.jpg", expires_at, hour + 300 * 1_000_000);
        assert_eq!(a, b);
        assert!(a.contains("X-Amz-Expires=600&"), "{a}");
        // A week-long retention is capped at S3's 7 days.
        let far = p.presign("K/output.jpg", hour + 30 * 86_400 * 1_000_000, hour);
        assert!(far.contains("X-Amz-Expires=604800&"), "{far}");
    }

    #[test]
    fn keys_are_uri_encoded_per_segment() {
        let s3 = S3Config {
            endpoint: Some("http://127.0.0.1:9000/".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            ..S3Config::default()
        };
        let p = Presigner::for_s3(&s3, "my-bucket", "out put/v_1.x").unwrap();
        assert_eq!(p.host, "127.0.0.1:9000");
        let url = p.presign_at("K/a b+c.jpg", 0, 60);
        assert!(
            url.starts_with("http://127.0.0.1:9000/my-bucket/out%20put/v_1.x/K/a%20b%2Bc.jpg?"),
            "{url}"
        );
        // On AWS: virtual-hosted style, the region in the host.
        let aws = S3Config {
            endpoint: None,
            region: "eu-west-3".into(),
            ..s3
        };
        let p = Presigner::for_s3(&aws, "b", "").unwrap();
        assert!(
            p.presign_at("K/o.jpg", 0, 60)
                .starts_with("https://b.s3.eu-west-3.amazonaws.com/K/o.jpg?")
        );
        let keyless = S3Config::default();
        assert!(Presigner::for_s3(&keyless, "b", "").is_err());
    }

    #[test]
    fn drake_and_public_urls() {
        assert_eq!(
            FileUrls::drake("http://h:1/").url("K/output.jpg", 0, 0),
            "http://h:1/v1/storage/K/output.jpg"
        );
        let public = FileUrls::Public {
            base: "https://cdn.example.com/o".into(),
        };
        assert_eq!(
            public.url("K/output.jpg", 0, 0),
            "https://cdn.example.com/o/K/output.jpg"
        );
    }

    /// A pre-signed playlist would lose its signature on every relative
    /// reference: playlists go through drake, other files to the bucket.
    #[test]
    fn presigned_playlists_are_served_by_drake() {
        let urls = FileUrls::Presigned {
            presigner: example(),
            drake: "https://drake.example".into(),
        };
        for playlist in ["K/output.m3u8", "K/output.mpd"] {
            assert_eq!(
                urls.url(playlist, 1_000_000, 0),
                format!("https://drake.example/v1/storage/{playlist}")
            );
        }
        assert!(
            urls.url("K/output.mp4", 1_000_000, 0)
                .contains("X-Amz-Signature=")
        );
    }
}
