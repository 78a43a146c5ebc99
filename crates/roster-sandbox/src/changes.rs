//! Changes to the district while the sandbox runs, for incremental exports: updates that bump
//! `dateLastModified`, records marked `tobedeleted`, inserts, and outright deletes that simply
//! vanish (docs/oneroster-notes.md §4.3). A batch applies whole or not at all and stamps every
//! record it touches with one instant of the sandbox's clock; [`churn`] makes a deterministic mix.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use super::data::Data;
use super::endpoints::View;
use super::faults::mix;
use super::json::{Members, object_members, push_object};
use super::listing::Listing;
use super::overlay::{Entry, Overlay, Rec, next_stamp};
use oneroster::CollectionId;

/// One change to the district.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    /// Sets members of an existing record (`null` removes one) and bumps its `dateLastModified`.
    Update {
        #[serde(with = "collection_name")]
        collection: CollectionId,
        #[serde(rename = "sourcedId")]
        sourced_id: String,
        /// A JSON object of the members to set.
        set: Value,
    },
    /// Adds a record with a new sourcedId; `status` defaults to `active`, `dateLastModified` is
    /// the batch's.
    Insert {
        #[serde(with = "collection_name")]
        collection: CollectionId,
        /// The record, a JSON object with a `sourcedId`.
        record: Value,
    },
    /// Sets `status` to `tobedeleted` and bumps `dateLastModified`, as a host announces a deletion.
    #[serde(rename = "tobedeleted")]
    MarkDeleted {
        #[serde(with = "collection_name")]
        collection: CollectionId,
        #[serde(rename = "sourcedId")]
        sourced_id: String,
    },
    /// Removes the record outright: it is no longer served, and nothing says it ever was.
    Delete {
        #[serde(with = "collection_name")]
        collection: CollectionId,
        #[serde(rename = "sourcedId")]
        sourced_id: String,
    },
}

/// A batch of changes, applied in order, whole or not at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub changes: Vec<Change>,
}

impl Changes {
    pub fn new() -> Changes {
        Changes::default()
    }

    /// Sets the members of `set` (a JSON object) on a record.
    pub fn update(mut self, collection: CollectionId, sourced_id: &str, set: Value) -> Changes {
        self.changes.push(Change::Update {
            collection,
            sourced_id: sourced_id.to_string(),
            set,
        });
        self
    }

    /// Adds `record` (a JSON object with a new `sourcedId`).
    pub fn insert(mut self, collection: CollectionId, record: Value) -> Changes {
        self.changes.push(Change::Insert { collection, record });
        self
    }

    /// Marks a record `tobedeleted`.
    pub fn mark_deleted(mut self, collection: CollectionId, sourced_id: &str) -> Changes {
        self.changes.push(Change::MarkDeleted {
            collection,
            sourced_id: sourced_id.to_string(),
        });
        self
    }

    /// Deletes a record outright.
    pub fn delete(mut self, collection: CollectionId, sourced_id: &str) -> Changes {
        self.changes.push(Change::Delete {
            collection,
            sourced_id: sourced_id.to_string(),
        });
        self
    }
}

/// What kind of change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Update,
    Insert,
    #[serde(rename = "tobedeleted")]
    MarkDeleted,
    Delete,
}

/// One change made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedChange {
    pub op: ChangeOp,
    #[serde(serialize_with = "collection_name::serialize")]
    pub collection: CollectionId,
    #[serde(rename = "sourcedId")]
    pub sourced_id: String,
}

/// A batch as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The `dateLastModified` every record the batch changed or inserted now has
    /// (`YYYY-MM-DDThh:mm:ss.sssZ`): later than the base district and than any earlier batch.
    pub at: String,
    pub changes: Vec<AppliedChange>,
    /// How many batches the district has seen, this one included.
    pub version: u64,
}

/// Why a batch was refused (nothing of it was applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("change {index}: no {collection} record has sourcedId {sourced_id:?}")]
    Unknown {
        index: usize,
        collection: CollectionId,
        sourced_id: String,
    },
    #[error("change {index}: a {collection} record with sourcedId {sourced_id:?} already exists")]
    Exists {
        index: usize,
        collection: CollectionId,
        sourced_id: String,
    },
    #[error("change {index}: {reason}")]
    Invalid { index: usize, reason: String },
}

