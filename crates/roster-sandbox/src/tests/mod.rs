//! Tests of the running server over real HTTP: tokens, 401/403, paging and its headers, page caps,
//! every collection and typed view against the fixture, synthetic districts, rate limit, latency,
//! gzip, stats and shutdown. Each starts its own sandbox on 127.0.0.1:0 and is bounded in time.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LINK, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use serde_json::Value;

use super::*;
use crate::endpoints::Endpoint;
use oneroster::{COLLECTIONS, NESTED_READS, NestedRead, StatusInfo};

mod changes;
mod limits;
mod reads;

pub(super) const LIMIT: Duration = Duration::from_secs(30);

/// Runs a test body, failing it if it takes longer than [`LIMIT`].
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(LIMIT, body)
        .await
        .expect("the test finished in time");
}

pub(super) async fn start(options: SandboxOptions) -> Sandbox {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Sandbox::start(options, addr).await.expect("sandbox starts")
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn uri(scope: KnownScope) -> String {
    scope.uri()
}

/// A token for these scope URIs (space-separated), asserting success.
async fn token(sandbox: &Sandbox, scope: &str) -> String {
    let response = client()
        .post(sandbox.token_url())
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn roster_token(sandbox: &Sandbox) -> String {
    token(sandbox, &uri(KnownScope::Roster)).await
}

/// `GET {base}/{path_and_query}` with a bearer token.
async fn get(sandbox: &Sandbox, token: &str, path_and_query: &str) -> reqwest::Response {
    client()
        .get(format!("{}/{path_and_query}", sandbox.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn json(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/json",
        "{}",
        response.url()
    );
    response.json().await.unwrap()
}

fn header(
    response: &reqwest::Response,
    name: impl reqwest::header::AsHeaderName,
) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The `rel` → URL pairs of a Link header.
fn links(response: &reqwest::Response) -> Vec<(String, String)> {
    let Some(value) = header(response, LINK) else {
        return Vec::new();
    };
    value
        .split(", ")
        .map(|part| {
            let (url, rel) = part.split_once(">; rel=\"").expect("<url>; rel=\"…\"");
            (
                rel.trim_end_matches('"').to_string(),
                url.trim_start_matches('<').to_string(),
            )
        })
        .collect()
}

fn link<'a>(links: &'a [(String, String)], rel: &str) -> Option<&'a str> {
    links
        .iter()
        .find(|(r, _)| r == rel)
        .map(|(_, u)| u.as_str())
}

fn ids(records: &Value) -> Vec<String> {
    records
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["sourcedId"].as_str().unwrap().to_string())
        .collect()
}

async fn status_info_of(response: reqwest::Response) -> StatusInfo {
    let bytes = response.bytes().await.unwrap();
    StatusInfo::from_body(&bytes).expect("a status-info body")
}

/// `GET orgs` until one is refused (at most 20 requests: a limit that refills within a second
/// still refuses one of a quick series; the refill itself is tested on the paused clock in
/// ratelimit.rs). The statuses seen and the refusal.
async fn until_limited(
    sandbox: &Sandbox,
    token: &str,
) -> (Vec<StatusCode>, Option<reqwest::Response>) {
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = client
            .get(format!("{}/orgs", sandbox.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return (statuses, Some(response));
        }
    }
    (statuses, None)
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn a_token_is_issued_for_basic_credentials() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let scope = format!("{} {}", uri(KnownScope::Roster), uri(KnownScope::Gradebook));
        let response = client()
            .post(sandbox.token_url())
            .basic_auth("demo-client", Some("demo-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", &scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, CACHE_CONTROL).as_deref(),
            Some("no-store")
        );
        let body = json(response).await;
        assert!(body["access_token"].as_str().unwrap().len() >= 32);
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], scope);
        assert_eq!(sandbox.stats().tokens_issued, 1);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn credentials_in_the_form_body_and_an_empty_scope_grant_every_read_scope() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let response = client()
            .post(sandbox.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "demo-client"),
                ("client_secret", "demo-secret"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = json(response).await;
        let granted: BTreeSet<&str> = body["scope"].as_str().unwrap().split(' ').collect();
        let all: Vec<String> = KnownScope::ALL.iter().map(|s| s.uri()).collect();
        assert_eq!(granted, all.iter().map(String::as_str).collect());
        let token = body["access_token"].as_str().unwrap();
        for path in ["users", "demographics", "results", "resources"] {
            assert_eq!(get(&sandbox, token, path).await.status(), StatusCode::OK);
        }
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_token_requests_are_refused_the_oauth_way() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            client_secret: "s3cr+t/=".to_string(),
            ..Default::default()
        })
        .await;
        let roster = uri(KnownScope::Roster);
        let post = |id: &'static str, secret: &'static str, grant: &'static str, scope: String| {
            client()
                .post(sandbox.token_url())
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", grant), ("scope", &scope)])
                .send()
        };
        let ok = post(
            "demo-client",
            "s3cr+t/=",
            "client_credentials",
            roster.clone(),
        )
        .await
        .unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "plain Basic credentials work");

        let cases = [
            (
                post("demo-client", "wrong", "client_credentials", roster.clone()),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
            ),
            (
                post("someone", "s3cr+t/=", "client_credentials", roster.clone()),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
            ),
            (
                // URL-encoded before base64 (the oauth2 crate's way): not what OneRoster hosts take.
                post(
                    "demo-client",
                    "s3cr%2Bt%2F%3D",
                    "client_credentials",
                    roster.clone(),
                ),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
            ),
            (
                post(
                    "demo-client",
                    "s3cr+t/=",
                    "authorization_code",
                    roster.clone(),
                ),
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
            ),
            (
                // The password grant without a user name.
                post("demo-client", "s3cr+t/=", "password", roster.clone()),
                StatusCode::BAD_REQUEST,
                "invalid_grant",
            ),
            (
                post(
                    "demo-client",
                    "s3cr+t/=",
                    "client_credentials",
                    format!("{roster} https://example.com/scope/other"),
                ),
                StatusCode::BAD_REQUEST,
                "invalid_scope",
            ),
        ];
        for (request, status, error) in cases {
            let response = request.await.unwrap();
            assert_eq!(response.status(), status, "{error}");
            if status == StatusCode::UNAUTHORIZED {
                assert!(
                    header(&response, WWW_AUTHENTICATE)
                        .unwrap()
                        .starts_with("Basic")
                );
            }
            assert_eq!(json(response).await["error"], error);
        }

        let anonymous = client()
            .post(sandbox.token_url())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let not_a_form = client()
            .post(sandbox.token_url())
            .basic_auth("demo-client", Some("s3cr+t/="))
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap();
        assert_eq!(not_a_form.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json(not_a_form).await["error"], "invalid_request");

        let stats = sandbox.stats();
        assert_eq!((stats.tokens_issued, stats.token_refusals), (1, 8));
        sandbox.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------- 401 and 403

