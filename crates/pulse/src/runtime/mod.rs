//! The runtime: typed commands, handlers, retries, capture and replay.

pub(crate) mod command;
pub(crate) mod handler_error;
pub(crate) mod pulse;
pub(crate) mod registry;
pub(crate) mod retry;
