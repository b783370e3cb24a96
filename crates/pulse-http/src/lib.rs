//! Pulse's admin HTTP API: the operator console's endpoints as an axum [`Router`](axum::Router)
//! an application mounts under a path of its choice.
//!
//! The API holds no business logic: each endpoint is one call into [`pulse`], which validates
//! input, decides state transitions and reports errors; the API authenticates the caller, picks
//! the store as the caller may see it, and maps the library's errors to RFC 9457 problems.
//! `docs/http.md` describes every endpoint.
//!
//! ```
//! use std::sync::Arc;
//!
//! use pulse::{DeadLetters, MemoryStore, TenantId};
//! use pulse_http::{AdminApi, Principal, Role, TokenAuthorizer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
//! let authorizer = TokenAuthorizer::new()
//!     // Hashes from the configuration: `TokenAuthorizer::hash(token)` makes them.
//!     .with_token_hash(
//!         "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0",
//!         Principal::new("acme-oncall", Role::Operator).in_tenant(TenantId::new("acme")?),
//!     )?;
//! let app: axum::Router = axum::Router::new().nest("/pulse", AdminApi::new(dead_letters, authorizer).router());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod api;
mod auth;
mod dashboard;
mod extract;
mod model;
mod openapi;
mod problem;
mod replayer;
mod router;
mod serve;

pub use auth::{AuthError, Authorizer, Principal, Role, TokenAuthorizer, TokenError};
pub use replayer::Replayer;
pub use router::AdminApi;
pub use serve::{serve, shutdown_signal};

#[doc = include_str!("../../../docs/http.md")]
#[cfg(doctest)]
struct HttpGuide;
