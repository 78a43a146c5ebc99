//! Credentials for API requests: the grant that obtains them, a cached token that is replaced
//! shortly before it expires, one refresh at a time however many requests wait, and a re-fetch
//! when the server rejects a token it should have accepted.
//!
//! Callers only ever call [`Authorizer::authorize`] on a built request and
//! [`Authorizer::reject`] on a 401, whatever the kind: a bearer token from a [`Grant`] (OAuth 2.0
//! client credentials, a stored refresh token, a password with OIDC discovery, a ready token), or
//! OAuth 1.0a signing of each request, which has no token at all.

mod client_credentials;
pub mod oauth1;
mod password;
mod refresh;
pub mod store;
mod token_endpoint;
mod tokens;

use std::sync::Arc;

use secrecy::SecretString;

pub use client_credentials::ClientCredentials;
pub use oauth1::{OAuth1Signer, SignatureMethod};
pub use password::{PasswordGrant, TokenUrl};
pub use refresh::{RefreshTokenGrant, Rotation};
pub use store::{StoreError, TokenStore};
pub use token_endpoint::TokenEndpoint;
pub use tokens::{AccessToken, Credential, Refusal, TokenFetch, TokenInfo, TokenSource};

use crate::http::{AttemptError, HttpError, Reply, Transport};
use crate::named::named_enum;

named_enum! {
    /// How the tool authenticates to the host (docs/oneroster-notes.md §2.1, §2.1b).
    pub enum AuthKind {
        ClientCredentials = "client-credentials",
        RefreshToken = "refresh-token",
        Password = "password",
        OAuth1 = "oauth1",
        Bearer = "bearer",
    }
}

named_enum! {
    /// How the client id and secret travel on token requests.
    #[derive(Default)]
    pub enum ClientAuth {
        /// HTTP Basic `base64(id:secret)`, not URL-encoded (what OneRoster hosts expect).
        #[default]
        Basic = "basic",
        /// `client_id` and `client_secret` as form fields in the body.
        Body = "body",
    }
}

/// How the run obtains credentials, as configured.
#[derive(Debug)]
pub enum Credentials {
    /// A bearer token that a grant obtains.
    Token(Grant),
    /// OAuth 1.0a: each request signed; no token (docs/oneroster-notes.md §2.1).
    Signed(OAuth1Signer),
}

/// A way to obtain bearer tokens.
#[derive(Debug)]
pub enum Grant {
    /// OAuth 2.0 client credentials (docs/oneroster-notes.md §2.1).
    ClientCredentials(ClientCredentials),
    /// A refresh token kept in a token store (docs/oneroster-notes.md §2.1b).
    RefreshToken(Box<RefreshTokenGrant>),
    /// A user name and password, the token URL found by OIDC discovery (§2.1b).
    Password(Box<PasswordGrant>),
    /// An access token obtained out of band; it cannot be renewed.
    Bearer(SecretString),
}

impl Credentials {
    /// The `--auth` kind, for messages.
    pub fn kind(&self) -> AuthKind {
        match self {
            Credentials::Signed(_) => AuthKind::OAuth1,
            Credentials::Token(Grant::ClientCredentials(_)) => AuthKind::ClientCredentials,
            Credentials::Token(Grant::RefreshToken(_)) => AuthKind::RefreshToken,
            Credentials::Token(Grant::Password(_)) => AuthKind::Password,
            Credentials::Token(Grant::Bearer(_)) => AuthKind::Bearer,
        }
    }
}

