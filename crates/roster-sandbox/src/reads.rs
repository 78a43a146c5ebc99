//! What API reads answer: top-level collections and typed views, single records and relationship
//! reads (docs/oneroster-notes.md §3), with paging, `X-Total-Count` and `Link`, `filter`, `sort`
//! and `fields` (§4), all over the district as its overlay of changes leaves it; injected faults
//! on top-level pages; and the rate-limit headers, when announced, on every answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::data::Data;
use super::derived;
use super::endpoints::{BASE_PATH, Endpoint};
use super::faults::{Fault, http_date_in};
use super::gate::gate;
use super::json::{push_padded, push_selected};
use super::listing::{Item, Source};
use super::options::{FilterSupport, Vendor};
use super::query::{self, ListQuery, Refusal, Warning};
use super::relations;
use super::responses::{json_response, status_info, status_info_value};
use super::state::{AppState, Shared};
use super::stats::Counters;
use super::tokens::bearer_token;
use oneroster::{CollectionId, KnownScope, NestedRead};

/// Pages with more records than this are written on a blocking thread, off the async workers.
const BLOCKING_PAGE: u64 = 2_000;

/// What a request under the base path asks for.
enum Target {
    List(Endpoint),
    Single(Endpoint, String),
    Nested(&'static NestedRead, Vec<String>),
}

impl Target {
    /// The target of a path's segments (percent-decoded), if the sandbox serves it.
    fn find(segments: &[String]) -> Option<Target> {
        match segments {
            [path] => Endpoint::find(path).map(Target::List),
            [path, id] => Endpoint::find(path).map(|e| Target::Single(e, id.clone())),
            _ => {
                let borrowed: Vec<&str> = segments.iter().map(String::as_str).collect();
                let (read, ids) = NestedRead::find(&borrowed)?;
                Some(Target::Nested(
                    read,
                    ids.into_iter().map(str::to_string).collect(),
                ))
            }
        }
    }

    /// The collection whose records it answers with.
    fn collection(&self) -> CollectionId {
        match self {
            Target::List(e) | Target::Single(e, _) => e.collection,
            Target::Nested(read, _) => read.collection,
        }
    }

    /// The scopes any one of which grants it (§2.2: nested rostering reads need roster.readonly).
    fn granting_scopes(&self) -> &'static [KnownScope] {
        match self {
            Target::List(e) | Target::Single(e, _) => e.granting_scopes(),
            Target::Nested(read, _) => std::slice::from_ref(&read.scope),
        }
    }
}

/// `GET {base}/…`: every read, with the rate limit announced on whatever it answers.
pub(crate) async fn api(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut decision = None;
    let mut response = read(&state, &method, &uri, &headers, &mut decision).await;
    if let (Some(limiter), Some(decision)) = (&state.limiter, decision) {
        limiter.announce(&decision, response.headers_mut());
    }
    response
}

async fn read(
    state: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    decision: &mut Option<super::ratelimit::Decision>,
) -> Response {
    let scopes = match gate(state, method, uri, headers, decision).await {
        Ok(scopes) => scopes,
        Err(response) => return response,
    };
    let counters = &state.counters;
    // Empty segments are dropped, as most servers do: `v1p1//classes/…` reads `v1p1/classes/…`
    // (Microsoft's conformance collection sends one such URL).
    let raw: Vec<&str> = uri
        .path()
        .strip_prefix(BASE_PATH)
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let segments: Vec<String> = raw
        .iter()
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let path = raw.join("/");
    let not_found = |description: String| {
        Counters::bump(&counters.not_found);
        status_info(StatusCode::NOT_FOUND, "unknownobject", &description)
    };
    let Some(target) = Target::find(&segments) else {
        return not_found(format!("no endpoint {BASE_PATH}/{path}"));
    };
    if state.options.missing.contains(&target.collection()) {
        return not_found(format!("this host does not offer {BASE_PATH}/{path}"));
    }
    let granting = target.granting_scopes();
    if !granting.iter().any(|s| scopes.contains(*s)) {
        Counters::bump(&counters.forbidden);
        let needed: Vec<String> = granting.iter().map(|s| s.uri()).collect();
        return status_info(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!(
                "the access token lacks the scope {} needed for /{path}",
                needed.join(" or ")
            ),
        );
    }
    match &target {
        Target::List(e) => Counters::bump(&counters.per_endpoint[e.index][0]),
        Target::Single(e, _) => Counters::bump(&counters.per_endpoint[e.index][1]),
        Target::Nested(read, _) => {
            let index = oneroster::NESTED_READS
                .iter()
                .position(|r| std::ptr::eq(r, *read))
                .expect("a read of the table");
            Counters::bump(&counters.per_nested[index]);
        }
    }
    let query = uri.query().unwrap_or_default();
    match target {
        Target::Single(endpoint, id) => single(state, &endpoint, &id, query),
        target => list(state, headers, &path, query, &target).await,
    }
}

