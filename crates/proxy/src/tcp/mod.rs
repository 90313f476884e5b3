//! The TCP path: reaching origins, the relay and its idle timeout, and the session of each
//! accepted connection: on the thread's reactor for a plain TCP app, else on a task of its own.

pub(crate) mod connect;
pub(crate) mod idle;
pub(crate) mod log;
pub(crate) mod reactor;
pub(crate) mod relay;
pub(crate) mod session;
