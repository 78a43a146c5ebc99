//! imsx_StatusInfo in every shape hosts send (docs/oneroster-notes.md §5.2, §5.3), reduced to what a person reads.

use serde_json::Value;

/// The useful part of a status-info object or a gateway's error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusInfo {
    pub code_major: Option<String>,
    pub severity: Option<String>,
    pub code_minor: Option<String>,
    pub description: Option<String>,
}

impl StatusInfo {
    /// Finds the first status info in an error body: a `statusInfoSet` (or `status_info_set`) entry,
    /// a bare imsx object, un-prefixed keys, an OAuth `{"error": …}` or a `{"message": …}`.
    /// Returns `None` for bodies that are not JSON or carry nothing recognisable.
    pub fn from_body(body: &[u8]) -> Option<StatusInfo> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let obj = value.as_object()?;
        for key in ["statusInfoSet", "status_info_set", "imsx_statusInfo"] {
            match obj.get(key) {
                Some(Value::Array(items)) => {
                    let infos: Vec<StatusInfo> =
                        items.iter().filter_map(Self::from_value).collect();
                    let failing = infos
                        .iter()
                        .find(|i| i.code_major.as_deref() == Some("failure"))
                        .or(infos.first());
                    if let Some(info) = failing {
                        return Some(info.clone());
                    }
                }
                Some(v @ Value::Object(_)) => {
                    if let Some(info) = Self::from_value(v) {
                        return Some(info);
                    }
                }
                _ => {}
            }
        }
        Self::from_value(&value)
    }

    /// Warnings carried by a successful page (`statusInfoSet` entries of severity warning).
    pub fn warnings(page: &Value) -> Vec<StatusInfo> {
        let Some(obj) = page.as_object() else {
            return Vec::new();
        };
        ["statusInfoSet", "status_info_set"]
            .iter()
            .filter_map(|k| obj.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(Self::from_value)
            .filter(|i| i.severity.as_deref() != Some("status"))
            .collect()
    }

    fn from_value(v: &Value) -> Option<StatusInfo> {
        let obj = v.as_object()?;
        let text = |keys: &[&str]| {
            keys.iter().find_map(|k| match obj.get(*k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        let code_minor = text(&["imsx_codeMinor", "codeMinor"]).or_else(|| {
            let field = obj.get("imsx_CodeMinor")?.get("imsx_codeMinorField")?;
            let first = field.as_array()?.first()?;
            first
                .get("imsx_codeMinorFieldValue")?
                .as_str()
                .map(str::to_string)
        });
        let info = StatusInfo {
            code_major: text(&["imsx_codeMajor", "codeMajor"]),
            severity: text(&["imsx_severity", "severity"]),
            code_minor: code_minor.or_else(|| text(&["error"])),
            description: text(&[
                "imsx_description",
                "description",
                "error_description",
                "message",
                "Message",
            ]),
        };
        (info != StatusInfo::default()).then_some(info)
    }

    /// One line for an error message: description first, then the codes.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.description {
            parts.push(d.clone());
        }
        if let Some(m) = &self.code_minor {
            parts.push(format!("codeMinor {m}"));
        }
        if parts.is_empty()
            && let Some(m) = &self.code_major
        {
            parts.push(format!("codeMajor {m}"));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_status_info_set() {
        let body = br#"{"statusInfoSet":[{"imsx_codeMajor":"failure","imsx_severity":"error",
            "imsx_description":"Unknown field: foo","imsx_codeMinor":"invalid_filter_field"}]}"#;
        let info = StatusInfo::from_body(body).unwrap();
        assert_eq!(
            info.summary(),
            "Unknown field: foo; codeMinor invalid_filter_field"
        );
    }

    #[test]
    fn reads_the_openapi_nested_code_minor() {
        let body =
            br#"{"imsx_codeMajor":"failure","imsx_severity":"error","imsx_description":"gone",
            "imsx_CodeMinor":{"imsx_codeMinorField":[{"imsx_codeMinorFieldName":"TargetEndSystem",
            "imsx_codeMinorFieldValue":"unknownobject"}]}}"#;
        assert_eq!(
            StatusInfo::from_body(body).unwrap().code_minor.as_deref(),
            Some("unknownobject")
        );
    }

    #[test]
    fn reads_gateway_bodies() {
        let oauth = StatusInfo::from_body(br#"{"error":"invalid_client"}"#).unwrap();
        assert_eq!(oauth.code_minor.as_deref(), Some("invalid_client"));
        let bb =
            StatusInfo::from_body(br#"{"statusCode":429,"message":"Rate limit is exceeded."}"#)
                .unwrap();
        assert_eq!(bb.description.as_deref(), Some("Rate limit is exceeded."));
        assert!(StatusInfo::from_body(b"<html>nope</html>").is_none());
    }
}
