//! Request parsing that always answers with the envelope: JSON bodies, query strings, identifiers.

use crate::envelope::ApiError;
use crate::server::BodyDeadline;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use model::codes;
use serde_json::Value;

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// A request body parsed as JSON. The content type may be JSON, absent, or curl's default
/// `application/x-www-form-urlencoded` (so `curl -d '{...}'` works); any other is refused.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let json_like = essence == "application/json"
                || essence.ends_with("+json")
                || essence == "application/x-www-form-urlencoded";
            if !json_like {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    6003,
                    format!("Content-Type \"{essence}\" is not supported; send application/json"),
                ));
            }
        }
        let deadline = req.extensions().get::<BodyDeadline>().map(|d| d.0);
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            None => read.await,
            Some(at) => tokio::time::timeout_at(at.into(), read)
                .await
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        6007,
                        "the request body did not arrive in time",
                    )
                })?,
        };
        let bytes = read.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    6007,
                    format!("request body is larger than {MAX_BODY} bytes"),
                )
            } else {
                ApiError::new(
                    status,
                    6007,
                    format!("cannot read the request body: {rejection}"),
                )
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                6007,
                "the request body is empty; expected a JSON object",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::bad_request(6007, format!("Malformed JSON in request body: {e}"))
        })
    }
}

/// The query string as key/value pairs, keys possibly repeated.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        serde_urlencoded::from_str(raw.unwrap_or(""))
            .map(Query)
            .map_err(|e| {
                ApiError::bad_request(codes::INVALID_FIELD, format!("malformed query string: {e}"))
            })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (a key may repeat).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `page` (default 1) and `per_page` (default `default`, cut to `max`).
    pub fn paging(&self, default: u32, max: u32) -> Result<(u32, u32), ApiError> {
        let page = self.number("page")?.unwrap_or(1);
        let per_page = self.number("per_page")?.unwrap_or(default).min(max);
        Ok((page, per_page))
    }

    /// A positive whole number, leniently: Python's SDK sends `page=2.0`.
    pub fn number(&self, key: &str) -> Result<Option<u32>, ApiError> {
        let Some(text) = self.get(key) else {
            return Ok(None);
        };
        match text.trim().parse::<f64>() {
            Ok(n) if n.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&n) => {
                Ok(Some(n as u32))
            }
            _ => Err(ApiError::bad_request(
                codes::INVALID_FIELD,
                format!("{key}: \"{text}\" is not a whole number of at least 1"),
            )),
        }
    }
}

/// Checks a path identifier's form (32 lower-case hex); a malformed one cannot exist: 404.
pub fn identifier(id: &str, what: &str) -> Result<(), ApiError> {
    if model::is_identifier(id) {
        Ok(())
    } else {
        Err(ApiError::not_found(
            7003,
            format!(
                "Could not route to {what} \"{id}\": identifiers are 32 lower-case hex characters"
            ),
        ))
    }
}
