//! Runtime settings. Each setting can come from a flag, an environment
//! variable or the optional TOML config file; precedence is
//! flag > environment > config file > built-in default.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db?mode=rwc";
pub const DEFAULT_POLICY: &str = "tiered-cab";
pub const DEFAULT_MAX_PAGE_SIZE: u64 = 100;

/// Abuse limits, checked before a request is executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest selection nesting a query may have.
    pub max_query_depth: usize,
    /// Complexity budget: one per field, list connections multiplied by
    /// the page size asked for.
    pub max_query_complexity: usize,
    /// Aliased fields per request (aliases multiply work cheaply).
    pub max_aliases: usize,
    /// Directives on one field.
    pub max_directives: usize,
    pub max_body_bytes: usize,
    /// Requests per minute per token (0 turns rate limiting off).
    pub rate_limit_per_minute: u32,
    /// Schema introspection; switch off in production if you publish the SDL.
    pub introspection: bool,
    /// The GraphiQL page at GET /graphql.
    pub graphiql: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_query_depth: 15,
            max_query_complexity: 5_000,
            max_aliases: 30,
            max_directives: 5,
            max_body_bytes: 1024 * 1024,
            rate_limit_per_minute: 1_200,
            introspection: true,
            graphiql: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid value for {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "text" | "pretty" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `text` or `json`, got `{other}`")),
        }
    }
}

/// Fully resolved settings the application runs with.
#[derive(Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    /// A preset name (`tiered-cab`, ...) or a path to a policy TOML file.
    pub policy: String,
    pub bootstrap_token: Option<String>,
    pub log_format: LogFormat,
    pub max_page_size: u64,
    pub limits: Limits,
    /// When set, `GET /metrics` requires `Authorization: Bearer <this>`;
    /// when unset it is open, like Prometheus scrape targets usually are
    /// (it exposes counts only, never titles or personal data).
    pub metrics_token: Option<String>,
    /// Answers to repeated queries kept until the data changes
    /// (`http::response_cache`).
    pub response_cache: crate::http::response_cache::CacheSettings,
    /// The secrets of the forges' deployment receivers (`/hooks/github`,
    /// `/hooks/gitlab`); a receiver without one answers 404.
    pub hooks: HookSecrets,
    /// Outbound webhooks' delivery settings.
    pub webhooks: WebhookSettings,
    /// Origins (`https://dash.example.com`) whose pages may call the API
    /// from a browser (CORS); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// The clock the rules run at; only tests replace it.
    pub clock: crate::clock::Clock,
}

/// How outbound webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether a webhook may point at loopback or private addresses
    /// (`domain::webhooks::is_private`); off, so a webhook cannot be used
    /// to reach services inside the network.
    pub allow_private: bool,
    /// The wait after a first failed attempt; doubled after each.
    pub retry_base: Duration,
    /// How often each process looks for events to deliver.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_base: Duration::from_secs(10),
            poll: Duration::from_millis(500),
        }
    }
}

/// The shared secrets of the deployment receivers, as each forge's webhook
/// settings hold them.
#[derive(Clone, Default)]
pub struct HookSecrets {
    /// GitHub's webhook secret, which signs each delivery
    /// (`X-Hub-Signature-256`).
    pub github_secret: Option<String>,
    /// GitLab's secret token, sent with each delivery (`X-Gitlab-Token`).
    pub gitlab_token: Option<String>,
}

impl fmt::Debug for HookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("HookSecrets")
            .field("github_secret", &shown(&self.github_secret))
            .field("gitlab_token", &shown(&self.gitlab_token))
            .finish()
    }
}

// Written by hand so the bootstrap token never reaches a log line.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("policy", &self.policy)
            .field(
                "bootstrap_token",
                &self.bootstrap_token.as_ref().map(|_| "<redacted>"),
            )
            .field("log_format", &self.log_format)
            .field("max_page_size", &self.max_page_size)
            .field("limits", &self.limits)
            .field("response_cache", &self.response_cache)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("hooks", &self.hooks)
            .field("webhooks", &self.webhooks)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            policy: DEFAULT_POLICY.to_owned(),
            bootstrap_token: None,
            log_format: LogFormat::Text,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            limits: Limits::default(),
            metrics_token: None,
            response_cache: Default::default(),
            hooks: HookSecrets::default(),
            webhooks: WebhookSettings::default(),
            cors_allowed_origins: Vec::new(),
            clock: crate::clock::Clock::default(),
        }
    }
}

