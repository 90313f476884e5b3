//! Cloudflare's v4 response envelope: `{success, errors, messages, result}` for every answer.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// A failed request: the HTTP status and one Cloudflare error (code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 10002, message)
    }
}

impl From<model::Invalid> for ApiError {
    fn from(e: model::Invalid) -> Self {
        ApiError::bad_request(e.code, e.message)
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound("zone") => unknown_zone(),
            store::StoreError::NotFound("app") => unknown_app(),
            store::StoreError::NotFound(what) => {
                ApiError::not_found(7003, format!("{what} not found"))
            }
            // A conflict is the client's to fix: 400, never 409, which the SDKs would retry.
            store::StoreError::Conflict(message) => ApiError::bad_request(1061, message),
            // The SDKs retry a 503; the edge keeps serving its last configuration meanwhile.
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    10000,
                    "The configuration store is unavailable; traffic is unaffected. Try again shortly.",
                )
            }
            other => {
                tracing::error!(error = %other, "store failed");
                ApiError::internal(format!("internal error: {other}"))
            }
        }
    }
}

pub fn unknown_zone() -> ApiError {
    ApiError::not_found(1001, "Invalid zone identifier: no such zone")
}

pub fn unknown_app() -> ApiError {
    ApiError::not_found(
        10006,
        "Invalid app identifier: no such Spectrum app in this zone",
    )
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "errors": [{"code": self.code, "message": self.message}],
            "messages": [],
            "result": null,
        });
        json_response(self.status, body)
    }
}

/// `200` with `result`.
pub fn ok(result: impl Serialize) -> Response {
    json_response(
        StatusCode::OK,
        json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

/// Paging facts of a list answer.
#[derive(Debug, Serialize)]
pub struct ResultInfo {
    pub page: u32,
    pub per_page: u32,
    pub count: usize,
    pub total_count: u64,
    pub total_pages: u64,
}

impl ResultInfo {
    pub fn new(page: u32, per_page: u32, count: usize, total_count: u64) -> Self {
        ResultInfo {
            page,
            per_page,
            count,
            total_count,
            total_pages: total_count.div_ceil(u64::from(per_page)),
        }
    }
}

/// `200` with page `page` (from 1) of `items`, `per_page` to a page, and its `result_info`.
pub fn ok_page<T: Serialize>(items: Vec<T>, page: u32, per_page: u32) -> Response {
    let total = items.len() as u64;
    let skip = (page as usize - 1).saturating_mul(per_page as usize);
    let shown: Vec<T> = items
        .into_iter()
        .skip(skip)
        .take(per_page as usize)
        .collect();
    let info = ResultInfo::new(page, per_page, shown.len(), total);
    ok_list(shown, info)
}

/// `200` with a list `result` and its `result_info`.
pub fn ok_list(result: impl Serialize, info: ResultInfo) -> Response {
    json_response(
        StatusCode::OK,
        json!({"success": true, "errors": [], "messages": [], "result": result, "result_info": info}),
    )
}

pub type ApiResult = Result<Response, ApiError>;
