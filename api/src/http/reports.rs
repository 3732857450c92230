//! `GET /reports/{kind}`: the CLI's reports over HTTP, e.g.
//! `/reports/monthly?period=2026-10&format=html`. Bearer authentication as
//! on `/graphql`; any authenticated account may download them.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use reports::{
    document::ReportKind,
    render::{Format, Table},
};
use serde::Deserialize;
use serde_json::json;

use super::HttpState;
use crate::{error::ServiceError, service::metrics};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportParams {
    period: Option<String>,
    week: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    time_zone: Option<String>,
    table: Option<String>,
}

pub async fn download(
    State(state): State<HttpState>,
    Path(kind): Path<String>,
    address: super::gate::ClientAddress,
    headers: HeaderMap,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Response {
    if let Err(refused) = super::gate::authenticate(&state, &headers, address).await {
        return refused.into_response();
    }
    match produce(&state, &kind, params).await {
        Ok((bytes, format, filename)) => {
            let disposition =
                HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
            (
                StatusCode::OK,
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(format.content_type()),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => error_response(error),
    }
}

async fn produce(
    state: &HttpState,
    kind: &str,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<(Vec<u8>, Format, String), ServiceError> {
    let Query(params) =
        params.map_err(|rejection| ServiceError::validation("query", rejection.body_text()))?;
    let required = |value: Option<String>, field: &str| {
        value.ok_or_else(|| ServiceError::validation(field, "is required"))
    };
    let report = match kind {
        "monthly" => ReportKind::Monthly {
            period: required(params.period, "period")?,
        },
        "quarterly" => ReportKind::Quarterly {
            period: required(params.period, "period")?,
        },
        "trends" => ReportKind::Trends {
            from: required(params.from, "from")?,
            to: required(params.to, "to")?,
        },
        "cab-weekly" => ReportKind::CabWeekly {
            week: required(params.week, "week")?,
        },
        _ => return Err(ServiceError::NotFound { entity: "report" }),
    };
    let format: Format = params
        .format
        .as_deref()
        .unwrap_or("html")
        .parse()
        .map_err(|message: String| ServiceError::validation("format", message))?;
    let table: Table = params
        .table
        .as_deref()
        .unwrap_or("metrics")
        .parse()
        .map_err(|message: String| ServiceError::validation("table", message))?;
    let subject = match &report {
        ReportKind::Monthly { period } | ReportKind::Quarterly { period } => period.clone(),
        ReportKind::Trends { from, to } => format!("{from}_{to}"),
        ReportKind::CabWeekly { week } => week.clone(),
    };
    let time_zone = params.time_zone.unwrap_or_else(|| "UTC".to_owned());
    let document = metrics::report(&state.app.db, &state.app.policy, report, &time_zone).await?;
    let bytes = metrics::render(document, format, table).await?;
    let safe: String = subject
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    Ok((
        bytes,
        format,
        format!("gatehouse-{kind}-{safe}.{}", format.extension()),
    ))
}

/// A service error as an HTTP answer in the GraphQL error shape (the
/// non-GraphQL routes: reports, the forges' receivers).
pub(super) fn error_response(error: ServiceError) -> Response {
    let status = match &error {
        ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::Validation { .. } => StatusCode::BAD_REQUEST,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let graphql_error = async_graphql::ErrorExtensions::extend(&error);
    let mut extensions = json!({"code": error.code()});
    if let ServiceError::Validation { field, .. } = &error {
        extensions["field"] = json!(field);
    }
    let mut response = (
        status,
        Json(json!({"errors": [{"message": graphql_error.message, "extensions": extensions}]})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        );
    }
    response
}