/// Hides the password of a database URL (`postgres://user:secret@host`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// The config file: every key optional, unknown keys rejected so a typo
/// does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    policy: Option<String>,
    bootstrap_token: Option<String>,
    metrics_token: Option<String>,
    log_format: Option<LogFormat>,
    max_page_size: Option<u64>,
    max_query_depth: Option<usize>,
    max_query_complexity: Option<usize>,
    max_aliases: Option<usize>,
    max_body_bytes: Option<usize>,
    rate_limit_per_minute: Option<u32>,
    introspection: Option<bool>,
    graphiql: Option<bool>,
    response_cache_bytes: Option<usize>,
    response_cache_max_age_ms: Option<u64>,
    github_webhook_secret: Option<String>,
    gitlab_webhook_token: Option<String>,
    webhook_allow_private: Option<bool>,
    webhook_retry_base_ms: Option<u64>,
    cors_allowed_origins: Option<Vec<String>>,
}

/// Settings as given on the command line or in the environment (clap reads
/// both; a flag wins over its variable).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct SettingsArgs {
    /// Path to a TOML config file.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "GATEHOUSE_LISTEN")]
    pub listen: Option<String>,
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER@HOST/DB
    /// [default: sqlite://gatehouse.db?mode=rwc].
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Policy preset name or path to a policy TOML file [default: tiered-cab].
    #[arg(long, global = true, env = "GATEHOUSE_POLICY")]
    pub policy: Option<String>,
    /// Token for the admin account created on an empty database.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_BOOTSTRAP_TOKEN",
        hide_env_values = true
    )]
    pub bootstrap_token: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, global = true, env = "GATEHOUSE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Largest page a list query may ask for [default: 100].
    #[arg(long, global = true, env = "GATEHOUSE_MAX_PAGE_SIZE")]
    pub max_page_size: Option<u64>,
    /// Deepest query nesting [default: 15].
    #[arg(long, global = true, env = "GATEHOUSE_MAX_QUERY_DEPTH")]
    pub max_query_depth: Option<usize>,
    /// Query complexity budget [default: 5000].
    #[arg(long, global = true, env = "GATEHOUSE_MAX_QUERY_COMPLEXITY")]
    pub max_query_complexity: Option<usize>,
    /// Aliased fields per request [default: 30].
    #[arg(long, global = true, env = "GATEHOUSE_MAX_ALIASES")]
    pub max_aliases: Option<usize>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, global = true, env = "GATEHOUSE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Requests per minute per token, 0 for no limit [default: 1200].
    #[arg(long, global = true, env = "GATEHOUSE_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Allow schema introspection [default: true].
    #[arg(long, global = true, env = "GATEHOUSE_INTROSPECTION")]
    pub introspection: Option<bool>,
    /// Serve GraphiQL at GET /graphql [default: true].
    #[arg(long, global = true, env = "GATEHOUSE_GRAPHIQL")]
    pub graphiql: Option<bool>,
    /// Bearer token Prometheus must send to scrape `/metrics` (open when unset).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Memory for answers to repeated queries, 0 to turn the cache off
    /// [default: 33554432].
    #[arg(long, global = true, env = "GATEHOUSE_RESPONSE_CACHE_BYTES")]
    pub response_cache_bytes: Option<usize>,
    /// Longest a cached answer is served, in milliseconds [default: 1000].
    #[arg(long, global = true, env = "GATEHOUSE_RESPONSE_CACHE_MAX_AGE_MS")]
    pub response_cache_max_age_ms: Option<u64>,
    /// GitHub webhook secret for POST /hooks/github (off when unset).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_GITHUB_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub github_webhook_secret: Option<String>,
    /// GitLab webhook secret token for POST /hooks/gitlab (off when unset).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_GITLAB_WEBHOOK_TOKEN",
        hide_env_values = true
    )]
    pub gitlab_webhook_token: Option<String>,
    /// Let webhooks point at loopback and private addresses [default: false].
    #[arg(long, global = true, env = "GATEHOUSE_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: Option<bool>,
    /// Wait after a webhook's first failed attempt, in milliseconds,
    /// doubled after each [default: 10000].
    #[arg(long, global = true, env = "GATEHOUSE_WEBHOOK_RETRY_BASE_MS")]
    pub webhook_retry_base_ms: Option<u64>,
    /// Origins whose browser pages may call the API (CORS), separated by
    /// commas: `https://dash.example.com,http://localhost:3000` [default:
    /// none].
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Option<Vec<String>>,
}

