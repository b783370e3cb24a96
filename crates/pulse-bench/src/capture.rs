//! The capture path's cost in instructions: a failing `dispatch_with` (retries off, the memory
//! store), counted by valgrind's callgrind, which counts the same on a busy machine as on a quiet
//! one. The benchmark runs itself under callgrind twice, once capturing no command and once
//! [`CALLS`], and reports the difference per call, so start-up is left out.

use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use pulse::{Command, CommandRegistry, DeadLetters, Envelope, HandlerError, MemoryStore, Pulse, RetryPolicy};
use serde::{Deserialize, Serialize};

/// The argument that makes the benchmark the measured child: `--capture-calls N`.
pub(crate) const ARG: &str = "--capture-calls";

/// Failing dispatches in the measured run.
const CALLS: u64 = 2_000;

#[derive(Clone, Serialize, Deserialize)]
struct ChargeCard {
    invoice: u64,
}

impl Command for ChargeCard {
    const NAME: &'static str = "billing.charge";
}

/// The child: `calls` failing dispatches, each dead-lettered, on a current-thread runtime.
pub(crate) fn child(calls: u64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
        let mut registry = CommandRegistry::new();
        registry.register(|charge: ChargeCard| async move {
            Err::<(), _>(HandlerError::permanent(std::io::Error::other(format!(
                "card of invoice {} declined (code 51)",
                charge.invoice
            ))))
        });
        let pulse = Pulse::new(dead_letters, registry).with_retry(RetryPolicy::no_retries());
        for invoice in 0..calls {
            let failed =
                pulse.dispatch_with(ChargeCard { invoice }, Envelope::message(format!("m-{invoice}"))).await;
            if failed.is_ok() {
                bail!("the measured command did not fail");
            }
        }
        let stored = pulse.dead_letters().statistics().await?.total;
        if stored != calls {
            bail!("{stored} dead letters stored, not {calls}");
        }
        Ok(())
    })
}

/// Instructions per failing `dispatch_with`, or `None` when valgrind is not installed.
pub(crate) fn instructions_per_call(scratch: &Path) -> Result<Option<f64>> {
    if Process::new("valgrind").arg("--version").output().is_err() {
        return Ok(None);
    }
    let exe = std::env::current_exe().context("finding the benchmark's own binary")?;
    let count = |calls: u64| -> Result<u64> {
        let out = scratch.join(format!("callgrind.{calls}.out"));
        let status = Process::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .args([ARG, &calls.to_string()])
            .output()
            .context("running valgrind")?;
        if !status.status.success() {
            bail!("callgrind failed: {}", String::from_utf8_lossy(&status.stderr));
        }
        let text = std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        text.lines()
            .find_map(|line| line.strip_prefix("summary: "))
            .and_then(|total| total.trim().parse().ok())
            .context("callgrind's output has no summary line")
    };
    let (none, many) = (count(0)?, count(CALLS)?);
    #[allow(clippy::cast_precision_loss, reason = "an instruction count, reported rounded")]
    Ok(Some(many.saturating_sub(none) as f64 / CALLS as f64))
}
