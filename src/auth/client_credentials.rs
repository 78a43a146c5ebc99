//! OAuth 2.0 client credentials: POST to the token URL with HTTP Basic `key:secret` and the form
//! body `grant_type=client_credentials&scope=…` (ONEROSTER.md §2.1).

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{AccessToken, AuthError};
use crate::http::{HttpError, Step, Target, Transport, classify, safe_url};

/// The client-credentials grant. `Debug` shows the client id, never the secret.
pub struct ClientCredentials {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The space-separated scope URIs, sent as one `scope` parameter.
    pub scope: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &safe_url(&self.token_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl ClientCredentials {
    pub(super) async fn fetch(&self, transport: &Transport) -> Result<AccessToken, AuthError> {
        let target = Target::token(&self.token_url);
        let form: Vec<(&str, &str)> = if self.scope.is_empty() {
            vec![("grant_type", "client_credentials")]
        } else {
            vec![("grant_type", "client_credentials"), ("scope", &self.scope)]
        };
        let reply = transport
            .with_retry(&target, |_| async {
                let request = transport
                    .client()
                    .post(self.token_url.clone())
                    .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&form)
                    .build();
                let request = match request {
                    Ok(r) => r,
                    Err(e) => {
                        return Step::Fatal(HttpError::BadResponse {
                            target: target.clone(),
                            reason: format!("could not build the request: {e}"),
                        });
                    }
                };
                match classify(&target, transport.send(request).await) {
                    Ok(reply) if reply.status.is_success() => Step::Done(reply),
                    Ok(reply) => Step::Fatal(HttpError::Status {
                        target: target.clone(),
                        status: reply.status,
                        info: crate::oneroster::StatusInfo::from_body(&reply.body).map(Box::new),
                    }),
                    Err(step) => step,
                }
            })
            .await
            .map_err(|err| match err.status() {
                Some(status) if status.is_client_error() => AuthError::Refused {
                    hint: hint(status),
                    source: err,
                },
                _ => AuthError::Unreachable(err),
            })?;
        let bad = |reason: String| AuthError::BadReply {
            url: safe_url(&self.token_url),
            reason,
        };
        let parsed: TokenReply = serde_json::from_slice(&reply.body)
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
        Ok(AccessToken {
            value: SecretString::from(parsed.access_token),
            expires_in: Duration::from_secs(expires_in),
        })
    }
}

fn hint(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => " — check the client id and secret",
        StatusCode::BAD_REQUEST => " — check the scopes and the token URL",
        StatusCode::FORBIDDEN => " — the client may not be allowed these scopes",
        _ => "",
    }
}
