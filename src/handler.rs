//! The entry shared by the Lambda function and the CLI: event in, report out.
//!
//! Built once at cold start ([`App::from_env`]: configuration, SDK config, clients); each
//! invocation parses its event, runs the rotation until the deadline, logs the report as JSON,
//! prints the EMF metric lines, and fails — after every domain was handled — if any domain failed,
//! so the function's Errors alarm fires. Errors carry a stable `errorType` for grouping.

use std::time::Duration;

use tokio::time::Instant;
use tracing::info;

use crate::aws::s3::Bounded;
use crate::aws::Clients;
use crate::aws::{load_sdk_config, AwsError};
use crate::certs::source::Reserved;
use crate::config::{Config, ConfigError};
use crate::event::domain_list::DomainList;
use crate::event::{self, EventError};
use crate::report::{DomainReport, Outcome, Report};
use crate::run;

/// What a cold start builds once.
#[derive(Debug, Clone)]
pub struct App {
    /// Configuration.
    pub config: Config,
    /// AWS clients.
    pub clients: Clients,
}

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A variable is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No region and the like.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl App {
    /// Reads the environment and builds the clients.
    pub async fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        Self::new(&load_sdk_config().await, config)
    }

    /// Builds the clients for `sdk`, checking that the ARNs in `config` are of its partition.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Result<Self, StartupError> {
        let sdk = crate::aws::with_timeouts(sdk, &config.limits.aws_timeouts);
        let clients = Clients::new(&sdk, &config.archive.bucket, config.archive.kms_key.clone())?;
        config.check_partition(clients.partition, &clients.region)?;
        Ok(Self { config, clients })
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvocationError {
    /// The event is not a valid request; nothing was done.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    /// Some domains failed; the others were handled. The full report was logged.
    #[error("{failed} of {total} domains failed: {summary}")]
    Domains {
        /// How many failed.
        failed: usize,
        /// Of how many.
        total: usize,
        /// Names and errors.
        summary: String,
        /// The report.
        report: Box<Report>,
    },
}

impl InvocationError {
    /// A stable name for alarms and log queries.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Event(_) => "InvalidEvent",
            Self::Domains { .. } => "RenewalFailed",
        }
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        Self {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Where the CloudWatch EMF metric lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metrics {
    /// To stdout, whole lines, where the Lambda log agent reads them.
    Stdout,
    /// Nowhere (the CLI, whose stdout is the report).
    Off,
}

/// The time an invocation has, from the runtime's deadline (`Lambda-Runtime-Deadline-Ms`) and
/// the wall clock, both in milliseconds since the epoch, less `margin` for reporting.
///
/// Lambda sends an absolute time. `cargo lambda watch` (1.9) sends the function's timeout
/// instead (`600000`): a value before 2001 cannot be an epoch deadline, so it is read as the
/// time left.
pub fn time_left(deadline_ms: u64, now_ms: u64, margin: Duration) -> Duration {
    const EPOCH_2001_MS: u64 = 978_307_200_000;
    let left_ms = if deadline_ms < EPOCH_2001_MS {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(now_ms)
    };
    Duration::from_millis(left_ms).saturating_sub(margin)
}

/// Handles one event.
pub async fn handle(
    app: &App,
    event: &serde_json::Value,
    invocation: &run::Invocation,
    deadline: Instant,
    metrics: Metrics,
) -> Result<Report, InvocationError> {
    let request = request(app, event).await?;
    let report = if request.inventory_only {
        run::inventory(&app.clients, &app.config, (invocation, &request.accounts)).await
    } else {
        run::run(&app.clients, &app.config, &request, invocation, deadline).await
    };
    let report = with_refused(report, &request.refused);
    info!(report = %serde_json::to_string(&report).unwrap_or_default(), "run finished");
    let millis = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    if metrics == Metrics::Stdout {
        for line in report.emf_lines(millis) {
            println!("{line}");
        }
    }
    let failed: Vec<String> = report
        .domains
        .iter()
        .filter(|d| d.outcome == Outcome::Failed)
        .map(|d| {
            format!(
                "{}: {}",
                d.names.join(","),
                d.error.as_deref().unwrap_or("failed")
            )
        })
        .chain(report.error.clone())
        .collect();
    if failed.is_empty() {
        Ok(report)
    } else {
        Err(InvocationError::Domains {
            failed: failed.len(),
            total: report.domains.len(),
            summary: failed.join("; "),
            report: Box::new(report),
        })
    }
}

/// The validated request of `event`, its domain list read from S3 first if it names one; an
/// error in such a list names the field within the object.
async fn request(app: &App, event: &serde_json::Value) -> Result<event::Request, EventError> {
    let reserved = Reserved {
        archive_bucket: &app.config.archive.bucket,
        account_secret: &app.config.acme.account_secret,
    };
    let list = event::domain_list::reference(event)?;
    let read;
    let event = match &list {
        Some(list) => {
            list.refuse_reserved(reserved)?;
            read = read_domain_list(&app.clients, list, event).await?;
            &read
        }
        None => event,
    };
    let within = |e: EventError| match &list {
        Some(list) => list.within(e),
        None => e,
    };
    let mut request =
        event::parse_for(event, app.clients.partition, &app.clients.region).map_err(within)?;
    request.refuse_reserved(reserved).map_err(within)?;
    request.refused = std::mem::take(&mut request.refused)
        .into_iter()
        .map(|r| event::Refused {
            error: within(r.error),
            ..r
        })
        .collect();
    Ok(request)
}

/// `event` with the domain list read from the S3 object it names ([`event::domain_list`]).
async fn read_domain_list(
    clients: &Clients,
    list: &DomainList,
    event: &serde_json::Value,
) -> Result<serde_json::Value, EventError> {
    let read = clients
        .s3
        .get_bounded(&list.bucket, &list.key, event::MAX_EVENT_BYTES)
        .await;
    match read {
        Ok(Some(Bounded::Within(object))) => {
            info!(list = %list, bytes = object.body.len(), "read the domain list");
            list.substitute(event, &object.body)
        }
        Ok(Some(Bounded::Over { size, at_least })) => Err(list.too_large(size, at_least)),
        Ok(None) => Err(list.missing()),
        Err(e) => Err(list.unreadable(e)),
    }
}

/// The report with the domains the event refused (a scheduled event's forced ones), each failed
/// with what to do, so the invocation fails and the Errors alarm fires.
fn with_refused(mut report: Report, refused: &[event::Refused]) -> Report {
    report.domains.extend(refused.iter().map(|r| {
        let mut d = DomainReport::new(r.names.clone(), Outcome::Failed);
        d.error = Some(r.error.to_string());
        d
    }));
    report
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn an_epoch_deadline_leaves_the_difference_and_an_emulators_timeout_is_taken_as_is() {
        let now = 1_795_460_145_974;
        let margin = Duration::from_secs(5);
        assert_eq!(
            time_left(now + 900_000, now, margin),
            Duration::from_secs(895)
        );
        assert_eq!(
            time_left(now - 1, now, margin),
            Duration::ZERO,
            "past deadlines leave nothing"
        );
        assert_eq!(
            time_left(600_000, now, margin),
            Duration::from_secs(595),
            "cargo lambda watch"
        );
        assert_eq!(time_left(1_000, now, margin), Duration::ZERO);
    }
}