#[tokio::test]
async fn api_requests_without_a_live_token_get_401() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let bare = client()
            .get(format!("{}/users", sandbox.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
        assert!(
            header(&bare, WWW_AUTHENTICATE)
                .unwrap()
                .starts_with("Bearer")
        );
        let info = status_info_of(bare).await;
        assert_eq!(info.code_major.as_deref(), Some("failure"));
        assert_eq!(info.severity.as_deref(), Some("error"));
        assert_eq!(info.code_minor.as_deref(), Some("unauthorized"));

        let forged = get(&sandbox, "not-a-token", "users").await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&forged, WWW_AUTHENTICATE).as_deref(),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(sandbox.stats().unauthorized, 2);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            token_lifetime: Duration::from_millis(300),
            ..Default::default()
        })
        .await;
        let response = client()
            .post(sandbox.token_url())
            .basic_auth("demo-client", Some("demo-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let body = json(response).await;
        assert_eq!(body["expires_in"], 1, "whole seconds, rounded up");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(get(&sandbox, token, "orgs").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let expired = get(&sandbox, token, "orgs").await;
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&expired, WWW_AUTHENTICATE).as_deref(),
            Some("Bearer error=\"invalid_token\"")
        );
        assert!(
            status_info_of(expired)
                .await
                .description
                .unwrap()
                .contains("expired")
        );
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_token_without_the_scope_gets_403_naming_it() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let gradebook = token(&sandbox, &uri(KnownScope::Gradebook)).await;
        let refused = get(&sandbox, &gradebook, "users").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let info = status_info_of(refused).await;
        assert_eq!(info.code_minor.as_deref(), Some("forbidden"));
        let description = info.description.unwrap();
        assert!(
            description.contains(&uri(KnownScope::Roster)),
            "{description}"
        );
        assert!(
            description.contains(&uri(KnownScope::RosterCore)),
            "{description}"
        );
        assert_eq!(
            get(&sandbox, &gradebook, "categories").await.status(),
            StatusCode::OK
        );

        let core = token(&sandbox, &uri(KnownScope::RosterCore)).await;
        assert_eq!(
            get(&sandbox, &core, "students").await.status(),
            StatusCode::OK
        );
        let demographics = get(&sandbox, &core, "demographics").await;
        assert_eq!(demographics.status(), StatusCode::FORBIDDEN);
        let description = status_info_of(demographics).await.description.unwrap();
        assert!(description.contains(&uri(KnownScope::RosterDemographics)));
        let resources = get(&sandbox, &core, "resources/anything").await;
        assert_eq!(resources.status(), StatusCode::FORBIDDEN);
        assert_eq!(sandbox.stats().forbidden, 3);
        sandbox.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------- paging

#[tokio::test]
async fn pages_carry_total_count_and_links() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = roster_token(&sandbox).await;
        let all = ids(&Value::Array(fixture_district().records("users").to_vec()));
        let total = all.len();
        assert!(total > 20, "the fixture has enough users to page through");

        let first = get(
            &sandbox,
            &token,
            "users?limit=10&fields=sourcedId,familyName",
        )
        .await;
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(header(&first, "x-total-count"), Some(total.to_string()));
        let l = links(&first);
        let base = sandbox.base_url();
        assert_eq!(
            link(&l, "next"),
            Some(format!("{base}/users?fields=sourcedId,familyName&limit=10&offset=10").as_str())
        );
        let last_offset = (total - 1) / 10 * 10;
        assert_eq!(
            link(&l, "last"),
            Some(
                format!("{base}/users?fields=sourcedId,familyName&limit=10&offset={last_offset}")
                    .as_str()
            )
        );
        assert_eq!(
            link(&l, "first"),
            Some(format!("{base}/users?fields=sourcedId,familyName&limit=10&offset=0").as_str())
        );
        assert_eq!(link(&l, "prev"), None, "no prev on the first page");
        let body = json(first).await;
        assert_eq!(ids(&body["users"]), all[..10]);

        let middle = get(&sandbox, &token, "users?offset=10&limit=10").await;
        let l = links(&middle);
        assert!(link(&l, "prev").unwrap().ends_with("limit=10&offset=0"));
        assert!(link(&l, "next").unwrap().ends_with("limit=10&offset=20"));
        assert_eq!(ids(&json(middle).await["users"]), all[10..20]);

        let last = get(
            &sandbox,
            &token,
            &format!("users?limit=10&offset={last_offset}"),
        )
        .await;
        assert_eq!(
            link(&links(&last), "next"),
            None,
            "no next on the last page"
        );
        assert_eq!(ids(&json(last).await["users"]), all[last_offset..]);

        let past = get(&sandbox, &token, "users?limit=10&offset=1000").await;
        assert_eq!(past.status(), StatusCode::OK);
        assert_eq!(header(&past, "x-total-count"), Some(total.to_string()));
        assert_eq!(json(past).await, serde_json::json!({"users": []}));
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn following_next_links_visits_every_record_once() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = token(&sandbox, "").await;
        for collection in &COLLECTIONS {
            let want = ids(&Value::Array(
                fixture_district().records(collection.name).to_vec(),
            ));
            let mut got = Vec::new();
            let mut url = format!("{}/{}?limit=4", sandbox.base_url(), collection.path);
            for _ in 0..100 {
                let response = client().get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{url}");
                let next = link(&links(&response), "next").map(str::to_string);
                got.extend(ids(&json(response).await[collection.response_key]));
                match next {
                    Some(n) => url = n,
                    None => break,
                }
            }
            assert_eq!(got, want, "{}", collection.name);
        }
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn limit_defaults_and_bad_values() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            default_limit: 7,
            ..Default::default()
        })
        .await;
        let token = roster_token(&sandbox).await;
        let page = json(get(&sandbox, &token, "enrollments?unknown=1").await).await;
        assert_eq!(page["enrollments"].as_array().unwrap().len(), 7);
        for bad in ["limit=0", "limit=ten", "offset=-5", "limit=1.5"] {
            let response = get(&sandbox, &token, &format!("users?{bad}")).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
            let info = status_info_of(response).await;
            assert_eq!(info.code_major.as_deref(), Some("failure"), "{bad}");
        }
        assert_eq!(sandbox.stats().bad_requests, 4);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_page_cap_silently_shortens_pages() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            page_cap: Some(4),
            ..Default::default()
        })
        .await;
        let token = roster_token(&sandbox).await;
        let total = fixture_district().records("users").len();
        let response = get(&sandbox, &token, "users?limit=10&offset=8").await;
        assert_eq!(header(&response, "x-total-count"), Some(total.to_string()));
        let l = links(&response);
        assert!(link(&l, "next").unwrap().ends_with("limit=4&offset=12"));
        let body = json(response).await;
        let all = ids(&Value::Array(fixture_district().records("users").to_vec()));
        assert_eq!(ids(&body["users"]), all[8..12]);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn paging_headers_can_be_left_out() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            total_count: false,
            link_header: false,
            ..Default::default()
        })
        .await;
        let token = roster_token(&sandbox).await;
        let response = get(&sandbox, &token, "users?limit=2").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-total-count"), None);
        assert_eq!(header(&response, LINK), None);
        assert_eq!(json(response).await["users"].as_array().unwrap().len(), 2);
        sandbox.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------- the fixture district

