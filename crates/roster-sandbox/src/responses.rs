//! The JSON every endpoint answers with: the response itself and OneRoster status-info bodies
//! (docs/oneroster-notes.md §5.2).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A OneRoster status-info object (docs/oneroster-notes.md §5.2, the 1.1 OpenAPI shape).
pub(crate) fn status_info_value(
    code_major: &str,
    severity: &str,
    code_minor: &str,
    description: &str,
) -> serde_json::Value {
    serde_json::json!({
        "imsx_codeMajor": code_major,
        "imsx_severity": severity,
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]},
    })
}

/// A OneRoster status-info error body.
pub(crate) fn status_info(status: StatusCode, code_minor: &str, description: &str) -> Response {
    let body = status_info_value("failure", "error", code_minor, description);
    json_response(status, body.to_string())
}
