//! `roster-export check`: what a host is like, learnt from a token and one small page of each
//! planned collection, told on stdout for a person setting up a profile: the token's lifetime
//! and granted scopes, totals, `Link`, compression, announced rate limits, page caps and response
//! times, and whether the base URL is a OneRoster 1.1 API at all. It ends with the error an
//! export with the same settings would meet, if any, so its exit code is the export's.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use oneroster::{CollectionId, Scope, StatusInfo};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, HeaderMap, LINK};
use url::Url;

use crate::api::ApiError;
use crate::auth::{AuthKind, Authorizer};
use crate::error::Error;
use crate::http::{HttpError, Step, Target, Transport, classify, info_suffix};
use crate::pager::PagerError;
use crate::progress::thousands;
use crate::records::Page;
use crate::settings::Connection;
use crate::urls::safe_url;

/// Records asked for per collection: enough to see a page, small enough for any host.
const SMALL_PAGE: u64 = 2;

/// What one GET answered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// The server's status info about a refusal.
    info: Option<Box<StatusInfo>>,
    took: Duration,
}

/// One collection's first small page.
struct Seen {
    id: CollectionId,
    url: Url,
    answer: Answer,
    /// The records of a 200 that reads as a OneRoster 1.1 page, or why it does not.
    page: Result<usize, String>,
}

/// Checks the host `connection` reaches for the `collections` an export would fetch, asking
/// `page_size` records once to look for a page cap. Writes the report to `out`.
pub async fn check<W: Write + Send>(
    connection: Connection,
    collections: Vec<CollectionId>,
    page_size: u64,
    out: &mut W,
) -> Result<(), Error> {
    let mut say = |label: &str, text: String| {
        let _ = writeln!(out, "{label:<16}{text}");
        let _ = out.flush();
    };
    let base = connection
        .base_url
        .clone()
        .ok_or_else(|| Error::Internal("check needs a base URL".into()))?;
    let kind = connection.credentials.kind();
    say("base URL", safe_url(&base));
    say(
        "auth",
        match connection.credentials.token_source() {
            Some(source) => format!("{kind}, tokens from {source}"),
            None => kind.to_string(),
        },
    );
    say(
        "proxy",
        match crate::http::reach::proxy_for(&base) {
            Some((proxy, from)) => format!("{proxy} (from {from})"),
            None => "none: the host is reached directly".to_string(),
        },
    );
    let requested = connection.scopes.clone();
    let transport = Transport::standalone(connection.http)?;
    let credentials = Authorizer::new(connection.credentials, transport.clone());
    let started = Instant::now();
    match credentials.token_info().await {
        Ok(Some(info)) => {
            say(
                "token",
                format!(
                    "issued in {} ms; lasts {}",
                    started.elapsed().as_millis(),
                    lifetime(info.expires_in)
                ),
            );
            say("granted scopes", granted(&requested, info.scope.as_deref()));
        }
        Ok(None) if kind == AuthKind::OAuth1 => {
            say("token", "none: every request is signed (OAuth 1.0a)".into())
        }
        Ok(None) => say(
            "token",
            "given out of band (--auth bearer): its lifetime and scopes are not known".into(),
        ),
        Err(err) => {
            say("token", format!("FAILED: {err}"));
            return Err(err.into());
        }
    }
    let probe = Probe {
        transport: transport.clone(),
        credentials,
        headers: connection.headers,
    };
    say(
        "collections",
        format!(
            "{} planned, {SMALL_PAGE} records asked of each",
            collections.len()
        ),
    );
    let mut seen = Vec::new();
    for id in collections {
        let url = page_url(&base, id, SMALL_PAGE);
        let answer = probe.get(id, &url).await?;
        let page = match answer.status {
            StatusCode::OK => Page::parse(id.info(), 0, answer.body.clone())
                .map(|p| p.len())
                .map_err(|e| e.to_string()),
            _ => Err(String::new()),
        };
        let seen_one = Seen {
            id,
            url,
            answer,
            page,
        };
        let _ = writeln!(out, "  {}", collection_line(&seen_one));
        seen.push(seen_one);
    }
    let mut say = |label: &str, text: String| {
        let _ = writeln!(out, "{label:<16}{text}");
    };
    let good: Vec<&Seen> = seen.iter().filter(|s| s.page.is_ok()).collect();
    if let Some(first) = good.first() {
        say("page cap", page_cap(&probe, &base, &good, page_size).await?);
        say(
            "compression",
            compression(&probe, &page_url(&base, first.id, SMALL_PAGE)).await,
        );
        say("rate limits", rate_limits(&good));
    }
    let times: Vec<Duration> = seen.iter().map(|s| s.answer.took).collect();
    say("response times", response_times(times));
    let failure = verdict(&seen, &base);
    match &failure {
        Ok(()) => say(
            "verdict",
            "OK: a OneRoster 1.1 API; an export with these settings should work".into(),
        ),
        Err(diagnosis) => {
            let hint = if seen
                .iter()
                .all(|s| s.answer.status == StatusCode::NOT_FOUND)
            {
                other_versions(&probe, &base).await
            } else {
                String::new()
            };
            say("verdict", format!("{diagnosis}{hint}"));
        }
    }
    let _ = out.flush();
    match failure {
        Ok(()) => Ok(()),
        Err(_) => Err(first_failure(&seen)),
    }
}

