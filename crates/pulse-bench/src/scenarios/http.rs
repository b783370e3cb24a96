//! The operator console over HTTP: the admin API (`pulse_http::AdminApi`, one admin token)
//! served in this process on a loopback port, and its first list page of 50
//! (`GET /entries?limit=50`, newest first) against the same page read by a direct call of
//! `DeadLetters::list` in the same run. Sequential calls on one keep-alive connection, alternated
//! with the direct calls; then pages per second from `wrk` with 16 connections, in rounds
//! alternated with 16 tasks calling `list` directly.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use pulse_extensibility::{DeadLetters, ListQuery, Uuid};
use pulse_http::{AdminApi, Principal, Role, TokenAuthorizer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Out;
use crate::measure::{Latency, Op, interleaved, median, millis, rate, spread};
use crate::plan::{Budget, Plan};
use crate::report::Figure;
use crate::tools::Tools;

/// Connections of the load generator, and tasks of the direct calls beside it.
pub(crate) const CONNECTIONS: usize = 16;

/// Threads of the load generator.
pub(crate) const WRK_THREADS: usize = 2;

/// The admin API served on a loopback port, and a keep-alive client for it.
pub(crate) struct Console {
    url: String,
    token: String,
    client: reqwest::Client,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Console {
    /// Serves the admin API over `dead_letters` on `127.0.0.1:0`, on this process's runtime.
    pub(crate) async fn start(dead_letters: DeadLetters) -> Result<Self> {
        let token = format!("pulse-bench-{}", Uuid::new_v4().simple());
        let authorizer =
            TokenAuthorizer::new().with_token(&token, Principal::new("pulse-bench", Role::Admin))?;
        let router = AdminApi::new(dead_letters, authorizer).router();
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port")?;
        let url = format!("http://{}/entries?limit=50", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(pulse_http::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        // Loopback only: a proxy from the environment must not come between.
        let client = reqwest::Client::builder().no_proxy().build()?;
        Ok(Self { url, token, client, stop, task })
    }

    /// Sends `GET /entries?limit=50`; the answer, if it is 200.
    async fn get(&self) -> Result<reqwest::Response> {
        let response = self.client.get(&self.url).bearer_auth(&self.token).send().await?;
        let status = response.status();
        ensure!(status == reqwest::StatusCode::OK, "GET /entries?limit=50 answered {status}");
        Ok(response)
    }

    /// One page over HTTP, its body read whole but not parsed; its length.
    async fn page(&self) -> Result<usize> {
        let body = self.get().await?.bytes().await?;
        ensure!(!body.is_empty(), "GET /entries?limit=50 answered an empty body");
        Ok(body.len())
    }

    /// Checks that the API's page is the one `list` reads: the same 50 ids in the same order,
    /// and more to follow.
    async fn check_same_page(&self, dead_letters: &DeadLetters) -> Result<()> {
        let page: serde_json::Value = self.get().await?.json().await?;
        let ids: Vec<&str> = page["entries"]
            .as_array()
            .context("the API's page has no entries")?
            .iter()
            .map(|entry| entry["id"].as_str())
            .collect::<Option<_>>()
            .context("an entry of the API's page has no id")?;
        let direct = dead_letters.list(ListQuery::default()).await?;
        let expected: Vec<String> =
            direct.entries.iter().map(|entry| entry.id.as_uuid().to_string()).collect();
        ensure!(ids.len() == 50 && ids == expected, "GET /entries?limit=50 is not the page `list` reads");
        ensure!(page["next_cursor"].is_string(), "the API's page says no more entries follow");
        Ok(())
    }

    /// The page's latency over HTTP and by a direct call, alternated, at `level` entries; at the
    /// largest size also the pages per second under load.
    pub(crate) async fn measure(
        &self,
        dead_letters: &DeadLetters,
        plan: &Plan,
        tools: &Tools,
        level: u64,
        out: &mut Out,
    ) -> Result<()> {
        self.check_same_page(dead_letters).await?;
        let (http, direct) =
            interleaved(plan.latency, || self.page(), || direct_page(dead_letters.clone())).await?;
        let backend = out.backend();
        let pick = [|l: &Latency| l.median, |l: &Latency| l.p99];
        let names = ["http_list_page_vs_direct_median", "http_list_page_vs_direct_p99"];
        for (name, pick) in names.into_iter().zip(pick) {
            out.add(
                Figure::new(name, backend, millis(pick(&http)), "ms")
                    .at(level)
                    .sampled(http.samples)
                    .against(millis(pick(&direct))),
            );
        }
        if level == plan.largest() {
            self.load(dead_letters, plan, tools, level, out).await?;
        }
        Ok(())
    }

    /// Pages per second from `wrk` with [`CONNECTIONS`] connections, in rounds alternating with
    /// [`CONNECTIONS`] tasks calling `list` directly for as long; and `wrk`'s latencies.
    async fn load(
        &self,
        dead_letters: &DeadLetters,
        plan: &Plan,
        tools: &Tools,
        level: u64,
        out: &mut Out,
    ) -> Result<()> {
        let seconds = load_seconds(plan);
        out.say(&format!("wrk, {CONNECTIONS} connections, {seconds} s per round"));
        let budget = Budget::new(Duration::from_secs(seconds), u64::MAX);
        let direct: Op = {
            let dead_letters = dead_letters.clone();
            Arc::new(move || {
                let dead_letters = dead_letters.clone();
                Box::pin(async move {
                    direct_page(dead_letters).await?;
                    Ok(1)
                })
            })
        };
        rate(CONNECTIONS, budget.warm_up(), &direct).await?;
        let (mut runs, mut directs) = (Vec::new(), Vec::new());
        for round in 0..plan.rounds.max(1) {
            if round % 2 == 1 {
                runs.push(self.wrk(tools, seconds).await?);
            }
            directs.push(rate(CONNECTIONS, budget, &direct).await?);
            if round % 2 == 0 {
                runs.push(self.wrk(tools, seconds).await?);
            }
        }
        let mut rates: Vec<f64> = runs.iter().map(|run| run.pages_per_second).collect();
        let samples = runs.iter().map(|run| run.requests).sum();
        let wrk_latency = |pick: fn(&WrkRun) -> f64| median(&mut runs.iter().map(pick).collect::<Vec<_>>());
        let (wrk_median, wrk_p99) = (wrk_latency(|run| run.median_ms), wrk_latency(|run| run.p99_ms));
        let backend = out.backend();
        let varied = spread(&mut rates).max(spread(&mut directs));
        out.add(
            Figure::new("http_list_pages_16_connections_vs_direct", backend, median(&mut rates), "pages/s")
                .at(level)
                .against(median(&mut directs))
                .spread(varied),
        );
        for (name, value) in [
            ("http_list_page_16_connections_median", wrk_median),
            ("http_list_page_16_connections_p99", wrk_p99),
        ] {
            out.add(Figure::new(name, backend, value, "ms").at(level).sampled(samples));
        }
        Ok(())
    }

    /// One run of `wrk` against the page, for `seconds`.
    async fn wrk(&self, tools: &Tools, seconds: u64) -> Result<WrkRun> {
        let mut command = Command::new(&tools.wrk);
        command
            .arg(format!("-t{WRK_THREADS}"))
            .arg(format!("-c{CONNECTIONS}"))
            .arg(format!("-d{seconds}s"))
            .args(["--latency", "-H"])
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(&self.url);
        let output = tokio::task::spawn_blocking(move || command.output()).await?.context("running wrk")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!("wrk failed ({}): {}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr));
        }
        parse_wrk(&stdout).with_context(|| format!("reading wrk's output:\n{stdout}"))
    }

    /// Stops the server gracefully and waits for it.
    pub(crate) async fn stop(self) -> Result<()> {
        drop(self.client);
        let _ = self.stop.send(());
        self.task.await.context("the HTTP server panicked")?.context("the HTTP server failed")
    }
}

/// Seconds per round of the load: the plan's throughput round, in whole seconds as `wrk`
/// takes them.
fn load_seconds(plan: &Plan) -> u64 {
    let time = plan.throughput.time;
    (time.as_secs() + u64::from(time.subsec_nanos() > 0)).max(1)
}

/// The page by a direct call: `list` with the default query (50, newest first).
async fn direct_page(dead_letters: DeadLetters) -> Result<usize> {
    let listed = dead_letters.list(ListQuery::default()).await?;
    ensure!(listed.entries.len() == 50 && listed.next_cursor.is_some(), "a short list page");
    Ok(listed.entries.len())
}

/// What one `wrk` run found.
#[derive(Debug, Clone, PartialEq)]
struct WrkRun {
    pages_per_second: f64,
    median_ms: f64,
    p99_ms: f64,
    requests: usize,
}

/// Reads `wrk --latency`'s report; an error for any socket error or answer other than 2xx/3xx.
fn parse_wrk(text: &str) -> Result<WrkRun> {
    let (mut rate, mut median, mut p99, mut requests) = (None, None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with("Non-2xx or 3xx responses") || line.starts_with("Socket errors") {
            bail!("wrk saw failures: {line}");
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            rate = Some(rest.trim().parse::<f64>()?);
        } else if let Some(rest) = line.strip_prefix("50%") {
            median = Some(wrk_millis(rest.trim())?);
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = Some(wrk_millis(rest.trim())?);
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            requests = Some(count.trim().parse::<usize>()?);
        }
    }
    Ok(WrkRun {
        pages_per_second: rate.context("no Requests/sec")?,
        median_ms: median.context("no 50% latency")?,
        p99_ms: p99.context("no 99% latency")?,
        requests: requests.context("no request count")?,
    })
}

/// A duration as `wrk` prints it (`512.00us`, `1.98ms`, `1.02s`, `2.00m`), in milliseconds.
fn wrk_millis(text: &str) -> Result<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).context("a duration without a unit")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse()?;
    let micros = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        other => bail!("an unknown unit {other:?}"),
    };
    Ok(number * micros / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
Running 1s test @ http://127.0.0.1:40000/entries?limit=50
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.15ms    1.02ms  12.40ms   80.12%
    Req/Sec     3.75k   210.33     4.10k    70.00%
  Latency Distribution
     50%  850.00us
     75%    2.50ms
     90%    3.20ms
     99%    1.20s
  7463 requests in 1.00s, 52.53MB read
Requests/sec:   7445.12
Transfer/sec:     52.40MB
";

    #[test]
    fn wrk_reports_are_read() {
        let run = parse_wrk(REPORT).unwrap();
        assert_eq!(
            run,
            WrkRun { pages_per_second: 7445.12, median_ms: 0.85, p99_ms: 1200.0, requests: 7463 }
        );
    }

    #[test]
    fn wrk_failures_are_errors() {
        let failed = REPORT.replace("Requests/sec", "  Non-2xx or 3xx responses: 3\nRequests/sec");
        assert!(parse_wrk(&failed).unwrap_err().to_string().contains("Non-2xx or 3xx responses: 3"));
        let failed = REPORT
            .replace("Requests/sec", "  Socket errors: connect 0, read 2, write 0, timeout 0\nRequests/sec");
        assert!(parse_wrk(&failed).unwrap_err().to_string().contains("read 2"));
        assert!(parse_wrk("Running 1s test").is_err());
    }
}
