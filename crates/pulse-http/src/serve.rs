//! Serving the router: [`serve`] with graceful shutdown, and [`shutdown_signal`].

use std::future::Future;
use std::io;

use axum::Router;
use tokio::net::TcpListener;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting connections
/// and waits for the requests in flight to finish.
///
/// # Errors
///
/// The I/O error that stopped the server.
///
/// # Examples
///
/// ```no_run
/// # async fn run(api: pulse_http::AdminApi) -> std::io::Result<()> {
/// let app = axum::Router::new().nest("/pulse", api.router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// pulse_http::serve(listener, app, pulse_http::shutdown_signal()).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a terminal or a process manager
/// sends to stop a server.
///
/// On Unix the signals are caught from the call on, not from the future's first poll: a signal
/// that arrives while the server is still starting stops it cleanly instead of killing the
/// process. Call it within a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async fn received(signal: std::io::Result<Signal>, name: &str) {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
        async move {
            tokio::select! {
                () = received(interrupt, "Ctrl-C") => tracing::info!("Ctrl-C received; shutting down"),
                () = received(terminate, "SIGTERM") => tracing::info!("SIGTERM received; shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C received; shutting down");
    }
}
