//! When a pooled connection is checked before it is handed out.
//!
//! The store's own pool does not ping the server on every acquire: that was one more round trip
//! for every statement, a quarter of a single-row store's rate. Instead, once a statement fails
//! because its connection broke (the server restarted, a proxy or an administrator dropped it),
//! every connection released before that moment is pinged when it is next acquired, and
//! dropped if it does not answer. So a restart costs the one call that met a dead connection
//! (a retryable error), not one call per pooled connection, and a healthy pool no round trips.
//!
//! The moment is kept for the whole process: a break seen by one store makes every store's
//! pool check its older connections once, which costs a ping each and nothing else.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When a connection last broke, in microseconds since [`origin`] plus one; 0 for never.
static BROKE_AT: AtomicU64 = AtomicU64::new(0);

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now() -> u64 {
    u64::try_from(origin().elapsed().as_micros()).unwrap_or(u64::MAX).saturating_add(1)
}

/// Records that a statement failed because its connection broke.
pub(crate) fn connection_broke() {
    BROKE_AT.fetch_max(now(), Ordering::Relaxed);
}

/// Whether a connection idle for `idle_for` was released before the latest break, and so is
/// to be pinged before use.
pub(crate) fn released_before_a_break(idle_for: Duration) -> bool {
    released_before(BROKE_AT.load(Ordering::Relaxed), idle_for, now())
}

/// Whether a connection idle for `idle_for` at `now` was released at or before `broke_at`
/// (0 for never).
fn released_before(broke_at: u64, idle_for: Duration, now: u64) -> bool {
    let idle_for = u64::try_from(idle_for.as_micros()).unwrap_or(u64::MAX);
    broke_at != 0 && broke_at.saturating_add(idle_for) >= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_released_before_a_break_are_checked_and_later_ones_are_not() {
        let broke_at = 5_000_000;
        let now = broke_at + 1_000;
        assert!(!released_before(0, Duration::from_secs(3600), now), "no break yet: nothing is checked");
        assert!(released_before(broke_at, Duration::from_micros(1_000), now), "released at the break");
        assert!(released_before(broke_at, Duration::from_secs(3600), now), "released an hour before it");
        assert!(
            !released_before(broke_at, Duration::from_micros(999), now),
            "released a microsecond after it"
        );
        assert!(!released_before(broke_at, Duration::ZERO, now), "released just now");
    }
}
