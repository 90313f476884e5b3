//! TLS at the edge and to origins: certificates (the operator's files, the node CA), the
//! rustls configurations, and the session of a `tls` app's connection.

pub(crate) mod certs;
pub(crate) mod keys;
pub(crate) mod node_ca;
pub(crate) mod relay;
pub(crate) mod session;
pub(crate) mod uploaded;
