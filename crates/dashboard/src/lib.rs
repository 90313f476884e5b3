//! Spectra's web dashboard: a page and its scripts, embedded in the binary and served at `/`
//! beside the API. The scripts call the same `/client/v4` API with the credentials the user
//! signs in with (kept in the browser session only), so the dashboard can do nothing their
//! token cannot. Written as plain scripts without a build step, so neither running nor testing
//! it needs Node.js; the one library, uPlot (MIT, for the charts), is vendored in
//! `assets/vendor`.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Every asset: its path under `/dashboard/`, content type, and bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
    (
        "core.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/core.js"),
    ),
    (
        "apps.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/apps.js"),
    ),
    (
        "form.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/form.js"),
    ),
    (
        "traffic.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/traffic.js"),
    ),
    (
        "zone.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/zone.js"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../assets/vendor/uPlot.min.css"),
    ),
];

const INDEX: &str = include_str!("../assets/index.html");

/// Scripts and styles from this origin only; the API on this origin only; no framing.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Assets change with the binary: revalidate rather than serve an old script to a new API.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The dashboard's routes: `/` and `/dashboard/...`, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route(
        "/",
        get(|| async { asset("text/html; charset=utf-8", INDEX) }),
    );
    for (path, content_type, body) in ASSETS {
        router = router.route(
            &format!("/dashboard/{path}"),
            get(move || async move { asset(content_type, body) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_script_and_style_it_names_and_nothing_else() {
        let named: Vec<&str> = INDEX
            .split("/dashboard/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or_default())
            .collect();
        let served: Vec<&str> = ASSETS.iter().map(|(path, _, _)| *path).collect();
        let mut named_sorted = named.clone();
        named_sorted.sort_unstable();
        let mut served_sorted = served.clone();
        served_sorted.sort_unstable();
        assert_eq!(named_sorted, served_sorted);
    }
}
