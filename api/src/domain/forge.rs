//! What the forges' deployment events say, as deployment reports: GitHub's
//! `deployment_status` event and GitLab's deployment event, read from the
//! fields their documentation gives, and their request signatures checked.
//!
//! The change a deployment belongs to is the change number it carries, in
//! the first of these that holds one (docs/deployments.md, "Receivers"):
//! - GitHub: `deployment.payload.change_number`, `deployment.ref`,
//!   `deployment.description`, `deployment_status.description`;
//! - GitLab: `ref`, `commit_title`.
//!
//! GitHub's deployment `payload` may also carry `systems` (names from the
//! register) and `commit_time` (RFC 3339), which GitHub itself does not
//! send.

use chrono::{DateTime, Utc};
use entity::DeploymentStatus;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2_next::Sha256;

use super::deployment::{self, DeploymentReport};

/// A forge event as Gatehouse reads it: a deployment report, or a reason
/// to acknowledge and store nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Deployment {
        status: DeploymentStatus,
        report: DeploymentReport,
    },
    /// Nothing to store (GitHub's `inactive`: a later deployment replaced
    /// this one).
    Ignored(String),
}

/// Whether `signature` (`X-Hub-Signature-256: sha256=<hex>`) is the
/// HMAC-SHA256 of `body` under `secret`, compared in constant time.
pub fn github_signature_matches(secret: &str, body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex_digest) = signature.and_then(|s| s.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Whether GitLab's `X-Gitlab-Token` is the configured token, compared in
/// constant time (GitLab sends the token itself, not a signature).
pub fn gitlab_token_matches(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    // HMAC both under one key: equal digests, equal tokens, and the
    // comparison takes the same time wherever they first differ.
    let digest = |text: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"gatehouse gitlab token")
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(text.as_bytes());
        mac
    };
    digest(given)
        .verify_slice(&digest(expected).finalize().into_bytes())
        .is_ok()
}

#[derive(Debug, Deserialize)]
struct GithubEvent {
    deployment_status: GithubStatus,
    deployment: GithubDeployment,
}