impl Credentials {
    /// Where tokens come from, for `check`: the token URL (or the OIDC authority that names it),
    /// without query or user info; `None` when no token is fetched.
    pub fn token_source(&self) -> Option<String> {
        use crate::urls::safe_url;
        match self {
            Credentials::Token(Grant::ClientCredentials(g)) => Some(safe_url(&g.endpoint.url)),
            Credentials::Token(Grant::RefreshToken(g)) => Some(safe_url(&g.endpoint.url)),
            Credentials::Token(Grant::Password(g)) => Some(match &g.token_url {
                TokenUrl::Direct(url) => safe_url(url),
                TokenUrl::Discover(authority) => {
                    format!("found by OIDC discovery from {}", safe_url(authority))
                }
            }),
            Credentials::Token(Grant::Bearer(_)) | Credentials::Signed(_) => None,
        }
    }
}

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token endpoint refused the request: {source}{hint}")]
    Refused {
        source: Box<HttpError>,
        hint: &'static str,
    },
    /// No answer, or only failures worth retrying, until the tries ran out.
    #[error("{0}")]
    Unreachable(Box<HttpError>),
    /// The token URL (or OIDC discovery document) is not there: a configuration mistake.
    #[error("the {what} {url} answered {status}: {fix}")]
    WrongUrl {
        what: &'static str,
        url: String,
        status: reqwest::StatusCode,
        fix: String,
    },
    #[error("the token endpoint {url} sent a reply that is not a token: {reason}")]
    BadReply { url: String, reason: String },
    #[error(
        "the refresh token in {store} (received {issued_at}) was refused: {source}; it may have \
         expired, been revoked, or been replaced by a run that stopped before saving the new one. \
         Authorize the app again and put the new refresh token in ROSTER_EXPORT_REFRESH_TOKEN after \
         moving {store} aside"
    )]
    RefreshRefused {
        store: String,
        issued_at: jiff::Timestamp,
        source: Box<AuthError>,
    },
    #[error(
        "no refresh token: the token store {store} does not exist yet; set ROSTER_EXPORT_REFRESH_TOKEN \
         or --refresh-token-file to the token the authorization gave you"
    )]
    NoRefreshToken { store: String },
    #[error("the token store {store} holds the refresh token of {stored}, not of {wanted}")]
    StoreMismatch {
        store: String,
        stored: String,
        wanted: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// Whether the credentials themselves were refused (or the reply was not a token), as opposed
    /// to a token endpoint that could not be reached or found, or a token store problem.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            AuthError::Refused { .. }
                | AuthError::BadReply { .. }
                | AuthError::RefreshRefused { .. }
        )
    }

    /// The same error for a token URL that OIDC discovery found: the authority is what to check.
    fn discovered(self) -> AuthError {
        match self {
            AuthError::WrongUrl {
                what: "token URL",
                url,
                status,
                ..
            } => AuthError::WrongUrl {
                what: "token URL",
                url,
                status,
                fix: "check --oidc-authority: its discovery document names this token URL".into(),
            },
            other => other,
        }
    }
}

/// The run's source of credentials, shared by every request.
#[derive(Debug)]
pub enum Authorizer {
    Tokens(TokenSource),
    Signer(OAuth1Signer),
}

impl Authorizer {
    /// Puts `credentials` to work; token requests go through `transport`.
    pub fn new(credentials: Credentials, transport: Arc<Transport>) -> Authorizer {
        match credentials {
            Credentials::Token(grant) => {
                Authorizer::Tokens(TokenSource::new(Box::new(GrantFetch { grant, transport })))
            }
            Credentials::Signed(signer) => Authorizer::Signer(signer),
        }
    }

    /// Puts credentials on `request`, fetching a token first when none is fresh (or signing it,
    /// under OAuth 1.0a, over exactly the URL it will be sent to).
    pub async fn authorize(&self, request: &mut reqwest::Request) -> Result<Credential, AuthError> {
        match self {
            Authorizer::Tokens(tokens) => tokens.authorize(request).await,
            Authorizer::Signer(signer) => {
                signer.sign(request);
                Ok(Credential::SIGNED)
            }
        }
    }

    /// Sends `request` through `transport` with credentials on it: renewed just before it goes
    /// out if it waited its turn, and noted as accepted when the reply is anything but 401.
    /// Returns the attempt and the credential it carried, for a 401 to [`Authorizer::reject`].
    pub async fn send(
        &self,
        transport: &Transport,
        mut request: reqwest::Request,
    ) -> Result<(Result<Reply, AttemptError>, Credential), AuthError> {
        let mut credential = self.authorize(&mut request).await?;
        let sent = transport
            .send_with(request, |r| credential = self.renew(r, credential))
            .await;
        if sent
            .as_ref()
            .is_ok_and(|r| r.status != reqwest::StatusCode::UNAUTHORIZED)
        {
            self.accepted(credential);
        }
        Ok((sent, credential))
    }

    /// Just before `request` goes out: the newest cached token in place of the one it was given
    /// (a signature was made for this request and stays).
    fn renew(&self, request: &mut reqwest::Request, credential: Credential) -> Credential {
        match self {
            Authorizer::Tokens(tokens) => tokens.renew(request, credential),
            Authorizer::Signer(_) => credential,
        }
    }

