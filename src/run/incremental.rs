//! Incremental runs: whether this run can build on the last one (its state, the output it left),
//! and the pull of one collection's changes, checked against the host's count before it is kept.

use std::path::PathBuf;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use oneroster::CollectionId;

use super::summary::CollectionSummary;
use super::{Shared, is_not_found};
use crate::api::ApiError;
use crate::error::Error;
use crate::export::{Destination, Format, PublishReport};
use crate::pager::{self, Feed, PagerError, Request, WalkStats};
use crate::settings::{Incremental, Plan};
use crate::state::{CollectionState, Made, State, StateError};
use crate::storage::Location;

/// The state an incremental run reads and writes.
#[derive(Debug)]
pub(super) struct Tracker {
    path: PathBuf,
    made: Made,
    /// The state this run builds on; `None`: every collection is pulled in full.
    base: Option<State>,
}

impl Tracker {
    /// Reads the state of this run's output, and decides whether the run can build on it
    /// (logging why not, when not). The output itself is checked by [`Tracker::check_output`].
    pub fn open(settings: &Incremental, plan: &Plan, host: &str) -> Result<Tracker, Error> {
        // The output as its lock knows it: the canonical path, or the URL.
        let output = match &plan.output.destination {
            Destination::Stdout => "-".to_string(),
            Destination::Path(p) => Location::Local(p.clone()).key(),
            Destination::Remote(url) => Location::Remote(url.clone()).key(),
        };
        let made = Made {
            host: host.to_string(),
            output,
            format: plan.output.format.to_string(),
            collections: plan
                .collections
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            include_passwords: plan.output.include_passwords,
        };
        let path = match &settings.state {
            Some(path) => path.clone(),
            None => crate::state::default_path(&made.output, &made.host).map_err(state_error)?,
        };
        let loaded = State::load(&path).map_err(state_error)?;
        let why_full = match &loaded {
            _ if settings.full => Some("--full asks for it".to_string()),
            None => Some(format!("no state yet at {}", path.display())),
            Some(state) => made
                .mismatch(&state.made)
                .map(|m| format!("the state at {} does not fit this run: {m}", path.display()))
                .or_else(|| overdue(state.last_full, settings.full_every_days)),
        };
        let base = match why_full {
            Some(why) => {
                tracing::info!(state = %path.display(), "incremental: a full pull, because {why}");
                None
            }
            None => loaded,
        };
        Ok(Tracker { path, made, base })
    }