/// A 400 for a query the sandbox refuses.
fn refuse(state: &AppState, refusal: query::Refusal) -> Response {
    Counters::bump(&state.counters.bad_requests);
    status_info(
        StatusCode::BAD_REQUEST,
        refusal.code_minor,
        &refusal.description,
    )
}

/// `GET {base}/{collection}?…` or a relationship read: one page, `{"<key>": [...]}`.
async fn list(
    state: &Shared,
    headers: &HeaderMap,
    path: &str,
    query: &str,
    target: &Target,
) -> Response {
    let collection = target.collection();
    let mut request = match ListQuery::parse(query, state.options.default_limit, collection) {
        Ok(request) => request,
        Err(refusal) => return refuse(state, refusal),
    };
    match state.options.filters {
        FilterSupport::Refused if request.filter.is_some() => {
            return refuse(
                state,
                Refusal {
                    code_minor: "invalid_filter_field",
                    description: "this host does not filter".to_string(),
                },
            );
        }
        FilterSupport::Ignored => request.filter = None,
        _ => {}
    }
    let limit = state
        .options
        .page_cap
        .map_or(request.limit, |cap| request.limit.min(cap.max(1)));
    let offset = request.offset;
    let snapshot = state.store.snapshot();
    let listing = match target {
        Target::List(endpoint) => snapshot.listing(&state.store.data, endpoint),
        Target::Nested(read, ids) => {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let Some(selection) = relations::resolve(read, &ids, &state.store, &snapshot) else {
                Counters::bump(&state.counters.not_found);
                return status_info(
                    StatusCode::NOT_FOUND,
                    "unknownobject",
                    &format!("{} is not served here", read.operation),
                );
            };
            Arc::new(selection.listing(&state.store, &snapshot))
        }
        Target::Single(..) => unreachable!("single reads are not lists"),
    };
    let source = if request.filter.is_none() && request.sort.is_none() {
        Source::Listing(listing)
    } else {
        let key = format!(
            "{}\n{path}\n{:?}\n{:?}",
            snapshot.overlay.version,
            request.filter.as_ref().map(|f| &f.0),
            request.sort
        );
        let (filter, sort) = (request.filter.clone().map(|f| f.1), request.sort.clone());
        let shared = state.clone();
        // Most filters and every sort read the whole selection: off the async workers.
        let items = tokio::task::spawn_blocking(move || {
            shared.derived.get_or(key, || {
                derived::derive(&shared.store.data, &listing, filter.as_ref(), sort.as_ref())
            })
        })
        .await
        .expect("filtering does not panic");
        Source::Items(collection, items)
    };
    let total = source.len();
    let top_level = matches!(target, Target::List(_));
    let token = bearer_token(headers).unwrap_or("");
    let fault = match &state.faults {
        Some(faults) if top_level => faults.draw(token),
        _ => None,
    };
    if let Some(response) = fault_response(state, fault).await {
        return response;
    }
    // Page-shape faults: a duplicate starts one record early; drift shifts the whole window. Drift
    // needs an earlier page to differ from: on a collection's first page, a record missing from a
    // total that agrees is no fault a client could see, only a different district.
    let (first, last, shown_total) = match fault {
        Some(Fault::Duplicate) => (
            offset.saturating_sub(1),
            offset.saturating_add(limit),
            total,
        ),
        Some(Fault::DriftDelete) if offset > 0 => (
            offset + 1,
            offset.saturating_add(limit) + 1,
            total.saturating_sub(1),
        ),
        Some(Fault::DriftInsert) if offset > 0 => {
            (offset - 1, offset.saturating_add(limit) - 1, total + 1)
        }
        Some(Fault::WrongTotal) => (offset, offset.saturating_add(limit), total + 3),
        _ => (offset, offset.saturating_add(limit), total),
    };
    let start = first.min(total);
    let end = last.min(total).max(start);
    let page = Page {
        key: collection.info().response_key,
        fields: request.fields,
        warnings: request.warnings,
    };
    let body = if end - start > BLOCKING_PAGE {
        let shared = state.clone();
        tokio::task::spawn_blocking(move || page.body(&shared, &source, start, end))
            .await
            .expect("page writer does not panic")
    } else {
        page.body(state, &source, start, end)
    };
    state
        .counters
        .records_served
        .fetch_add(end - start, Ordering::Relaxed);

    if let Some(faults) = &state.faults
        && top_level
    {
        faults.served(token);
    }
    let mut response = if fault == Some(Fault::Truncated) {
        // The headers promise the whole body; the connection breaks halfway through it.
        let length = body.len();
        let half = Bytes::from(body).slice(..length / 2);
        let chunks: [Result<Bytes, std::io::Error>; 2] =
            [Ok(half), Err(std::io::Error::other("cut off"))];
        let mut response = json_response(
            StatusCode::OK,
            Body::from_stream(futures::stream::iter(chunks)),
        );
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    } else {
        json_response(StatusCode::OK, body)
    };
    let h = response.headers_mut();
    if state.options.total_count {
        h.insert("x-total-count", HeaderValue::from(shown_total));
    }
    if state.options.link_header {
        let origin = match &state.options.link_origin {
            Some(foreign) => foreign.clone(),
            None => state.origin(headers),
        };
        let link = link_header(&origin, path, query, limit, offset, total);
        if let Ok(value) = HeaderValue::from_str(&link) {
            h.insert(header::LINK, value);
        }
    }
    response
}

