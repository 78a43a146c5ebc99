//! The HTTP side: routes, the token endpoint, collection pages with paging headers, single
//! records, status-info errors, and the options that make the sandbox a harder host.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tower_http::compression::CompressionLayer;

use super::data::Data;
use super::endpoints::Endpoint;
use super::faults::{Fault, Injector, http_date_in};
use super::json::push_padded;
use super::oauth1::{self, Received, Verifier};
use super::tokens::{
    RefreshTokens, Rejection, ScopeSet, Tokens, basic_credentials, bearer_token, random_token, same,
};
use super::{BASE_PATH, Counters, GRANT_NAMES, SandboxOptions, Vendor};
use oneroster::KnownScope;

/// Pages with more records than this are written on a blocking thread, off the async workers.
const BLOCKING_PAGE: u64 = 2_000;

struct AppState {
    options: SandboxOptions,
    faults: Option<Arc<Injector>>,
    data: Data,
    counters: Arc<Counters>,
    tokens: Tokens,
    refresh_tokens: RefreshTokens,
    /// Checks OAuth 1.0a signed requests and remembers their nonces.
    oauth1: Verifier,
    limiter: Option<DefaultDirectRateLimiter>,
    /// The bound address, for `Link` URLs when a request has no usable `Host`.
    addr: SocketAddr,
}

type Shared = Arc<AppState>;

pub(crate) fn router(
    options: SandboxOptions,
    counters: Arc<Counters>,
    faults: Option<Arc<Injector>>,
    addr: SocketAddr,
) -> Router {
    let limiter = options
        .rate_limit
        .and_then(NonZeroU32::new)
        .map(|rps| RateLimiter::direct(Quota::per_second(rps)));
    let compression = options.compression;
    let refresh_tokens = RefreshTokens::new(&options.refresh_tokens);
    let state = Arc::new(AppState {
        faults,
        data: Data::new(&options.district),
        options,
        counters,
        tokens: Tokens::default(),
        refresh_tokens,
        oauth1: Verifier::default(),
        limiter,
        addr,
    });
    let router = Router::new()
        .route("/token", post(token))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route(&format!("{BASE_PATH}/{{path}}"), get(page))
        .route(&format!("{BASE_PATH}/{{path}}/{{id}}"), get(single))
        .fallback(fallback)
        .with_state(state);
    if compression {
        router.layer(CompressionLayer::new())
    } else {
        router
    }
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A OneRoster status-info error body (docs/oneroster-notes.md §5.2, the 1.1 OpenAPI shape).
fn status_info(status: StatusCode, code_minor: &str, description: &str) -> Response {
    let body = serde_json::json!({
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]},
    });
    json_response(status, body.to_string())
}

/// An OAuth 2.0 error body (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = json_response(status, body.to_string());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sandbox\""),
        );
    }
    response
}

/// Anything no route matched: a status-info 404 (counted as an API request under the base path).
async fn fallback(State(state): State<Shared>, uri: Uri) -> Response {
    if uri.path().starts_with(BASE_PATH) {
        Counters::bump(&state.counters.api_requests);
        Counters::bump(&state.counters.not_found);
    }
    status_info(
        StatusCode::NOT_FOUND,
        "unknownobject",
        &format!("no endpoint {}", uri.path()),
    )
}

