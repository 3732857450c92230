//! The forges' deployment receivers: `POST /hooks/github` (GitHub's
//! `deployment_status` events) and `POST /hooks/gitlab` (GitLab's
//! deployment events). Each delivery is authenticated by the receiver's
//! secret before anything in it is read: GitHub signs the body
//! (`X-Hub-Signature-256`), GitLab sends the token (`X-Gitlab-Token`). A
//! failed check is 401, charged to the client address like a bad token,
//! and stores nothing. A delivery id already accepted (`X-GitHub-Delivery`,
//! `X-Gitlab-Event-UUID`) is acknowledged and not stored again, so a
//! redelivery or a replay of a captured request changes nothing. What the
//! payloads mean is `domain::forge`; recording is
//! `service::deployments::record`, as for a pipeline's own report.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use entity::{DeploymentSource, hook_delivery};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

use super::{
    HttpState,
    gate::{self, ClientAddress},
    reports::error_response,
};
use crate::{
    caller::Caller,
    domain::forge::{self, Reading},
    error::ServiceError,
    service::deployments::{self, Reported},
    store::transitions::Request,
};

/// One forge's receiver.
struct Receiver {
    /// `github`, `gitlab`: the delivery ids' namespace, the caller's name.
    source: &'static str,
    kind: DeploymentSource,
    /// The header naming the delivery.
    delivery_header: &'static str,
}

const GITHUB: Receiver = Receiver {
    source: "github",
    kind: DeploymentSource::Github,
    delivery_header: "x-github-delivery",
};

const GITLAB: Receiver = Receiver {
    source: "gitlab",
    kind: DeploymentSource::Gitlab,
    delivery_header: "x-gitlab-event-uuid",
};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn not_configured(setting: &str) -> Response {
    gate::refusal(
        StatusCode::NOT_FOUND,
        &format!("this receiver is off: set {setting} to turn it on"),
        "NOT_FOUND",
    )
}

fn unauthenticated(state: &HttpState, address: ClientAddress, what: &str) -> Response {
    gate::charge_failed_attempt(state, address);
    gate::refusal(StatusCode::UNAUTHORIZED, what, "UNAUTHENTICATED")
}

pub async fn github(
    State(state): State<HttpState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = gate::admit_address(&state, address) {
        return refusal.into_response();
    }
    let Some(secret) = state.hooks.github_secret.clone() else {
        return not_configured("GATEHOUSE_GITHUB_WEBHOOK_SECRET");
    };
    if !forge::github_signature_matches(&secret, &body, header(&headers, "x-hub-signature-256")) {
        return unauthenticated(
            &state,
            address,
            "X-Hub-Signature-256 is missing or does not match the body",
        );
    }
    match header(&headers, "x-github-event") {
        Some("ping") => return answer(StatusCode::OK, json!({"ok": true})),
        Some("deployment_status") => {}
        other => {
            return answer(
                StatusCode::ACCEPTED,
                json!({"ignored": format!("event {} is not a deployment_status", other.unwrap_or("(none)"))}),
            );
        }
    }
    receive(&state, &GITHUB, &headers, forge::read_github(&body)).await
}

pub async fn gitlab(
    State(state): State<HttpState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = gate::admit_address(&state, address) {
        return refusal.into_response();
    }
    let Some(token) = state.hooks.gitlab_token.clone() else {
        return not_configured("GATEHOUSE_GITLAB_WEBHOOK_TOKEN");
    };
    if !forge::gitlab_token_matches(&token, header(&headers, "x-gitlab-token")) {
        return unauthenticated(&state, address, "X-Gitlab-Token is missing or wrong");
    }
    if header(&headers, "x-gitlab-event") != Some("Deployment Hook") {
        return answer(
            StatusCode::ACCEPTED,
            json!({"ignored": "not a Deployment Hook event"}),
        );
    }
    receive(&state, &GITLAB, &headers, forge::read_gitlab(&body)).await
}

/// Records an authenticated delivery once.
async fn receive(
    state: &HttpState,
    receiver: &Receiver,
    headers: &HeaderMap,
    reading: Result<Reading, String>,
) -> Response {
    let db = &state.app.db;
    let Some(delivery) = header(headers, receiver.delivery_header)
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 200)
    else {
        return error_response(ServiceError::validation(
            receiver.delivery_header,
            "every delivery names itself (1 to 200 characters)",
        ));
    };
    match hook_delivery::Entity::find_by_id((receiver.source.to_owned(), delivery.to_owned()))
        .one(db)
        .await
    {
        Ok(Some(_)) => {
            return answer(
                StatusCode::OK,
                json!({"duplicate": true, "delivery": delivery}),
            );
        }
        Ok(None) => {}
        Err(error) => return error_response(error.into()),
    }
    let (status, report) = match reading {
        Ok(Reading::Deployment { status, report }) => (status, report),
        Ok(Reading::Ignored(why)) => return answer(StatusCode::ACCEPTED, json!({"ignored": why})),
        Err(why) => return error_response(ServiceError::validation("body", why)),
    };
    let caller = Caller::Operator {
        label: format!("{} receiver", receiver.source),
    };
    let request = Request {
        db,
        policy: &state.app.policy,
        events: &state.app.events,
        caller: &caller,
        now: state.app.clock.now(),
    };
    let reported = Reported {
        report,
        status,
        source: receiver.kind,
    };
    let (deployment, _) = match deployments::record(&request, reported).await {
        Ok(recorded) => recorded,
        Err(error) => return error_response(error),
    };
    // After the deployment is stored: a delivery that failed is retried by
    // the forge under the same id and must not be taken for a duplicate.
    // Two copies racing both land on the same deployment (its external id)
    // and the second insert here fails on the key, which is harmless.
    let _ = hook_delivery::ActiveModel {
        source: Set(receiver.source.to_owned()),
        delivery_id: Set(delivery.to_owned()),
        received_at: Set(request.now),
    }
    .insert(db)
    .await;
    answer(
        StatusCode::OK,
        json!({
            "deployment": deployment.id,
            "changeNumber": deployment.change_number,
            "status": deployment.status,
            "exception": deployment.exception_reason,
        }),
    )
}