impl SettingsArgs {
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileSettings>(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            None => FileSettings::default(),
        };
        let defaults = Settings::default();
        let settings = Settings {
            listen: pick(self.listen.clone(), file.listen, defaults.listen),
            database_url: pick(
                self.database_url.clone(),
                file.database_url,
                defaults.database_url,
            ),
            policy: pick(self.policy.clone(), file.policy, defaults.policy),
            bootstrap_token: self.bootstrap_token.clone().or(file.bootstrap_token),
            log_format: pick(self.log_format, file.log_format, defaults.log_format),
            max_page_size: pick(
                self.max_page_size,
                file.max_page_size,
                defaults.max_page_size,
            ),
            limits: Limits {
                max_query_depth: pick(
                    self.max_query_depth,
                    file.max_query_depth,
                    defaults.limits.max_query_depth,
                ),
                max_query_complexity: pick(
                    self.max_query_complexity,
                    file.max_query_complexity,
                    defaults.limits.max_query_complexity,
                ),
                max_aliases: pick(
                    self.max_aliases,
                    file.max_aliases,
                    defaults.limits.max_aliases,
                ),
                max_directives: defaults.limits.max_directives,
                max_body_bytes: pick(
                    self.max_body_bytes,
                    file.max_body_bytes,
                    defaults.limits.max_body_bytes,
                ),
                rate_limit_per_minute: pick(
                    self.rate_limit_per_minute,
                    file.rate_limit_per_minute,
                    defaults.limits.rate_limit_per_minute,
                ),
                introspection: pick(
                    self.introspection,
                    file.introspection,
                    defaults.limits.introspection,
                ),
                graphiql: pick(self.graphiql, file.graphiql, defaults.limits.graphiql),
            },
            metrics_token: self
                .metrics_token
                .clone()
                .or(file.metrics_token)
                .filter(|token| !token.is_empty()),
            response_cache: crate::http::response_cache::CacheSettings {
                max_bytes: pick(
                    self.response_cache_bytes,
                    file.response_cache_bytes,
                    defaults.response_cache.max_bytes,
                ),
                max_age: self
                    .response_cache_max_age_ms
                    .or(file.response_cache_max_age_ms)
                    .map_or(defaults.response_cache.max_age, Duration::from_millis),
            },
            hooks: HookSecrets {
                github_secret: self
                    .github_webhook_secret
                    .clone()
                    .or(file.github_webhook_secret)
                    .filter(|secret| !secret.is_empty()),
                gitlab_token: self
                    .gitlab_webhook_token
                    .clone()
                    .or(file.gitlab_webhook_token)
                    .filter(|token| !token.is_empty()),
            },
            webhooks: WebhookSettings {
                allow_private: pick(
                    self.webhook_allow_private,
                    file.webhook_allow_private,
                    defaults.webhooks.allow_private,
                ),
                retry_base: self
                    .webhook_retry_base_ms
                    .or(file.webhook_retry_base_ms)
                    .map_or(defaults.webhooks.retry_base, Duration::from_millis),
                poll: defaults.webhooks.poll,
            },
            cors_allowed_origins: self
                .cors_allowed_origins
                .clone()
                .or(file.cors_allowed_origins)
                .unwrap_or_default()
                .into_iter()
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            clock: defaults.clock,
        };
        for origin in &settings.cors_allowed_origins {
            check_origin(origin).map_err(|message| ConfigError::Invalid {
                name: "cors_allowed_origins",
                message,
            })?;
        }
        if settings.max_page_size == 0 {
            return Err(ConfigError::Invalid {
                name: "max_page_size",
                message: "must be at least 1".into(),
            });
        }
        if let Some(token) = &settings.bootstrap_token
            && token.trim().len() < 16
        {
            return Err(ConfigError::Invalid {
                name: "bootstrap_token",
                message: "must be at least 16 characters".into(),
            });
        }
        for (name, secret) in [
            ("github_webhook_secret", &settings.hooks.github_secret),
            ("gitlab_webhook_token", &settings.hooks.gitlab_token),
        ] {
            if secret.as_ref().is_some_and(|s| s.trim().len() < 16) {
                return Err(ConfigError::Invalid {
                    name,
                    message: "must be at least 16 characters".into(),
                });
            }
        }
        Ok(settings)
    }
}