/// The URL of `limit` records of `id` from the start.
fn page_url(base: &Url, id: CollectionId, limit: u64) -> Url {
    let mut url = base
        .join(id.info().path)
        .expect("collection paths are relative");
    url.query_pairs_mut()
        .append_pair("limit", &limit.to_string())
        .append_pair("offset", "0");
    url
}

/// The run's way of asking: its transport and credentials, and the extra API headers.
struct Probe {
    transport: Arc<Transport>,
    credentials: Authorizer,
    headers: HeaderMap,
}

impl Probe {
    /// GETs `url` as an export would (pacing, retries, one new token after a 401) and returns
    /// whatever status it ends with; only an unreachable host or a failed token is an error.
    async fn get(&self, id: CollectionId, url: &Url) -> Result<Answer, Error> {
        let target = Target::page(id, url, 0);
        let renewed = std::sync::atomic::AtomicBool::new(false);
        self.transport
            .with_retry(&target, |_| async {
                let request = match self.transport.json_get(url, &self.headers) {
                    Ok(request) => request,
                    Err(e) => return Step::Fatal(Error::Internal(e.to_string())),
                };
                // The token is fetched before the probes (token_info), so this times the request.
                let started = Instant::now();
                let (sent, credential) = match self.credentials.send(&self.transport, request).await
                {
                    Ok(sent) => sent,
                    Err(e) => return Step::Fatal(e.into()),
                };
                let took = started.elapsed();
                match classify::<Answer, Error>(&target, sent) {
                    Ok(reply)
                        if reply.status == StatusCode::UNAUTHORIZED
                            && self.credentials.reject(credential).await.was_current()
                            && !renewed.swap(true, std::sync::atomic::Ordering::Relaxed) =>
                    {
                        Step::Retry {
                            reason: "HTTP 401: the token was rejected".into(),
                            after: Some(Duration::ZERO),
                            rate_limited: false,
                        }
                    }
                    Ok(reply) => Step::Done(Answer {
                        info: StatusInfo::from_body(&reply.body).map(Box::new),
                        status: reply.status,
                        headers: reply.headers,
                        body: reply.body,
                        took,
                    }),
                    Err(Step::Fatal(Error::Http(e))) if e.status().is_some() => {
                        let HttpError::Status { status, info, .. } = *e else {
                            unreachable!("a status error")
                        };
                        Step::Done(Answer {
                            status,
                            headers: HeaderMap::new(),
                            body: Bytes::new(),
                            info,
                            took,
                        })
                    }
                    Err(step) => step,
                }
            })
            .await
    }
}

/// `3600 s (1 h)`.
fn lifetime(d: Duration) -> String {
    let secs = d.as_secs();
    let human = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!(" ({} d)", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!(" ({} h)", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!(" ({} min)", s / 60),
        _ => String::new(),
    };
    format!("{secs} s{human}")
}

/// The scopes the token reply names, and any asked for that it left out.
fn granted(requested: &[Scope], reply: Option<&str>) -> String {
    let Some(reply) = reply else {
        return "not stated in the token reply (hosts may leave them out when they grant what \
                was asked)"
            .into();
    };
    let words: Vec<&str> = reply.split_whitespace().collect();
    let shown: Vec<String> = words
        .iter()
        .map(|w| Scope::parse(w).map_or(w.to_string(), |s| s.to_string()))
        .collect();
    let missing: Vec<String> = requested
        .iter()
        .filter(|r| {
            !words.iter().any(|w| {
                *w == r.uri()
                    || Scope::parse(w).is_ok_and(|g| g.known() == r.known() && g.known().is_some())
            })
        })
        .map(ToString::to_string)
        .collect();
    let mut text = if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(", ")
    };
    if !missing.is_empty() {
        text.push_str(&format!(
            "; NOT granted: {} (collections that need it will answer 403)",
            missing.join(", ")
        ));
    }
    text
}

