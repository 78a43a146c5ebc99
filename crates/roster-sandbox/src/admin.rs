//! The admin endpoints for scripts that change the district while the sandbox runs:
//! `POST /admin/changes` with `{"changes": [...]}` and `POST /admin/churn` with
//! `{"count": n, "seed": s, "outright": true}`. They answer what was applied, and only to loopback peers: they need
//! no token, so nobody else may reach them even when the sandbox listens on the network.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::serve::IncomingStream;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::changes::{self, Applied, ChangeError, Changes};
use super::responses::json_response;
use super::state::Shared;
use super::tls::TlsListener;

/// The address a connection came from, over plain TCP or TLS.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// `POST /admin/changes`: applies a batch of changes, all or none.
pub(crate) async fn changes(
    State(state): State<Shared>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    let batch: Changes = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("not a batch of changes: {e}"),
            );
        }
    };
    answer(state.store.update(|data, overlay| {
        changes::apply(data, overlay, &batch.changes, jiff::Timestamp::now())
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Churn {
    count: usize,
    #[serde(default = "one")]
    seed: u64,
    /// Whether some removals vanish outright; otherwise every removal is a `tobedeleted` mark.
    #[serde(default = "yes")]
    outright: bool,
}

fn one() -> u64 {
    1
}

fn yes() -> bool {
    true
}

/// Churn asked for at most this many changes at once.
pub(crate) const MAX_CHURN: usize = 1_000_000;

/// `POST /admin/churn`: a deterministic mix of `count` changes.
pub(crate) async fn churn(
    State(state): State<Shared>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    let churn = match serde_json::from_slice::<Churn>(&body) {
        Ok(churn) if churn.count <= MAX_CHURN => churn,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("count may be at most {MAX_CHURN}"),
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"count\": n, \"seed\": s, \"outright\": bool}}: {e}"),
            );
        }
    };
    let store = state.store.clone();
    // Churn reads the district to pick records: off the async workers.
    let applied = tokio::task::spawn_blocking(move || {
        store.update(|data, overlay| {
            let picked = changes::churn(data, overlay, churn.count, churn.seed, churn.outright);
            changes::apply(data, overlay, &picked, jiff::Timestamp::now())
        })
    })
    .await
    .expect("churn does not panic");
    answer(applied)
}

fn answer(applied: Result<Applied, ChangeError>) -> Response {
    match applied {
        Ok(applied) => json_response(
            StatusCode::OK,
            serde_json::to_string(&applied).expect("serialisable"),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

pub(crate) fn refuse_remote(peer: SocketAddr) -> Option<Response> {
    (!peer.ip().to_canonical().is_loopback()).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "the admin endpoints answer only on loopback",
        )
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}