/// `POST /token`: OAuth 2.0 client credentials, refresh token (rotating unless
/// `preserve_refresh_token=true`) and password grants; the client authenticated by HTTP Basic or
/// by `client_id`/`client_secret` in the form body (the password grant also takes a public client
/// with only `client_id`).
async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse = |status, error, description: &str| {
        Counters::bump(&state.counters.token_refusals);
        oauth_error(status, error, description)
    };
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_encoded {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded",
        );
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let grant = field("grant_type");
    let (id, secret, how) = match basic_credentials(&headers) {
        Some((id, secret)) => (id, Some(secret), 0),
        None => match (field("client_id"), field("client_secret")) {
            (Some(id), Some(secret)) => (id.to_string(), Some(secret.to_string()), 1),
            (Some(id), None) => (id.to_string(), None, 2),
            (None, _) => {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "no client credentials: send HTTP Basic client_id:client_secret",
                );
            }
        },
    };
    let id_ok = same(&id, &state.options.client_id);
    let secret_ok = match &secret {
        Some(secret) => same(secret, &state.options.client_secret),
        // Public clients (an id, no secret) may sign in with a password and refresh that token.
        None => matches!(grant, Some("password" | "refresh_token")),
    };
    if !(id_ok && secret_ok) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    Counters::bump(&state.counters.client_auth[how]);
    let asked = match ScopeSet::parse_words(
        field("scope").unwrap_or(""),
        state.options.short_scope_names,
    ) {
        Ok(asked) => asked,
        Err(word) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!("unknown scope {word}"),
            );
        }
    };
    let scopes = granted(&state.options, asked);
    let refresh_token = match grant {
        Some("client_credentials") => None,
        Some("refresh_token") => {
            let Some(presented) = field("refresh_token") else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is missing",
                );
            };
            let preserve = field("preserve_refresh_token") == Some("true");
            if !state.refresh_tokens.spend(presented, !preserve) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is unknown, expired or already replaced",
                );
            }
            if preserve {
                Some(presented.to_string())
            } else {
                let fresh = random_token();
                state.refresh_tokens.add(fresh.clone());
                Counters::bump(&state.counters.refresh_rotations);
                if let Some(delay) = state.options.refresh_reply_delay {
                    tokio::time::sleep(delay).await;
                }
                Some(fresh)
            }
        }
        Some("password") => {
            let user_ok = field("username").is_some_and(|u| same(u, &state.options.username));
            let password_ok = field("password").is_some_and(|p| same(p, &state.options.password));
            if !(user_ok && password_ok) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "wrong user name or password",
                );
            }
            let fresh = random_token();
            state.refresh_tokens.add(fresh.clone());
            Some(fresh)
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!(
                    "grant_type {other} is not supported; use client_credentials, refresh_token or password"
                ),
            );
        }
    };
    if let Some(index) = GRANT_NAMES.iter().position(|g| Some(*g) == grant) {
        Counters::bump(&state.counters.grants[index]);
    }
    let lifetime = state.options.token_lifetime;
    let access_token = state
        .tokens
        .issue(scopes, lifetime, state.options.token_max_uses);
    Counters::bump(&state.counters.tokens_issued);
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs_f64().ceil() as u64,
        "scope": scopes.uris(),
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
        // Blackbaud's refresh tokens last a year.
        body["refresh_token_expires_in"] = 31_536_000.into();
    }
    let mut response = json_response(StatusCode::OK, body.to_string());
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /.well-known/openid-configuration`: OIDC discovery, naming the token endpoint.
async fn openid_configuration(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let origin = origin(state.options.tls.is_some(), &headers, state.addr);
    let body = serde_json::json!({
        "issuer": origin,
        "token_endpoint": format!("{origin}/token"),
        "grant_types_supported": GRANT_NAMES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": KnownScope::ALL.iter().map(|s| s.uri()).collect::<Vec<_>>(),
    });
    json_response(StatusCode::OK, body.to_string())
}

/// The common start of every API request: count it, wait out the latency, apply the rate limit,
/// find the endpoint, and check the bearer token (or OAuth 1.0a signature) and its scope.
async fn admit(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    path: &str,
    single: bool,
) -> Result<Endpoint, Response> {
    let counters = &state.counters;
    Counters::bump(&counters.api_requests);
    if let Some(key) = &state.options.subscription_key {
        let sent = headers
            .get("bb-api-subscription-key")
            .and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|sent| same(sent, key)) {
            Counters::bump(&counters.unauthorized);
            let body = serde_json::json!({"statusCode": 401, "message":
                "Access denied due to missing or invalid subscription key."});
            return Err(json_response(StatusCode::UNAUTHORIZED, body.to_string()));
        }
    }
    if let Some(latency) = state.options.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(limiter) = &state.limiter
        && limiter.check().is_err()
    {
        Counters::bump(&counters.rate_limited);
        let mut response = status_info(
            StatusCode::TOO_MANY_REQUESTS,
            "server_busy",
            "rate limit exceeded; retry after 1 second",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(response);
    }
    // Signed requests (OAuth 1.0a) are checked here; any other goes to the bearer check.
    let signed = oauth1_scopes(state, method, uri, headers).transpose()?;
    let bearer = || state.tokens.check(headers);
    let scopes = signed.map_or_else(bearer, Ok).map_err(|rejection| {
        Counters::bump(&counters.unauthorized);
        let mut response = status_info(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            rejection.describe(),
        );
        let challenge = match rejection {
            Rejection::Missing => "Bearer realm=\"sandbox\"",
            Rejection::Unknown | Rejection::Expired => "Bearer error=\"invalid_token\"",
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    })?;
    let Some(endpoint) = Endpoint::find(path) else {
        Counters::bump(&counters.not_found);
        return Err(status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("no endpoint {BASE_PATH}/{path}"),
        ));
    };
    if state.options.missing.contains(&endpoint.collection) {
        Counters::bump(&counters.not_found);
        return Err(status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("this host does not offer {BASE_PATH}/{path}"),
        ));
    }
    let granting = endpoint.granting_scopes();
    if !granting.iter().any(|s| scopes.contains(*s)) {
        Counters::bump(&counters.forbidden);
        let needed: Vec<String> = granting.iter().map(|s| s.uri()).collect();
        return Err(status_info(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!(
                "the access token lacks the scope {} needed for /{}",
                needed.join(" or "),
                endpoint.path
            ),
        ));
    }
    Counters::bump(&counters.per_endpoint[endpoint.index][usize::from(single)]);
    Ok(endpoint)
}

/// For a request signed with OAuth 1.0a (`Authorization: OAuth …`): every read scope the host
/// does not withhold (such a client has no token scopes), or a 401 that says what failed.
/// `None` for any other request, which goes to the bearer check.
fn oauth1_scopes(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Result<ScopeSet, Response>> {
    if !oauth1::is_oauth(headers) {
        return None;
    }
    // The client signed `scheme://{Host}{path}`, lower-cased, the scheme's default port omitted.
    let tls = state.options.tls.is_some();
    let origin = origin(tls, headers, state.addr).to_ascii_lowercase();
    let default_port = if tls { ":443" } else { ":80" };
    let base_uri = format!(
        "{}{}",
        origin.strip_suffix(default_port).unwrap_or(&origin),
        uri.path()
    );
    let received = Received {
        method: method.as_str(),
        base_uri: &base_uri,
        query: uri.query(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    };
    let options = &state.options;
    let verdict = state.oauth1.verify(
        &received,
        &options.client_id,
        &options.client_secret,
        oauth1::unix_now(),
    );
    if let Err(failure) = verdict {
        Counters::bump(&state.counters.unauthorized);
        let mut response = status_info(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &failure.to_string(),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("OAuth realm=\"sandbox\""),
        );
        return Some(Err(response));
    }
    Counters::bump(&state.counters.oauth1_requests);
    Some(Ok(granted(options, ScopeSet::all())))
}

