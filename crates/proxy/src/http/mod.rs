//! The HTTP path of `traffic_type: http` apps: the edge speaks HTTP/1.1 to clients and
//! forwards each request to an origin over pooled keep-alive connections.

pub(crate) mod body;
pub(crate) mod exchange;
pub(crate) mod headers;
pub(crate) mod page;
pub(crate) mod pool;
pub(crate) mod server;
pub(crate) mod upstream;
