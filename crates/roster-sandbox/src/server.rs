//! The HTTP side: the routes, the token endpoint and OIDC discovery, and the 404 for anything
//! else. What a read returns is in `reads.rs`, the gate it passes first in `gate.rs`; the admin
//! endpoints are in `admin.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;

use super::derived::DerivedCache;
use super::endpoints::BASE_PATH;
use super::faults::Injector;
use super::gate::granted;
use super::oauth1::Verifier;
use super::options::SandboxOptions;
use super::ratelimit::Limiter;
use super::responses::{json_response, status_info};
use super::state::{AppState, Shared};
use super::stats::{Counters, GRANT_NAMES};
use super::store::Store;
use super::tokens::{RefreshTokens, ScopeSet, Tokens, basic_credentials, random_token, same};
use super::{admin, reads};
use oneroster::KnownScope;

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
    let origin = state.origin(&headers);
    let body = serde_json::json!({
        "issuer": origin,
        "token_endpoint": format!("{origin}/token"),
        "grant_types_supported": GRANT_NAMES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": KnownScope::ALL.iter().map(|s| s.uri()).collect::<Vec<_>>(),
    });
    json_response(StatusCode::OK, body.to_string())
}