/// The scopes of `asked` this host grants: all but the ones it withholds.
fn granted(options: &SandboxOptions, asked: ScopeSet) -> ScopeSet {
    KnownScope::ALL
        .into_iter()
        .filter(|s| asked.contains(*s) && !options.withheld_scopes.contains(s))
        .fold(ScopeSet::default(), ScopeSet::with)
}

/// `limit` (at least 1) and `offset` from a raw query string; the complaint otherwise.
fn paging(query: &str, default_limit: u64) -> Result<(u64, u64), String> {
    let mut limit = default_limit.max(1);
    let mut offset = 0;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let min = match key.as_ref() {
            "limit" => 1,
            "offset" => 0,
            _ => continue,
        };
        let n = value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= min)
            .ok_or_else(|| {
                format!("{key} must be a whole number of at least {min}, not {value:?}")
            })?;
        if key == "limit" {
            limit = n;
        } else {
            offset = n;
        }
    }
    Ok((limit, offset))
}

/// `GET {base}/{collection}?limit=&offset=`: one page, `{"<key>": [...]}`.
async fn page(
    State(state): State<Shared>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let endpoint = match admit(&state, &method, &uri, &headers, &path, false).await {
        Ok(endpoint) => endpoint,
        Err(response) => return response,
    };
    let query = query.unwrap_or_default();
    let (limit, offset) = match paging(&query, state.options.default_limit) {
        Ok(paging) => paging,
        Err(complaint) => {
            Counters::bump(&state.counters.bad_requests);
            return status_info(StatusCode::BAD_REQUEST, "invalid_data", &complaint);
        }
    };
    let limit = state
        .options
        .page_cap
        .map_or(limit, |cap| limit.min(cap.max(1)));
    let total = state.data.len(&endpoint);
    let token = bearer_token(&headers).unwrap_or("");
    let fault = state.faults.as_ref().and_then(|f| f.draw(token));
    if let Some(response) = fault_response(&state, fault).await {
        return response;
    }
    // Page-shape faults: a duplicate starts one record early; drift shifts the whole window. Drift
    // needs an earlier page to differ from: on a collection's first page, a record missing from a
    // total that agrees is no fault a client could see, only a different district.
    let (first, last, shown_total) = match fault {
        Some(Fault::Duplicate) => (
            offset.saturating_sub(1),
            offset.saturating_add(limit),
            total,
        ),
        Some(Fault::DriftDelete) if offset > 0 => (
            offset + 1,
            offset.saturating_add(limit) + 1,
            total.saturating_sub(1),
        ),
        Some(Fault::DriftInsert) if offset > 0 => {
            (offset - 1, offset.saturating_add(limit) - 1, total + 1)
        }
        Some(Fault::WrongTotal) => (offset, offset.saturating_add(limit), total + 3),
        _ => (offset, offset.saturating_add(limit), total),
    };
    let start = first.min(total);
    let end = last.min(total).max(start);
    let body = if end - start > BLOCKING_PAGE {
        let state = state.clone();
        tokio::task::spawn_blocking(move || page_body(&state, &endpoint, start, end))
            .await
            .expect("page writer does not panic")
    } else {
        page_body(&state, &endpoint, start, end)
    };
    state
        .counters
        .records_served
        .fetch_add(end - start, Ordering::Relaxed);

    if let Some(faults) = &state.faults {
        faults.served(token);
    }
    let mut response = if fault == Some(Fault::Truncated) {
        // The headers promise the whole body; the connection breaks halfway through it.
        let length = body.len();
        let half = Bytes::from(body).slice(..length / 2);
        let chunks: [Result<Bytes, std::io::Error>; 2] =
            [Ok(half), Err(std::io::Error::other("cut off"))];
        let mut response = json_response(
            StatusCode::OK,
            Body::from_stream(futures::stream::iter(chunks)),
        );
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    } else {
        json_response(StatusCode::OK, body)
    };
    let h = response.headers_mut();
    if state.options.total_count {
        h.insert("x-total-count", HeaderValue::from(shown_total));
    }
    if state.options.link_header {
        let origin = match &state.options.link_origin {
            Some(foreign) => foreign.clone(),
            None => origin(state.options.tls.is_some(), &headers, state.addr),
        };
        let link = link_header(&origin, &path, &query, limit, offset, total);
        if let Ok(value) = HeaderValue::from_str(&link) {
            h.insert(header::LINK, value);
        }
    }
    response
}

