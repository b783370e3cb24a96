//! WAL checkpoints off the writer's thread.
//!
//! SQLite's automatic checkpoint runs on the connection that commits, so a write that happens
//! to pass the threshold waits while the WAL's pages are copied into the database file and
//! synced, and every write queued behind it waits too. Pulse turns the automatic checkpoint
//! off on its writer (a WAL hook replaces it) and has a connection of its own, on a thread of
//! its own, run a `PASSIVE` checkpoint instead, which never blocks the writer or the readers.
//!
//! It asks for one each time the WAL has grown by [`THRESHOLD_PAGES`] since the last request,
//! not after every commit past the threshold: under a stream of writes that never pauses, a
//! `PASSIVE` checkpoint never catches up with the writer, so the WAL is never reset, and asking
//! after every commit kept the checkpointer copying and syncing without pause. What bounds the
//! WAL is the writer itself: once it passes [`LIMIT_PAGES`], the writer runs a `RESTART`
//! checkpoint right after its commit, which copies the few pages not yet copied and starts the
//! file over from its beginning, keeping its size (a pause of the writer about once per 32 MiB
//! written). A restart blocks every write while it copies and syncs, so the first commit past
//! the limit only asks the checkpointer for one more `PASSIVE` checkpoint, and the first commit
//! after that checkpoint ends runs the restart, which then has only the commits in between to
//! copy (a pause of about 4 ms in the benchmark's purge, a few up to 30 ms). The writer does not wait
//! for the checkpointer meanwhile, unless the WAL reaches [`HARD_LIMIT_PAGES`] first: a
//! checkpointer starved of CPU must not let it grow without bound.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use pulse_extensibility::Result;
use rusqlite::Connection;
use rusqlite::hooks::{CheckpointMode, Wal};

use crate::error::Context;
use crate::pool::Job;
use crate::sql;

/// WAL pages after a commit that ask for a checkpoint: SQLite's own default.
pub(crate) const THRESHOLD_PAGES: c_int = 1000;

/// WAL pages after a commit at which the writer checkpoints the WAL itself and starts it over:
/// 32 MiB of 4 KiB pages, SQLite's default page size, so that the file stays well under
/// 64 MiB.
pub(crate) const LIMIT_PAGES: c_int = 8 * 1024;

/// WAL pages at which the writer waits for a running checkpoint to end, so that it can restart
/// the WAL: 48 MiB.
pub(crate) const HARD_LIMIT_PAGES: c_int = 12 * 1024;

/// How long the writer waits for a running checkpoint before it tries to restart the WAL
/// anyway (the restart then fails, is logged, and the next commit tries again).
const WAIT_FOR_CHECKPOINT: Duration = Duration::from_secs(5);

thread_local! {
    /// The checkpointer of the writer that runs on this thread.
    static CHECKPOINTER: RefCell<Option<Nudge>> = const { RefCell::new(None) };
}

/// How a writer asks its checkpointer for a checkpoint.
struct Nudge {
    queue: mpsc::Sender<Job>,
    /// Whether a checkpoint is queued or running: asking again adds nothing.
    pending: Arc<Pending>,
    /// The WAL's size in pages when a checkpoint was last asked for.
    asked_at: Cell<c_int>,
    /// Whether a checkpoint was asked for since the WAL passed [`LIMIT_PAGES`]: once it ends,
    /// the restart has only the commits since it to copy and sync.
    primed: Cell<bool>,
}

/// A flag the checkpointer clears when its checkpoint ends, and the writer can wait on.
#[derive(Default)]
struct Pending {
    running: Mutex<bool>,
    ended: Condvar,
}

impl Pending {
    /// Sets the flag; whether it was clear.
    fn start(&self) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        !std::mem::replace(&mut *running, true)
    }

    fn end(&self) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.ended.notify_all();
    }

    /// Whether a checkpoint is queued or running.
    fn is_set(&self) -> bool {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no checkpoint is queued or running, for at most `timeout`.
    fn wait(&self, timeout: Duration) {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.ended.wait_timeout_while(running, timeout, |running| *running);
    }
}

/// Replaces the automatic checkpoint of `writer`, which must be used on this thread only, with
/// a request to the connection behind `queue` whenever a commit leaves the WAL at
/// [`THRESHOLD_PAGES`] or more.
pub(crate) fn hand_off(writer: &Connection, queue: mpsc::Sender<Job>) {
    CHECKPOINTER.set(Some(Nudge {
        queue,
        pending: Arc::default(),
        asked_at: Cell::new(0),
        primed: Cell::new(false),
    }));
    writer.wal_hook(Some(after_commit));
}

/// The writer's WAL hook: runs after each commit, on the writer's thread. It always returns
/// `Ok`: an error here would fail a statement whose commit has already happened.
fn after_commit(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    if pages >= THRESHOLD_PAGES {
        CHECKPOINTER.with_borrow(|nudge| {
            if let Some(nudge) = nudge {
                nudge.after_commit(wal, pages);
            }
        });
    }
    Ok(())
}

impl Nudge {
    fn after_commit(&self, wal: &Wal, pages: c_int) {
        if pages >= LIMIT_PAGES {
            // A checkpoint running on the checkpointer would make the restart fail at once;
            // waiting for it would hold up every write queued behind this one.
            let hard = pages >= HARD_LIMIT_PAGES;
            if !hard && self.pending.is_set() {
                return;
            }
            // The restart blocks every write while it copies and syncs, so the checkpointer
            // copies and syncs what is there first, beside the writer.
            if !hard && !self.primed.get() {
                self.primed.set(true);
                self.send(pages);
                return;
            }
            self.pending.wait(WAIT_FOR_CHECKPOINT);
            match wal.checkpoint_v2(CheckpointMode::RESTART) {
                Ok(_) => {
                    self.asked_at.set(0);
                    self.primed.set(false);
                }
                Err(error) => {
                    tracing::warn!(%error, "restarting the WAL failed; the next commit past the limit tries again");
                }
            }
        } else {
            self.ask(pages);
        }
    }

    /// Asks for a checkpoint when the WAL, at `pages`, has grown by the threshold since the
    /// last request (or was reset since) and none is queued or running.
    fn ask(&self, pages: c_int) {
        let asked_at = self.asked_at.get();
        if pages > asked_at && pages - asked_at < THRESHOLD_PAGES {
            return;
        }
        self.send(pages);
    }

    /// Asks for a checkpoint unless one is queued or running.
    fn send(&self, pages: c_int) {
        if !self.pending.start() {
            return;
        }
        self.asked_at.set(pages);
        let pending = self.pending.clone();
        let job: Job = Box::new(move |connection: &mut Connection| {
            if let Err(error) = checkpoint(connection) {
                tracing::warn!(%error, "a WAL checkpoint failed; the next commit past the threshold asks again");
            }
            pending.end();
        });
        if self.queue.send(job).is_err() {
            // The store is closing: closing the last connection checkpoints.
            self.pending.end();
        }
    }
}

/// Copies what it can of the WAL into the database file without waiting for any lock.
fn checkpoint(connection: &Connection) -> Result<()> {
    connection.query_row(sql::CHECKPOINT_PASSIVE, [], |_| Ok(())).context("checkpointing the WAL")
}
