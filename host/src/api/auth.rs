//! Authentication (api.md §2): a secret (server to server) or an API key
//! plus a whitelisted Referer/Origin (browsers), given in the JSON body, an
//! `Authorization` header, or the query string. Keys are compared in
//! constant time, never logged, never kept in task parameters.
//!
//! A third form serves `<img src>` links (GET `create_file`): a signed,
//! expiring query — `api_key`, `expires` (unix seconds) and `signature`,
//! the hex HMAC-SHA256 under the account's secret of the path and the
//! query ([`signing_string`]: every pair but `signature`, ordered by name
//! with a list's values in their given order, percent-encoded). The secret
//! never appears in the URL; changing the file name, any parameter, the
//! order of a list or the expiry breaks the signature.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};
use drake_rules::auth::{self as rules, same_key};
use ipnet::IpNet;
use serde_json::{Map, Value};

use super::error::{ApiError, Location};
use crate::config::{Account, Config};
use crate::sign::{signing_string, url_signature};

/// A credential found in a request.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `Secret`.
    Secret(String),
    /// `Api-Key`.
    ApiKey(String),
    /// A signed query: `api_key`, `expires`, `signature` and the
    /// path and query they sign.
    Signed {
        /// The account's API key.
        api_key: String,
        /// Unix seconds, as given.
        expires: String,
        /// Hex HMAC-SHA256, as given.
        signature: String,
        /// [`signing_string`] of the request.
        canonical: String,
    },
}

/// Where credentials may come from in one request.
pub struct Sources<'a> {
    /// Headers (`Authorization`, `Referer`, `Origin`).
    pub headers: &'a HeaderMap,
    /// Query pairs (GET routes).
    pub query: &'a [(String, String)],
    /// The request path, as sent (a signed URL signs it).
    pub path: &'a str,
    /// The JSON body's top level; auth keys are removed from it.
    pub body: Option<&'a mut Map<String, Value>>,
    /// The peer address (plain-HTTP secret rule).
    pub peer: Option<SocketAddr>,
    /// Whether a signed query may authenticate: only `GET create_file`,
    /// where the signed query is the whole task definition (elsewhere a
    /// signed URL's query would authorise what it does not sign).
    pub signed_ok: bool,
}

/// Find a credential by api.md §2's order (drake-rules' [`rules::find`]:
/// body, then header, then query), with a signed query (GET
/// `create_file` only) checked before a plain one. Auth keys are taken out
/// of the body whether or not they are used.
pub fn extract(src: &mut Sources<'_>) -> Result<Option<(Credential, Location)>, ApiError> {
    let authorization = src
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match rules::find(src.body.as_deref_mut(), authorization, &[]) {
        Ok(Some((found, source))) => return Ok(Some((found.into(), location(source)))),
        Ok(None) => {}
        Err(e @ rules::CredentialError::NotAString(field)) => {
            return Err(ApiError::invalid(field, Location::Body, e.to_string()));
        }
        Err(e @ rules::CredentialError::Scheme) => {
            return Err(ApiError::unauthorized(
                "Authorization",
                Location::Header,
                e.to_string(),
            ));
        }
    }
    if src.query.iter().any(|(k, _)| k == "signature") {
        if !src.signed_ok {
            return Err(ApiError::unauthorized(
                "signature",
                Location::Querystring,
                "a signed URL only works for GET /v1/create_file",
            ));
        }
        let get = |name: &str| {
            src.query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        name,
                        Location::Querystring,
                        format!("a signed URL needs {name}"),
                    )
                })
        };
        return Ok(Some((
            Credential::Signed {
                api_key: get("api_key")?,
                expires: get("expires")?,
                signature: get("signature")?,
                canonical: signing_string(src.path, src.query),
            },
            Location::Querystring,
        )));
    }
    Ok(rules::from_query(src.query).map(|found| (found.into(), Location::Querystring)))
}

fn location(source: rules::Source) -> Location {
    match source {
        rules::Source::Body => Location::Body,
        rules::Source::Header => Location::Header,
        rules::Source::Query => Location::Querystring,
    }
}

impl From<rules::Credential> for Credential {
    fn from(found: rules::Credential) -> Self {
        match found {
            rules::Credential::Secret(key) => Credential::Secret(key),
            rules::Credential::ApiKey(key) => Credential::ApiKey(key),
        }
    }
}

/// Whether `host` matches a referrer pattern (`example.com` exactly, or
/// `*.example.com` for its subdomains).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    }
}

/// The host of the request's Referer, else its Origin.
pub fn referrer_host(headers: &HeaderMap) -> Option<String> {
    [header::REFERER, header::ORIGIN].iter().find_map(|h| {
        let v = headers.get(h)?.to_str().ok()?;
        url::Url::parse(v).ok()?.host_str().map(str::to_owned)
    })
}

