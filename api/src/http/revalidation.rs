//! `ETag` and `If-None-Match` for answers to GET requests (a query over
//! GET, usually a persisted one), so a browser or a CDN revalidates what
//! it holds instead of downloading it again.
//!
//! The tag is a digest of the answer's bytes, so it changes exactly when
//! the answer does. Answers depend on the caller's token: they are
//! `private` (no shared cache may serve them to someone else) and
//! `no-cache` (revalidated each time, since the data changes with every
//! write).

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use sha2::{Digest, Sha256};

/// Larger answers than the body limit are not produced; this only bounds
/// the collection of one already in memory.
const MAX_TAGGED_BYTES: usize = 64 * 1024 * 1024;

/// The answer with its `ETag`, or `304 Not Modified` when the request's
/// `If-None-Match` holds that tag.
pub async fn tag(request: &HeaderMap, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_TAGGED_BYTES).await else {
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
        return Response::from_parts(parts, Body::empty());
    };
    let etag = etag_of(&bytes);
    let headers = &mut parts.headers;
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Accept"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if matches(request, &etag) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A strong tag: the first 128 bits of the body's SHA-256.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks
/// of `If-None-Match`), or is `*`.
fn matches(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn if_none_match_compares_tags_weakly() {
        let etag = etag_of(b"{\"data\":{}}");
        assert!(matches(&asking(&etag), &etag));
        assert!(matches(&asking(&format!("W/{etag}")), &etag));
        assert!(matches(&asking(&format!("\"other\", {etag}")), &etag));
        assert!(matches(&asking("*"), &etag));
        assert!(!matches(&asking("\"other\""), &etag));
        assert!(!matches(&HeaderMap::new(), &etag));
        assert_ne!(
            etag,
            etag_of(b"{\"data\":{\"x\":1}}"),
            "another answer, another tag"
        );
    }
}