/// The whole answer for faults that replace the page; `None` for the ones that alter it (and
/// after the delay of a slow one).
async fn fault_response(state: &AppState, fault: Option<Fault>) -> Option<Response> {
    let status = |code: StatusCode, minor: &str| Some(status_info(code, minor, "injected fault"));
    match fault? {
        Fault::RateLimitedSeconds | Fault::RateLimitedDate => {
            let mut response = if state.options.vendor == Vendor::Blackbaud {
                // Blackbaud answers a spent quota with 403 and its own JSON (docs/oneroster-notes.md §8.1).
                let body = r#"{"statusCode":403,"message":"Quota Exceeded. Try again later."}"#;
                json_response(StatusCode::FORBIDDEN, body)
            } else {
                status_info(
                    StatusCode::TOO_MANY_REQUESTS,
                    "server_busy",
                    "injected fault: slow down",
                )
            };
            let after = if fault == Some(Fault::RateLimitedDate) {
                http_date_in(1)
            } else {
                "1".to_string()
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_str(&after).ok()?);
            Some(response)
        }
        Fault::Status500 => status(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error"),
        Fault::Status502 => status(StatusCode::BAD_GATEWAY, "internal_server_error"),
        Fault::Status503 => status(StatusCode::SERVICE_UNAVAILABLE, "server_busy"),
        Fault::Status504 => status(StatusCode::GATEWAY_TIMEOUT, "internal_server_error"),
        Fault::Unauthorized => status(StatusCode::UNAUTHORIZED, "unauthorized"),
        Fault::Disconnect => {
            let chunks: [Result<Bytes, std::io::Error>; 1] =
                [Err(std::io::Error::other("dropped"))];
            Some(json_response(
                StatusCode::OK,
                Body::from_stream(futures::stream::iter(chunks)),
            ))
        }
        Fault::InvalidJson => Some(json_response(
            StatusCode::OK,
            "<html><body>Service Temporarily Unavailable</body></html>",
        )),
        Fault::Slow => {
            tokio::time::sleep(state.faults.as_ref().map_or(Duration::ZERO, |f| f.slow())).await;
            None
        }
        Fault::Truncated
        | Fault::WrongTotal
        | Fault::Duplicate
        | Fault::DriftDelete
        | Fault::DriftInsert => None,
    }
}

fn page_body(state: &AppState, endpoint: &Endpoint, start: u64, end: u64) -> Vec<u8> {
    let key = endpoint.response_key();
    let mut body = Vec::with_capacity(16 + key.len() + (end - start) as usize * 512);
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(b"\":[");
    for index in start..end {
        if index > start {
            body.push(b',');
        }
        state.data.write(endpoint, index, &mut body);
    }
    body.push(b']');
    if state.options.vendor == Vendor::Blackbaud {
        // Blackbaud's snake-case status set with its flat codeMinor (docs/oneroster-notes.md §8.1).
        body.extend_from_slice(
            br#","status_info_set":[{"imsx_codeMajor":"success","imsx_severity":"status","imsx_codeMinor":"fullsuccess"}]"#,
        );
    }
    body.push(b'}');
    body
}

/// `scheme://host:port` the client used, from `Host` when it looks like one, else the bound address.
fn origin(tls: bool, headers: &HeaderMap, addr: SocketAddr) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://{addr}"),
    }
}

