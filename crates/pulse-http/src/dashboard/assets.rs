//! The stylesheet and the script, compiled into the binary: the dashboard loads nothing from
//! anywhere else, so it works offline and behind an air gap.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Base;

/// Every asset: name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("pulse.css", "text/css; charset=utf-8", include_str!("assets/pulse.css")),
    ("pulse.js", "text/javascript; charset=utf-8", include_str!("assets/pulse.js")),
];

/// The version every asset URL carries, so that a browser never keeps a stale copy across an
/// upgrade while caching it between pages.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The URL of asset `name`.
pub(crate) fn url(base: &Base, name: &str) -> String {
    format!("{}/assets/{name}?v={VERSION}", base.as_str())
}

/// `GET ui/assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, media_type, content)) => {
            let mut response = (*content).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
