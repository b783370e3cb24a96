//! The handlers, one module per resource. Each extracts typed input, makes one call into the
//! library and returns typed output; the `#[utoipa::path]` on it is its entry in the OpenAPI
//! document.

pub(crate) mod entries;
pub(crate) mod filter;
pub(crate) mod operations;
pub(crate) mod overview;
pub(crate) mod requests;
pub(crate) mod system;

/// The tag of the entry endpoints.
const ENTRIES: &str = "entries";
/// The tag of statistics and error groups.
const OVERVIEW: &str = "overview";
/// The tag of bulk operations.
const OPERATIONS: &str = "operations";
/// The tag of durable replay requests.
const REQUESTS: &str = "requests";
/// The tag of health, metrics and the document.
const SYSTEM: &str = "system";
