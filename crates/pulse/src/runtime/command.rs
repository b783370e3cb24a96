//! Typed commands and the envelope a command travels in.

use std::collections::BTreeMap;

use pulse_extensibility::TenantId;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A command Pulse can capture and replay.
///
/// `NAME` is stored as the entry's command type: keep it stable when code moves (never
/// `std::any::type_name`). Raise `VERSION` when the payload's shape changes, and register an
/// upcaster from the old version so old entries still replay.
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct CreateOrder {
///     order_id: u64,
/// }
///
/// impl pulse::Command for CreateOrder {
///     const NAME: &'static str = "orders.create";
///     const VERSION: u32 = 2;
/// }
/// ```
pub trait Command: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The stable name, stored as the command type.
    const NAME: &'static str;
    /// The version of the payload's current shape, at least 1.
    const VERSION: u32 = 1;
}

/// Where a command came from: its idempotency key, tenant, source and metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The message id: a command delivered twice and failing twice is stored once.
    pub message_id: Option<String>,
    /// The tenant the command belongs to.
    pub tenant: TenantId,
    /// Which handler or queue ran it.
    pub source: Option<String>,
    /// Correlation id, causation id, trace id, ...
    pub metadata: BTreeMap<String, String>,
}

impl Envelope {
    /// An envelope with this message id.
    pub fn message(message_id: impl Into<String>) -> Self {
        Self { message_id: Some(message_id.into()), ..Self::default() }
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = tenant;
        self
    }

    /// Sets the source.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds one metadata pair.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}