#[tokio::test]
async fn every_collection_serves_the_fixture_exactly() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = token(&sandbox, "").await;
        for collection in &COLLECTIONS {
            let want = fixture_district().records(collection.name);
            assert!(!want.is_empty(), "{}", collection.name);
            let response = get(&sandbox, &token, &format!("{}?limit=1000", collection.path)).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", collection.name);
            assert_eq!(
                header(&response, "x-total-count"),
                Some(want.len().to_string())
            );
            let body = json(response).await;
            assert_eq!(body.as_object().unwrap().len(), 1, "one payload member");
            assert_eq!(body[collection.response_key].as_array().unwrap(), want);
        }
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn typed_views_select_from_their_base_collection() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = roster_token(&sandbox).await;
        let views = [
            ("schools", "orgs", "type", "school"),
            ("students", "users", "role", "student"),
            ("teachers", "users", "role", "teacher"),
            ("terms", "academicSessions", "type", "term"),
            ("gradingPeriods", "academicSessions", "type", "gradingPeriod"),
        ];
        for (path, base, field, value) in views {
            let want: Vec<&Value> = fixture_district()
                .records(base)
                .iter()
                .filter(|r| r[field] == value)
                .collect();
            assert!(!want.is_empty(), "the fixture has {path}");
            let response = get(&sandbox, &token, &format!("{path}?limit=1000")).await;
            assert_eq!(header(&response, "x-total-count"), Some(want.len().to_string()));
            let body = json(response).await;
            let got: Vec<&Value> = body[base].as_array().expect(base).iter().collect();
            assert_eq!(got, want, "{path}");

            let one = want[0]["sourcedId"].as_str().unwrap();
            let single = json(get(&sandbox, &token, &format!("{path}/{one}")).await).await;
            assert_eq!(&single[endpoints::singular_key(Endpoint::find(base).unwrap().collection)], want[0]);
        }
        let district = fixture_district()
            .records("orgs")
            .iter()
            .find(|o| o["type"] == "district")
            .unwrap()["sourcedId"]
            .as_str()
            .unwrap();
        let not_a_school = get(&sandbox, &token, &format!("schools/{district}")).await;
        assert_eq!(not_a_school.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            json(get(&sandbox, &token, &format!("orgs/{district}")).await).await["org"]["sourcedId"],
            district
        );
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn single_records_use_the_singular_key() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = token(&sandbox, "").await;
        let keys = [
            ("orgs", "org"),
            ("academicSessions", "academicSession"),
            ("courses", "course"),
            ("classes", "class"),
            ("users", "user"),
            ("enrollments", "enrollment"),
            ("demographics", "demographics"),
            ("categories", "category"),
            ("lineItems", "lineItem"),
            ("results", "result"),
            ("resources", "resource"),
        ];
        for (path, key) in keys {
            let records = fixture_district().records(path);
            let record = &records[records.len() / 2];
            let id = record["sourcedId"].as_str().unwrap();
            let body = json(get(&sandbox, &token, &format!("{path}/{id}")).await).await;
            assert_eq!(body, serde_json::json!({ key: record }), "{path}/{id}");
            let missing = get(&sandbox, &token, &format!("{path}/no-such-id")).await;
            assert_eq!(missing.status(), StatusCode::NOT_FOUND);
            assert_eq!(
                status_info_of(missing).await.code_minor.as_deref(),
                Some("unknownobject")
            );
        }
        for unknown in ["nothing", "schools/x/nothing", "users/a/b/c"] {
            let response = get(&sandbox, &token, unknown).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{unknown}");
            assert!(status_info_of(response).await.code_minor.is_some());
        }
        let stats = sandbox.stats();
        assert_eq!(stats.not_found, 14);
        assert_eq!(stats.per_path.get("users/{id}"), Some(&2));
        sandbox.shutdown().await;
    })
    .await;
}