    /// The server accepted `credential` (any answer but 401).
    fn accepted(&self, credential: Credential) {
        if let Authorizer::Tokens(tokens) = self {
            tokens.accepted(credential);
        }
    }

    /// The server rejected `credential` (401): forget it unless another request already replaced
    /// it. A refused signature is always [`Refusal::Fresh`]: a second one for one request means
    /// the credentials themselves are refused.
    pub async fn reject(&self, credential: Credential) -> Refusal {
        match self {
            Authorizer::Tokens(tokens) => tokens.reject(credential).await,
            Authorizer::Signer(_) => Refusal::Fresh,
        }
    }

    /// Fetches a token now unless a fresh one is cached, so bad credentials fail before any
    /// output is prepared.
    pub async fn ensure_fresh(&self) -> Result<(), AuthError> {
        match self {
            Authorizer::Tokens(tokens) => tokens.ensure_fresh().await,
            Authorizer::Signer(_) => Ok(()),
        }
    }

    /// The access token itself (for `roster-export token`); `None` under OAuth 1.0a.
    pub async fn access_token(&self) -> Result<Option<SecretString>, AuthError> {
        match self {
            Authorizer::Tokens(tokens) => tokens.access_token().await.map(Some),
            Authorizer::Signer(_) => Ok(None),
        }
    }

    /// What the current token's reply said (fetching one when none is fresh): `None` under
    /// OAuth 1.0a, which has no token, and for a ready `--auth bearer` token, whose reply was
    /// never seen.
    pub async fn token_info(&self) -> Result<Option<TokenInfo>, AuthError> {
        match self {
            Authorizer::Tokens(tokens) if tokens.fetcher().renewable() => {
                tokens.info().await.map(Some)
            }
            Authorizer::Tokens(tokens) => tokens.ensure_fresh().await.map(|()| None),
            Authorizer::Signer(_) => Ok(None),
        }
    }

    /// How many tokens this run has fetched.
    pub fn tokens_fetched(&self) -> u64 {
        match self {
            Authorizer::Tokens(tokens) => tokens.tokens_fetched(),
            Authorizer::Signer(_) => 0,
        }
    }

    /// `auth rotate`: a new refresh token now; `None` unless the grant is a refresh token.
    pub async fn rotate(&self) -> Result<Option<Rotation>, AuthError> {
        match self {
            Authorizer::Tokens(tokens) => tokens.fetcher().rotate().await,
            Authorizer::Signer(_) => Ok(None),
        }
    }

    /// What to check when the API still answers 401 after a fresh credential.
    pub fn unauthorized_hint(&self) -> &'static str {
        match self {
            Authorizer::Signer(_) => {
                "the signed request was refused: check the client id (consumer key), the secret \
                 and --signature-method"
            }
            Authorizer::Tokens(tokens) if tokens.fetcher().renewable() => {
                "even a freshly fetched token was refused"
            }
            Authorizer::Tokens(_) => {
                "the access token was refused: it may have expired; supply a new one"
            }
        }
    }
}

/// A grant put to work: it fetches tokens through the run's transport.
struct GrantFetch {
    grant: Grant,
    transport: Arc<Transport>,
}

impl std::fmt::Debug for GrantFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantFetch")
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

impl TokenFetch for GrantFetch {
    fn fetch(&self) -> tokens::FetchFuture<'_> {
        Box::pin(async move {
            let transport = &self.transport;
            match &self.grant {
                Grant::ClientCredentials(grant) => grant.fetch(transport).await,
                Grant::RefreshToken(grant) => grant.fetch(transport).await,
                Grant::Password(grant) => grant.fetch(transport).await,
                Grant::Bearer(token) => Ok(AccessToken {
                    value: token.clone(),
                    // Never renewed: kept until the server refuses it.
                    expires_in: std::time::Duration::from_secs(100 * 365 * 86_400),
                    scope: None,
                }),
            }
        })
    }

    fn renewable(&self) -> bool {
        !matches!(self.grant, Grant::Bearer(_))
    }

    fn rotate(&self) -> tokens::RotateFuture<'_> {
        Box::pin(async move {
            match &self.grant {
                Grant::RefreshToken(grant) => grant.rotate(&self.transport).await.map(Some),
                _ => Ok(None),
            }
        })
    }
}