/// An origin as a browser sends it: scheme and host, a port at most, no
/// path. `*` is refused: every allowed site is named.
fn check_origin(origin: &str) -> Result<(), String> {
    let named = |why: &str| {
        Err(format!(
            "`{origin}` {why}; name each origin as a browser sends it, like https://dash.example.com or http://localhost:3000"
        ))
    };
    if origin == "*" {
        return named("would let every site call the API");
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return named("has no scheme");
    };
    if !matches!(scheme, "http" | "https") {
        return named("is not http or https");
    }
    let host = rest.rsplit_once(':').map_or(rest, |(host, port)| {
        if port.parse::<u16>().is_ok() {
            host
        } else {
            rest
        }
    });
    if host.is_empty() || rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return named("is not a bare origin");
    }
    if origin.parse::<axum::http::HeaderValue>().is_err() || rest != rest.to_ascii_lowercase() {
        return named("is not a lowercase origin");
    }
    Ok(())
}

fn pick<T>(flag_or_env: Option<T>, file: Option<T>, default: T) -> T {
    flag_or_env.or(file).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let dir = std::env::temp_dir().join(format!("gh-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gatehouse.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\npolicy = \"dual-approval\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path),
            policy: Some("weekly-cab".into()),
            ..Default::default()
        };
        let settings = args.resolve().unwrap();
        assert_eq!(settings.policy, "weekly-cab");
        assert_eq!(settings.listen, "0.0.0.0:9000");
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
    }

    #[test]
    fn cors_origins_are_bare_origins() {
        let resolve = |origins: &[&str]| {
            SettingsArgs {
                cors_allowed_origins: Some(origins.iter().map(|o| o.to_string()).collect()),
                ..Default::default()
            }
            .resolve()
        };
        let settings =
            resolve(&["https://dash.example.com", " http://localhost:3000 ", ""]).unwrap();
        assert_eq!(
            settings.cors_allowed_origins,
            ["https://dash.example.com", "http://localhost:3000"]
        );
        for refused in [
            "*",
            "dash.example.com",
            "ftp://dash.example.com",
            "https://dash.example.com/",
            "https://dash.example.com/app",
            "https://Dash.example.com",
            "https://",
        ] {
            assert!(
                matches!(
                    resolve(&[refused]),
                    Err(ConfigError::Invalid {
                        name: "cors_allowed_origins",
                        ..
                    })
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        let dir = std::env::temp_dir().join(format!("gh-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gatehouse.toml");
        std::fs::write(&path, "listn = \"0.0.0.0:9000\"\n").unwrap();
        let args = SettingsArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(args.resolve(), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn secrets_are_redacted_from_debug_output() {
        let settings = Settings {
            database_url: "postgres://gate:hunter2@db/gatehouse".into(),
            bootstrap_token: Some("super-secret-token-value".into()),
            hooks: HookSecrets {
                github_secret: Some("github-hook-secret-value".into()),
                gitlab_token: Some("gitlab-hook-token-value".into()),
            },
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("super-secret"));
        assert!(!printed.contains("hook-secret") && !printed.contains("hook-token"));
        assert!(
            printed.contains("github_secret: Some(\"<redacted>\")"),
            "{printed}"
        );
    }

    #[test]
    fn short_hook_secrets_are_refused() {
        let args = SettingsArgs {
            github_webhook_secret: Some("short".into()),
            ..SettingsArgs::default()
        };
        let Err(ConfigError::Invalid { name, .. }) = args.resolve() else {
            panic!("a short secret is refused");
        };
        assert_eq!(name, "github_webhook_secret");
    }
}
