//! The small HTML page an `http` app answers with when the edge, not the origin, has the last
//! word: 502 (no origin reachable, or it broke off) and 504 (it did not answer in time).

use hyper::StatusCode;

/// The page for `status`, naming it and the request's ray id.
pub fn error_page(status: StatusCode, ray: &str) -> String {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body><h1>{code} {reason}</h1>\n<p>The origin could not be {what}.</p>\n<p>Ray ID: {ray}</p></body></html>\n",
        what = if code == 504 { "waited for any longer" } else { "reached" },
    )
}
