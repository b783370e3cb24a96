//! WAL checkpoints off the writer's thread.
//!
//! SQLite's automatic checkpoint runs on the connection that commits, so a write that happens
//! to pass the threshold waits while the WAL's pages are copied into the database file and
//! synced, and every write queued behind it waits too. Pulse turns the automatic checkpoint
//! off on its writer (a WAL hook replaces it) and has a connection of its own, on a thread of
//! its own, run a `PASSIVE` checkpoint instead, which never blocks the writer or the readers.

use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use pulse_extensibility::Result;
use rusqlite::Connection;
use rusqlite::hooks::Wal;

use crate::error::Context;
use crate::pool::Job;
use crate::sql;

/// WAL pages after a commit that ask for a checkpoint: SQLite's own default.
pub(crate) const THRESHOLD_PAGES: c_int = 1000;

thread_local! {
    /// The checkpointer of the writer that runs on this thread.
    static CHECKPOINTER: RefCell<Option<Nudge>> = const { RefCell::new(None) };
}

/// How a writer asks its checkpointer for a checkpoint.
struct Nudge {
    queue: mpsc::Sender<Job>,
    /// A checkpoint is queued or running: asking again adds nothing.
    pending: Arc<AtomicBool>,
}

/// Replaces the automatic checkpoint of `writer`, which must be used on this thread only, with
/// a request to the connection behind `queue` whenever a commit leaves the WAL at
/// [`THRESHOLD_PAGES`] or more.
pub(crate) fn hand_off(writer: &Connection, queue: mpsc::Sender<Job>) {
    CHECKPOINTER.set(Some(Nudge { queue, pending: Arc::new(AtomicBool::new(false)) }));
    writer.wal_hook(Some(after_commit));
}

/// The writer's WAL hook: runs after each commit, on the writer's thread.
fn after_commit(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    if pages >= THRESHOLD_PAGES {
        CHECKPOINTER.with_borrow(|nudge| {
            if let Some(nudge) = nudge {
                nudge.ask();
            }
        });
    }
    Ok(())
}

impl Nudge {
    fn ask(&self) {
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let pending = self.pending.clone();
        let job: Job = Box::new(move |connection: &mut Connection| {
            if let Err(error) = checkpoint(connection) {
                tracing::warn!(%error, "a WAL checkpoint failed; the next commit past the threshold asks again");
            }
            pending.store(false, Ordering::Release);
        });
        if self.queue.send(job).is_err() {
            // The store is closing: closing the last connection checkpoints.
            self.pending.store(false, Ordering::Release);
        }
    }
}

/// Copies what it can of the WAL into the database file without waiting for any lock.
fn checkpoint(connection: &Connection) -> Result<()> {
    connection.query_row(sql::CHECKPOINT_PASSIVE, [], |_| Ok(())).context("checkpointing the WAL")
}
