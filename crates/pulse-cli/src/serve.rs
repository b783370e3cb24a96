//! `pulse serve`: the admin HTTP API and the dashboard over the store, until Ctrl-C or SIGTERM.
//!
//! The server only serves: it runs no replay, so `POST entries/{id}/replay` and `POST requests`
//! record requests that the services' workers run.

use std::time::Duration;

use axum::response::Redirect;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pulse::DeadLetters;
use pulse_http::AdminApi;
use tokio::net::TcpListener;

use crate::args::ServeArgs;
use crate::failure::Failure;
use crate::tokens;

/// How often the Prometheus recorder drops what it no longer needs.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Serves the API over `dead_letters` as `args` say, until a signal stops it.
pub(crate) async fn serve(dead_letters: &DeadLetters, args: ServeArgs) -> Result<(), Failure> {
    let authorizer = tokens::load(&args.tokens)?;
    log_to_stderr();
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| Failure::Failed(format!("cannot install the Prometheus recorder: {error}")))?;
    let upkeep = tokio::spawn(upkeep(metrics.clone()));
    let api = AdminApi::new(dead_letters.clone(), authorizer)
        .health_requires_token(!args.public_health)
        .metrics(metrics);
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|error| Failure::Failed(format!("cannot listen on {}: {error}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|error| Failure::Failed(format!("cannot read the address listened on: {error}")))?;
    // The signals are caught from here on, so one sent as soon as the address shows stops the
    // server cleanly instead of killing it.
    let shutdown = pulse_http::shutdown_signal();
    eprintln!("pulse: listening on http://{address}");
    eprintln!("pulse: the dashboard is at http://{address}/ui");
    // The API at the root, and the root itself leads a browser to the dashboard.
    let app = api.router().route("/", get(|| async { Redirect::to("/ui") }));
    let served = pulse_http::serve(listener, app, shutdown).await;
    upkeep.abort();
    served.map_err(|error| Failure::Failed(format!("the server failed: {error}")))?;
    eprintln!("pulse: stopped");
    Ok(())
}

/// Logs at INFO and above on stderr: store errors, audit events (who did what), shutdown.
fn log_to_stderr() {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(true)
        .finish();
    // Only fails when a subscriber is already set, which then logs instead.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

async fn upkeep(metrics: PrometheusHandle) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        every.tick().await;
        metrics.run_upkeep();
    }
}