#[test]
fn the_fixture_covers_the_data_model_and_hangs_together() {
    let district = fixture_district();
    let names: Vec<&str> = district.collection_names().collect();
    assert_eq!(names.len(), COLLECTIONS.len());
    for name in &names {
        assert!(!district.records(name).is_empty(), "{name}");
        for r in district.records(name) {
            for field in ["sourcedId", "status", "dateLastModified"] {
                assert!(r[field].is_string(), "{name}: {field} in {r}");
            }
        }
    }
    // Every GUIDRef points at a record of the right collection.
    let target = |kind: &str| match kind {
        "org" => "orgs",
        "academicSession" => "academicSessions",
        "course" => "courses",
        "class" => "classes",
        "user" => "users",
        "category" => "categories",
        "lineItem" => "lineItems",
        "resource" => "resources",
        other => panic!("unexpected GUIDRef type {other}"),
    };
    let mut refs = 0;
    for name in &names {
        for r in district.records(name) {
            for value in r.as_object().unwrap().values() {
                let list = match value {
                    Value::Array(items) => items.clone(),
                    Value::Object(_) => vec![value.clone()],
                    _ => continue,
                };
                for item in list {
                    let (Some(kind), Some(id)) =
                        (item["type"].as_str(), item["sourcedId"].as_str())
                    else {
                        continue;
                    };
                    assert!(
                        district.get(target(kind), id).is_some(),
                        "{name} {}: dangling {kind} {id}",
                        r["sourcedId"]
                    );
                    assert!(item["href"].as_str().unwrap().ends_with(id));
                    refs += 1;
                }
            }
        }
    }
    assert!(refs > 100, "{refs} references checked");

    let users = district.records("users");
    let given_and_family: Vec<&str> = users
        .iter()
        .flat_map(|u| {
            [
                u["givenName"].as_str().unwrap(),
                u["familyName"].as_str().unwrap(),
            ]
        })
        .collect();
    assert!(given_and_family.iter().any(|n| n.contains(", ")));
    assert!(given_and_family.iter().any(|n| n.contains('"')));
    assert!(given_and_family.iter().any(|n| n.contains('\'')));
    assert!(given_and_family.iter().any(|n| !n.is_ascii()));
    assert!(users.iter().any(|u| u["status"] == "tobedeleted"));
    assert!(district.active("users").count() < users.len());
    for role in ["administrator", "teacher", "student", "parent"] {
        assert!(users.iter().any(|u| u["role"] == role), "{role}");
    }
    assert!(users.iter().any(|u| u["agents"].is_array()));
    assert!(users.iter().any(|u| u["userIds"].is_array()));
    assert!(
        users
            .iter()
            .any(|u| u["orgs"].as_array().unwrap().len() > 1)
    );
    for d in district.records("demographics") {
        let id = d["sourcedId"].as_str().unwrap();
        assert_eq!(district.get("users", id).unwrap()["role"], "student");
    }
    assert!(
        district
            .records("classes")
            .iter()
            .any(|c| c["resources"].is_array())
    );
    let served_ids: Vec<String> = ids(&Value::Array(users.to_vec()));
    let mut sorted = served_ids.clone();
    sorted.sort();
    assert_eq!(served_ids, sorted, "served in sourcedId order");
    assert_eq!(
        fixture_records(CollectionId::Users),
        users,
        "the by-id accessor agrees"
    );
}

