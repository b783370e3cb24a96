//! The runtime: typed commands, handlers, retries, capture and replay.

pub(crate) mod bulk;
pub(crate) mod command;
pub(crate) mod handler_error;
pub(crate) mod health;
mod pace;
pub(crate) mod pulse;
pub(crate) mod registry;
pub(crate) mod replay;
pub(crate) mod retention;
pub(crate) mod retry;
pub(crate) mod worker;
