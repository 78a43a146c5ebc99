//! The gate every API request passes before it is read: counting, latency, the subscription key,
//! the rate limit, and the bearer token or OAuth 1.0a signature, which grant its scopes.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::oauth1::{self, Received};
use super::options::SandboxOptions;
use super::ratelimit::{self, Decision};
use super::responses::{json_response, status_info};
use super::state::AppState;
use super::stats::Counters;
use super::tokens::{Rejection, ScopeSet, same};
use oneroster::KnownScope;

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
    let origin = state.origin(headers).to_ascii_lowercase();
    let default_port = if state.options.tls.is_some() {
        ":443"
    } else {
        ":80"
    };
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
pub(crate) fn granted(options: &SandboxOptions, asked: ScopeSet) -> ScopeSet {
    KnownScope::ALL
        .into_iter()
        .filter(|s| asked.contains(*s) && !options.withheld_scopes.contains(s))
        .fold(ScopeSet::default(), ScopeSet::with)
}