    /// Checks that the output the state describes is the one there now: an output that is
    /// missing or was changed since (`fingerprint` is the hash of what is there) means a full pull.
    pub fn check_output(&mut self, exists: bool, fingerprint: Option<&str>) {
        let Some(base) = &self.base else { return };
        let why = if self.made.output == "-" {
            None
        } else if !exists {
            Some("the output it was made for is missing".to_string())
        } else if base.fingerprint.as_deref() != fingerprint {
            Some("the output changed since the last run (by hand, or by another run)".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            tracing::warn!(
                state = %self.path.display(),
                "incremental: a full pull, because {why}"
            );
            self.base = None;
        }
    }

    /// The last run's state of collection `c`, when its changes can be pulled.
    pub fn base_of(&self, c: CollectionId) -> Option<&CollectionState> {
        self.base.as_ref()?.collections.get(c.name())
    }

    /// Writes the state of the run that published `report`: each collection's new mark and
    /// counts, and the hash of the output.
    pub fn save(
        self,
        collections: &[CollectionSummary],
        report: &PublishReport,
    ) -> Result<(), StateError> {
        let all_full = collections.iter().all(|c| !c.changes_only);
        let last_full = match (&self.base, all_full) {
            (Some(base), false) => base.last_full,
            _ => Timestamp::now(),
        };
        let mut state = State::new(self.made, last_full);
        state.fingerprint = report.fingerprint.clone();
        for c in collections {
            if let Some(s) = &c.state {
                state
                    .collections
                    .insert(c.collection.name().to_string(), s.clone());
            }
        }
        state.save(&self.path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

fn state_error(e: StateError) -> Error {
    Error::Usage(e.to_string())
}

/// Why the last full pull is too old, when it is.
fn overdue(last_full: Timestamp, every_days: u32) -> Option<String> {
    if every_days == 0 {
        return None;
    }
    let age = Timestamp::now().duration_since(last_full);
    (age >= SignedDuration::from_hours(24 * i64::from(every_days))).then(|| {
        format!(
            "the last full pull was {} days ago (--full-every {every_days})",
            age.as_hours() / 24
        )
    })
}

/// The v1.1 filter for records changed after `mark` (to the second, rounded down: never later).
pub(super) fn changed_since(mark: Timestamp) -> String {
    format!("dateLastModified>'{}'", mark.strftime("%Y-%m-%dT%H:%M:%SZ"))
}

/// The state a full walk leaves: where the next run's changes start, and its counts.
pub(super) fn state_after_full(
    stats: &WalkStats,
    rows: u64,
    format: Format,
    started: Timestamp,
) -> CollectionState {
    CollectionState {
        newest: stats.newest,
        read_from: stats.read_from.unwrap_or(started),
        rows,
        // Only a CSV bundle leaves deleted records out; JSON and NDJSON count them as rows.
        deleted: if format == Format::Csv {
            stats.deleted.clone()
        } else {
            Vec::new()
        },
    }
}

/// What pulling a collection's changes came to.
pub(super) enum Pulled {
    Done(Box<CollectionSummary>),
    /// It must be pulled in full: why, and whether that points at a problem (a host that
    /// refuses or ignores the filter, counts that do not agree) rather than many changes.
    Full {
        why: String,
        problem: bool,
    },
}

fn problem(why: String) -> Result<Pulled, Error> {
    Ok(Pulled::Full { why, problem: true })
}

impl Pulled {
    /// Logs why the collection is pulled in full instead.
    pub fn log_full(why: &str, problem: bool, name: &str) {
        if problem {
            tracing::warn!(collection = name, "{name}: {why}; pulling it in full");
        } else {
            tracing::info!(collection = name, "{name}: {why}; pulling it in full");
        }
    }
}

/// A host that refuses a filter says 400 (`invalid_filter_field`), or 422 on some.
fn refused(err: &PagerError) -> bool {
    matches!(err, PagerError::Api(api) if matches!(&**api, ApiError::Http(e)
        if matches!(e.status().map(|s| s.as_u16()), Some(400 | 422))))
}

/// Pulls what changed in `c` since `base`, applies it to the previous output and checks the
/// result against the host's count. Anything that makes the result doubtful gives `Full`.
pub(super) async fn pull_changes(
    shared: &Shared<'_>,
    c: CollectionId,
    base: &CollectionState,
) -> Result<Pulled, Error> {
    let collection = c.info();
    let name = collection.name;
    let started = Instant::now();
    let asked = Timestamp::now();
    let api = &*shared.api;
    let whole = match pager::probe(api, &Request::all(collection)).await {
        Ok(probe) => probe,
        // The full pull says what to do about a collection the host does not offer.
        Err(e) if collection.optional_service && is_not_found(&e) => {
            return problem(e.to_string());
        }
        Err(e) => return Err(e.into()),
    };
    let mark = base.mark();
    let request = Request {
        collection,
        filter: Some(changed_since(mark)),
        track_changes: true,
        keep_ids: true,
    };
    let changed = match pager::probe(api, &request).await {
        Ok(probe) => probe,
        Err(e) if refused(&e) => {
            return problem(format!(
                "the host refused the dateLastModified filter ({e})"
            ));
        }
        Err(e) => return Err(e.into()),
    };
    match (whole.total, changed.total) {
        (Some(t), Some(f)) if t > 0 && f >= t => {
            return problem(format!(
                "the host counts all {t} records as changed since {mark}, so it may ignore \
                 the filter"
            ));
        }
        (Some(t), Some(f)) if f > t / 2 => {
            return Ok(Pulled::Full {
                why: format!("{f} of its {t} records changed since {mark}"),
                problem: false,
            });
        }
        (None, _) => tracing::warn!(
            collection = name,
            "{name}: the host sends no X-Total-Count, so records it removes outright are \
             noticed only by the next full pull"
        ),
        _ => {}
    }

    let worker = shared.worker;
    let bar = shared.progress.collection(name);
    worker.begin_changes(c).await?;
    let feed = Feed {
        out: worker.pages(),
        pages: &shared.pages,
        ids: &shared.ids,
        bar: &bar,
    };
    let walked = if changed.total == Some(0) {
        // Nothing changed: the previous files are copied as they are.
        Ok(WalkStats::default())
    } else {
        pager::walk(shared.api.clone(), &request, &shared.plan.pager, feed).await
    };
    let stats = match walked {
        Ok(stats) => stats,
        Err(e) if refused(&e) => {
            bar.abandon("filter refused");
            worker.abandon(c).await?;
            return problem(format!(
                "the host refused the dateLastModified filter ({e})"
            ));
        }
        Err(e) => {
            bar.abandon("failed");
            return Err(e.into());
        }
    };
    if let Some(doubt) = stats.doubt() {
        bar.abandon("incomplete");
        worker.abandon(c).await?;
        return problem(format!("its changes did not add up ({doubt})"));
    }

    let csv = shared.plan.output.format == Format::Csv;
    // Records the host still serves marked deleted: the earlier ones not changed since, and the
    // ones marked now (a CSV bundle leaves them out, so they are not among its rows).
    let deleted: Vec<String> = if csv {
        let now_seen: std::collections::HashSet<&str> =
            stats.ids.iter().map(String::as_str).collect();
        base.deleted
            .iter()
            .filter(|id| !now_seen.contains(id.as_str()))
            .chain(&stats.deleted)
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let to_stdout = shared.plan.output.destination == Destination::Stdout;
    let rows = if to_stdout {
        base.rows
    } else {
        let rows = worker.apply(c).await?;
        let expected = rows + deleted.len() as u64;
        // The host's total counts the records it serves, those marked deleted included.
        if let Some(total) = whole.total
            && total != expected
        {
            bar.abandon("count differs");
            worker.abandon(c).await?;
            let served = if deleted.is_empty() {
                String::new()
            } else {
                format!(" ({rows} rows and {} marked deleted)", deleted.len())
            };
            return problem(format!(
                "the host counts {total} records but applying the changes gives {expected}{served}: \
                 records were added or removed without a newer dateLastModified"
            ));
        }
        rows
    };
    let written = worker.finish(c).await?;
    bar.finish(&format!("{} changed", stats.records));
    let summary = CollectionSummary {
        total: whole.total,
        // The two counting requests too.
        requests: stats.requests + 2,
        seconds: started.elapsed().as_secs_f64(),
        changes_only: true,
        state: Some(CollectionState {
            newest: base.newest.max(stats.newest),
            read_from: whole.date.unwrap_or(asked),
            rows,
            deleted,
        }),
        ..CollectionSummary::of_walk(c, &stats, written)
    };
    summary.log();
    Ok(Pulled::Done(Box::new(summary)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_v1p1_grammar_to_the_second() {
        let mark: Timestamp = "2026-11-30T09:45:12.75Z".parse().unwrap();
        assert_eq!(
            changed_since(mark),
            "dateLastModified>'2026-11-30T09:45:12Z'"
        );
    }

    #[test]
    fn a_full_pull_is_overdue_after_the_days_given() {
        let now = Timestamp::now();
        let days = |d: i64| now.checked_sub(SignedDuration::from_hours(24 * d)).unwrap();
        assert!(overdue(days(8), 7).unwrap().contains("8 days ago"));
        assert_eq!(overdue(days(6), 7), None);
        assert_eq!(overdue(days(400), 0), None);
    }
}
