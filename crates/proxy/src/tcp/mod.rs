//! The TCP path: reaching origins, the relay and its idle timeout, and the session of each
//! accepted connection.

pub(crate) mod connect;
pub(crate) mod idle;
pub(crate) mod log;
pub(crate) mod relay;
pub(crate) mod session;