/// RFC 8288 links to the next (unless last), last, first and prev (unless first) pages, with the
/// request's other query parameters kept as sent.
fn link_header(
    origin: &str,
    path: &str,
    query: &str,
    limit: u64,
    offset: u64,
    total: u64,
) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && key != "limit" && key != "offset"
        })
        .collect();
    let url = |at: u64, rel: &str| {
        let mut s = format!("<{origin}{BASE_PATH}/{path}?");
        for pair in &kept {
            s.push_str(pair);
            s.push('&');
        }
        let mut numbers = Vec::new();
        numbers.extend_from_slice(b"limit=");
        push_padded(&mut numbers, limit, 1);
        numbers.extend_from_slice(b"&offset=");
        push_padded(&mut numbers, at, 1);
        s.push_str(std::str::from_utf8(&numbers).expect("ASCII"));
        s.push_str(">; rel=\"");
        s.push_str(rel);
        s.push('"');
        s
    };
    let last = total.saturating_sub(1) / limit * limit;
    let mut links = Vec::with_capacity(4);
    if offset.saturating_add(limit) < total {
        links.push(url(offset + limit, "next"));
    }
    links.push(url(last, "last"));
    links.push(url(0, "first"));
    if offset > 0 {
        links.push(url(offset.saturating_sub(limit), "prev"));
    }
    links.join(", ")
}

/// `GET {base}/{collection}/{sourcedId}`: `{"<singular key>": {...}}`.
async fn single(
    State(state): State<Shared>,
    Path((path, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let endpoint = match admit(&state, &method, &uri, &headers, &path, true).await {
        Ok(endpoint) => endpoint,
        Err(response) => return response,
    };
    let key = endpoint.singular_key();
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(b"\":");
    if !state.data.write_one(&endpoint, &id, &mut body) {
        Counters::bump(&state.counters.not_found);
        return status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("no record with sourcedId {id:?} at /{}", endpoint.path),
        );
    }
    body.push(b'}');
    Counters::bump(&state.counters.records_served);
    json_response(StatusCode::OK, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_refusals() {
        assert_eq!(paging("", 100), Ok((100, 0)));
        assert_eq!(paging("offset=20&limit=5&x=1", 100), Ok((5, 20)));
        assert!(paging("limit=0", 100).unwrap_err().contains("limit"));
        assert!(paging("limit=ten", 100).is_err());
        assert!(paging("offset=-1", 100).unwrap_err().contains("offset"));
    }

    #[test]
    fn links_keep_other_parameters_and_omit_what_does_not_exist() {
        let first = link_header("http://h:1", "users", "limit=10&filter=a%3D1", 10, 0, 25);
        assert_eq!(
            first,
            "<http://h:1/ims/oneroster/v1p1/users?filter=a%3D1&limit=10&offset=10>; rel=\"next\", \
             <http://h:1/ims/oneroster/v1p1/users?filter=a%3D1&limit=10&offset=20>; rel=\"last\", \
             <http://h:1/ims/oneroster/v1p1/users?filter=a%3D1&limit=10&offset=0>; rel=\"first\""
        );
        let last = link_header("http://h:1", "users", "", 10, 20, 25);
        assert!(!last.contains("rel=\"next\"") && last.contains("offset=10>; rel=\"prev\""));
        let empty = link_header("http://h:1", "users", "", 10, 0, 0);
        assert!(empty.contains("offset=0>; rel=\"last\"") && !empty.contains("next"));
    }
}