/// Applies `changes` to `overlay` (a copy the caller keeps only on success), stamped `now` or
/// later.
pub(crate) fn apply(
    data: &Data,
    overlay: &mut Overlay,
    changes: &[Change],
    now: jiff::Timestamp,
) -> Result<Applied, ChangeError> {
    let (ms, at) = next_stamp(overlay.last_stamp_ms, now);
    let stamp = to_raw_value(&at).expect("a string serialises");
    let mut applied = Vec::with_capacity(changes.len());
    for (index, change) in changes.iter().enumerate() {
        let invalid = |reason: &str| ChangeError::Invalid {
            index,
            reason: reason.to_string(),
        };
        let unknown = |collection: CollectionId, sourced_id: &str| ChangeError::Unknown {
            index,
            collection,
            sourced_id: sourced_id.to_string(),
        };
        let (op, collection, sourced_id) = match change {
            Change::Update {
                collection,
                sourced_id,
                set,
            } => {
                let set = set
                    .as_object()
                    .ok_or_else(|| invalid("`set` must be a JSON object"))?;
                if set.contains_key("sourcedId") {
                    return Err(invalid("an update cannot change sourcedId"));
                }
                let mut members = current(data, overlay, *collection, sourced_id)
                    .ok_or_else(|| unknown(*collection, sourced_id))?;
                for (key, value) in set {
                    if value.is_null() {
                        members.retain(|(k, _)| k != key);
                    } else {
                        put(
                            &mut members,
                            key,
                            to_raw_value(value).expect("JSON serialises"),
                        );
                    }
                }
                put(&mut members, "dateLastModified", stamp.clone());
                store(overlay, *collection, sourced_id, &members);
                (ChangeOp::Update, *collection, sourced_id.clone())
            }
            Change::Insert { collection, record } => {
                let record = record
                    .as_object()
                    .ok_or_else(|| invalid("`record` must be a JSON object"))?;
                let sourced_id = record
                    .get("sourcedId")
                    .and_then(Value::as_str)
                    .filter(|id| !id.trim().is_empty())
                    .ok_or_else(|| invalid("an inserted record needs a sourcedId"))?;
                if current(data, overlay, *collection, sourced_id).is_some() {
                    return Err(ChangeError::Exists {
                        index,
                        collection: *collection,
                        sourced_id: sourced_id.to_string(),
                    });
                }
                let status = record.get("status").cloned().unwrap_or("active".into());
                let mut members: Members = vec![
                    (
                        "sourcedId".to_string(),
                        to_raw_value(sourced_id).expect("a string"),
                    ),
                    ("status".to_string(), to_raw_value(&status).expect("JSON")),
                    ("dateLastModified".to_string(), stamp.clone()),
                ];
                for (key, value) in record {
                    if !matches!(key.as_str(), "sourcedId" | "status" | "dateLastModified") {
                        members.push((key.clone(), to_raw_value(value).expect("JSON")));
                    }
                }
                store(overlay, *collection, sourced_id, &members);
                (ChangeOp::Insert, *collection, sourced_id.to_string())
            }
            Change::MarkDeleted {
                collection,
                sourced_id,
            } => {
                let mut members = current(data, overlay, *collection, sourced_id)
                    .ok_or_else(|| unknown(*collection, sourced_id))?;
                put(
                    &mut members,
                    "status",
                    to_raw_value("tobedeleted").expect("a string"),
                );
                put(&mut members, "dateLastModified", stamp.clone());
                store(overlay, *collection, sourced_id, &members);
                (ChangeOp::MarkDeleted, *collection, sourced_id.clone())
            }
            Change::Delete {
                collection,
                sourced_id,
            } => {
                if current(data, overlay, *collection, sourced_id).is_none() {
                    return Err(unknown(*collection, sourced_id));
                }
                let in_base = data.find(*collection, View::All, sourced_id).is_some();
                let entries = overlay.entries_mut(*collection);
                if in_base {
                    entries.insert(sourced_id.clone(), Entry::Gone);
                } else {
                    entries.remove(sourced_id);
                }
                (ChangeOp::Delete, *collection, sourced_id.clone())
            }
        };
        applied.push(AppliedChange {
            op,
            collection,
            sourced_id,
        });
    }
    overlay.last_stamp_ms = Some(ms);
    Ok(Applied {
        at,
        changes: applied,
        version: overlay.version,
    })
}

/// The record as it is now, its members in order; `None` if there is none.
fn current(
    data: &Data,
    overlay: &Overlay,
    collection: CollectionId,
    sourced_id: &str,
) -> Option<Members> {
    let raw = match overlay.get(collection, sourced_id) {
        Some(Entry::Present(rec)) => rec.raw.to_vec(),
        Some(Entry::Gone) => return None,
        None => {
            let index = data.find(collection, View::All, sourced_id)?;
            let mut raw = Vec::new();
            data.write(collection, index, &mut raw);
            raw
        }
    };
    Some(object_members(&raw).expect("records are JSON objects"))
}

