//! The query parameters of reads (docs/oneroster-notes.md §4): `limit` and `offset`, `filter`,
//! `sort` with `orderBy`, and `fields`; what is refused (400) and what only earns a warning in a
//! `statusInfoSet` beside the data (§4.2, §4.4, §5.5).

use std::cmp::Ordering;

use serde_json::Value;

use super::filter::{Filter, FilterError};
use oneroster::{CollectionId, MemberKind};

/// A request refused with 400 and this codeMinor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code_minor: &'static str,
    pub description: String,
}

/// Something asked for that the answer does not honour, said beside the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    pub code_minor: &'static str,
    pub description: String,
}

/// `sort` and `orderBy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sort {
    pub field: String,
    pub descending: bool,
}

impl Sort {
    /// How two records compare on the sort field: by JSON type (strings as text, numbers as
    /// numbers), records without the field last either way.
    pub(crate) fn compare(&self, a: Option<&Value>, b: Option<&Value>) -> Ordering {
        match (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null())) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => {
                let order = match (a, b) {
                    (Value::Number(x), Value::Number(y)) => x
                        .as_f64()
                        .partial_cmp(&y.as_f64())
                        .unwrap_or(Ordering::Equal),
                    (Value::String(x), Value::String(y)) => x.cmp(y),
                    (x, y) => x.to_string().cmp(&y.to_string()),
                };
                if self.descending {
                    order.reverse()
                } else {
                    order
                }
            }
        }
    }
}

/// What a list read asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListQuery {
    pub limit: u64,
    pub offset: u64,
    /// The filter as sent (for the cache key) and parsed.
    pub filter: Option<(String, Filter)>,
    pub sort: Option<Sort>,
    /// Only these members of each record.
    pub fields: Option<Vec<String>>,
    pub warnings: Vec<Warning>,
}

impl ListQuery {
    /// Reads a list request's query string (as sent, still URL-encoded).
    pub(crate) fn parse(
        query: &str,
        default_limit: u64,
        collection: CollectionId,
    ) -> Result<ListQuery, Refusal> {
        let (limit, offset) = paging(query, default_limit).map_err(invalid_data)?;
        let mut filter = None;
        let mut sort_field = None;
        let mut order = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "filter" => filter = Some(value.into_owned()),
                "sort" => sort_field = Some(value.trim().to_string()),
                "orderBy" => order = Some(value.trim().to_string()),
                _ => {}
            }
        }
        let (fields, mut warnings) = selection(query, collection)?;
        let filter = match filter {
            None => None,
            Some(text) => match Filter::parse(&text, collection) {
                Ok(parsed) => Some((text, parsed)),
                Err(e @ FilterError::UnknownField(_)) => {
                    return Err(Refusal {
                        code_minor: "invalid_filter_field",
                        description: e.to_string(),
                    });
                }
                Err(e) => return Err(invalid_data(e.to_string())),
            },
        };
        let descending = match order.as_deref() {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("asc") => false,
            Some(o) if o.eq_ignore_ascii_case("desc") => true,
            Some(other) => {
                return Err(invalid_data(format!(
                    "orderBy must be asc or desc, not {other:?}"
                )));
            }
        };
        let sort = match sort_field {
            None => None,
            Some(field) => {
                let scalar = collection
                    .member(&field)
                    .is_some_and(|m| m.kind == MemberKind::Scalar);
                if scalar {
                    Some(Sort { field, descending })
                } else {
                    warnings.push(Warning {
                        code_minor: "invalid_sort_field",
                        description: format!(
                            "cannot sort {collection} by {field:?}; sorted by sourcedId"
                        ),
                    });
                    None
                }
            }
        };
        Ok(ListQuery {
            limit,
            offset,
            filter,
            sort,
            fields,
            warnings,
        })
    }
}

