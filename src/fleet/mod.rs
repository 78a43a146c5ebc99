//! Many tenants in one run (`--all-profiles`, `--profiles a,b`): each profile of the config file is
//! a full export of its own (output, lock, staging, shrink guard, incremental state), `--tenants N`
//! of them at once. Tenants on one host share its pacer, so together they stay within its limit;
//! each has its own credentials and token cache. One tenant's failure never stops the others.

mod report;
mod shard;

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt as _;
use tracing::Instrument as _;

pub use report::{FleetSummary, TenantOutcome, fleet_exit_code};
pub use shard::Shard;

use crate::http::{PaceSettings, Pacing};
use crate::progress::Progress;
use crate::run::{self, Pool};
use crate::settings::{self, Config, LoadedProfile, Settings, SettingsError};

/// Tenants run at once when `--tenants` is not given. A tenant mostly waits on its host; measured
/// with 50 tenants on their own hosts (README "Performance"), 32 at once ran 18.5–19.2× faster
/// than one after another (peak 65–127 MiB), 50 at once 22.3–25.7× (84–169 MiB). The page
/// budget stops growing at eight tenants' worth, so more tenants at once wait their turn for page
/// memory rather than add to it, and 50 stays inside a 256 MiB pod.
pub const DEFAULT_TENANTS: usize = 50;

/// Which profiles run, and how many at once.
#[derive(Debug)]
pub struct FleetPlan {
    /// The profiles to run, in name order, as the config file gave them (read once).
    pub profiles: Vec<LoadedProfile>,
    pub tenants: usize,
}

impl FleetPlan {
    /// The profiles of the config file: all of them, or those `only` names (each must exist),
    /// then those of `shard`. Settings given on the command line that would make every tenant
    /// write to one place are refused.
    pub fn select(
        config: Option<PathBuf>,
        only: &[String],
        shard: Option<Shard>,
        tenants: Option<usize>,
        flags: &Settings,
    ) -> Result<FleetPlan, SettingsError> {
        if flags.out.is_some() {
            return Err(SettingsError(
                "--out cannot be given with --all-profiles or --profiles: each profile names its \
                 own output (`out = ...`)"
                    .into(),
            ));
        }
        if flags.state.is_some() {
            return Err(SettingsError(
                "--state cannot be given with --all-profiles or --profiles: each tenant keeps \
                 its own state (the default, or a profile's `state = ...`)"
                    .into(),
            ));
        }
        let mut profiles = settings::profiles(config.as_deref())?;
        let known: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
        let mut names = if only.is_empty() {
            known.clone()
        } else {
            let unknown: Vec<&String> = only.iter().filter(|n| !known.contains(n)).collect();
            if !unknown.is_empty() {
                return Err(SettingsError(format!(
                    "--profiles names {} not in the config file, which has {}",
                    unknown
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            only.to_vec()
        };
        names.sort();
        names.dedup();
        if let Some(shard) = shard {
            names.retain(|n| shard.holds(n));
        }
        profiles.retain(|p| names.binary_search(&p.name).is_ok());
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(FleetPlan {
            profiles,
            tenants: tenants.unwrap_or(DEFAULT_TENANTS).max(1),
        })
    }
}

/// Runs every tenant of `plan`, `plan.tenants` at once, each with the command line's `flags` over
/// its profile. Never fails as a whole: each tenant's outcome is in the summary.
pub async fn run(plan: &FleetPlan, flags: &Settings, progress: &Progress) -> FleetSummary {
    let started = Instant::now();
    // Each tenant's caps apply to its own requests; a pacer shared by several takes the lowest.
    let pool = Pool::new(Pacing::new(PaceSettings::default()), plan.tenants);
    let outcomes: Vec<TenantOutcome> = futures::stream::iter(&plan.profiles)
        .map(|profile| {
            let span = tracing::info_span!("tenant", tenant = %profile.name);
            tenant(profile, flags, progress, &pool).instrument(span)
        })
        .buffer_unordered(plan.tenants)
        .collect()
        .await;
    let mut tenants = outcomes;
    tenants.sort_by(|a, b| a.name.cmp(&b.name));
    FleetSummary {
        tenants,
        hosts: pool.pacing.report(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// One tenant's export, logged as it ends.
async fn tenant(
    loaded: &LoadedProfile,
    flags: &Settings,
    progress: &Progress,
    pool: &Pool,
) -> TenantOutcome {
    let started = Instant::now();
    let name = &loaded.name;
    let result = async {
        let profile = loaded.settings()?;
        let settings = Settings::layered(flags.clone(), Some(profile), None);
        let config = Config::resolve(&settings)?;
        run::run_in(config, progress.clone(), pool).await
    }
    .await;
    let outcome = TenantOutcome {
        name: name.to_string(),
        result,
        seconds: started.elapsed().as_secs_f64(),
    };
    outcome.log();
    outcome
}
