//! The dashboard's pages on the big table: each page's time to render on the server (a `GET`
//! over a keep-alive loopback connection, signed in, the body read whole) and its weight with
//! the stylesheet and the script.
//!
//! The dashboard's clock stands a minute after the table's newest entry, so the overview's
//! "last 7 days" chart and the groups' trends count a full week of the table (one failure every
//! two seconds: about 300,000 entries) rather than an empty window.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use pulse_extensibility::{DeadLetters, ListQuery, ManualClock, Uuid};
use pulse_http::{AdminApi, Principal, Role, TokenAuthorizer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::Out;
use crate::entries::Timeline;
use crate::measure::{latency, millis};
use crate::plan::Plan;
use crate::report::Figure;

/// The pages timed: figure of the median, figure of the 99th percentile, path under `ui/`.
const PAGES: &[(&str, &str, &str)] = &[
    ("dashboard_overview_median", "dashboard_overview_p99", ""),
    ("dashboard_groups_median", "dashboard_groups_p99", "/groups"),
    ("dashboard_group_median", "dashboard_group_p99", "/groups/{fingerprint}"),
    ("dashboard_entries_median", "dashboard_entries_p99", "/entries?status=new&status=replaying"),
    ("dashboard_entry_median", "dashboard_entry_p99", "/entries/{id}"),
    ("dashboard_requests_median", "dashboard_requests_p99", "/requests"),
];

/// Times every page of [`PAGES`] over `dead_letters`' table, filled to `level` entries on
/// `timeline`, and records the heaviest page's weight.
pub(crate) async fn run(
    dead_letters: &DeadLetters,
    timeline: &Timeline,
    plan: &Plan,
    level: u64,
    out: &mut Out,
) -> Result<()> {
    let newest = timeline.at(level.saturating_sub(1));
    let clock = Arc::new(ManualClock::new(newest.saturating_add(Duration::from_secs(60))));
    let dead_letters = DeadLetters::new(dead_letters.backend().clone()).with_clock(clock);
    let token = format!("pulse-bench-{}", Uuid::new_v4().simple());
    let authorizer = TokenAuthorizer::new().with_token(&token, Principal::new("pulse-bench", Role::Admin))?;
    let router = AdminApi::new(dead_letters.clone(), authorizer).router();
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port")?;
    let base = format!("http://{}/ui", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(pulse_http::serve(listener, router, async move {
        let _ = stopped.await;
    }));
    // Loopback only, and the sign-in's redirect is read, not followed.
    let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build()?;
    let signed_in = client
        .post(format!("{base}/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .context("signing in to the dashboard set no cookie")?
        .to_owned();

    let group =
        dead_letters.error_groups(1).await?.into_iter().next().context("the big table has no group")?;
    let entry =
        dead_letters.list(ListQuery::default()).await?.entries.into_iter().next().context("no entry")?;
    let get = |path: String| {
        let (client, cookie) = (client.clone(), cookie.clone());
        async move {
            let response = client.get(&path).header("cookie", cookie).send().await?;
            let status = response.status();
            ensure!(status == reqwest::StatusCode::OK, "GET {path} answered {status}");
            Ok(response.bytes().await?.len())
        }
    };
    let assets =
        get(format!("{base}/assets/pulse.css")).await? + get(format!("{base}/assets/pulse.js")).await?;
    let backend = out.backend();
    let mut heaviest = 0;
    for &(median, p99, path) in PAGES {
        let path =
            path.replace("{fingerprint}", group.fingerprint.as_str()).replace("{id}", &entry.id.to_string());
        let url = format!("{base}{path}");
        out.say(&format!("timing the dashboard's page ui{path}"));
        heaviest = heaviest.max(get(url.clone()).await? + assets);
        let timed = latency(plan.latency, || get(url.clone())).await?;
        out.add(Figure::new(median, backend, millis(timed.median), "ms").at(level).sampled(timed.samples));
        out.add(Figure::new(p99, backend, millis(timed.p99), "ms").at(level).sampled(timed.samples));
    }
    out.add(Figure::new("dashboard_heaviest_page_bytes", backend, heaviest as f64, "bytes").at(level));
    let _ = stop.send(());
    server.await??;
    Ok(())
}
