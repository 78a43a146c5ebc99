//! The HTTP side: routes, the token endpoint, collection pages with paging headers, status-info
//! errors, and the options that make the sandbox a harder host.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::data::Data;
use super::{Counters, SandboxOptions};
use crate::oneroster::{COLLECTIONS, Collection, KnownScope, Scope};

pub(crate) const BASE_PATH: &str = "/ims/oneroster/v1p1";

/// Tokens kept before expired ones are swept out.
const MAX_TOKENS: usize = 10_000;

struct AppState {
    options: SandboxOptions,
    data: Data,
    counters: Arc<Counters>,
    tokens: Mutex<HashMap<String, Grant>>,
    limiter: Option<DefaultDirectRateLimiter>,
}

struct Grant {
    scopes: HashSet<KnownScope>,
    expires: Instant,
}

type Shared = Arc<AppState>;

pub(crate) fn router(options: SandboxOptions, counters: Arc<Counters>) -> Router {
    let limiter = options
        .rate_limit
        .and_then(NonZeroU32::new)
        .map(|rps| RateLimiter::direct(Quota::per_second(rps).allow_burst(NonZeroU32::MIN)));
    let state = Arc::new(AppState {
        data: Data::new(&options.district),
        options,
        counters,
        tokens: Mutex::new(HashMap::new()),
        limiter,
    });
    Router::new()
        .route("/token", post(token))
        .route(&format!("{BASE_PATH}/{{collection}}"), get(collection))
        .route(&format!("{BASE_PATH}/{{collection}}/{{id}}"), get(single))
        .fallback(not_found)
        .with_state(state)
}

/// A OneRoster status-info error body.
fn status_info(status: StatusCode, code_minor: &str, description: &str) -> Response {
    let body = serde_json::json!({
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]},
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sandbox\""),
        );
    }
    response
}

async fn not_found() -> Response {
    status_info(StatusCode::NOT_FOUND, "unknownobject", "no such endpoint")
}

/// `POST /token`: client credentials, Basic or form-body client authentication.
async fn token(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let refuse = |status, error, description| {
        state
            .counters
            .token_refusals
            .fetch_add(1, Ordering::Relaxed);
        oauth_error(status, error, description)
    };
    let credentials = basic_credentials(&headers).or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    });
    let Some((id, secret)) = credentials else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "no client credentials",
        );
    };
    if id != state.options.client_id || secret != state.options.client_secret {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials",
        );
    }
    let mut scopes = HashSet::new();
    for word in form
        .get("scope")
        .map(String::as_str)
        .unwrap_or("")
        .split_whitespace()
    {
        match Scope::parse(word).ok().and_then(|s| s.known()) {
            Some(known) => {
                scopes.insert(known);
            }
            None => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    &format!("unknown scope {word}"),
                );
            }
        }
    }
    if scopes.is_empty() {
        scopes.extend(KnownScope::ALL);
    }
    let access_token: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let lifetime = state.options.token_lifetime;
    let granted: Vec<String> = scopes.iter().map(|s| s.uri()).collect();
    {
        let mut tokens = state.tokens.lock().expect("token map lock");
        if tokens.len() >= MAX_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, g| g.expires > now);
        }
        tokens.insert(
            access_token.clone(),
            Grant {
                scopes,
                expires: Instant::now() + lifetime,
            },
        );
    }
    state.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs().max(1),
        "scope": granted.join(" "),
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// `Basic base64(id:secret)`, taken literally (not URL-decoded), as OneRoster hosts do.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Checks the bearer token and its scope for `collection`; the error response otherwise.
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    collection: &Collection,
) -> Result<(), Box<Response>> {
    let unauthorized = |description: &str| {
        state.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        let mut response =
            status_info(StatusCode::UNAUTHORIZED, "unauthorisedrequest", description);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        response
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return Err(Box::new(unauthorized("a bearer token is required")));
    };
    let tokens = state.tokens.lock().expect("token map lock");
    let Some(grant) = tokens.get(token) else {
        return Err(Box::new(unauthorized("unknown access token")));
    };
    if grant.expires <= Instant::now() {
        return Err(Box::new(unauthorized("the access token has expired")));
    }
    let allowed = grant.scopes.contains(&collection.scope)
        || (collection.scope == KnownScope::Roster
            && grant.scopes.contains(&KnownScope::RosterCore));
    if !allowed {
        state.counters.forbidden.fetch_add(1, Ordering::Relaxed);
        return Err(Box::new(status_info(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!(
                "the token lacks the scope {} needed for {}",
                collection.scope.uri(),
                collection.name
            ),
        )));
    }
    Ok(())
}