/// `fields`, for list and single reads: the known names asked for, and a warning naming the
/// unknown ones. Only unknown names select every member; no names at all is refused.
pub(crate) fn selection(
    query: &str,
    collection: CollectionId,
) -> Result<(Option<Vec<String>>, Vec<Warning>), Refusal> {
    let Some(value) = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.into_owned())
        .last()
    else {
        return Ok((None, Vec::new()));
    };
    let names: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(Refusal {
            code_minor: "invalid_blank_selection_field",
            description: "fields is present but names no field".to_string(),
        });
    }
    let (known, unknown): (Vec<&str>, Vec<&str>) = names
        .into_iter()
        .partition(|n| collection.member(n).is_some());
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        warnings.push(Warning {
            code_minor: "invalid_selection_field",
            description: format!("{collection} have no field {}", unknown.join(", ")),
        });
    }
    let fields = (!known.is_empty()).then(|| known.into_iter().map(str::to_string).collect());
    Ok((fields, warnings))
}

fn invalid_data(description: String) -> Refusal {
    Refusal {
        code_minor: "invalid_data",
        description,
    }
}

/// `limit` (at least 1) and `offset` from a raw query string; the complaint otherwise.
fn paging(query: &str, default_limit: u64) -> Result<(u64, u64), String> {
    let mut limit = default_limit.max(1);
    let mut offset = 0;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let min = match key.as_ref() {
            "limit" => 1,
            "offset" => 0,
            _ => continue,
        };
        let n = value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= min)
            .ok_or_else(|| {
                format!("{key} must be a whole number of at least {min}, not {value:?}")
            })?;
        if key == "limit" {
            limit = n;
        } else {
            offset = n;
        }
    }
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use CollectionId::Users;

    #[test]
    fn paging_defaults_and_refusals() {
        assert_eq!(paging("", 100), Ok((100, 0)));
        assert_eq!(paging("offset=20&limit=5&x=1", 100), Ok((5, 20)));
        assert!(paging("limit=0", 100).unwrap_err().contains("limit"));
        assert!(paging("limit=ten", 100).is_err());
        assert!(paging("offset=-1", 100).unwrap_err().contains("offset"));
    }

    #[test]
    fn filter_sort_and_fields_are_read_or_refused() {
        let q = ListQuery::parse(
            "filter=role%3D%27student%27&sort=familyName&orderBy=desc&fields=sourcedId,nope",
            100,
            Users,
        )
        .unwrap();
        assert_eq!(q.filter.as_ref().unwrap().0, "role='student'");
        assert_eq!(
            q.sort,
            Some(Sort {
                field: "familyName".into(),
                descending: true
            })
        );
        assert_eq!(q.fields, Some(vec!["sourcedId".to_string()]));
        assert_eq!(q.warnings[0].code_minor, "invalid_selection_field");

        let refused = |query: &str| ListQuery::parse(query, 100, Users).unwrap_err().code_minor;
        assert_eq!(refused("filter=nope%3D%27x%27"), "invalid_filter_field");
        assert_eq!(refused("filter=role%3Dx"), "invalid_data");
        assert_eq!(refused("fields="), "invalid_blank_selection_field");
        assert_eq!(refused("fields=%20,"), "invalid_blank_selection_field");
        assert_eq!(refused("sort=role&orderBy=up"), "invalid_data");
        assert_eq!(refused("limit=0"), "invalid_data");

        let unsortable = ListQuery::parse("sort=orgs", 100, Users).unwrap();
        assert_eq!(unsortable.sort, None);
        assert_eq!(unsortable.warnings[0].code_minor, "invalid_sort_field");
        let only_unknown = ListQuery::parse("fields=x,y", 100, Users).unwrap();
        assert_eq!(only_unknown.fields, None, "all fields");
        assert_eq!(only_unknown.warnings.len(), 1);
    }

    #[test]
    fn sorting_puts_missing_values_last() {
        let asc = Sort {
            field: "x".into(),
            descending: false,
        };
        let desc = Sort {
            descending: true,
            ..asc.clone()
        };
        let (one, two, text) = (
            serde_json::json!(1),
            serde_json::json!(2.5),
            serde_json::json!("a"),
        );
        assert_eq!(asc.compare(Some(&one), Some(&two)), Ordering::Less);
        assert_eq!(desc.compare(Some(&one), Some(&two)), Ordering::Greater);
        assert_eq!(asc.compare(None, Some(&text)), Ordering::Greater);
        assert_eq!(desc.compare(None, Some(&text)), Ordering::Greater);
    }
}
