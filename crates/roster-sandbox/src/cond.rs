//! A condition on a record's references: its `field` (a GUIDRef, a list of them, or `sourcedId`
//! itself) names one of a set of ids. Relationship reads select records by these, and the
//! synthetic district answers some of them from its own structure.

use std::collections::BTreeSet;

use serde_json::Value;

/// A record's `field` — a GUIDRef, a list of them, or `sourcedId` itself — names one of `ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cond {
    pub field: &'static str,
    pub ids: BTreeSet<String>,
}

impl Cond {
    pub(crate) fn one(field: &'static str, id: &str) -> Cond {
        Cond {
            field,
            ids: BTreeSet::from([id.to_string()]),
        }
    }

    pub(crate) fn any(field: &'static str, ids: BTreeSet<String>) -> Cond {
        Cond { field, ids }
    }

    pub(crate) fn holds(&self, record: &Value) -> bool {
        ref_ids(record.get(self.field)).any(|id| self.ids.contains(id))
    }
}

/// The sourcedIds a member holds: a string itself, a GUIDRef's, or those of a list of either.
pub(crate) fn ref_ids(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let items: &[Value] = match value {
        Some(Value::Array(items)) => items,
        Some(v) => std::slice::from_ref(v),
        None => &[],
    };
    items.iter().filter_map(|v| match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("sourcedId").and_then(Value::as_str),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_read_refs_lists_and_ids() {
        let class = json!({
            "sourcedId": "c1",
            "school": {"href": "h", "sourcedId": "s1", "type": "org"},
            "terms": [{"sourcedId": "t1"}, {"sourcedId": "t2"}],
        });
        assert!(Cond::one("school", "s1").holds(&class));
        assert!(!Cond::one("school", "s2").holds(&class));
        assert!(Cond::one("terms", "t2").holds(&class));
        assert!(Cond::one("sourcedId", "c1").holds(&class));
        assert!(!Cond::one("course", "k").holds(&class));
        assert!(!Cond::any("terms", BTreeSet::new()).holds(&class));
    }
}
