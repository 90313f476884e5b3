//! Who is calling: an API token (`Authorization: Bearer`) or a user's global key
//! (`X-Auth-Email` + `X-Auth-Key`), and what they may do.

use crate::envelope::ApiError;
use crate::ApiState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use model::{Permission, Token, User};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    Token(Token),
    /// A user's global key grants everything.
    User(User),
}

fn unauthorized(code: u32, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The secret of an `Authorization: Bearer` header, if one was sent.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = header(headers, "authorization") else {
        return Ok(None);
    };
    match value.split_once(' ') {
        Some((scheme, secret))
            if scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty() =>
        {
            Ok(Some(secret.trim()))
        }
        _ => Err(unauthorized(
            6111,
            "Invalid format for Authorization header: expected \"Bearer <token>\"",
        )),
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    /// Any one valid credential is enough: the TS SDK sends a token and a key together.
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?.map(str::to_owned);
        let key = match (
            header(&parts.headers, "x-auth-email"),
            header(&parts.headers, "x-auth-key"),
        ) {
            (Some(email), Some(key)) => Some((email.to_owned(), key.to_owned())),
            _ => None,
        };
        if token.is_none() && key.is_none() {
            return Err(unauthorized(
                9106,
                "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
            ));
        }
        let token_tried = token.is_some();
        let found = state
            .store(move |store| {
                if let Some(secret) = token {
                    if let Some(token) = store.token_by_secret(&secret)?.filter(|t| !t.revoked) {
                        return Ok(Some(Caller::Token(token)));
                    }
                }
                if let Some((email, key)) = key {
                    if let Some(user) = store.user_by_key(&email, &key)? {
                        return Ok(Some(Caller::User(user)));
                    }
                }
                Ok(None)
            })
            .await?;
        found.ok_or_else(|| {
            if token_tried {
                unauthorized(1000, "Invalid API Token")
            } else {
                unauthorized(9103, "Unknown X-Auth-Key or X-Auth-Email")
            }
        })
    }
}

/// For logs: which credential made a change.
impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Token(token) => write!(f, "token {}", token.id),
            Caller::User(user) => write!(f, "user {}", user.email),
        }
    }
}

impl Caller {
    /// Whether the caller may see that a zone exists.
    pub fn sees_zone(&self, zone_id: &str) -> bool {
        match self {
            Caller::User(_) => true,
            Caller::Token(token) => token.covers_zone(zone_id),
        }
    }

    /// Requires `permission` on `zone_id`, or on every zone when `zone_id` is `None`.
    pub fn require(&self, permission: Permission, zone_id: Option<&str>) -> Result<(), ApiError> {
        let Caller::Token(token) = self else {
            return Ok(());
        };
        let scope_ok = match zone_id {
            Some(zone) => token.covers_zone(zone),
            None => token.zones.is_none(),
        };
        if token.has(permission) && scope_ok {
            return Ok(());
        }
        let scope = zone_id.map_or_else(|| "all zones".to_owned(), |z| format!("zone {z}"));
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            10000,
            format!(
                "Authentication error: this API token does not grant {} on {scope}",
                permission.display_name()
            ),
        ))
    }
}