// ---------------------------------------------------------------- synthetic districts

#[tokio::test]
async fn a_synthetic_district_is_served_deterministically() {
    bounded(async {
        let options = SandboxOptions {
            district: District::Synthetic {
                users: 3_000,
                seed: 5,
            },
            ..Default::default()
        };
        let (a, b) = (start(options.clone()).await, start(options).await);
        let (ta, tb) = (token(&a, "").await, token(&b, "").await);
        for path in ["users", "students", "enrollments", "results", "schools"] {
            let query = format!("{path}?limit=500&offset=100");
            let (ra, rb) = (get(&a, &ta, &query).await, get(&b, &tb, &query).await);
            assert_eq!(header(&ra, "x-total-count"), header(&rb, "x-total-count"));
            let (x, y) = (ra.bytes().await.unwrap(), rb.bytes().await.unwrap());
            assert_eq!(x, y, "{path}: same seed, same bytes");
        }
        let users = get(&a, &ta, "users?limit=1").await;
        assert_eq!(header(&users, "x-total-count").as_deref(), Some("3000"));
        let students: u64 = header(&get(&a, &ta, "students?limit=1").await, "x-total-count")
            .unwrap()
            .parse()
            .unwrap();
        let enrollments: u64 = header(&get(&a, &ta, "enrollments?limit=1").await, "x-total-count")
            .unwrap()
            .parse()
            .unwrap();
        assert!(students > 2_500 && enrollments >= 8 * students);

        // A page big enough to be written off the async workers.
        let big = json(get(&a, &ta, "enrollments?limit=5000").await).await;
        let got = ids(&big["enrollments"]);
        assert_eq!(got.len(), 5000);
        let one = &got[4321];
        let single = json(get(&a, &ta, &format!("enrollments/{one}")).await).await;
        assert_eq!(single["enrollment"], big["enrollments"][4321]);
        let demo_id =
            ids(&json(get(&a, &ta, "demographics?limit=1").await).await["demographics"]).remove(0);
        let student = json(get(&a, &ta, &format!("students/{demo_id}")).await).await;
        assert_eq!(student["user"]["role"], "student");
        a.shutdown().await;
        b.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------- harder hosts

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            rate_limit: Some(RateLimit::per_second(2)),
            ..Default::default()
        })
        .await;
        let token = roster_token(&sandbox).await;
        let (statuses, limited) = until_limited(&sandbox, &token).await;
        assert_eq!(statuses[..2], [StatusCode::OK; 2], "a burst of 2");
        let limited = limited.expect("a request was limited");
        assert_eq!(header(&limited, RETRY_AFTER).as_deref(), Some("1"));
        assert_eq!(
            status_info_of(limited).await.code_minor.as_deref(),
            Some("server_busy")
        );
        let stats = sandbox.stats();
        assert_eq!(stats.rate_limited, 1, "{stats:?}");
        assert_eq!(stats.api_requests, statuses.len() as u64);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn latency_is_added_to_api_responses() {
    // Long enough that a token request on a loaded machine still comes back sooner.
    const LATENCY: Duration = Duration::from_millis(400);
    bounded(async {
        let sandbox = start(SandboxOptions {
            latency: Some(LATENCY),
            ..Default::default()
        })
        .await;
        let started = Instant::now();
        let token = roster_token(&sandbox).await;
        assert!(
            started.elapsed() < LATENCY,
            "not on the token endpoint: {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        assert_eq!(get(&sandbox, &token, "orgs").await.status(), StatusCode::OK);
        assert!(started.elapsed() >= LATENCY);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn gzip_only_when_enabled_and_asked_for() {
    bounded(async {
        for compression in [false, true] {
            let sandbox = start(SandboxOptions {
                compression,
                ..Default::default()
            })
            .await;
            let token = roster_token(&sandbox).await;
            let raw = reqwest::Client::builder()
                .no_proxy()
                .no_gzip()
                .build()
                .unwrap();
            let response = raw
                .get(format!("{}/users", sandbox.base_url()))
                .bearer_auth(&token)
                .header(ACCEPT_ENCODING, "gzip")
                .send()
                .await
                .unwrap();
            let encoding = header(&response, CONTENT_ENCODING);
            assert_eq!(encoding.as_deref(), compression.then_some("gzip"));
            // A client that decodes gzip sees the same JSON either way.
            let decoded = json(get(&sandbox, &token, "users").await).await;
            assert_eq!(
                decoded["users"].as_array().unwrap().len(),
                fixture_district().records("users").len()
            );
            sandbox.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn stats_count_requests_per_path() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = roster_token(&sandbox).await;
        for path in ["users", "users?offset=5", "students", "orgs/org-district-1"] {
            assert_eq!(get(&sandbox, &token, path).await.status(), StatusCode::OK);
        }
        let stats = sandbox.stats();
        assert_eq!(stats.api_requests, 4);
        assert_eq!(stats.tokens_issued, 1);
        let per_path: Vec<(&str, u64)> = stats
            .per_path
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(per_path, [("orgs/{id}", 1), ("students", 1), ("users", 2)]);
        let users = fixture_district().records("users").len() as u64;
        let students = fixture_district()
            .records("users")
            .iter()
            .filter(|u| u["role"] == "student")
            .count() as u64;
        assert_eq!(stats.records_served, users + (users - 5) + students + 1);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let url = sandbox.token_url();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/token"));
        assert_eq!(
            sandbox.base_url(),
            format!("http://{}/ims/oneroster/v1p1", sandbox.addr())
        );
        sandbox.shutdown().await;
        let after = client().post(&url).send().await;
        assert!(after.is_err(), "nothing listens after shutdown");
    })
    .await;
}

// ---------------------------------------------------------------- the command

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: SandboxArgs,
}

#[test]
fn flags_map_onto_options() {
    let args = Cli::try_parse_from([
        "sandbox",
        "--users",
        "5000",
        "--seed",
        "9",
        "--page-cap",
        "50",
        "--no-total-count",
        "--no-link",
        "--token-lifetime",
        "60",
        "--latency-ms",
        "25",
        "--rate-limit",
        "10",
        "--client-id",
        "me",
        "--client-secret",
        "it's",
        "--gzip",
    ])
    .unwrap()
    .args;
    let o = args.options();
    assert_eq!(
        o.district,
        District::Synthetic {
            users: 5000,
            seed: 9
        }
    );
    assert_eq!(o.page_cap, Some(50));
    assert!(!o.total_count && !o.link_header && o.compression);
    assert_eq!(o.token_lifetime, Duration::from_secs(60));
    assert_eq!(o.latency, Some(Duration::from_millis(25)));
    assert_eq!(o.rate_limit, Some(RateLimit::per_second(10)));
    assert_eq!(
        (o.client_id.as_str(), o.client_secret.as_str()),
        ("me", "it's")
    );
    assert_eq!(args.host, IpAddr::V4(Ipv4Addr::LOCALHOST));

    let defaults = Cli::try_parse_from(["sandbox"]).unwrap().args;
    assert_eq!(defaults.port, 8080);
    let o = defaults.options();
    assert_eq!(o.district, District::Fixture);
    assert_eq!(o.default_limit, 100);
    assert!(o.total_count && o.link_header && !o.compression);
    assert!(
        Cli::try_parse_from(["sandbox", "--seed", "3"]).is_err(),
        "--seed needs --users"
    );
    assert!(Cli::try_parse_from(["sandbox", "--users", "0"]).is_err());
}

#[tokio::test]
async fn the_banner_says_where_and_how() {
    bounded(async {
        let options = SandboxOptions {
            client_secret: "it's secret".to_string(),
            ..Default::default()
        };
        let sandbox = start(options.clone()).await;
        let text = banner(&sandbox, &options);
        let line = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("a `{prefix}` line in {text}"))
                .to_string()
        };
        assert_eq!(line("base URL: "), sandbox.base_url());
        assert_eq!(line("token URL: "), sandbox.token_url());
        assert_eq!(line("client id: "), "demo-client");
        assert_eq!(line("client secret: "), "it's secret");
        let command = line("ROSTER_EXPORT_CLIENT_SECRET=");
        assert!(command.starts_with(r"'it'\''s secret' roster-export --base-url "));
        assert!(command.contains(&format!("--token-url {}", sandbox.token_url())));
        assert!(
            command.ends_with("--client-id demo-client --scope roster.readonly --out demo.zip")
        );
        sandbox.shutdown().await;
    })
    .await;
    assert_eq!(shell_quote("demo-secret"), "demo-secret");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a b$c"), "'a b$c'");
}