/// How a page's body is written.
struct Page {
    key: &'static str,
    fields: Option<Vec<String>>,
    warnings: Vec<Warning>,
}

impl Page {
    fn body(&self, state: &AppState, source: &Source, start: u64, end: u64) -> Vec<u8> {
        let data = &state.store.data;
        let collection = source.collection();
        let mut body = Vec::with_capacity(16 + self.key.len() + (end - start) as usize * 512);
        body.extend_from_slice(b"{\"");
        body.extend_from_slice(self.key.as_bytes());
        body.extend_from_slice(b"\":[");
        for (n, item) in source.items(start, end).enumerate() {
            if n > 0 {
                body.push(b',');
            }
            push_record(data, collection, &item, self.fields.as_deref(), &mut body);
        }
        body.push(b']');
        push_warnings(&mut body, &self.warnings);
        if state.options.vendor == Vendor::Blackbaud {
            // Blackbaud's snake-case status set with its flat codeMinor (docs/oneroster-notes.md §8.1).
            body.extend_from_slice(
                br#","status_info_set":[{"imsx_codeMajor":"success","imsx_severity":"status","imsx_codeMinor":"fullsuccess"}]"#,
            );
        }
        body.push(b'}');
        body
    }
}

/// Appends a record, only the `fields` asked for when there is a selection.
fn push_record(
    data: &Data,
    collection: CollectionId,
    item: &Item,
    fields: Option<&[String]>,
    out: &mut Vec<u8>,
) {
    match fields {
        None => item.write(data, collection, out),
        Some(fields) => {
            let mut raw = Vec::with_capacity(1024);
            item.write(data, collection, &mut raw);
            push_selected(out, &raw, fields);
        }
    }
}

/// Appends `,"statusInfoSet":[…]` with a `success`/`warning` entry per warning (§5.5).
fn push_warnings(body: &mut Vec<u8>, warnings: &[Warning]) {
    if warnings.is_empty() {
        return;
    }
    let set: Vec<Value> = warnings
        .iter()
        .map(|w| status_info_value("success", "warning", w.code_minor, &w.description))
        .collect();
    body.extend_from_slice(b",\"statusInfoSet\":");
    body.extend_from_slice(Value::Array(set).to_string().as_bytes());
}

/// `GET {base}/{collection}/{sourcedId}`: `{"<singular key>": {...}}`, `X-Total-Count: 1`.
fn single(state: &AppState, endpoint: &Endpoint, id: &str, query: &str) -> Response {
    let (fields, warnings) = match query::selection(query, endpoint.collection) {
        Ok(selection) => selection,
        Err(refusal) => return refuse(state, refusal),
    };
    let snapshot = state.store.snapshot();
    let data = &state.store.data;
    let Some(item) = snapshot.find(data, endpoint.collection, endpoint.view, id) else {
        Counters::bump(&state.counters.not_found);
        return status_info(
            StatusCode::NOT_FOUND,
            "unknownobject",
            &format!("no record with sourcedId {id:?} at /{}", endpoint.path),
        );
    };
    let key = endpoint.singular_key();
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(b"\":");
    push_record(
        data,
        endpoint.collection,
        &item,
        fields.as_deref(),
        &mut body,
    );
    push_warnings(&mut body, &warnings);
    body.push(b'}');
    Counters::bump(&state.counters.records_served);
    let mut response = json_response(StatusCode::OK, body).into_response();
    if state.options.total_count {
        // Microsoft SDS checks for it on single reads too (docs/oneroster-notes.md §4.1).
        response
            .headers_mut()
            .insert("x-total-count", HeaderValue::from_static("1"));
    }
    response
}

