//! Logging for both binaries: lambda_runtime's default subscriber (level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`; directives from `RUST_LOG`; JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`), with the AWS SDK's wire logging capped at DEBUG whatever those
//! variables say.
//!
//! Why the cap: at TRACE the SDK prints bodies, and what cert-rotator sends and reads carries
//! keys — the IAM upload and ACM import (the private key), the archive PUT (the bundle with its
//! key), CreateSecret/PutSecretValue and GetSecretValue (the ACME account key, a PKCS#12
//! password). Read in the SDK's source (aws-smithy-runtime 1.16.2, aws-sigv4 1.6.4, aws-runtime
//! 1.10.2, aws-smithy-http 0.64.3, aws-config 1.13.0):
//! - `aws_smithy_runtime` `client/orchestrator/http.rs:41` (`log_response_body`): every response
//!   body, the sensitive ones (GetSecretValue, AssumeRole) too when `LOG_SENSITIVE_BODIES=true`;
//!   `client/orchestrator.rs:528`, `:548`, `:583`: the request, the response and the typed
//!   output (in this version the request body is already wrapped, printed as `BoxBody`, and the
//!   typed outputs redact their sensitive fields).
//! - `aws_sigv4` `http_request/sign.rs:263`: the request being signed, its body as bytes when
//!   `LOG_SIGNABLE_BODY=true` (every upload above); `:319`: the canonical request and string to
//!   sign.
//! - `aws_runtime` `content_encoding/body/http_body_1_x.rs:69`, `:100`: aws-chunked upload
//!   bodies; `env_config.rs:265`: configuration values.
//! - `aws_smithy_http` `event_stream/sender.rs:190`, `receiver.rs:208`: event-stream messages.
//! - `aws_config` `credential_process.rs:122`: the credential process's command, "unredacted".
//!
//! `tests/secrets_on_bed.rs` sets both switches and finds, without the cap, the account key, the
//! password and every private key in the logs.
//!
//! Nothing of theirs at DEBUG prints a body, so DEBUG stays available for troubleshooting
//! (retries, endpoints, timeouts). The generated clients (`aws_sdk_*`) log request ids at DEBUG
//! and nothing at TRACE today; they are capped too, so a new SDK version cannot add a body print
//! unnoticed. Not capped, because they print no payload at any level: `h2` (its `Data` and
//! `Headers` frames' `Debug` leave out the payload and header fields), `hyper_util` (connections
//! and the pool), `lambda_runtime` (the event, which names secrets but holds none). `hyper` 1.x is
//! built without its `tracing` feature and `rustls` logs through `log`, which nothing here
//! forwards: neither reaches these subscribers.

use std::str::FromStr;

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Target prefixes and the most each may log, whatever `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` ask.
/// A prefix matches every target that starts with it (`aws_smithy_` is every Smithy crate).
pub const CAPS: &[(&str, LevelFilter)] = &[
    ("aws_smithy_", LevelFilter::DEBUG),
    ("aws_sigv4", LevelFilter::DEBUG),
    ("aws_runtime", LevelFilter::DEBUG),
    ("aws_config", LevelFilter::DEBUG),
    ("aws_sdk_", LevelFilter::DEBUG),
];

/// What the environment asks of the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The level of every target no directive names.
    pub level: LevelFilter,
    /// `RUST_LOG`-style directives (`info,cert_rotator=debug`).
    pub directives: String,
    /// One JSON object per line rather than text.
    pub json: bool,
}

impl Settings {
    /// From the process's environment, as lambda_runtime reads it.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup`: the level is `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` when it is a bare
    /// level, else INFO; the directives are `RUST_LOG`; JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let rust_log = lookup("RUST_LOG");
        let level = lookup("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|| rust_log.clone())
            .and_then(|l| LevelFilter::from_str(&l).ok())
            .unwrap_or(LevelFilter::INFO);
        Self {
            level,
            directives: rust_log.unwrap_or_default(),
            json: lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")),
        }
    }
}

/// The caps ([`CAPS`]) as a filter: every other target passes, to be judged by the directives.
pub fn caps() -> Targets {
    CAPS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, &(target, level)| t.with_target(target, level),
    )
}

