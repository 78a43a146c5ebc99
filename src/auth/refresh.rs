//! The refresh-token grant (docs/oneroster-notes.md §2.1b): a person authorized the app once, and from then
//! on the stored refresh token buys access tokens. Hosts such as Blackbaud SKY hand out a new
//! refresh token with each use and retire the old one, so a new one is saved to the token store
//! before its access token is used; a crash then never loses the only valid refresh token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};

use super::store::{StoredToken, TokenStore};
use super::token_endpoint::{TokenEndpoint, oauth_error};
use super::{AccessToken, AuthError};
use crate::http::Transport;
use crate::urls::safe_url;

/// The refresh-token grant and its store. `Debug` never shows a token.
#[derive(Debug)]
pub struct RefreshTokenGrant {
    pub endpoint: TokenEndpoint,
    pub store: TokenStore,
    /// Creates the store when it does not exist yet (the token the authorization produced).
    pub seed: Option<SecretString>,
    /// Send `preserve_refresh_token=true`: the host keeps the old refresh token valid.
    pub preserve: bool,
    /// Warn when the stored token is older than this.
    pub warn_after: Duration,
    /// The age warning is given once per run.
    warned: AtomicBool,
}

/// What `auth rotate` reports.
#[derive(Debug)]
pub struct Rotation {
    pub previous_issued_at: Timestamp,
    pub rotated: bool,
}

impl RefreshTokenGrant {
    /// Warn about a stored refresh token older than this many days (Blackbaud's last 365).
    pub const DEFAULT_WARN_DAYS: u32 = 330;

    pub fn new(
        endpoint: TokenEndpoint,
        store: TokenStore,
        seed: Option<SecretString>,
        preserve: bool,
        warn_after: Duration,
    ) -> RefreshTokenGrant {
        RefreshTokenGrant {
            endpoint,
            store,
            seed,
            preserve,
            warn_after,
            warned: AtomicBool::new(false),
        }
    }

    pub(super) async fn fetch(&self, transport: &Transport) -> Result<AccessToken, AuthError> {
        self.exchange(transport, self.preserve)
            .await
            .map(|(access, _)| access)
    }

    /// Trades the stored refresh token for a new one now (no `preserve_refresh_token`) and saves it.
    pub async fn rotate(&self, transport: &Transport) -> Result<Rotation, AuthError> {
        self.exchange(transport, false)
            .await
            .map(|(_, rotation)| rotation)
    }

    async fn exchange(
        &self,
        transport: &Transport,
        preserve: bool,
    ) -> Result<(AccessToken, Rotation), AuthError> {
        // Held until the new token is saved: another run must not spend the same token.
        let _lock = self.store.lock().await?;
        self.store.sweep_leftovers();
        let current = self.current()?;
        self.warn_if_old(&current);
        self.store.check_writable()?;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", current.refresh_token.expose_secret()),
        ];
        if preserve {
            form.push(("preserve_refresh_token", "true"));
        }
        let issued = match self.endpoint.request(transport, &form).await {
            Ok(issued) => issued,
            Err(err) if oauth_error(&err) == Some("invalid_grant") => {
                return Err(AuthError::RefreshRefused {
                    store: self.store.path().display().to_string(),
                    issued_at: current.issued_at,
                    source: Box::new(err),
                });
            }
            Err(err) => return Err(err),
        };
        let rotated = issued
            .refresh_token
            .as_ref()
            .is_some_and(|new| new.expose_secret() != current.refresh_token.expose_secret());
        if let Some(new) = issued.refresh_token.filter(|_| rotated) {
            let saved = StoredToken {
                refresh_token: new,
                issued_at: Timestamp::now(),
                token_url: current.token_url.clone(),
                client_id: current.client_id.clone(),
            };
            self.store.save(&saved).map_err(|e| {
                tracing::error!(
                    "the host issued a new refresh token that could not be saved; the old one may \
                     no longer work, so authorize again if the next run is refused"
                );
                AuthError::Store(e)
            })?;
            tracing::info!(store = %self.store.path().display(), "saved the new refresh token");
        }
        Ok((
            issued.access,
            Rotation {
                previous_issued_at: current.issued_at,
                rotated,
            },
        ))
    }

    /// The stored token, creating the store from the seed the first time.
    fn current(&self) -> Result<StoredToken, AuthError> {
        let url = safe_url(&self.endpoint.url);
        if let Some(stored) = self.store.load()? {
            if stored.token_url != url || stored.client_id != self.endpoint.client_id {
                return Err(AuthError::StoreMismatch {
                    store: self.store.path().display().to_string(),
                    stored: format!("client {} at {}", stored.client_id, stored.token_url),
                    wanted: format!("client {} at {url}", self.endpoint.client_id),
                });
            }
            return Ok(stored);
        }
        let Some(seed) = &self.seed else {
            return Err(AuthError::NoRefreshToken {
                store: self.store.path().display().to_string(),
            });
        };
        let stored = StoredToken {
            refresh_token: seed.clone(),
            issued_at: Timestamp::now(),
            token_url: url,
            client_id: self.endpoint.client_id.clone(),
        };
        self.store.save(&stored)?;
        tracing::info!(store = %self.store.path().display(), "created the token store");
        Ok(stored)
    }

    fn warn_if_old(&self, stored: &StoredToken) {
        let age = age_secs(stored.issued_at, Timestamp::now());
        let days = age / 86_400;
        if age > self.warn_after.as_secs() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                store = %self.store.path().display(),
                days,
                "the stored refresh token is {days} days old (hosts such as Blackbaud retire them \
                 after 365); run `roster-export auth rotate` to get a new one"
            );
        }
    }
}

/// Seconds from `issued_at` to `now`; zero when the clock says the token is from the future
/// (a clock set back), rather than a negative age that wraps into a huge one.
fn age_secs(issued_at: Timestamp, now: Timestamp) -> u64 {
    u64::try_from(now.duration_since(issued_at).as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_the_future_is_not_old() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let earlier = Timestamp::from_second(1_800_000_000 - 340 * 86_400).unwrap();
        let later = Timestamp::from_second(1_800_000_000 + 3_600).unwrap();
        assert_eq!(age_secs(earlier, now) / 86_400, 340);
        assert_eq!(age_secs(later, now), 0);
    }
}
