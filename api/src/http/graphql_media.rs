//! GraphQL over HTTP (the GraphQL Foundation's specification): which media
//! types a request may come in, which one the answer goes out in, and the
//! status a request error gets in each.
//!
//! `application/graphql-response+json` is the specification's own type:
//! a request the server would not execute (unparsable, invalid, variables
//! that do not coerce) is a 4xx there, without a `data` entry.
//! `application/json` is what older clients ask for: such errors are a 200
//! there, as those clients expect. A request without `Accept`, or with
//! `*/*`, gets `application/json` (what the specification's audit suite
//! checks until every client speaks the new type).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The media type an answer goes out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answering {
    GraphqlResponse,
    Json,
}

impl Answering {
    /// From the request's `Accept`: the acceptable type with the highest
    /// quality, the first listed on a tie. Anything that names neither
    /// type (`*/*`, `text/html`, nothing) is answered in `application/json`.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let mut best: Option<(f32, Self)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let answering = match media.as_str() {
                GRAPHQL_RESPONSE_JSON => Self::GraphqlResponse,
                JSON | "application/*" | "*/*" => Self::Json,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, answering));
            }
        }
        best.map_or(Self::Json, |(_, answering)| answering)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }

    /// The status of a request that was not executed because its document
    /// does not parse or validate, or its variables do not coerce.
    pub fn document_error_status(self) -> StatusCode {
        match self {
            Self::GraphqlResponse => StatusCode::BAD_REQUEST,
            Self::Json => StatusCode::OK,
        }
    }

    /// Every answer of the GraphQL endpoint is JSON; this says which JSON.
    pub fn label(self, response: &mut Response) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type()),
        );
    }
}

/// A POST body is JSON (`application/json`, UTF-8 when a charset is
/// named). Anything else, or no type at all, is refused before the body is
/// read: `text/plain` and `multipart/form-data` are what a browser sends
/// cross-origin without a preflight, so accepting them would open the API
/// to forms on other sites.
pub fn check_request_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("a POST to /graphql needs `Content-Type: application/json`".into());
    };
    let value = value.to_str().unwrap_or("").to_ascii_lowercase();
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    let charset_ok = parts
        .filter_map(|p| p.strip_prefix("charset="))
        .all(|charset| matches!(charset.trim_matches('"'), "utf-8" | "utf8"));
    if media == JSON && charset_ok {
        Ok(())
    } else {
        Err(format!(
            "the body is `{value}`; /graphql takes `application/json` (UTF-8)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: Option<&str>) -> Answering {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        Answering::negotiate(&headers)
    }

    #[test]
    fn the_answer_takes_the_preferred_acceptable_type() {
        assert_eq!(accepting(None), Answering::Json);
        assert_eq!(accepting(Some("*/*")), Answering::Json);
        assert_eq!(accepting(Some("text/html")), Answering::Json);
        assert_eq!(accepting(Some(JSON)), Answering::Json);
        assert_eq!(
            accepting(Some(GRAPHQL_RESPONSE_JSON)),
            Answering::GraphqlResponse
        );
        assert_eq!(
            accepting(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Answering::GraphqlResponse
        );
        assert_eq!(
            accepting(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Answering::Json
        );
        // On a tie the first listed wins; q=0 means "not this".
        assert_eq!(
            accepting(Some("application/json, application/graphql-response+json")),
            Answering::Json
        );
        assert_eq!(
            accepting(Some("application/graphql-response+json;q=0")),
            Answering::Json
        );
        assert_eq!(
            accepting(Some("APPLICATION/GRAPHQL-RESPONSE+JSON; charset=utf-8")),
            Answering::GraphqlResponse
        );
    }

    #[test]
    fn only_json_bodies_are_read() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            check_request_type(&headers)
        };
        assert!(with("application/json").is_ok());
        assert!(with("application/json; charset=utf-8").is_ok());
        assert!(with("Application/JSON;charset=\"UTF-8\"").is_ok());
        for refused in [
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "application/graphql",
            "application/json; charset=latin1",
        ] {
            assert!(with(refused).is_err(), "{refused}");
        }
        assert!(check_request_type(&HeaderMap::new()).is_err());
    }
}
