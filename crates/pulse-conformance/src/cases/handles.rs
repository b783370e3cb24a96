//! Handles: a second handle on one store, as another process opens it, sees every write.

use super::{command, store};
use crate::Harness;

/// A second handle on the same store, as another process would open it, sees every write.
pub async fn a_second_handle_sees_every_write(h: Harness) {
    let other = h.open_again().await;
    let entry = store(&h.store, command("a")).await;
    assert_eq!(
        other.get_entry(entry.id).await.unwrap().as_ref(),
        Some(&entry),
        "a second handle on the same store reads an entry the first stored"
    );
    let dismissed =
        other.dismiss(entry.id, None).await.expect("a second handle can change an entry the first stored");
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(dismissed),
        "the first handle reads a change made through the second"
    );
}
