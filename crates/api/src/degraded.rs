//! While the store cannot be reached, reads are answered from the node's last configuration:
//! this middleware says so in the envelope's `messages`, so no client takes a copy for the
//! store's word.

use crate::ApiState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

pub(crate) async fn note(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let Some(note) = state.store.degraded() else {
        return response;
    };
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Envelopes are small (a page of at most 1,000 items).
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut envelope: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    if let Some(messages) = envelope.get_mut("messages").and_then(Value::as_array_mut) {
        messages.push(json!({"code": 10000, "message": note}));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(envelope.to_string()))
}
