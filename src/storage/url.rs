//! Output URLs: `s3://bucket/key`, `gs://bucket/key`, `az://container/key` and
//! `sftp://user@host[:port]/path`, parsed once into their parts.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::StorageError;

/// Which object store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectScheme {
    S3,
    Gcs,
    Azure,
}

impl ObjectScheme {
    fn scheme(self) -> &'static str {
        match self {
            ObjectScheme::S3 => "s3",
            ObjectScheme::Gcs => "gs",
            ObjectScheme::Azure => "az",
        }
    }
}

/// A remote output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteUrl {
    /// An object: `bucket` (a container for Azure) and the key within it.
    Object {
        scheme: ObjectScheme,
        bucket: String,
        key: String,
    },
    /// A file on an SFTP server. `path` is absolute, or relative to the login folder when the
    /// URL's path starts with `/~/`.
    Sftp {
        user: String,
        host: String,
        port: u16,
        path: String,
    },
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteUrl::Object {
                scheme,
                bucket,
                key,
            } => write!(f, "{}://{bucket}/{key}", scheme.scheme()),
            RemoteUrl::Sftp {
                user,
                host,
                port,
                path,
            } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                let path = if path.starts_with('/') {
                    path.clone()
                } else {
                    format!("/~/{path}")
                };
                write!(f, "sftp://{user}@{host}:{port}{path}")
            }
        }
    }
}

impl RemoteUrl {
    /// `None` when `text` is not a URL (a local path); an error for a URL this tool cannot
    /// write to.
    pub fn parse(text: &str) -> Result<Option<RemoteUrl>, StorageError> {
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(None);
        };
        let bad = |message: &str| StorageError::Url {
            url: redact(text),
            message: message.to_string(),
        };
        let object = match scheme.to_ascii_lowercase().as_str() {
            "s3" => Some(ObjectScheme::S3),
            "gs" => Some(ObjectScheme::Gcs),
            "az" => Some(ObjectScheme::Azure),
            "sftp" => None,
            _ => {
                return Err(bad(
                    "unsupported output URL; use a local path, s3://bucket/key, gs://bucket/key, \
                     az://container/key or sftp://user@host[:port]/path",
                ));
            }
        };
        let url = url::Url::parse(text).map_err(|e| bad(&format!("not a valid URL ({e})")))?;
        if url.password().is_some() {
            return Err(bad(
                "a password in the URL is not supported (it would show in process lists and \
                 logs); SFTP uses key authentication (--sftp-key)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("the URL must not have a query (?…) or fragment (#…)"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL has no bucket, container or host"))?;
        let raw_path = percent_decode_str(url.path())
            .decode_utf8()
            .map_err(|_| bad("the path is not valid UTF-8"))?
            .into_owned();
        if raw_path.trim_end_matches('/').is_empty() || raw_path.ends_with('/') {
            return Err(bad(
                "the URL must end in a file name (e.g. …/district.zip), not a folder",
            ));
        }
        if let Some(scheme) = object {
            if !url.username().is_empty() || url.port().is_some() {
                return Err(bad(
                    "an object URL is scheme://bucket/key, with no user or port",
                ));
            }
            let key = raw_path.trim_start_matches('/').to_string();
            if key
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
            {
                return Err(bad("the key must not have empty, `.` or `..` parts"));
            }
            return Ok(Some(RemoteUrl::Object {
                scheme,
                bucket: host.to_string(),
                key,
            }));
        }
        let user = percent_decode_str(url.username())
            .decode_utf8()
            .map_err(|_| bad("the user name is not valid UTF-8"))?
            .into_owned();
        if user.is_empty() {
            return Err(bad("the URL needs a user: sftp://user@host[:port]/path"));
        }
        let path = match raw_path.strip_prefix("/~/") {
            Some(relative) => relative.to_string(),
            None => raw_path,
        };
        Ok(Some(RemoteUrl::Sftp {
            user,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port().unwrap_or(22),
            path,
        }))
    }

    /// The last part of the key or path: the output's file name.
    pub fn name(&self) -> &str {
        let path = match self {
            RemoteUrl::Object { key, .. } => key,
            RemoteUrl::Sftp { path, .. } => path,
        };
        path.rsplit('/').next().unwrap_or(path)
    }
}

/// `text` with any password in its user part replaced, for messages.
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RemoteUrl {
        RemoteUrl::parse(text).unwrap().unwrap()
    }

    #[test]
    fn object_urls_split_into_bucket_and_key() {
        let url = parse("s3://rosters/nightly/north%20side.zip");
        assert_eq!(
            url,
            RemoteUrl::Object {
                scheme: ObjectScheme::S3,
                bucket: "rosters".into(),
                key: "nightly/north side.zip".into()
            }
        );
        assert_eq!(url.name(), "north side.zip");
        assert_eq!(parse("gs://b/k.zip").to_string(), "gs://b/k.zip");
        assert_eq!(parse("az://c/a/k.ndjson").name(), "k.ndjson");
    }

    #[test]
    fn sftp_urls_carry_user_host_port_and_path() {
        let url = parse("sftp://ftp-user@files.example:2222/srv/in/district.zip");
        assert_eq!(
            url,
            RemoteUrl::Sftp {
                user: "ftp-user".into(),
                host: "files.example".into(),
                port: 2222,
                path: "/srv/in/district.zip".into()
            }
        );
        assert_eq!(
            url.to_string(),
            "sftp://ftp-user@files.example:2222/srv/in/district.zip"
        );
        let home = parse("sftp://u@[::1]/~/out.zip");
        assert_eq!(home.to_string(), "sftp://u@[::1]:22/~/out.zip");
        assert!(matches!(home, RemoteUrl::Sftp { ref path, port: 22, .. } if path == "out.zip"));
    }

    #[test]
    fn paths_are_not_urls_and_bad_urls_say_why() {
        assert_eq!(RemoteUrl::parse("/srv/out.zip").unwrap(), None);
        assert_eq!(RemoteUrl::parse("out.zip").unwrap(), None);
        for (text, why) in [
            ("http://x/y.zip", "unsupported"),
            ("sftp://u:pw@h/x.zip", "password"),
            ("sftp://h/x.zip", "needs a user"),
            ("s3://bucket", "file name"),
            ("s3://bucket/dir/", "file name"),
            ("s3://b/a//c.zip", "empty"),
            ("s3://u@b/c.zip", "no user"),
        ] {
            let err = RemoteUrl::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
    }
}
