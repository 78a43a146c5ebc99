//! Presets for hosts whose facts are in ONEROSTER.md §8: their URLs, how they authenticate and the
//! headers they want. Every value is a default that flags, the environment and profiles override.

use crate::cli::{AuthKind, ProviderName};

/// What a preset fills in.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    pub name: ProviderName,
    pub base_url: Option<&'static str>,
    pub token_url: Option<&'static str>,
    pub auth: AuthKind,
    pub signature_method: Option<&'static str>,
    /// Headers every API request must carry; the run refuses to start without them.
    pub required_headers: &'static [&'static str],
    /// Requests per second the host documents.
    pub rate: Option<f64>,
}

const BLACKBAUD_BASE: &str = "https://api.sky.blackbaud.com/afe-rostr/ims/oneroster/v1p1";
const BLACKBAUD_TOKEN: &str = "https://oauth2.sky.blackbaud.com/token";

impl Provider {
    pub fn get(name: ProviderName) -> Provider {
        match name {
            // ONEROSTER.md §8.1: client credentials; SKY documents 5 calls per second.
            ProviderName::Blackbaud => Provider {
                name,
                base_url: Some(BLACKBAUD_BASE),
                token_url: Some(BLACKBAUD_TOKEN),
                auth: AuthKind::ClientCredentials,
                signature_method: None,
                required_headers: &[],
                rate: Some(5.0),
            },
            // ONEROSTER.md §2.1b, §8.1: user-authorized refresh tokens plus a subscription key.
            ProviderName::BlackbaudSky => Provider {
                name,
                base_url: Some(BLACKBAUD_BASE),
                token_url: Some(BLACKBAUD_TOKEN),
                auth: AuthKind::RefreshToken,
                signature_method: None,
                required_headers: &["Bb-Api-Subscription-Key"],
                rate: Some(5.0),
            },
            // ONEROSTER.md §8.2: direct access is OAuth 1.0a, HMAC-SHA256; the URL is per district.
            ProviderName::Classlink => Provider {
                name,
                base_url: None,
                token_url: None,
                auth: AuthKind::OAuth1,
                signature_method: Some("hmac-sha256"),
                required_headers: &[],
                rate: None,
            },
        }
    }
}
