//! `roster-export init`: a commented profile for a known host (or a generic one) added to the
//! config file, which is created private (0600, in a 0700 folder) when it does not exist yet.
//! Nothing already in the file is changed: a profile of the same name is an error, and a new
//! one is appended.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::{ProviderName, SettingsError, profile};

/// What `init` did.
#[derive(Debug)]
pub struct Initialized {
    pub file: PathBuf,
    pub profile: String,
    /// The file did not exist and was created.
    pub created: bool,
}

/// Writes profile `name` for `provider` into the config file (`explicit`, or the default one).
pub fn init_profile(
    provider: Option<ProviderName>,
    name: &str,
    explicit: Option<&Path>,
) -> Result<Initialized, SettingsError> {
    if name.trim().is_empty() {
        return Err(SettingsError("init: --profile needs a name".into()));
    }
    let file = match explicit {
        Some(path) => path.to_path_buf(),
        None => profile::default_path().ok_or_else(|| {
            SettingsError("no config folder is known on this system; pass --config FILE".into())
        })?,
    };
    let place = |e: std::io::Error| SettingsError(format!("config file {}: {e}", file.display()));
    let body = template(provider, name);
    if file.exists() {
        // Read as a run would: a file that does not load is fixed before anything is added.
        let (_, config, _) = profile::read(Some(&file))?;
        if config.profiles.contains_key(name) {
            return Err(SettingsError(format!(
                "config file {} already has a profile `{name}`; nothing was changed (edit it, or \
                 pick another name with --profile NAME)",
                file.display()
            )));
        }
        let existing = std::fs::read(&file).map_err(place)?;
        let gap = if existing.is_empty() || existing.ends_with(b"\n\n") {
            ""
        } else if existing.ends_with(b"\n") {
            "\n"
        } else {
            "\n\n"
        };
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .map_err(place)?;
        out.write_all(format!("{gap}{body}").as_bytes())
            .and_then(|()| out.sync_all())
            .map_err(place)?;
        return Ok(Initialized {
            file,
            profile: name.to_string(),
            created: false,
        });
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(place)?;
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .map_err(place)?;
    let head = format!(
        "# roster-export profiles, one per district or tenant (see the README's Profiles section).\n\
         # Flags and ROSTER_EXPORT_* variables override what is written here.\n\n\
         # The profile used when no --profile is given.\n\
         default_profile = {}\n\n",
        quoted(name)
    );
    out.write_all(format!("{head}{body}").as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(place)?;
    Ok(Initialized {
        file,
        profile: name.to_string(),
        created: true,
    })
}

/// A TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// `name` as a TOML key: bare when it can be.
fn key(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// The commented profile. What only the user knows is left commented out with a TODO, so the
/// file loads as written and a run says which setting is still missing.
fn template(provider: Option<ProviderName>, name: &str) -> String {
    let date = jiff::Zoned::now().date();
    let command = match provider {
        Some(p) => format!("roster-export init --provider {p}"),
        None => "roster-export init".to_string(),
    };
    let secret_file = format!("{name}.secret");
    let mut lines = vec![
        format!("# Profile `{name}`, written by `{command}` on {date}."),
        "# Fill in the TODO lines (and uncomment them), then run `roster-export check`.".into(),
        format!("[profiles.{}]", key(name)),
    ];
    let push = |lines: &mut Vec<String>, more: &[&str]| {
        lines.extend(more.iter().map(|l| l.to_string()));
    };
    match provider {
        Some(ProviderName::Blackbaud) => push(
            &mut lines,
            &[
                "provider = \"blackbaud\"   # Blackbaud's OneRoster API: its URLs, client credentials, 5 requests/s",
                "# TODO: the application's client id (key) from Blackbaud's developer portal",
                "# client_id = \"…\"",
            ],
        ),
        Some(ProviderName::BlackbaudSky) => push(
            &mut lines,
            &[
                "provider = \"blackbaud-sky\"   # SKY APIs: refresh tokens and Bb-Api-Subscription-Key",
                "# TODO: the application's id and the subscription key",
                "# client_id = \"…\"",
                "# headers = { \"Bb-Api-Subscription-Key\" = { env = \"BB_SUBSCRIPTION_KEY\" } }",
                "# The refresh token is kept here; the first run creates it from ROSTER_EXPORT_REFRESH_TOKEN.",
                &format!("token_store = {}", quoted(&format!("{name}-token.json"))),
            ],
        ),
        Some(ProviderName::Classlink) => push(
            &mut lines,
            &[
                "provider = \"classlink\"   # a ClassLink Roster Server: OAuth 1.0a, HMAC-SHA256",
                "# TODO: the district's server and its consumer key",
                "# base_url = \"https://<district>.oneroster.com/ims/oneroster/v1p1\"",
                "# client_id = \"…\"",
            ],
        ),
        None => push(
            &mut lines,
            &[
                "# TODO: the API base (ends in /ims/oneroster/v1p1, or the root it hangs off) and the",
                "# token URL (vendor specific, usually beside the API); the README's \"Finding your",
                "# host's URLs\" lists known hosts.",
                "# base_url = \"https://<host>/ims/oneroster/v1p1\"",
                "# token_url = \"https://<host>/oauth/token\"",
                "# auth = \"client-credentials\"   # or oauth1, refresh-token, password, bearer",
                "# client_id = \"…\"",
            ],
        ),
    }
    push(
        &mut lines,
        &[
            "# TODO: where the client secret is kept: a file only you can read (relative to this",
            "# folder), or an environment variable. ROSTER_EXPORT_CLIENT_SECRET also works.",
            &format!("# client_secret = {{ file = {} }}", quoted(&secret_file)),
            "# client_secret = { env = \"DISTRICT_SECRET\" }",
            "# What to export: roster.readonly (or roster-core.readonly), roster-demographics.readonly,",
            "# gradebook.readonly, resource.readonly.",
            "scopes = [\"roster.readonly\"]",
            "# TODO: where to write: a .zip file or a folder (format = \"json\" or \"ndjson\" for others)",
            &format!("# out = {}", quoted(&format!("/srv/rosters/{name}.zip"))),
        ],
    );
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn every_template_loads_and_a_second_profile_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub").join("config.toml");
        let first = init_profile(Some(ProviderName::Blackbaud), "north", Some(&file)).unwrap();
        assert!(first.created);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        let mut names = vec!["north"];
        for (provider, name) in [
            (None, "generic"),
            (Some(ProviderName::BlackbaudSky), "sky"),
            (Some(ProviderName::Classlink), "east field"),
        ] {
            let added = init_profile(provider, name, Some(&file)).unwrap();
            assert!(!added.created);
            names.push(name);
        }
        let (_, config, private) = profile::read(Some(&file)).unwrap();
        assert!(private);
        assert_eq!(config.default_profile.as_deref(), Some("north"));
        let mut got: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
        got.sort();
        names.sort();
        assert_eq!(got, names);
        let before = std::fs::read(&file).unwrap();
        let err = init_profile(None, "north", Some(&file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("already has a profile `north`"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), before, "nothing was changed");
    }
}
