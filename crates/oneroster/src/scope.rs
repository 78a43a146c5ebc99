//! OAuth scopes of OneRoster v1.1: short names, their URIs, and which collections each one grants.

use std::fmt;

/// The prefix of every v1.1 scope URI.
pub const SCOPE_URI_PREFIX: &str = "https://purl.imsglobal.org/spec/or/v1p1/scope/";

/// The read scopes this tool knows (docs/oneroster-notes.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KnownScope {
    RosterCore,
    Roster,
    RosterDemographics,
    Resource,
    Gradebook,
}

impl KnownScope {
    pub const ALL: [KnownScope; 5] = [
        KnownScope::RosterCore,
        KnownScope::Roster,
        KnownScope::RosterDemographics,
        KnownScope::Resource,
        KnownScope::Gradebook,
    ];

    /// The short name, e.g. `roster.readonly`.
    pub fn short_name(self) -> &'static str {
        match self {
            KnownScope::RosterCore => "roster-core.readonly",
            KnownScope::Roster => "roster.readonly",
            KnownScope::RosterDemographics => "roster-demographics.readonly",
            KnownScope::Resource => "resource.readonly",
            KnownScope::Gradebook => "gradebook.readonly",
        }
    }

    /// The full v1p1 scope URI.
    pub fn uri(self) -> String {
        format!("{SCOPE_URI_PREFIX}{}", self.short_name())
    }

    /// Looks a short name up (`roster.readonly`).
    pub fn from_short_name(name: &str) -> Option<KnownScope> {
        KnownScope::ALL.into_iter().find(|s| s.short_name() == name)
    }
}

/// A scope as the user gave it: a short name or a full URI.
///
/// Short names expand to v1p1 URIs; any other URI is passed to the token endpoint as written
/// (it grants no collection this tool knows of).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    uri: String,
    known: Option<KnownScope>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error(
        "unknown scope `{0}`: use one of roster-core.readonly, roster.readonly, \
         roster-demographics.readonly, gradebook.readonly, resource.readonly, or a full scope URI"
    )]
    Unknown(String),
}

impl Scope {
    /// Parses a short name (`roster.readonly`) or a full URI (`https://…/scope/roster.readonly`).
    pub fn parse(input: &str) -> Result<Scope, ScopeError> {
        let input = input.trim();
        if let Some(known) = KnownScope::from_short_name(input) {
            return Ok(Scope {
                uri: known.uri(),
                known: Some(known),
            });
        }
        if let Some(short) = input.strip_prefix(SCOPE_URI_PREFIX) {
            let known = KnownScope::from_short_name(short);
            return Ok(Scope {
                uri: input.to_string(),
                known,
            });
        }
        if input.starts_with("https://") || input.starts_with("http://") {
            return Ok(Scope {
                uri: input.to_string(),
                known: None,
            });
        }
        Err(ScopeError::Unknown(input.to_string()))
    }

    pub fn from_known(known: KnownScope) -> Scope {
        Scope {
            uri: known.uri(),
            known: Some(known),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn known(&self) -> Option<KnownScope> {
        self.known
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known {
            Some(k) => f.write_str(k.short_name()),
            None => f.write_str(&self.uri),
        }
    }
}

/// The space-separated `scope` value of a token request.
pub fn scope_param(scopes: &[Scope]) -> String {
    let mut out = String::new();
    for s in scopes {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s.uri());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_to_v1p1_uris() {
        let s = Scope::parse("roster.readonly").unwrap();
        assert_eq!(
            s.uri(),
            "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly"
        );
        assert_eq!(s.known(), Some(KnownScope::Roster));
    }

    #[test]
    fn full_uris_are_recognised_and_kept() {
        let uri = "https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.readonly";
        let s = Scope::parse(uri).unwrap();
        assert_eq!(s.uri(), uri);
        assert_eq!(s.known(), Some(KnownScope::Gradebook));
        let other = Scope::parse("https://example.com/scope/custom").unwrap();
        assert_eq!(other.known(), None);
    }

    #[test]
    fn nonsense_is_refused_with_its_name() {
        let err = Scope::parse("roster.readwrite").unwrap_err();
        assert!(err.to_string().contains("roster.readwrite"));
    }

    #[test]
    fn scope_param_is_space_separated() {
        let scopes = [
            Scope::from_known(KnownScope::Roster),
            Scope::from_known(KnownScope::Gradebook),
        ];
        assert_eq!(
            scope_param(&scopes),
            "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly \
             https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.readonly"
        );
    }
}
