//! Presets for hosts whose facts are in docs/oneroster-notes.md §8: their URLs, how they
//! authenticate, the headers they want and the rate they document. A preset is the lowest layer
//! of settings: flags, the environment and profiles override every value.

use super::Settings;
use crate::auth::{AuthKind, SignatureMethod};
use crate::http::Limit;
use crate::named::named_enum;

named_enum! {
    /// Hosts whose URLs and habits are known.
    pub enum ProviderName {
        /// Blackbaud's OneRoster API (SKY afe-rostr): client credentials.
        Blackbaud = "blackbaud",
        /// Blackbaud SKY APIs: a user-authorized refresh token and Bb-Api-Subscription-Key.
        BlackbaudSky = "blackbaud-sky",
        /// A ClassLink Roster Server, reached directly: OAuth 1.0a with HMAC-SHA256.
        Classlink = "classlink",
    }
}

/// What a preset fills in.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    pub name: ProviderName,
    pub base_url: Option<&'static str>,
    pub token_url: Option<&'static str>,
    pub auth: AuthKind,
    pub signature_method: Option<SignatureMethod>,
    /// Headers every API request must carry; the run refuses to start without them.
    pub required_headers: &'static [&'static str],
    /// Requests per second the host documents: the pacer's ceiling unless the user says otherwise.
    pub rate: Option<f64>,
}

const BLACKBAUD_BASE: &str = "https://api.sky.blackbaud.com/afe-rostr/ims/oneroster/v1p1";
const BLACKBAUD_TOKEN: &str = "https://oauth2.sky.blackbaud.com/token";

impl Provider {
    pub fn get(name: ProviderName) -> Provider {
        match name {
            // §8.1: client credentials; SKY documents 5 calls per second.
            ProviderName::Blackbaud => Provider {
                name,
                base_url: Some(BLACKBAUD_BASE),
                token_url: Some(BLACKBAUD_TOKEN),
                auth: AuthKind::ClientCredentials,
                signature_method: None,
                required_headers: &[],
                rate: Some(5.0),
            },
            // §2.1b, §8.1: user-authorized refresh tokens plus a subscription key.
            ProviderName::BlackbaudSky => Provider {
                name,
                base_url: Some(BLACKBAUD_BASE),
                token_url: Some(BLACKBAUD_TOKEN),
                auth: AuthKind::RefreshToken,
                signature_method: None,
                required_headers: &["Bb-Api-Subscription-Key"],
                rate: Some(5.0),
            },
            // §8.2: direct access is OAuth 1.0a, HMAC-SHA256; the URL is per district.
            ProviderName::Classlink => Provider {
                name,
                base_url: None,
                token_url: None,
                auth: AuthKind::OAuth1,
                signature_method: Some(SignatureMethod::HmacSha256),
                required_headers: &[],
                rate: None,
            },
        }
    }

    /// The preset as a settings layer.
    pub fn settings(&self) -> Settings {
        Settings {
            base_url: self.base_url.map(str::to_string),
            token_url: self.token_url.map(str::to_string),
            auth: Some(self.auth),
            signature_method: self.signature_method,
            rate: self.rate.map(Limit::Max),
            ..Settings::default()
        }
    }
}
