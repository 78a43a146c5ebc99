//! One OAuth 2.0 token request, whatever the grant: the client authenticated by HTTP Basic
//! (`base64(id:secret)`, not URL-encoded, as OneRoster hosts expect) or by form fields, retried like
//! any request, and the reply read into an access token and any new refresh token.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{AccessToken, AuthError, ClientAuth};
use crate::http::{HttpError, Target, Transport};
use crate::urls::safe_url;

/// Where tokens come from and how the client proves who it is. `Debug` never shows the secret.
pub struct TokenEndpoint {
    pub url: Url,
    pub client_id: String,
    /// `None` for a public client (a password grant with only a client id).
    pub client_secret: Option<SecretString>,
    pub client_auth: ClientAuth,
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &safe_url(&self.url))
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

/// A successful token reply.
pub(crate) struct Issued {
    pub access: AccessToken,
    /// A refresh token, when the host hands one out (possibly a new one replacing the old).
    pub refresh_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct Reply {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

impl TokenEndpoint {
    /// POSTs `form` (the grant's fields; client fields are added here) and reads the reply.
    pub(crate) async fn request(
        &self,
        transport: &Transport,
        form: &[(&str, &str)],
    ) -> Result<Issued, AuthError> {
        let target = Target::token(&self.url);
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let secret = self.client_secret.as_ref().map(|s| s.expose_secret());
        let basic = self.client_auth == ClientAuth::Basic && secret.is_some();
        if !basic {
            fields.push(("client_id", &self.client_id));
            if let Some(secret) = secret {
                fields.push(("client_secret", secret));
            }
        }
        let reply = transport
            .fetch_ok(&target, || {
                let builder = transport
                    .client()
                    .post(self.url.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&fields);
                if basic {
                    builder.basic_auth(&self.client_id, secret)
                } else {
                    builder
                }
            })
            .await
            .map_err(|err| match err.status() {
                Some(status @ (StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)) => {
                    AuthError::WrongUrl {
                        what: "token URL",
                        url: safe_url(&self.url),
                        status,
                        fix: wrong_token_url_fix(&self.url),
                    }
                }
                Some(status) if status.is_client_error() => AuthError::Refused {
                    hint: hint(status, &err),
                    source: Box::new(err),
                },
                _ => AuthError::Unreachable(Box::new(err)),
            })?;
        let bad = |reason: String| AuthError::BadReply {
            url: safe_url(&self.url),
            reason,
        };
        let parsed: Reply = serde_json::from_slice(&reply.body)
            .map_err(|e| bad(format!("expected JSON with an access_token ({e})")))?;
        if parsed.access_token.is_empty() {
            return Err(bad("access_token is empty".into()));
        }
        if let Some(kind) = parsed
            .token_type
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            tracing::warn!(
                token_type = kind,
                "the token endpoint issued a non-bearer token; using it as a bearer token"
            );
        }
        let expires_in = match parsed.expires_in {
            None | Some(serde_json::Value::Null) => 3600,
            Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(3600.0).max(0.0) as u64,
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| bad(format!("expires_in `{s}` is not a number of seconds")))?,
            Some(other) => {
                return Err(bad(format!(
                    "expires_in is {other}, not a number of seconds"
                )));
            }
        };
        Ok(Issued {
            access: AccessToken {
                value: SecretString::from(parsed.access_token),
                expires_in: Duration::from_secs(expires_in),
                // RFC 6749 §5.1: a space-separated string; some hosts send an array.
                scope: match parsed.scope {
                    Some(serde_json::Value::String(s)) => Some(s),
                    Some(serde_json::Value::Array(a)) => Some(
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    _ => None,
                },
            },
            refresh_token: parsed
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
        })
    }
}

/// What to do about a token URL that is not there (docs/oneroster-notes.md §11).
fn wrong_token_url_fix(url: &Url) -> String {
    let mut fix = "check --token-url".to_string();
    if url.path().contains("/ims/oneroster") {
        fix.push_str(
            ": that is an API path; the token URL is a separate, vendor-specific address, usually \
             beside the API (…/oauth/token, …/token)",
        );
    } else {
        fix.push_str(
            " (it is vendor specific, e.g. …/oauth/token, …/token or …/oauth/access_token; \
             the README's \"Finding your host's URLs\" lists known hosts)",
        );
    }
    fix
}

/// The OAuth error code of a refused token request (`invalid_grant`, `invalid_client`, …).
pub(crate) fn oauth_error(err: &AuthError) -> Option<&str> {
    match err {
        AuthError::Refused { source, .. } => match &**source {
            HttpError::Status {
                info: Some(info), ..
            } => info.code_minor.as_deref(),
            _ => None,
        },
        _ => None,
    }
}

fn hint(status: StatusCode, err: &HttpError) -> &'static str {
    let code = match err {
        HttpError::Status {
            info: Some(info), ..
        } => info.code_minor.as_deref(),
        _ => None,
    };
    match (status, code) {
        (_, Some("invalid_grant")) => {
            " — the grant (refresh token, or user name and password) was refused"
        }
        (_, Some("invalid_scope")) => {
            " — check the scopes (some hosts know only short names: try --scope-as-written)"
        }
        (_, Some("unsupported_grant_type")) => " — the host does not offer this --auth kind",
        (StatusCode::UNAUTHORIZED, _) => {
            " — check the client id and secret (and --client-auth basic|body)"
        }
        (StatusCode::BAD_REQUEST, _) => " — check the scopes and the token URL",
        (StatusCode::FORBIDDEN, _) => " — the client may not be allowed these scopes",
        _ => "",
    }
}