/// How a request proved its account. A secret may do anything; an API
/// key (public: it sits in browser pages) or a signed URL made with one
/// may only create tasks — not list them, nor set what the account's
/// secret then signs (callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The account's secret.
    Secret,
    /// An API key with a whitelisted Referer or Origin.
    ApiKey,
    /// A signed, expiring `create_file` URL (which carries an API key).
    Signed,
}

/// Resolve the request's credential to an account and how it was proved;
/// `None` credential is a 401 naming what was expected.
pub fn authenticate<'a>(
    config: &'a Config,
    found: Option<(Credential, Location)>,
    src: &Sources<'_>,
) -> Result<(&'a Account, Via), ApiError> {
    let accounts = &config.accounts;
    let Some((cred, location)) = found else {
        return Err(ApiError::unauthorized(
            "secret",
            Location::Body,
            "authentication required: give a secret or an api_key",
        ));
    };
    match cred {
        Credential::Secret(key) => {
            let account = accounts
                .iter()
                .find(|a| a.secret.as_deref().is_some_and(|s| same_key(s, &key)))
                .ok_or_else(|| ApiError::unauthorized("secret", location, "invalid secret"))?;
            if !config.allow_insecure_secrets && !is_secure(src, &config.trusted_proxies) {
                return Err(ApiError::unauthorized(
                    "secret",
                    location,
                    "secret authentication needs HTTPS (or a loopback client)",
                ));
            }
            Ok((account, Via::Secret))
        }
        Credential::ApiKey(key) => {
            let account = accounts
                .iter()
                .find(|a| a.api_keys.iter().any(|k| same_key(k, &key)))
                .ok_or_else(|| ApiError::unauthorized("api_key", location, "invalid api_key"))?;
            let host = referrer_host(src.headers).ok_or_else(|| {
                ApiError::unauthorized(
                    "Referer",
                    Location::Header,
                    "api_key needs a Referer or Origin header",
                )
            })?;
            if !account.referrers.iter().any(|p| host_matches(p, &host)) {
                return Err(ApiError::unauthorized(
                    "Referer",
                    Location::Header,
                    format!("{host} is not a whitelisted referrer for this api_key"),
                ));
            }
            Ok((account, Via::ApiKey))
        }
        Credential::Signed {
            api_key,
            expires,
            signature,
            canonical,
        } => {
            let invalid = |msg: &str| ApiError::unauthorized("signature", location, msg);
            let account = accounts
                .iter()
                .find(|a| a.api_keys.iter().any(|k| same_key(k, &api_key)))
                .ok_or_else(|| ApiError::unauthorized("api_key", location, "invalid api_key"))?;
            let secret = account
                .secret
                .as_deref()
                .ok_or_else(|| invalid("this account has no secret to sign URLs with"))?;
            let expires: u64 = expires.parse().map_err(|_| {
                ApiError::unauthorized("expires", location, "expires must be unix seconds")
            })?;
            if !same_key(
                &url_signature(secret, &canonical),
                &signature.to_ascii_lowercase(),
            ) {
                return Err(invalid("invalid signature"));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if now > expires {
                return Err(ApiError::unauthorized(
                    "expires",
                    location,
                    "this signed URL has expired",
                ));
            }
            Ok((account, Via::Signed))
        }
    }
}

/// A loopback peer, or a request that a trusted proxy (`trusted_proxies`)
/// marked https: `X-Forwarded-Proto` from any other peer is the client's
/// own word, and proves nothing.
fn is_secure(src: &Sources<'_>, trusted_proxies: &[IpNet]) -> bool {
    let Some(peer) = src.peer else {
        // In-process calls (tests) have no peer.
        return true;
    };
    if peer.ip().is_loopback() {
        return true;
    }
    let trusted = trusted_proxies.iter().any(|net| net.contains(&peer.ip()));
    trusted
        && src
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn account() -> Account {
        Account {
            name: "demo".into(),
            secret: Some("s3cret".into()),
            api_keys: vec!["pub".into()],
            referrers: vec!["example.com".into(), "*.example.org".into()],
            max_tasks_per_hour: None,
            retention: None,
            share: 1,
            max_running: None,
            max_queued: 20_000,
            max_upload_bytes: None,
            max_stored_upload_bytes: None,
        }
    }

    fn auth(
        headers: HeaderMap,
        query: &[(String, String)],
        body: Option<Value>,
    ) -> Result<String, u16> {
        let config = Config {
            accounts: vec![account()],
            ..Config::default()
        };
        let mut body = body.and_then(|b| b.as_object().cloned());
        let mut src = Sources {
            headers: &headers,
            query,
            path: "/v1/create",
            body: body.as_mut(),
            peer: None,
            signed_ok: false,
        };
        let found = extract(&mut src).map_err(|e| e.status().as_u16())?;
        authenticate(&config, found, &src)
            .map(|(a, _)| a.name.clone())
            .map_err(|e| e.status().as_u16())
    }

    #[test]
    fn every_source_and_scheme() {
        let ok = Ok("demo".to_owned());
        assert_eq!(
            auth(
                HeaderMap::new(),
                &[],
                Some(serde_json::json!({"secret": "s3cret"}))
            ),
            ok
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("  SECRET   s3cret "),
        );
        assert_eq!(auth(h, &[], None), ok);
        assert_eq!(
            auth(
                HeaderMap::new(),
                &[("secret".into(), "s3cret".into())],
                None
            ),
            ok
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("api-key pub"),
        );
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://a.example.org/page"),
        );
        assert_eq!(auth(h, &[], None), ok);
    }

    #[test]
    fn refusals() {
        assert_eq!(auth(HeaderMap::new(), &[], None), Err(401));
        assert_eq!(
            auth(
                HeaderMap::new(),
                &[],
                Some(serde_json::json!({"secret": "nope"}))
            ),
            Err(401)
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://evil.com/"),
        );
        assert_eq!(
            auth(h, &[], Some(serde_json::json!({"api_key": "pub"}))),
            Err(401)
        );
        assert_eq!(
            auth(
                HeaderMap::new(),
                &[],
                Some(serde_json::json!({"api_key": "pub"}))
            ),
            Err(401)
        );
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(auth(h, &[], None), Err(401));
    }

    #[test]
    fn signed_queries() {
        let mut account = account();
        account.api_keys = vec!["pub-key".into()];
        let config = Config {
            accounts: vec![account],
            ..Config::default()
        };
        let headers = HeaderMap::new();
        // Sign `pairs` with `sign_with`, then (maybe) change the URL's
        // `url` parameter, and authenticate.
        let check = |pairs: &[(&str, &str)], sign_with: &str, url_after: Option<&str>| {
            let mut query: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let path = "/v1/create_file/a.png";
            let signature = url_signature(sign_with, &signing_string(path, &query));
            if let Some(url) = url_after {
                query[1].1 = url.to_owned();
            }
            query.push(("signature".into(), signature));
            let mut src = Sources {
                headers: &headers,
                query: &query,
                path,
                body: None,
                peer: None,
                signed_ok: true,
            };
            let found = extract(&mut src)?;
            authenticate(&config, found, &src).map(|(a, _)| a.name.clone())
        };
        let later = "4102444800"; // 2100-01-01
        let base = [
            ("task_name", "image.info"),
            ("url", "http://x/a.png"),
            ("api_key", "pub-key"),
        ];
        let with = |expires: &'static str| {
            let mut v = base.to_vec();
            v.push(("expires", expires));
            v
        };
        assert_eq!(
            check(&with(later), "s3cret", None).ok(),
            Some("demo".to_owned())
        );
        // Expired, wrong secret, a parameter changed after signing, an
        // unknown key.
        assert!(check(&with("1000"), "s3cret", None).is_err());
        assert!(check(&with(later), "guess", None).is_err());
        assert!(check(&with(later), "s3cret", Some("http://x/b.png")).is_err());
        let mut other = with(later);
        other[2] = ("api_key", "nope");
        assert!(check(&other, "s3cret", None).is_err());
    }

    /// A secret over plain HTTP from another machine is refused unless a
    /// trusted proxy says the client's leg was https; anyone else's
    /// `X-Forwarded-Proto` is ignored.
    #[test]
    #[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
    fn forwarded_proto_counts_from_trusted_proxies_only() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let src = |peer: &str| Sources {
            headers: &headers,
            query: &[],
            path: "/v1/create",
            body: None,
            peer: Some(peer.parse().unwrap()),
            signed_ok: false,
        };
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(is_secure(&src("127.0.0.1:5000"), &[]));
        assert!(is_secure(&src("10.1.2.3:5000"), &proxies));
        assert!(!is_secure(&src("203.0.113.9:5000"), &proxies));
        assert!(!is_secure(&src("10.1.2.3:5000"), &[]));
    }

    #[test]
    fn referrer_patterns() {
        assert!(host_matches("example.com", "EXAMPLE.com"));
        assert!(!host_matches("example.com", "a.example.com"));
        assert!(host_matches("*.example.org", "a.b.example.org"));
        assert!(!host_matches("*.example.org", "example.org"));
        assert!(!host_matches("*.example.org", "badexample.org"));
    }
}
