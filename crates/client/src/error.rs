//! The client's errors: one per HTTP status class the SDKs name, each with Cloudflare's codes and messages.

use serde::Deserialize;
use std::fmt;

/// One entry of an envelope's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub code: u32,
    pub message: String,
}

/// A non-2xx answer: its status and the envelope's `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<Message>,
}

impl ApiError {
    /// The first error code, if the server sent one.
    pub fn code(&self) -> Option<u32> {
        self.errors.first().map(|m| m.code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        for m in &self.errors {
            write!(f, "; {} ({})", m.message, m.code)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad request: {0}")]
    BadRequest(ApiError),
    #[error("authentication failed: {0}")]
    Authentication(ApiError),
    #[error("permission denied: {0}")]
    PermissionDenied(ApiError),
    #[error("not found: {0}")]
    NotFound(ApiError),
    #[error("conflict: {0}")]
    Conflict(ApiError),
    #[error("unprocessable entity: {0}")]
    UnprocessableEntity(ApiError),
    #[error("rate limited: {0}")]
    RateLimited(ApiError),
    #[error("server error: {0}")]
    InternalServer(ApiError),
    #[error("unexpected status: {0}")]
    Status(ApiError),
    /// The request did not get an answer (connection refused, reset, timed out).
    #[error("request failed: {0}")]
    Connection(#[source] reqwest::Error),
    /// A 2xx answer that is not the envelope or app it should be.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The client is not set up right (no credentials, a bad base URL).
    #[error("client configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn from_status(error: ApiError) -> Error {
        match error.status {
            400 => Error::BadRequest(error),
            401 => Error::Authentication(error),
            403 => Error::PermissionDenied(error),
            404 => Error::NotFound(error),
            409 => Error::Conflict(error),
            422 => Error::UnprocessableEntity(error),
            429 => Error::RateLimited(error),
            500.. => Error::InternalServer(error),
            _ => Error::Status(error),
        }
    }

    /// The API's answer, for errors that have one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::BadRequest(e)
            | Error::Authentication(e)
            | Error::PermissionDenied(e)
            | Error::NotFound(e)
            | Error::Conflict(e)
            | Error::UnprocessableEntity(e)
            | Error::RateLimited(e)
            | Error::InternalServer(e)
            | Error::Status(e) => Some(e),
            _ => None,
        }
    }
}
