//! When and after how long to retry, by the official SDKs' rules: 408, 409, 429, 5xx and
//! connection errors; `x-should-retry` obeyed; `retry-after-ms` or `Retry-After` honoured up to
//! 60 s; otherwise 0.5 s doubling per attempt, at most 8 s, less up to 25 % jitter.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::time::{Duration, SystemTime};

const BASE: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether a response with this status and these headers should be tried again.
pub fn should_retry(status: StatusCode, headers: &HeaderMap) -> bool {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
}

/// What the server asked for: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP
/// date; only when it is above zero and at most 60 s.
pub fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let asked = if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    } else if let Some(value) = header("retry-after") {
        match value.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).ok(),
            Err(_) => httpdate::parse_http_date(value)
                .ok()
                .map(|t| t.duration_since(now).unwrap_or_default()),
        }
    } else {
        None
    };
    asked.filter(|d| !d.is_zero() && *d <= MAX_RETRY_AFTER)
}

/// The back-off before retry number `retry` (0-based), with `jitter` in [0, 1).
pub fn backoff(retry: u32, jitter: f64) -> Duration {
    let full = BASE.saturating_mul(1 << retry.min(16)).min(MAX_BACKOFF);
    full.mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retried_statuses_and_the_override_header() {
        let none = HeaderMap::new();
        for code in [408, 409, 429, 500, 502, 503, 504] {
            assert!(
                should_retry(StatusCode::from_u16(code).unwrap(), &none),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(
                !should_retry(StatusCode::from_u16(code).unwrap(), &none),
                "{code}"
            );
        }
        assert!(should_retry(
            StatusCode::BAD_REQUEST,
            &headers(&[("x-should-retry", "true")])
        ));
        assert!(!should_retry(
            StatusCode::SERVICE_UNAVAILABLE,
            &headers(&[("x-should-retry", "false")])
        ));
    }

    #[test]
    fn server_delays_within_a_minute_are_honoured() {
        let now = SystemTime::now();
        assert_eq!(
            server_delay(&headers(&[("retry-after-ms", "300")]), now),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            server_delay(&headers(&[("retry-after", "1")]), now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            server_delay(
                &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(250)),
            "retry-after-ms wins"
        );
        assert_eq!(server_delay(&headers(&[("retry-after", "120")]), now), None);
        assert_eq!(server_delay(&headers(&[("retry-after", "0")]), now), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
        let d = server_delay(&headers(&[("retry-after", &date)]), now).unwrap();
        assert!(
            d > Duration::from_secs(3) && d <= Duration::from_secs(5),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_eight_seconds_with_jitter_below() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(5, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(0, 0.999_999).as_millis(), 375);
    }
}
