//! The origin side: which origin a connection or flow tries, in what order (the balancer), and
//! origins named by DNS.

pub mod balancer;
pub(crate) mod dns;
