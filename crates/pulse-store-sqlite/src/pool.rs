//! [`Pool`]: threads that each own one SQLite connection and run the jobs sent to them, so no
//! database work runs on the async runtime's threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};

use pulse_extensibility::{Error, Result};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::sql;

/// Work for one connection's thread.
pub(crate) type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Threads that each own one connection and take jobs from one queue.
pub(crate) struct Pool {
    sender: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `size` threads, each running on the connection `open` makes for it, and waits
    /// until every one has its connection.
    pub(crate) async fn start<F>(name: &str, size: usize, open: F) -> Result<Self>
    where
        F: Fn() -> Result<Connection> + Send + Sync + 'static,
    {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let open = Arc::new(open);
        let mut pool = Self { sender: Some(sender), threads: Vec::with_capacity(size) };
        let mut ready = Vec::with_capacity(size);
        for index in 0..size {
            let (ready_tx, ready_rx) = oneshot::channel();
            let receiver = receiver.clone();
            let open = open.clone();
            let spawned = thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
                let connection = catch_unwind(AssertUnwindSafe(|| open()))
                    .unwrap_or_else(|panic| Err(panicked("opening a connection", &*panic)));
                match connection {
                    Ok(connection) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(connection, &receiver);
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                }
            });
            match spawned {
                Ok(handle) => pool.threads.push(handle),
                Err(error) => return Err(Error::unavailable("cannot start a database thread", error)),
            }
            ready.push(ready_rx);
        }
        for ready_rx in ready {
            match ready_rx.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => {
                    return Err(Error::Backend {
                        message: "a database thread stopped while opening its connection".to_owned(),
                        retryable: false,
                        source: None,
                    });
                }
            }
        }
        Ok(pool)
    }

    /// Runs `job` on one of the pool's connections and returns its result. A panic in `job`
    /// becomes an error; the connection's open transaction, if any, is rolled back.
    pub(crate) async fn run<T, F>(&self, what: &'static str, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |connection: &mut Connection| {
            let outcome = catch_unwind(AssertUnwindSafe(|| job(connection)))
                .unwrap_or_else(|panic| Err(panicked(what, &*panic)));
            if !connection.is_autocommit()
                && let Err(error) = connection.execute_batch(sql::ROLLBACK)
            {
                tracing::error!(%error, what, "cannot roll back after a failed database job");
            }
            let _ = reply.send(outcome);
        });
        let closed = || Error::Unavailable { message: format!("{what}: the store is closed"), source: None };
        self.sender.as_ref().ok_or_else(closed)?.send(job).map_err(|_| closed())?;
        result.await.map_err(|_| closed())?
    }

    /// A handle that queues jobs without waiting for them; `None` once the pool is closing.
    pub(crate) fn queue(&self) -> Option<mpsc::Sender<Job>> {
        self.sender.clone()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every thread after its current job; joining closes the
        // connections before the store is gone.
        drop(self.sender.take());
        let current = thread::current().id();
        for handle in self.threads.drain(..) {
            if handle.thread().id() != current {
                let _ = handle.join();
            }
        }
    }
}

/// A connection's thread: runs jobs until the queue closes.
fn serve(mut connection: Connection, receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(&mut connection),
            Err(mpsc::RecvError) => return,
        }
    }
}

fn panicked(what: &str, panic: &(dyn std::any::Any + Send)) -> Error {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    tracing::error!(what, panic = %message, "a database job panicked");
    Error::Backend {
        message: format!("{what}: the database job panicked: {message}"),
        retryable: false,
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_pool_is_unavailable() {
        let pool = Pool { sender: None, threads: Vec::new() };
        let error = pool.run("reading", |_| Ok(())).await.unwrap_err();
        assert_eq!(error.to_string(), "store unavailable: reading: the store is closed");
    }
}