/// Sets `key` in place, or appends it.
fn put(members: &mut Members, key: &str, value: Box<RawValue>) {
    match members.iter_mut().find(|(k, _)| k == key) {
        Some(member) => member.1 = value,
        None => members.push((key.to_string(), value)),
    }
}

fn store(overlay: &mut Overlay, collection: CollectionId, sourced_id: &str, members: &Members) {
    let mut raw = Vec::new();
    push_object(&mut raw, members);
    overlay.entries_mut(collection).insert(
        sourced_id.to_string(),
        Entry::Present(Arc::new(Rec::new(raw))),
    );
}

/// Which collections churn picks from, weighted by repetition: people and enrollments change most.
const CHURNED: [CollectionId; 10] = [
    CollectionId::Users,
    CollectionId::Users,
    CollectionId::Users,
    CollectionId::Enrollments,
    CollectionId::Enrollments,
    CollectionId::Enrollments,
    CollectionId::Classes,
    CollectionId::Courses,
    CollectionId::Results,
    CollectionId::LineItems,
];

/// `n` changes to distinct records, the same for the same district, seed and earlier changes:
/// six in ten updates, two marked `tobedeleted`, one insert (a copy of a record under a new
/// sourcedId sorting right after it), one outright delete (one more mark unless `outright`).
/// `overlay` is the copy being changed, its version already the batch's.
pub(crate) fn churn(
    data: &Data,
    overlay: &Overlay,
    n: usize,
    seed: u64,
    outright: bool,
) -> Vec<Change> {
    let mut listings: BTreeMap<CollectionId, Listing> = BTreeMap::new();
    let mut touched: BTreeSet<(CollectionId, String)> = BTreeSet::new();
    let mut changes = Vec::with_capacity(n);
    for k in 0..n as u64 {
        let h = mix(seed, k);
        let collection = CHURNED[(h % CHURNED.len() as u64) as usize];
        let listing = listings
            .entry(collection)
            .or_insert_with(|| Listing::whole(data, overlay, collection));
        let len = listing.len();
        // The first record from a seeded start that this batch has not touched yet.
        let picked = (0..len).find_map(|step| {
            let at = ((h >> 16) + step) % len;
            let item = listing.items(at, at + 1).next()?;
            let record = item.value(data, collection).into_owned();
            let id = record.get("sourcedId")?.as_str()?.to_string();
            (!touched.contains(&(collection, id.clone()))).then_some((id, record))
        });
        let Some((id, record)) = picked else {
            continue;
        };
        touched.insert((collection, id.clone()));
        let change = match (h >> 8) % 10 {
            0..=5 => Change::Update {
                collection,
                sourced_id: id,
                set: revised(collection, &record, k),
            },
            // Without outright removals, their share is marked instead.
            9 if !outright => Change::MarkDeleted {
                collection,
                sourced_id: id,
            },
            6 | 7 => Change::MarkDeleted {
                collection,
                sourced_id: id,
            },
            8 => {
                // The batch's version makes the id new even when a seed is used again.
                let new_id = format!("{id}-new-{}-{k}", overlay.version);
                if current(data, overlay, collection, &new_id).is_some() {
                    continue;
                }
                let mut copy = record;
                copy["sourcedId"] = Value::String(new_id.clone());
                copy["status"] = Value::String("active".to_string());
                touched.insert((collection, new_id));
                Change::Insert {
                    collection,
                    record: copy,
                }
            }
            _ => Change::Delete {
                collection,
                sourced_id: id,
            },
        };
        changes.push(change);
    }
    changes
}

/// The members an update by churn sets: one field per collection, visibly revised.
fn revised(collection: CollectionId, record: &Value, k: u64) -> Value {
    let text = |field: &str| {
        let old = record
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut set = serde_json::Map::new();
        set.insert(field.to_string(), format!("{old} (rev {k})").into());
        Value::Object(set)
    };
    match collection {
        CollectionId::Users => text("familyName"),
        CollectionId::Enrollments => serde_json::json!({"endDate": "2026-03-31"}),
        CollectionId::Results => {
            serde_json::json!({"score": (k % 101) as f64, "scoreStatus": "fully graded"})
        }
        CollectionId::Orgs => text("name"),
        _ => text("title"),
    }
}

/// A collection as its name on the wire (`users`, `lineItems`).
mod collection_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use oneroster::CollectionId;

    pub fn serialize<S: Serializer>(id: &CollectionId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CollectionId, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
