//! What every handler starts with, as axum extractors: the query as pairs,
//! a dragon JSON body, and the caller — the account creating tasks
//! ([`Creator`], [`QueryCreator`]) or the one reading them ([`Reader`]).
//!
//! A rejection is an [`ApiError`], so a bad body or missing credentials
//! answer with dragon's envelope before the handler runs.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::AppState;
use super::auth::{self, Sources, Via};
use super::error::{ApiError, Location};
use crate::config::Account;
use crate::store::TaskRow;

/// Parse a body as a JSON object, whatever its content type (api.md §1).
pub fn json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "body",
            Location::Body,
            "the body is empty; expected a JSON object",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid(
            "body",
            Location::Body,
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::invalid(
            "body",
            Location::Body,
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// Query pairs in order (repeated keys kept).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The query string as pairs, in order (repeated keys kept).
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(QueryPairs(query_pairs(parts.uri.query())))
    }
}

/// The client's address (none in-process), for per-client caps.
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Peer(peer(&parts.extensions).map(|p| p.ip())))
    }
}

/// A dragon JSON body: an object, whatever the `Content-Type`.
pub struct DragonBody(pub Map<String, Value>);

/// A body over the size limit keeps axum's answer (413, as text): the
/// envelope names fields, and there is none to name.
impl<S: Send + Sync> FromRequest<S> for DragonBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        json_body(&bytes)
            .map(DragonBody)
            .map_err(IntoResponse::into_response)
    }
}

/// The peer address (the plain-HTTP secret rule).
fn peer(extensions: &Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The credential sources of a request's head.
fn from(parts: &Parts) -> (&HeaderMap, Option<SocketAddr>, &str) {
    (&parts.headers, peer(&parts.extensions), parts.uri.path())
}

/// The caller's account and how it proved it, from the body, headers or
/// query (a signed query too when `signed_ok`: GET `create_file` only).
fn account(
    state: &AppState,
    (headers, peer, path): (&HeaderMap, Option<SocketAddr>, &str),
    query: &[(String, String)],
    body: Option<&mut Map<String, Value>>,
    signed_ok: bool,
) -> Result<(Account, Via), ApiError> {
    let mut src = Sources {
        headers,
        query,
        path,
        body,
        peer,
        signed_ok,
    };
    let found = auth::extract(&mut src)?;
    let (account, via) = auth::authenticate(&state.config, found, &src)?;
    Ok((account.clone(), via))
}

/// A creating request (`POST` with a JSON body): the authenticated
/// account, and the body without its credentials.
pub struct Creator {
    /// Who creates.
    pub account: Account,
    /// How the account was proved.
    pub via: Via,
    /// The body's other fields.
    pub body: Map<String, Value>,
}

impl FromRequest<AppState> for Creator {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let query = query_pairs(request.uri().query());
        let path = request.uri().path().to_owned();
        let headers = request.headers().clone();
        let peer = peer(request.extensions());
        let DragonBody(mut body) = DragonBody::from_request(request, state).await?;
        let (account, via) = account(
            state,
            (&headers, peer, &path),
            &query,
            Some(&mut body),
            false,
        )
        .map_err(IntoResponse::into_response)?;
        Ok(Creator { account, via, body })
    }
}

/// A task created from the query string (`GET /v1/create_file`): the
/// account (a signed URL counts) and the query.
pub struct QueryCreator {
    /// Who creates.
    pub account: Account,
    /// How the account was proved.
    pub via: Via,
    /// The query pairs, credentials included (the definition drops them).
    pub query: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for QueryCreator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let QueryPairs(query) = QueryPairs::from_request_parts(parts, state).await?;
        let (account, via) = account(state, from(parts), &query, None, true)?;
        Ok(QueryCreator {
            account,
            via,
            query,
        })
    }
}

/// An account proved by a header or the query, for a request whose body
/// is not JSON (an upload): no signed URL (it signs a task, not a file).
pub struct Caller {
    /// Who calls.
    pub account: Account,
    /// How the account was proved.
    pub via: Via,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let query = query_pairs(parts.uri.query());
        let (account, via) = account(state, from(parts), &query, None, false)?;
        Ok(Caller { account, via })
    }
}

/// Who reads tasks: nobody in particular (the key is the capability,
/// api.md §2), or, with `require_auth_for_reads`, an authenticated account
/// that must own every task read.
pub struct Reader(Option<Account>);

impl Reader {
    /// Refuse `rows` the reader may not see.
    pub fn check(&self, rows: &[TaskRow]) -> Result<(), ApiError> {
        match &self.0 {
            Some(account) if rows.iter().any(|r| r.account != account.name) => {
                Err(ApiError::unauthorized(
                    "tasks",
                    Location::Querystring,
                    "a task belongs to another account",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !state.config.require_auth_for_reads {
            return Ok(Reader(None));
        }
        let QueryPairs(query) = QueryPairs::from_request_parts(parts, state).await?;
        account(state, from(parts), &query, None, false).map(|(a, _)| Reader(Some(a)))
    }
}

/// The account of a request proved by its secret (`/v1/recent`): an API
/// key is public (it sits in browser pages, its Referer is the client's to
/// forge), so it may create tasks but not list them.
pub struct Owner(pub Account);

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let QueryPairs(query) = QueryPairs::from_request_parts(parts, state).await?;
        match account(state, from(parts), &query, None, false)? {
            (account, Via::Secret) => Ok(Owner(account)),
            (_, Via::ApiKey | Via::Signed) => Err(ApiError::unauthorized(
                "secret",
                Location::Header,
                "this route needs the account's secret; an api_key only creates tasks",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_or_name_the_problem() {
        assert!(json_body(b"{\"tasks\": []}").is_ok());
        for bad in [&b""[..], b"  ", b"nope", b"[1]", b"{\"a\":"] {
            let status = json_body(bad).err().map(|e| e.status().as_u16());
            assert_eq!(status, Some(400));
        }
    }
}
