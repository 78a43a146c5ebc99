//! Naming a request in messages and logs without leaking anything: collection, method, the URL's
//! origin and path (never user info or query), and the page offset.

use std::fmt;

use url::Url;

use crate::urls::safe_url;
use oneroster::CollectionId;

/// The place a request goes, for error messages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub collection: Option<CollectionId>,
    pub kind: Kind,
    /// `scheme://host[:port]/path`, without user info or query.
    pub url: String,
    pub offset: Option<u64>,
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Page,
    Token,
    Discovery,
}

impl Kind {
    fn method(self) -> &'static str {
        match self {
            Kind::Page | Kind::Discovery => "GET",
            Kind::Token => "POST",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Token => "token request",
            Kind::Discovery => "OIDC discovery",
        }
    }
}

impl Target {
    pub fn page(collection: CollectionId, url: &Url, offset: u64) -> Target {
        Target {
            collection: Some(collection),
            kind: Kind::Page,
            url: safe_url(url),
            offset: Some(offset),
        }
    }

    pub fn token(url: &Url) -> Target {
        Target {
            collection: None,
            kind: Kind::Token,
            url: safe_url(url),
            offset: None,
        }
    }

    pub fn discovery(url: &Url) -> Target {
        Target {
            collection: None,
            kind: Kind::Discovery,
            url: safe_url(url),
            offset: None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.collection {
            Some(c) => write!(f, "{c} ({} {}", self.kind.method(), self.url)?,
            None => write!(
                f,
                "{} ({} {}",
                self.kind.label(),
                self.kind.method(),
                self.url
            )?,
        }
        if let Some(offset) = self.offset {
            write!(f, ", offset {offset}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_user_info_and_query() {
        let url =
            Url::parse("https://me:pw@host.example:8443/ims/oneroster/v1p1/users?limit=5&token=x")
                .unwrap();
        let t = Target::page(CollectionId::Users, &url, 10);
        assert_eq!(
            t.to_string(),
            "users (GET https://host.example:8443/ims/oneroster/v1p1/users, offset 10)"
        );
    }
}
