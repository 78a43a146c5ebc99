//! The HTTP side: routes, the token endpoint and OIDC discovery, status-info errors, and the gate
//! every API request passes (counting, latency, the rate limit, the bearer token or OAuth 1.0a
//! signature). What a read returns is in `reads.rs`; the admin endpoints in `admin.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;

use super::derived::DerivedCache;
use super::faults::Injector;
use super::oauth1::{self, Received, Verifier};
use super::ratelimit::{self, Decision, Limiter};
use super::store::Store;
use super::tokens::{
    RefreshTokens, Rejection, ScopeSet, Tokens, basic_credentials, random_token, same,
};
use super::{BASE_PATH, Counters, GRANT_NAMES, SandboxOptions, admin, reads};
use oneroster::KnownScope;

pub(crate) struct AppState {
    pub options: SandboxOptions,
    pub faults: Option<Arc<Injector>>,
    /// The district: its base records and the overlay of changes.
    pub store: Arc<Store>,
    pub counters: Arc<Counters>,
    tokens: Tokens,
    refresh_tokens: RefreshTokens,
    /// Checks OAuth 1.0a signed requests and remembers their nonces.
    oauth1: Verifier,
    pub limiter: Option<Limiter>,
    /// Filtered and sorted reads, kept for paging through them.
    pub derived: DerivedCache,
    /// The bound address, for `Link` URLs when a request has no usable `Host`.
    pub addr: SocketAddr,
}

pub(crate) type Shared = Arc<AppState>;

pub(crate) fn router(
    options: SandboxOptions,
    store: Arc<Store>,
    counters: Arc<Counters>,
    faults: Option<Arc<Injector>>,
    addr: SocketAddr,
) -> Router {
    let limiter = options.rate_limit.map(Limiter::new);
    let compression = options.compression;
    let refresh_tokens = RefreshTokens::new(&options.refresh_tokens);
    let state = Arc::new(AppState {
        faults,
        store,
        options,
        counters,
        tokens: Tokens::default(),
        refresh_tokens,
        oauth1: Verifier::default(),
        limiter,
        derived: DerivedCache::default(),
        addr,
    });
    let router = Router::new()
        .route("/token", post(token))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route(&format!("{BASE_PATH}/{{*path}}"), get(reads::api))
        .route("/admin/changes", post(admin::changes))
        .route("/admin/churn", post(admin::churn))
        .fallback(fallback)
        .with_state(state);
    if compression {
        router.layer(CompressionLayer::new())
    } else {
        router
    }
}

pub(crate) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A OneRoster status-info object (docs/oneroster-notes.md §5.2, the 1.1 OpenAPI shape).
pub(crate) fn status_info_value(
    code_major: &str,
    severity: &str,
    code_minor: &str,
    description: &str,
) -> serde_json::Value {
    serde_json::json!({
        "imsx_codeMajor": code_major,
        "imsx_severity": severity,
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]},
    })
}

/// A OneRoster status-info error body.
pub(crate) fn status_info(status: StatusCode, code_minor: &str, description: &str) -> Response {
    let body = status_info_value("failure", "error", code_minor, description);
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

/// The start of every API request: count it, wait out the latency, apply the rate limit (its
/// decision goes to `decision`, for the headers that announce it), and check the bearer token
/// or OAuth 1.0a signature. The scopes it grants, or the refusal.
pub(crate) async fn gate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    decision: &mut Option<Decision>,
) -> Result<ScopeSet, Response> {
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
    if let Some(limiter) = &state.limiter {
        let verdict = limiter.check();
        *decision = Some(verdict);
        if !verdict.admitted {
            Counters::bump(&counters.rate_limited);
            let mut response = status_info(
                StatusCode::TOO_MANY_REQUESTS,
                "server_busy",
                "rate limit exceeded; retry after the time Retry-After gives",
            );
            ratelimit::retry_after(&verdict, response.headers_mut());
            return Err(response);
        }
    }
    // Signed requests (OAuth 1.0a) are checked here; any other goes to the bearer check.
    let signed = oauth1_scopes(state, method, uri, headers).transpose()?;
    let bearer = || state.tokens.check(headers);
    signed.map_or_else(bearer, Ok).map_err(|rejection| {
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
    })
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

/// `scheme://host:port` the client used, from `Host` when it looks like one, else the bound address.
pub(crate) fn origin(tls: bool, headers: &HeaderMap, addr: SocketAddr) -> String {
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