#[derive(Debug, Deserialize)]
struct GithubStatus {
    state: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    log_url: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct GithubDeployment {
    id: i64,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    environment: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

/// What Gatehouse reads in a deployment's free-form `payload`.
#[derive(Debug, Default, Deserialize)]
struct GithubPayload {
    #[serde(default)]
    change_number: Option<String>,
    #[serde(default)]
    systems: Vec<String>,
    #[serde(default)]
    commit_time: Option<DateTime<Utc>>,
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// Reads a GitHub `deployment_status` event body.
pub fn read_github(body: &[u8]) -> Result<Reading, String> {
    let event: GithubEvent =
        serde_json::from_slice(body).map_err(|e| format!("not a deployment_status event: {e}"))?;
    let Some(status) = deployment::github_status(&event.deployment_status.state) else {
        return Ok(Reading::Ignored(format!(
            "deployment state `{}` changes nothing",
            event.deployment_status.state
        )));
    };
    // A payload of another shape (GitHub lets it be any JSON) names nothing.
    let payload: GithubPayload = match &event.deployment.payload {
        serde_json::Value::Object(_) => {
            serde_json::from_value(event.deployment.payload.clone()).unwrap_or_default()
        }
        _ => GithubPayload::default(),
    };
    let change_number = [
        payload.change_number.clone(),
        Some(event.deployment.git_ref.clone()),
        event.deployment.description.clone(),
        event.deployment_status.description.clone(),
    ]
    .into_iter()
    .flatten()
    .find_map(|text| deployment::change_number_in(&text));
    let finished = deployment::is_finished(status);
    Ok(Reading::Deployment {
        status,
        report: DeploymentReport {
            external_id: Some(format!("github:{}", event.deployment.id)),
            change_number,
            environment: non_empty(event.deployment_status.environment)
                .unwrap_or(event.deployment.environment),
            systems: payload.systems,
            version: Some(event.deployment.git_ref),
            commit_sha: Some(event.deployment.sha),
            commit_time: payload.commit_time,
            started_at: Some(event.deployment.created_at),
            finished_at: finished.then_some(event.deployment_status.created_at),
            url: non_empty(event.deployment_status.log_url)
                .or(non_empty(event.deployment_status.target_url)),
        },
    })
}

#[derive(Debug, Deserialize)]
struct GitlabEvent {
    object_kind: String,
    status: String,
    status_changed_at: String,
    deployment_id: i64,
    #[serde(default)]
    deployable_url: Option<String>,
    environment: String,
    project: GitlabProject,
    #[serde(default)]
    short_sha: Option<String>,
    #[serde(default)]
    commit_url: Option<String>,
    #[serde(default)]
    commit_title: Option<String>,
    #[serde(rename = "ref")]
    git_ref: String,
}

#[derive(Debug, Deserialize)]
struct GitlabProject {
    id: i64,
}

/// GitLab writes `2021-04-28 21:50:00 +0200`.
fn gitlab_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("status_changed_at `{text}` is not a time"))
}

/// Reads a GitLab deployment event body.
pub fn read_gitlab(body: &[u8]) -> Result<Reading, String> {
    let event: GitlabEvent =
        serde_json::from_slice(body).map_err(|e| format!("not a deployment event: {e}"))?;
    if event.object_kind != "deployment" {
        return Ok(Reading::Ignored(format!(
            "object_kind `{}` is not a deployment",
            event.object_kind
        )));
    }
    let Some(status) = deployment::gitlab_status(&event.status) else {
        return Err(format!("unknown deployment status `{}`", event.status));
    };
    let changed_at = gitlab_time(&event.status_changed_at)?;
    // The full sha is the last part of the commit's URL; the event itself
    // gives only the short one.
    let full_sha = event
        .commit_url
        .as_deref()
        .and_then(|url| url.rsplit('/').next())
        .filter(|sha| sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let change_number = [Some(event.git_ref.clone()), event.commit_title.clone()]
        .into_iter()
        .flatten()
        .find_map(|text| deployment::change_number_in(&text));
    Ok(Reading::Deployment {
        status,
        report: DeploymentReport {
            external_id: Some(format!(
                "gitlab:{}:{}",
                event.project.id, event.deployment_id
            )),
            change_number,
            environment: event.environment,
            systems: Vec::new(),
            version: Some(event.git_ref),
            commit_sha: full_sha.or(event.short_sha),
            commit_time: None,
            started_at: (status == DeploymentStatus::InProgress).then_some(changed_at),
            finished_at: deployment::is_finished(status).then_some(changed_at),
            url: non_empty(event.deployable_url),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB: &str = include_str!("../../../tests/e2e/fixtures/github_deployment_status.json");
    const GITLAB: &str = include_str!("../../../tests/e2e/fixtures/gitlab_deployment.json");

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn github_signatures_are_checked() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let good = sign("It's a Secret to Everybody", body);
        assert!(github_signature_matches(
            "It's a Secret to Everybody",
            body,
            Some(&good)
        ));
        assert!(!github_signature_matches(
            "another secret",
            body,
            Some(&good)
        ));
        assert!(!github_signature_matches(
            "It's a Secret to Everybody",
            b"{\"zen\":\"tampered\"}",
            Some(&good)
        ));
        assert!(!github_signature_matches("s", body, None));
        assert!(!github_signature_matches("s", body, Some("sha1=abc")));
        assert!(!github_signature_matches("s", body, Some("sha256=not-hex")));
    }

    /// The example GitHub's documentation gives for its HMAC digest.
    #[test]
    fn github_documented_example_verifies() {
        assert!(github_signature_matches(
            "It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        ));
    }

    #[test]
    fn gitlab_tokens_are_compared_whole() {
        assert!(gitlab_token_matches("s3cret", Some("s3cret")));
        assert!(!gitlab_token_matches("s3cret", Some("s3cre")));
        assert!(!gitlab_token_matches("s3cret", Some("s3cret ")));
        assert!(!gitlab_token_matches("s3cret", None));
    }

    #[test]
    fn a_github_deployment_status_reads_as_a_report() {
        let Reading::Deployment { status, report } = read_github(GITHUB.as_bytes()).unwrap() else {
            panic!("a deployment");
        };
        assert_eq!(status, DeploymentStatus::Success);
        assert_eq!(report.external_id.as_deref(), Some("github:145988746"));
        assert_eq!(report.change_number.as_deref(), Some("CR-2026-0042"));
        assert_eq!(report.environment, "production");
        assert_eq!(
            report.commit_sha.as_deref(),
            Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
        );
        assert_eq!(report.version.as_deref(), Some("release/CR-2026-0042"));
        assert_eq!(
            report.started_at,
            Some("2026-11-15T15:20:53Z".parse().unwrap())
        );
        assert_eq!(
            report.finished_at,
            Some("2026-11-15T15:20:55Z".parse().unwrap())
        );
        assert!(deployment::check_report(&report).is_ok());
    }

    #[test]
    fn github_states_that_change_nothing_are_ignored() {
        let inactive = GITHUB.replace("\"state\": \"success\"", "\"state\": \"inactive\"");
        assert!(matches!(
            read_github(inactive.as_bytes()),
            Ok(Reading::Ignored(_))
        ));
        let pending = GITHUB.replace("\"state\": \"success\"", "\"state\": \"pending\"");
        let Ok(Reading::Deployment { status, report }) = read_github(pending.as_bytes()) else {
            panic!("a deployment");
        };
        assert_eq!(status, DeploymentStatus::Pending);
        assert_eq!(report.finished_at, None);
        assert!(read_github(b"{\"zen\": \"ping\"}").is_err());
    }

    #[test]
    fn a_gitlab_deployment_event_reads_as_a_report() {
        let Reading::Deployment { status, report } = read_gitlab(GITLAB.as_bytes()).unwrap() else {
            panic!("a deployment");
        };
        assert_eq!(status, DeploymentStatus::Success);
        assert_eq!(report.external_id.as_deref(), Some("gitlab:30:15"));
        assert_eq!(report.change_number.as_deref(), Some("CR-2026-0042"));
        assert_eq!(report.environment, "production");
        assert_eq!(
            report.commit_sha.as_deref(),
            Some("279484c09fbe69ededfced8c1bb6e6d24616b468")
        );
        // 21:50 at +02:00.
        assert_eq!(
            report.finished_at,
            Some("2026-11-15T19:50:00Z".parse().unwrap())
        );
        assert!(deployment::check_report(&report).is_ok());
        let running = GITLAB.replace("\"status\": \"success\"", "\"status\": \"running\"");
        let Ok(Reading::Deployment { status, report }) = read_gitlab(running.as_bytes()) else {
            panic!("a deployment");
        };
        assert_eq!(status, DeploymentStatus::InProgress);
        assert_eq!(report.finished_at, None);
        assert!(report.started_at.is_some());
    }
}
