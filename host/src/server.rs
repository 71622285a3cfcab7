//! The HTTP server under the router: an accept loop and one hyper
//! connection per client, with the limits a public server needs against
//! slow or many clients (axum's own `serve` has none of them):
//!
//! - a cap on open connections (`max_connections`): past it, a new
//!   connection is closed at once instead of holding a file descriptor and
//!   a task;
//! - a header-read timeout (`header_read_timeout`): a client that drips
//!   its request head (slowloris) is cut off, on every request of a
//!   kept-alive connection;
//! - graceful shutdown: on the stop signal no connection is accepted, open
//!   ones finish their requests (idle ones close), and [`serve`] returns
//!   once every connection is gone.
//!
//! The request body's own timeout is a layer of the router
//! ([`crate::api::router`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// A pause after a failed accept (out of file descriptors, say), so the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the server enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at once.
    pub max_connections: usize,
    /// Longest time to receive a request's head.
    pub header_read_timeout: Duration,
}

/// Serve `router` on `listener` until `stop` turns true, then drain.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection holds a receiver: when all are gone, so are the
    // connections.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    drop(open_rx);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // At the cap: closed at once (the client sees a reset).
            tracing::warn!(%peer, max = limits.max_connections, "refusing a connection over the cap");
            drop(stream);
            continue;
        };
        // Nagle's delay hurts small stream lines; the server buffers.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let mut shutdown = shutdown_rx.clone();
        let open = open_tx.subscribe();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            builder.http2().timer(TokioTimer::new());
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_end(served, peer),
                () = stopped(&mut shutdown) => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, peer);
                }
            }
            drop(open);
            drop(permit);
        });
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    // Every connection task holds a receiver of `open_tx`.
    open_tx.closed().await;
}

/// Until `signal` turns true (or its sender is gone).
async fn stopped(signal: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across the
    // caller's awaits.
    let _ = signal.wait_for(|stopped| *stopped).await;
}

fn log_end(served: Result<(), Box<dyn std::error::Error + Send + Sync>>, peer: SocketAddr) {
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