/// One collection's line: status, time, records, total and `Link`.
fn collection_line(seen: &Seen) -> String {
    let a = &seen.answer;
    let name = seen.id.name();
    let head = format!(
        "{name:<20}{:>4}{:>7} ms  ",
        a.status.as_u16(),
        a.took.as_millis()
    );
    let tail = match (&seen.page, a.status) {
        (Ok(records), _) => {
            let total = match header(&a.headers, "x-total-count") {
                Some(t) => format!("X-Total-Count {t}"),
                None => "no X-Total-Count".into(),
            };
            let link = match a.headers.get(LINK).and_then(|v| v.to_str().ok()) {
                Some(link) => format!("Link {}", rels(link)),
                None => "no Link".into(),
            };
            format!("{records} record{}, {total}, {link}", plural(*records))
        }
        (Err(reason), StatusCode::OK) => {
            format!("not a OneRoster 1.1 {name} page: {reason}")
        }
        (_, StatusCode::NOT_FOUND) if seen.id.info().optional_service => {
            "not offered by the host (an export marks it absent)".into()
        }
        (_, StatusCode::FORBIDDEN) => format!(
            "refused{}: the credentials lack {}",
            info_suffix(&a.info),
            seen.id.info().scope.short_name()
        ),
        (_, status) => format!(
            "{}{}",
            status.canonical_reason().unwrap_or("refused"),
            info_suffix(&a.info)
        ),
    };
    format!("{head}{tail}")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The `rel` names of a `Link` header: `next,last`.
fn rels(link: &str) -> String {
    let names: Vec<&str> = link
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("rel="))
        .map(|r| r.split(',').next().unwrap_or(r).trim_matches('"'))
        .collect();
    if names.is_empty() {
        "(no rel)".into()
    } else {
        names.join(",")
    }
}

/// Asks the collection with the most records for a full page and compares what came back.
async fn page_cap(
    probe: &Probe,
    base: &Url,
    good: &[&Seen],
    page_size: u64,
) -> Result<String, Error> {
    let total =
        |s: &Seen| header(&s.answer.headers, "x-total-count").and_then(|t| t.parse::<u64>().ok());
    let largest = good
        .iter()
        .max_by_key(|s| total(s).unwrap_or(0))
        .expect("at least one");
    let known = total(largest);
    let asked = known.map_or(page_size, |t| t.min(page_size));
    if asked <= SMALL_PAGE {
        return Ok(format!(
            "not tested: {} holds only {} records",
            largest.id,
            known.unwrap_or(0)
        ));
    }
    let name = largest.id;
    let answer = probe.get(name, &page_url(base, name, asked)).await?;
    let got = match answer.status {
        StatusCode::OK => Page::parse(name.info(), 0, answer.body.clone()).map(|p| p.len() as u64),
        _ => return Ok(format!("not tested: {name} answered {}", answer.status)),
    };
    let Ok(got) = got else {
        return Ok(format!("not tested: {name}'s page did not read"));
    };
    let next = answer
        .headers
        .get(LINK)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| rels(l).split(',').any(|r| r == "next"));
    Ok(if got >= asked {
        format!(
            "none up to {}: asked {name} for {} records, got them all",
            thousands(asked),
            thousands(asked)
        )
    } else if known.is_some() || next {
        format!(
            "{}: asked {name} for {}, got {} (the export copes; --page-size {} asks for no more \
             than it sends)",
            thousands(got),
            thousands(asked),
            thousands(got),
            got
        )
    } else {
        format!(
            "unknown: asked {name} for {}, got {}: the whole collection, or a cap (no \
             X-Total-Count or Link to tell)",
            thousands(asked),
            thousands(got)
        )
    })
}

/// Whether the host compresses bodies: one request that asks for gzip and brotli and reads the
/// body undecoded.
async fn compression(probe: &Probe, url: &Url) -> String {
    let client = match probe.transport.uncompressed_client() {
        Ok(client) => client,
        Err(e) => return format!("not tested: {e}"),
    };
    let request = client
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .header(ACCEPT_ENCODING, "gzip, br")
        .headers(probe.headers.clone())
        .build();
    let Ok(mut request) = request else {
        return "not tested".into();
    };
    if probe.credentials.authorize(&mut request).await.is_err() {
        return "not tested: no credentials".into();
    }
    match client.execute(request).await {
        Ok(response) => match header(response.headers(), CONTENT_ENCODING.as_str()) {
            Some(encoding) => format!("yes: the host sends {encoding} bodies when asked"),
            None => "no: the host sends bodies uncompressed (gzip and br were offered)".into(),
        },
        Err(e) => format!("not tested: {e}"),
    }
}

