//! OAuth 1.0a between the exporter's signer and the sandbox's own verifier over real HTTP:
//! requests signed by [`OAuth1Signer`] get pages; a wrong secret, a query changed after signing,
//! a replayed header, an old timestamp or an unknown consumer key get 401 saying which.

use std::time::Duration;

use oneroster::KnownScope;
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use roster_export::auth::oauth1::{OAuth1Signer, SignatureMethod, unix_now};
use roster_sandbox::{Sandbox, SandboxOptions};
use secrecy::SecretString;
use serde_json::Value;

/// Every request of these tests is answered within this.
const LIMIT: Duration = Duration::from_secs(30);

async fn start(options: SandboxOptions) -> Sandbox {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    Sandbox::start(options, loopback)
        .await
        .expect("sandbox starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn signer(key: &str, secret: &str, method: SignatureMethod) -> OAuth1Signer {
    OAuth1Signer {
        consumer_key: key.to_string(),
        consumer_secret: SecretString::from(secret),
        method,
    }
}

fn demo(method: SignatureMethod) -> OAuth1Signer {
    signer("demo-client", "demo-secret", method)
}

/// An unsigned `GET {base}/{path}` with these query pairs.
fn request(sandbox: &Sandbox, path: &str, query: &[(&str, &str)]) -> reqwest::Request {
    client()
        .get(format!("{}/{path}", sandbox.base_url()))
        .query(query)
        .build()
        .unwrap()
}

async fn send(request: reqwest::Request) -> reqwest::Response {
    tokio::time::timeout(LIMIT, client().execute(request))
        .await
        .expect("answered in time")
        .expect("request sent")
}

/// Asserts a 401 with an OAuth challenge whose status-info description contains `what`.
async fn assert_refused(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        "OAuth realm=\"sandbox\""
    );
    let body: Value = response.json().await.unwrap();
    let description = body["imsx_description"].as_str().unwrap();
    assert!(description.contains(what), "{description:?} lacks {what:?}");
    assert!(!description.contains("demo-secret"));
}

const PAGE: &[(&str, &str)] = &[
    ("filter", "familyName!='O Brien' AND status='active'"),
    ("limit", "2"),
    ("offset", "1"),
];

#[tokio::test]
async fn signed_requests_get_pages_with_either_method() {
    let sandbox = start(SandboxOptions::default()).await;
    for method in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
        let mut page = request(&sandbox, "users", PAGE);
        demo(method).sign(&mut page);
        let response = send(page).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let body: Value = response.json().await.unwrap();
        let users = body["users"].as_array().unwrap();
        assert_eq!(users.len(), 2);

        let id = users[0]["sourcedId"].as_str().unwrap();
        let mut single = request(&sandbox, &format!("users/{id}"), &[]);
        demo(method).sign(&mut single);
        let response = send(single).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["sourcedId"], id);
    }
    let stats = sandbox.stats();
    assert_eq!((stats.unauthorized, stats.tokens_issued), (0, 0));
    assert_eq!(stats.per_path["users"], 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_or_consumer_key_is_refused() {
    let sandbox = start(SandboxOptions::default()).await;
    let mut wrong = request(&sandbox, "users", PAGE);
    signer("demo-client", "not-the-secret", SignatureMethod::HmacSha256).sign(&mut wrong);
    assert_refused(send(wrong).await, "bad signature").await;

    let mut stranger = request(&sandbox, "users", PAGE);
    signer("someone-else", "demo-secret", SignatureMethod::HmacSha1).sign(&mut stranger);
    assert_refused(send(stranger).await, "unknown consumer key").await;
    assert_eq!(sandbox.stats().unauthorized, 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_query_changed_after_signing_is_refused() {
    let sandbox = start(SandboxOptions::default()).await;
    let mut page = request(&sandbox, "users", &[("limit", "2"), ("offset", "0")]);
    demo(SignatureMethod::HmacSha256).sign(&mut page);
    page.url_mut().set_query(Some("limit=2&offset=2"));
    assert_refused(send(page).await, "bad signature").await;
    assert_eq!(sandbox.stats().unauthorized, 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_replayed_header_is_refused() {
    let sandbox = start(SandboxOptions::default()).await;
    let mut first = request(&sandbox, "users", PAGE);
    demo(SignatureMethod::HmacSha1).sign(&mut first);
    let again = first.try_clone().unwrap();
    assert_eq!(send(first).await.status(), StatusCode::OK);
    assert_refused(send(again).await, "replayed nonce").await;
    assert_eq!(sandbox.stats().unauthorized, 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_hour_old_timestamp_is_refused() {
    let sandbox = start(SandboxOptions::default()).await;
    let mut old = request(&sandbox, "users", PAGE);
    let header = demo(SignatureMethod::HmacSha256).authorization_header(
        &Method::GET,
        old.url(),
        unix_now() - 3600,
        "an-hour-ago-nonce-1",
    );
    old.headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_str(&header).unwrap());
    assert_refused(send(old).await, "stale timestamp").await;
    assert_eq!(sandbox.stats().unauthorized, 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn withheld_scopes_still_apply_to_signed_requests() {
    let sandbox = start(SandboxOptions {
        withheld_scopes: vec![KnownScope::RosterDemographics],
        ..SandboxOptions::default()
    })
    .await;
    let mut demographics = request(&sandbox, "demographics", &[]);
    demo(SignatureMethod::HmacSha256).sign(&mut demographics);
    assert_eq!(send(demographics).await.status(), StatusCode::FORBIDDEN);
    let mut users = request(&sandbox, "users", &[]);
    demo(SignatureMethod::HmacSha256).sign(&mut users);
    assert_eq!(send(users).await.status(), StatusCode::OK);
    let stats = sandbox.stats();
    assert_eq!((stats.forbidden, stats.unauthorized), (1, 0));
    sandbox.shutdown().await;
}
