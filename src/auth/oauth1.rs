//! PLACEHOLDER until the oauth1 branch is merged (replaced wholesale by it).
use secrecy::SecretString;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureMethod {
    HmacSha1,
    #[default]
    HmacSha256,
}

impl std::str::FromStr for SignatureMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hmac-sha1" | "sha1" => Ok(SignatureMethod::HmacSha1),
            "hmac-sha256" | "sha256" => Ok(SignatureMethod::HmacSha256),
            other => Err(format!("unknown signature method {other}")),
        }
    }
}

pub struct OAuth1Signer {
    pub consumer_key: String,
    pub consumer_secret: SecretString,
    pub method: SignatureMethod,
}

impl std::fmt::Debug for OAuth1Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth1Signer").finish_non_exhaustive()
    }
}

impl OAuth1Signer {
    pub fn sign(&self, _request: &mut reqwest::Request) {}
}
