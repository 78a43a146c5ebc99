//! The resource-owner password grant with OpenID Connect discovery (docs/oneroster-notes.md §2.1b): a service
//! user's name and password buy an access token at the token endpoint that
//! `{authority}/.well-known/openid-configuration` names. When the host also returns a refresh
//! token, later tokens are bought with it, falling back to the password if it is refused.

use std::sync::Mutex;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::token_endpoint::{TokenEndpoint, oauth_error};
use super::{AccessToken, AuthError, ClientAuth};
use crate::http::{Target, Transport};
use crate::urls::{checked_url, safe_url};

/// Where the token endpoint is.
#[derive(Debug, Clone)]
pub enum TokenUrl {
    Direct(Url),
    /// An OIDC authority; its discovery document names the token endpoint.
    Discover(Url),
}

/// The password grant. `Debug` never shows the password or a token.
pub struct PasswordGrant {
    pub token_url: TokenUrl,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_auth: ClientAuth,
    pub username: String,
    pub password: SecretString,
    /// Space-separated scopes (left out when empty).
    pub scope: String,
    endpoint: OnceCell<TokenEndpoint>,
    refresh_token: Mutex<Option<SecretString>>,
}

impl std::fmt::Debug for PasswordGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordGrant")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Discovery {
    token_endpoint: String,
}

impl PasswordGrant {
    pub fn new(
        token_url: TokenUrl,
        client_id: String,
        client_secret: Option<SecretString>,
        client_auth: ClientAuth,
        username: String,
        password: SecretString,
        scope: String,
    ) -> PasswordGrant {
        PasswordGrant {
            token_url,
            client_id,
            client_secret,
            client_auth,
            username,
            password,
            scope,
            endpoint: OnceCell::new(),
            refresh_token: Mutex::new(None),
        }
    }

    pub(super) async fn fetch(&self, transport: &Transport) -> Result<AccessToken, AuthError> {
        let fetched = self.fetch_from_endpoint(transport).await;
        match self.token_url {
            TokenUrl::Discover(_) => fetched.map_err(AuthError::discovered),
            TokenUrl::Direct(_) => fetched,
        }
    }

    async fn fetch_from_endpoint(&self, transport: &Transport) -> Result<AccessToken, AuthError> {
        let endpoint = self
            .endpoint
            .get_or_try_init(|| async {
                let url = match &self.token_url {
                    TokenUrl::Direct(url) => url.clone(),
                    TokenUrl::Discover(authority) => discover(transport, authority).await?,
                };
                Ok::<_, AuthError>(TokenEndpoint {
                    url,
                    client_id: self.client_id.clone(),
                    client_secret: self.client_secret.clone(),
                    client_auth: self.client_auth,
                })
            })
            .await?;
        let refresh = self.refresh_token.lock().expect("lock").clone();
        if let Some(refresh) = refresh {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose_secret()),
            ];
            match endpoint.request(transport, &form).await {
                Ok(issued) => {
                    if let Some(new) = issued.refresh_token {
                        *self.refresh_token.lock().expect("lock") = Some(new);
                    }
                    return Ok(issued.access);
                }
                Err(err) if oauth_error(&err).is_some() => {
                    tracing::info!("the refresh token was refused ({err}); signing in again");
                    *self.refresh_token.lock().expect("lock") = None;
                }
                Err(err) => return Err(err),
            }
        }
        let mut form = vec![
            ("grant_type", "password"),
            ("username", self.username.as_str()),
            ("password", self.password.expose_secret()),
        ];
        if !self.scope.is_empty() {
            form.push(("scope", &self.scope));
        }
        let issued = endpoint.request(transport, &form).await?;
        *self.refresh_token.lock().expect("lock") = issued.refresh_token;
        Ok(issued.access)
    }
}

/// Reads `{authority}/.well-known/openid-configuration` and returns its `token_endpoint`.
async fn discover(transport: &Transport, authority: &Url) -> Result<Url, AuthError> {
    let mut url = authority.clone();
    let path = format!(
        "{}/.well-known/openid-configuration",
        authority.path().trim_end_matches('/')
    );
    url.set_path(&path);
    let target = Target::discovery(&url);
    let reply = transport
        .fetch_ok(&target, || {
            transport
                .client()
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
        })
        .await
        .map_err(|e| match e.status() {
            Some(status @ (StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)) => {
                AuthError::WrongUrl {
                    what: "OIDC discovery document",
                    url: safe_url(&url),
                    status,
                    fix: "check --oidc-authority (or give --token-url instead)".into(),
                }
            }
            _ => AuthError::Unreachable(Box::new(e)),
        })?;
    let bad = |reason: String| AuthError::BadReply {
        url: safe_url(&url),
        reason,
    };
    let doc: Discovery = serde_json::from_slice(&reply.body).map_err(|e| {
        bad(format!(
            "expected an OpenID configuration with token_endpoint ({e})"
        ))
    })?;
    let token_url =
        checked_url("token_endpoint", &doc.token_endpoint).map_err(|e| bad(e.to_string()))?;
    tracing::debug!(token_url = %safe_url(&token_url), "found the token endpoint by OIDC discovery");
    Ok(token_url)
}