/// The common start of every API request: count it, pace it, wait out the latency.
async fn admit(state: &AppState) -> Result<(), Response> {
    state.counters.api_requests.fetch_add(1, Ordering::Relaxed);
    if let Some(latency) = state.options.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(limiter) = &state.limiter
        && limiter.check().is_err()
    {
        state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response = status_info(
            StatusCode::TOO_MANY_REQUESTS,
            "server_busy",
            "rate limit exceeded; retry later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(response);
    }
    Ok(())
}

fn find_collection(name: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.path == name)
}

/// A whole-number query parameter of at least `min`; the complaint otherwise.
fn parse_u64(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
    min: u64,
) -> Result<u64, String> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!(
                "{name} must be a whole number of at least {min}, not {text:?}"
            )),
        },
    }
}

/// `GET {base}/{collection}?limit=&offset=`.
async fn collection(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(response) = admit(&state).await {
        return response;
    }
    let Some(collection) = find_collection(&name) else {
        return status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("no collection {name}"),
        );
    };
    if let Err(response) = authorize(&state, &headers, collection) {
        return *response;
    }
    let (limit, offset) = match (
        parse_u64(&query, "limit", state.options.default_limit, 1),
        parse_u64(&query, "offset", 0, 0),
    ) {
        (Ok(limit), Ok(offset)) => (limit, offset),
        (Err(complaint), _) | (_, Err(complaint)) => {
            return status_info(StatusCode::BAD_REQUEST, "invalid_data", &complaint);
        }
    };
    let served_limit = state
        .options
        .page_cap
        .map_or(limit, |cap| limit.min(cap.max(1)));
    let total = state.data.len(collection.id);
    let end = offset.saturating_add(served_limit).min(total);
    let start = offset.min(end);

    let mut body = Vec::with_capacity(64 + (end - start) as usize * 400);
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(collection.response_key.as_bytes());
    body.extend_from_slice(b"\":[");
    for index in start..end {
        if index > start {
            body.push(b',');
        }
        state.data.write(collection.id, index, &mut body);
    }
    body.extend_from_slice(b"]}");
    state
        .counters
        .records_served
        .fetch_add(end - start, Ordering::Relaxed);

    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if state.options.total_count {
        h.insert("x-total-count", HeaderValue::from(total));
    }
    if state.options.link_header
        && let Some(link) = link_header(&headers, &uri, &query, served_limit, offset, total)
    {
        h.insert(header::LINK, link);
    }
    response
}

/// RFC 8288 links to the next, last, first and previous pages, keeping the other query parameters.
fn link_header(
    headers: &HeaderMap,
    uri: &Uri,
    query: &HashMap<String, String>,
    limit: u64,
    offset: u64,
    total: u64,
) -> Option<HeaderValue> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let mut others: Vec<(&String, &String)> = query
        .iter()
        .filter(|(k, _)| *k != "limit" && *k != "offset")
        .collect();
    others.sort();
    let page = |at: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &others {
            q.append_pair(k, v);
        }
        q.append_pair("limit", &limit.to_string())
            .append_pair("offset", &at.to_string());
        format!("<http://{host}{}?{}>", uri.path(), q.finish())
    };
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let mut links = Vec::new();
    if offset + limit < total {
        links.push(format!("{}; rel=\"next\"", page(offset + limit)));
    }
    links.push(format!("{}; rel=\"last\"", page(last)));
    links.push(format!("{}; rel=\"first\"", page(0)));
    if offset > 0 {
        links.push(format!(
            "{}; rel=\"prev\"",
            page(offset.saturating_sub(limit))
        ));
    }
    HeaderValue::from_str(&links.join(", ")).ok()
}

/// `GET {base}/{collection}/{sourcedId}`.
async fn single(
    State(state): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = admit(&state).await {
        return response;
    }
    let Some(collection) = find_collection(&name) else {
        return status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("no collection {name}"),
        );
    };
    if let Err(response) = authorize(&state, &headers, collection) {
        return *response;
    }
    let Some(index) = state.data.find(collection.id, &id) else {
        return status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("no {} with sourcedId {id}", collection.name),
        );
    };
    let key = singular_key(collection);
    let mut body = format!("{{\"{key}\":").into_bytes();
    state.data.write(collection.id, index, &mut body);
    body.push(b'}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The single-record response key (ONEROSTER.md §3.2–3.6); demographics keeps its plural.
fn singular_key(collection: &Collection) -> &'static str {
    use crate::oneroster::CollectionId::*;
    match collection.id {
        Orgs => "org",
        AcademicSessions => "academicSession",
        Courses => "course",
        Classes => "class",
        Users => "user",
        Enrollments => "enrollment",
        Demographics => "demographics",
        Categories => "category",
        LineItems => "lineItem",
        Results => "result",
        Resources => "resource",
    }
}