/// What the host announced about its rate limit, from the last page that said anything.
fn rate_limits(good: &[&Seen]) -> String {
    let Some(found) = good
        .iter()
        .rev()
        .find_map(|s| crate::http::pace::announced(&s.answer.headers))
    else {
        return "none announced (the pacer finds the rate by itself; a 429 slows every request)"
            .into();
    };
    let mut parts = Vec::new();
    if let Some(limit) = found.limit {
        parts.push(match found.window {
            Some(w) => format!("{limit} requests per {} s", w.as_secs()),
            None => format!("{limit} requests"),
        });
    }
    if let Some(rate) = found.rate() {
        parts.push(format!("{rate:.1}/s"));
    }
    if let Some(left) = found.remaining {
        parts.push(format!("{left} left"));
    }
    if let Some(reset) = found.reset {
        parts.push(format!("resets in {} s", reset.as_secs()));
    }
    format!("{} (the pacer follows it)", parts.join(", "))
}

/// `2–14 ms, median 3 ms over 8 requests`.
fn response_times(mut times: Vec<Duration>) -> String {
    if times.is_empty() {
        return "none".into();
    }
    times.sort();
    let ms = |d: Duration| d.as_millis();
    format!(
        "{}–{} ms, median {} ms over {} requests",
        ms(times[0]),
        ms(times[times.len() - 1]),
        ms(times[times.len() / 2]),
        times.len()
    )
}

/// What an export with these settings would meet, in words, when it would fail.
fn verdict(seen: &[Seen], base: &Url) -> Result<(), String> {
    if !seen.is_empty()
        && seen
            .iter()
            .all(|s| s.answer.status == StatusCode::NOT_FOUND)
    {
        let tried = seen
            .first()
            .map(|s| safe_url(&base.join(s.id.info().path).expect("relative")))
            .unwrap_or_default();
        return Err(format!(
            "NOT a OneRoster 1.1 API base: every collection answered 404 (e.g. {tried}). Check \
             --base-url: it is the address that ends in /ims/oneroster/v1p1, or the root it \
             hangs off, which may carry a vendor's prefix (…/aeries, \
             …/campus/oneroster/<app>); some hosts answer 404 until the district enables \
             OneRoster"
        ));
    }
    if let Some(s) = seen
        .iter()
        .find(|s| s.answer.status == StatusCode::OK && s.page.is_err())
    {
        return Err(format!(
            "the host answers, but {} is not a OneRoster 1.1 page ({}); check that --base-url \
             is a OneRoster 1.1 API",
            s.id,
            s.page.as_ref().err().map(String::as_str).unwrap_or("")
        ));
    }
    match seen.iter().find(|s| is_failure(s)) {
        Some(s) if s.answer.status == StatusCode::FORBIDDEN => Err(format!(
            "{} is refused (403): request its scope {} from the host, or leave it out with --only",
            s.id,
            s.id.info().scope.short_name()
        )),
        Some(s) => Err(format!(
            "{} answered {}{}; an export would fail there",
            s.id,
            s.answer.status,
            info_suffix(&s.answer.info)
        )),
        None => Ok(()),
    }
}

/// A collection an export could not do without.
fn is_failure(s: &Seen) -> bool {
    let optional_absent = s.answer.status == StatusCode::NOT_FOUND && s.id.info().optional_service;
    s.page.is_err() && !optional_absent
}

/// The error an export would end with, so `check` exits as it would.
fn first_failure(seen: &[Seen]) -> Error {
    let Some(s) = seen.iter().find(|s| is_failure(s)) else {
        return Error::Internal("no failure to report".into());
    };
    let target = Target::page(s.id, &s.url, 0);
    let info = s.answer.info.clone();
    let api = match s.answer.status {
        StatusCode::FORBIDDEN => ApiError::Forbidden {
            target,
            collection: s.id.info().name,
            scope: s.id.info().scope.short_name(),
            info,
        },
        StatusCode::OK => match Page::parse(s.id.info(), 0, s.answer.body.clone()) {
            Err(source) => ApiError::Page { target, source },
            Ok(_) => return Error::Internal("a page that reads is no failure".into()),
        },
        status => ApiError::Http(HttpError::Status {
            target,
            status,
            info,
        }),
    };
    PagerError::from(api).into()
}

/// When every 1.1 collection is missing: whether the host offers OneRoster 1.2 beside it.
async fn other_versions(probe: &Probe, base: &Url) -> String {
    let root = base
        .path()
        .trim_end_matches('/')
        .trim_end_matches(oneroster::BASE_PATH_SUFFIX)
        .trim_end_matches('/')
        .to_string();
    let mut url = base.clone();
    url.set_path(&format!("{root}/ims/oneroster/rostering/v1p2/orgs"));
    url.set_query(Some("limit=1"));
    match probe.get(CollectionId::Orgs, &url).await {
        Ok(answer) if answer.status != StatusCode::NOT_FOUND => format!(
            ". But {} answers ({}): the host offers OneRoster 1.2, which this tool does not read; \
             ask the vendor for 1.1 access",
            safe_url(&url),
            answer.status
        ),
        _ => String::new(),
    }
}
