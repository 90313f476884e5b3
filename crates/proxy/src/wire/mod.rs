//! What is written to origins besides the client's bytes: PROXY headers (v1, v2) and the
//! Simple Proxy Protocol. Byte layouts only, no I/O.

pub mod proxy_header;
pub mod spp;
