//! Outbound webhooks as plain rules: which audit events each kind of
//! subscription receives, how a delivery is signed, when a failed one is
//! tried again and when a webhook is given up on, and which addresses a
//! webhook may not point at.

use std::net::IpAddr;

use async_graphql::Enum;
use chrono::Duration;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2_next::Sha256;

use super::{ValidationError, audit_action, http_url};

/// What a webhook subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookEvent {
    /// Every recorded write to a change (created, submitted, approved,
    /// started, completed, ...), as live subscriptions see them.
    Change,
    Incident,
    Deployment,
    /// A production deployment no change authorised.
    Exception,
}

/// The kind of event an audit event is, if a webhook can receive it.
/// Imports write history in bulk and are not live activity; gate checks
/// change nothing.
pub fn kind_of(entity_type: &str, action: &str) -> Option<WebhookEvent> {
    let quiet = [
        audit_action::CHANGE_IMPORTED,
        audit_action::CHANGE_GATE_CHECKED,
    ];
    match entity_type {
        "change" if !quiet.contains(&action) => Some(WebhookEvent::Change),
        "incident" => Some(WebhookEvent::Incident),
        "deployment" if action == audit_action::DEPLOYMENT_EXCEPTION => {
            Some(WebhookEvent::Exception)
        }
        "deployment" => Some(WebhookEvent::Deployment),
        _ => None,
    }
}

/// The header every delivery carries: `t=<unix seconds>,v1=<hex>`, where
/// the hex is the HMAC-SHA256 of `<t>.<body>` under the webhook's secret.
/// The time is signed so a receiver can refuse a replayed old delivery
/// (docs/deployments.md says how to check it).
pub const SIGNATURE_HEADER: &str = "X-Gatehouse-Signature";

pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Attempts a delivery gets before it is given up (`FAILED`).
pub const MAX_ATTEMPTS: i32 = 10;
/// Failed attempts in a row, over all of its deliveries, after which a
/// webhook is disabled (an admin turns it on again by recreating it).
pub const DISABLE_AFTER_FAILURES: i32 = 25;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::hours(1);

/// The wait after the `attempts`-th failed attempt: `base` doubled each
/// time, at most `MAX_BACKOFF`.
pub fn backoff(attempts: i32, base: Duration) -> Duration {
    let doublings = attempts.clamp(1, 30) - 1;
    base.checked_mul(1 << doublings)
        .map_or(MAX_BACKOFF, |wait| wait.min(MAX_BACKOFF))
}

/// Whether an address is one a webhook may not reach unless the operator
/// allows private targets: loopback, private and shared ranges, link-local
/// (cloud metadata services live there), unspecified, multicast and
/// broadcast, for IPv4, IPv6 and IPv4 inside IPv6.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT; 0.0.0.0/8.
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A webhook URL: http(s), no credentials in it, a host. Where it points
/// is checked when it is created and again before each delivery (a name
/// may resolve elsewhere later).
pub fn check_url(url: &str) -> Result<(), ValidationError> {
    http_url("url", url, 2000)?;
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ValidationError::new(
            "url",
            "must not carry credentials; the secret signs each delivery",
        ));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(ValidationError::new("url", "must name a host"));
    }
    Ok(())
}

/// The host and port a checked URL (`check_url`) connects to; IPv6
/// literals without their brackets.
pub fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None => default,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_events_map_to_kinds() {
        assert_eq!(
            kind_of("change", audit_action::CHANGE_SUBMITTED),
            Some(WebhookEvent::Change)
        );
        assert_eq!(kind_of("change", audit_action::CHANGE_IMPORTED), None);
        assert_eq!(
            kind_of("deployment", audit_action::DEPLOYMENT_RECORDED),
            Some(WebhookEvent::Deployment)
        );
        assert_eq!(
            kind_of("deployment", audit_action::DEPLOYMENT_EXCEPTION),
            Some(WebhookEvent::Exception)
        );
        assert_eq!(
            kind_of("incident", audit_action::INCIDENT_RESOLVED),
            Some(WebhookEvent::Incident)
        );
        assert_eq!(kind_of("token", audit_action::TOKEN_ISSUED), None);
    }

    #[test]
    fn the_signature_covers_the_time_and_the_body() {
        let signed = signature("whsec", 1_700_000_000, "{\"a\":1}");
        // Reproducible with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
        assert!(signed.starts_with("t=1700000000,v1="), "{signed}");
        assert_ne!(signed, signature("whsec", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(signed, signature("whsec", 1_700_000_000, "{\"a\":2}"));
        assert_ne!(signed, signature("other", 1_700_000_000, "{\"a\":1}"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::seconds(10);
        assert_eq!(backoff(1, base), Duration::seconds(10));
        assert_eq!(backoff(2, base), Duration::seconds(20));
        assert_eq!(backoff(5, base), Duration::seconds(160));
        assert_eq!(backoff(20, base), MAX_BACKOFF);
        assert_eq!(backoff(i32::MAX, base), MAX_BACKOFF);
    }

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1", "172.32.0.1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn hosts_and_ports_are_read() {
        let read = |url: &str| host_and_port(url);
        assert_eq!(
            read("https://example.com/x"),
            Some(("example.com".into(), 443))
        );
        assert_eq!(
            read("http://127.0.0.1:8080/x?y"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(read("http://[::1]:9000/"), Some(("::1".into(), 9000)));
        assert_eq!(read("http://[::1]/"), Some(("::1".into(), 80)));
        assert_eq!(read("http://example.com:port/"), None);
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/gatehouse").is_ok());
        assert!(check_url("http://10.0.0.1:8080/x").is_ok());
        for bad in [
            "ftp://x",
            "https://user:pass@example.com/",
            "https://",
            "https://:80/",
            "https://exa mple.com",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
