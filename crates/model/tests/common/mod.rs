//! Helpers for the app object tests: a base app, changes to it, and refusal checks.
#![allow(dead_code)]

use model::*;
use serde_json::{json, Value};

pub fn parse(body: Value) -> Result<AppConfig, Invalid> {
    AppConfig::from_json(body)
}

pub fn base() -> Value {
    json!({
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "ssh.example.com"},
        "origin_direct": ["tcp://127.0.0.1:2222"],
        "traffic_type": "direct"
    })
}

/// The base app with fields set; a key `-name` removes `name`.
pub fn with(changes: Value) -> Value {
    let mut body = base();
    for (k, v) in changes.as_object().unwrap() {
        match k.strip_prefix('-') {
            Some(removed) => {
                body.as_object_mut().unwrap().remove(removed);
            }
            None => body[k] = v.clone(),
        }
    }
    body
}

pub fn zone() -> Zone {
    let t = chrono::Utc::now();
    Zone {
        id: "0".repeat(32),
        name: "example.com".into(),
        created_on: t,
        modified_on: t,
    }
}

#[track_caller]
pub fn refused(body: Value, code: u32, mentions: &str) {
    let err = parse(body).expect_err("must be refused");
    assert_eq!(err.code, code, "{}", err.message);
    assert!(
        err.message.contains(mentions),
        "{:?} should mention {mentions:?}",
        err.message
    );
}
