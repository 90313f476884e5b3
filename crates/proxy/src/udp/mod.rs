//! The UDP path: edge listeners, flows (a client's socket to its origin), the flow table, and
//! batched system calls.

pub(crate) mod batch;
pub(crate) mod flow;
pub mod flows;
pub(crate) mod listener;