/// The whole answer for faults that replace the page; `None` for the ones that alter it (and
/// after the delay of a slow one).
async fn fault_response(state: &AppState, fault: Option<Fault>) -> Option<Response> {
    let status = |code: StatusCode, minor: &str| Some(status_info(code, minor, "injected fault"));
    match fault? {
        Fault::RateLimitedSeconds | Fault::RateLimitedDate => {
            let mut response = if state.options.vendor == Vendor::Blackbaud {
                // Blackbaud answers a spent quota with 403 and its own JSON (docs/oneroster-notes.md §8.1).
                let body = r#"{"statusCode":403,"message":"Quota Exceeded. Try again later."}"#;
                json_response(StatusCode::FORBIDDEN, body)
            } else {
                status_info(
                    StatusCode::TOO_MANY_REQUESTS,
                    "server_busy",
                    "injected fault: slow down",
                )
            };
            let after = if fault == Some(Fault::RateLimitedDate) {
                http_date_in(1)
            } else {
                "1".to_string()
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_str(&after).ok()?);
            Some(response)
        }
        Fault::Status500 => status(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error"),
        Fault::Status502 => status(StatusCode::BAD_GATEWAY, "internal_server_error"),
        Fault::Status503 => status(StatusCode::SERVICE_UNAVAILABLE, "server_busy"),
        Fault::Status504 => status(StatusCode::GATEWAY_TIMEOUT, "internal_server_error"),
        Fault::Unauthorized => status(StatusCode::UNAUTHORIZED, "unauthorized"),
        Fault::Disconnect => {
            let chunks: [Result<Bytes, std::io::Error>; 1] =
                [Err(std::io::Error::other("dropped"))];
            Some(json_response(
                StatusCode::OK,
                Body::from_stream(futures::stream::iter(chunks)),
            ))
        }
        Fault::InvalidJson => Some(json_response(
            StatusCode::OK,
            "<html><body>Service Temporarily Unavailable</body></html>",
        )),
        Fault::Slow => {
            tokio::time::sleep(state.faults.as_ref().map_or(Duration::ZERO, |f| f.slow())).await;
            None
        }
        Fault::Truncated
        | Fault::WrongTotal
        | Fault::Duplicate
        | Fault::DriftDelete
        | Fault::DriftInsert => None,
    }
}

/// RFC 8288 links to the next (unless last), last, first and prev (unless first) pages, with the
/// request's other query parameters kept as sent.
fn link_header(
    origin: &str,
    path: &str,
    query: &str,
    limit: u64,
    offset: u64,
    total: u64,
) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && key != "limit" && key != "offset"
        })
        .collect();
    let url = |at: u64, rel: &str| {
        let mut s = format!("<{origin}{BASE_PATH}/{path}?");
        for pair in &kept {
            s.push_str(pair);
            s.push('&');
        }
        let mut numbers = Vec::new();
        numbers.extend_from_slice(b"limit=");
        push_padded(&mut numbers, limit, 1);
        numbers.extend_from_slice(b"&offset=");
        push_padded(&mut numbers, at, 1);
        s.push_str(std::str::from_utf8(&numbers).expect("ASCII"));
        s.push_str(">; rel=\"");
        s.push_str(rel);
        s.push('"');
        s
    };
    let last = total.saturating_sub(1) / limit * limit;
    let mut links = Vec::with_capacity(4);
    if offset.saturating_add(limit) < total {
        links.push(url(offset + limit, "next"));
    }
    links.push(url(last, "last"));
    links.push(url(0, "first"));
    if offset > 0 {
        links.push(url(offset.saturating_sub(limit), "prev"));
    }
    links.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_other_parameters_and_omit_what_does_not_exist() {
        let first = link_header("http://h:1", "users", "limit=10&filter=a%3D1", 10, 0, 25);
        assert_eq!(
            first,
            "<http://h:1/ims/oneroster/v1p1/users?filter=a%3D1&limit=10&offset=10>; rel=\"next\", \
             <http://h:1/ims/oneroster/v1p1/users?filter=a%3D1&limit=10&offset=20>; rel=\"last\", \
             <http://h:1/ims/oneroster/v1p1/users?filter=a%3D1&limit=10&offset=0>; rel=\"first\""
        );
        let last = link_header("http://h:1", "users", "", 10, 20, 25);
        assert!(!last.contains("rel=\"next\"") && last.contains("offset=10>; rel=\"prev\""));
        let empty = link_header("http://h:1", "users", "", 10, 0, 0);
        assert!(empty.contains("offset=0>; rel=\"last\"") && !empty.contains("next"));
    }
}