/// The subscriber both binaries log through: `settings` decide what is enabled, then [`caps`]
/// (which both must pass, so no directive raises a capped target), lines without time or target
/// written to `writer`.
pub fn subscriber<W>(settings: &Settings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let directives = EnvFilter::builder()
        .with_default_directive(settings.level.into())
        .parse_lossy(&settings.directives);
    let filtered = tracing_subscriber::registry().with(directives).with(caps());
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    if settings.json {
        Box::new(filtered.with(lines.json()))
    } else {
        Box::new(filtered.with(lines))
    }
}

/// Installs [`subscriber`] for the environment's settings as the process's default; a no-op if
/// one is installed already.
pub fn init<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing::subscriber::set_global_default(subscriber(&Settings::from_env(), writer));
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// Logs one event per target and level through the subscriber for `vars`.
    fn logged(vars: &[(&str, &str)]) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = subscriber(&settings(vars), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "smithy trace");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "smithy debug");
            tracing::trace!(target: "aws_smithy_http::event_stream::sender", "http trace");
            tracing::trace!(target: "aws_sigv4::http_request::sign", "sigv4 trace");
            tracing::trace!(target: "aws_runtime::content_encoding", "runtime trace");
            tracing::trace!(target: "aws_config::credential_process", "config trace");
            tracing::trace!(target: "aws_sdk_s3::operation", "s3 trace");
            tracing::trace!(target: "cert_rotator::run", "ours trace");
            tracing::debug!(target: "cert_rotator::run", "ours debug");
            tracing::info!(target: "cert_rotator::run", "ours info");
        });
        buffer.text()
    }

    #[test]
    fn settings_are_read_as_lambda_runtime_reads_them() {
        assert_eq!(settings(&[]).level, LevelFilter::INFO);
        assert!(!settings(&[]).json);
        let s = settings(&[("RUST_LOG", "trace")]);
        assert_eq!(
            (s.level, s.directives.as_str()),
            (LevelFilter::TRACE, "trace")
        );
        let s = settings(&[
            ("RUST_LOG", "cert_rotator=debug"),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ]);
        assert_eq!(
            (s.level, s.directives.as_str()),
            (LevelFilter::WARN, "cert_rotator=debug")
        );
        assert_eq!(settings(&[("RUST_LOG", "a=b,c")]).level, LevelFilter::INFO);
        assert!(settings(&[("AWS_LAMBDA_LOG_FORMAT", "json")]).json);
    }

    #[test]
    fn no_directive_raises_the_sdk_above_debug() {
        for vars in [
            &[("RUST_LOG", "trace")][..],
            &[("AWS_LAMBDA_LOG_LEVEL", "TRACE")],
            &[("RUST_LOG", "aws_smithy_runtime=trace,aws_sigv4=trace,aws_runtime=trace,aws_smithy_http=trace,aws_config=trace,aws_sdk_s3=trace,cert_rotator=trace")],
            &[("RUST_LOG", "[{request}]=trace,trace")],
        ] {
            let text = logged(vars);
            for line in ["smithy trace", "http trace", "sigv4 trace", "runtime trace", "config trace", "s3 trace"] {
                assert!(!text.contains(line), "{vars:?}: {line} was logged:\n{text}");
            }
            for line in ["smithy debug", "ours trace", "ours debug", "ours info"] {
                assert!(text.contains(line), "{vars:?}: {line} is missing:\n{text}");
            }
        }
    }

    #[test]
    fn the_level_still_lowers_everything() {
        let text = logged(&[("RUST_LOG", "info")]);
        assert!(text.contains("ours info"), "{text}");
        assert!(!text.contains("debug") && !text.contains("trace"), "{text}");
        let text = logged(&[]);
        assert!(
            text.contains("ours info") && !text.contains("ours debug"),
            "{text}"
        );
    }

    #[test]
    fn json_lines_when_lambda_asks_for_them() {
        let text = logged(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("RUST_LOG", "trace")]);
        let first = text.lines().next().unwrap();
        let line: serde_json::Value = serde_json::from_str(first).unwrap();
        assert_eq!(line["fields"]["message"], "smithy debug", "{text}");
        assert!(!text.contains("smithy trace"), "{text}");
    }
}
