//! OAuth 2.0 client credentials: `grant_type=client_credentials&scope=…` with the client's id and
//! secret (docs/oneroster-notes.md §2.1).

use super::token_endpoint::TokenEndpoint;
use super::{AccessToken, AuthError};
use crate::http::Transport;

/// The client-credentials grant.
#[derive(Debug)]
pub struct ClientCredentials {
    pub endpoint: TokenEndpoint,
    /// The space-separated scopes, sent as one `scope` parameter (left out when empty).
    pub scope: String,
}

impl ClientCredentials {
    pub(super) async fn fetch(&self, transport: &Transport) -> Result<AccessToken, AuthError> {
        let mut form = vec![("grant_type", "client_credentials")];
        if !self.scope.is_empty() {
            form.push(("scope", &self.scope));
        }
        Ok(self.endpoint.request(transport, &form).await?.access)
    }
}
