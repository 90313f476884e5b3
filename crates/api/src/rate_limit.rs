//! The per-credential request rate limit (`--api-rate-limit N/PERIOD`): a token bucket for
//! each API token, global key, or (for requests without credentials) client address. Over it,
//! 429 with `Retry-After` and Cloudflare's error envelope, which the SDKs wait out and retry.

use crate::envelope::ApiError;
use crate::ApiState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `N` requests per `period`, with bursts of up to `N`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}

impl FromStr for RateLimit {
    type Err = String;

    /// `100/s`, `100/10s`, `1200/5m`, `10000/1h`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not N/PERIOD (for example 100/s, 1200/5m or 5000/1h)");
        let (n, period) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let unit = period.chars().last().ok_or_else(bad)?;
        let count = &period[..period.len() - unit.len_utf8()];
        let count: u64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let seconds = match unit {
            's' => count,
            'm' => count.saturating_mul(60),
            'h' => count.saturating_mul(3600),
            _ => return Err(bad()),
        };
        if requests == 0 || seconds == 0 {
            return Err(format!(
                "{text:?}: the count and the period must be above zero"
            ));
        }
        Ok(RateLimit {
            requests,
            period: Duration::from_secs(seconds),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every credential seen recently.
pub(crate) struct Limiter {
    limit: RateLimit,
    table: Mutex<Table>,
    keys: RandomState,
}

struct Table {
    buckets: HashMap<u64, Bucket>,
    /// Above this many buckets, full ones are forgotten.
    prune_at: usize,
}

const MIN_PRUNE: usize = 4096;

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                prune_at: MIN_PRUNE,
            }),
            keys: RandomState::new(),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.limit.requests) / self.limit.period.as_secs_f64()
    }

    /// Takes one request from `key`'s bucket at `now`; `Err` says how long until one is free.
    pub fn take(&self, key: u64, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.limit.requests);
        let rate = self.per_second();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Table { buckets, prune_at } = &mut *table;
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        let result = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        };
        if buckets.len() > *prune_at {
            // A bucket that has refilled is the same as no bucket: forget it.
            let period = self.limit.period;
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < period);
            *prune_at = (buckets.len() * 2).max(MIN_PRUNE);
        }
        result
    }

    /// Whose bucket a request takes from: its credential, else its client's address.
    fn key(&self, request: &Request) -> u64 {
        let headers = request.headers();
        let credential = headers
            .get(header::AUTHORIZATION)
            .or_else(|| headers.get("x-auth-key"))
            .map(|v| v.as_bytes());
        match credential {
            Some(secret) => self.keys.hash_one(("credential", secret)),
            None => {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                self.keys.hash_one(("address", peer))
            }
        }
    }
}

/// The middleware: passes the request on, or answers 429.
pub(crate) async fn check(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.limiter else {
        return next.run(request).await;
    };
    match limiter.take(limiter.key(&request), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                971,
                "Please wait and consider throttling your request speed",
            )
            .into_response();
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_with_and_without_a_count() {
        let parse = |s: &str| s.parse::<RateLimit>();
        assert_eq!(
            parse("100/s").unwrap(),
            RateLimit {
                requests: 100,
                period: Duration::from_secs(1)
            }
        );
        assert_eq!(parse("1200/5m").unwrap().period, Duration::from_secs(300));
        assert_eq!(parse("5/2h").unwrap().period, Duration::from_secs(7200));
        for bad in [
            "", "100", "/s", "0/s", "10/0s", "10/5x", "ten/s", "10/s5", "10/é",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bucket_allows_a_burst_then_refills_at_the_rate() {
        let limiter = Limiter::new("3/3s".parse().unwrap());
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take(1, t), Ok(()));
        }
        let wait = limiter.take(1, t).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01, "{wait:?}");
        assert_eq!(limiter.take(2, t), Ok(()), "another credential has its own");
        assert!(limiter.take(1, t + Duration::from_millis(500)).is_err());
        assert_eq!(limiter.take(1, t + Duration::from_millis(1500)), Ok(()));
    }

    #[test]
    fn full_buckets_are_forgotten_so_the_table_stays_bounded() {
        let limiter = Limiter::new("1/1s".parse().unwrap());
        let t = Instant::now();
        for key in 0..10_000u64 {
            let _ = limiter.take(key, t + Duration::from_millis(key));
        }
        let buckets = limiter.table.lock().unwrap().buckets.len();
        assert!(buckets <= 2 * MIN_PRUNE, "{buckets}");
    }
}
