//! `cert-rotator`: the same rotation as the Lambda function, from a laptop or bastion host with the
//! usual AWS credentials. The report goes to stdout as JSON, logs to stderr.
//!
//!     cert-rotator run --event events/manual.json [--dry-run] [--force]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cert_rotator::handler::{self, App, InvocationError, Metrics};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Keeps CloudFront certificates renewed (IAM in AWS China) by ACME DNS-01 on Route 53"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a rotation for the domains of an event file (the same JSON the Lambda function takes).
    Run {
        /// The event: {"domains": [{"names": [...]}], ...}.
        #[arg(long)]
        event: PathBuf,
        /// Decide and report only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Renew every domain even if fresh.
        #[arg(long)]
        force: bool,
        /// Give up starting renewals after this many seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let Command::Run {
        event,
        dry_run,
        force,
        timeout,
    } = Cli::parse().command;
    let mut payload: serde_json::Value = match std::fs::read_to_string(&event)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: cannot read the event {}: {e}", event.display());
            return ExitCode::from(2);
        }
    };
    if let Some(obj) = payload.as_object_mut() {
        if dry_run {
            obj.insert("dry_run".into(), true.into());
        }
        if force {
            obj.insert("force".into(), true.into());
        }
    }
    let app = match App::from_env().await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let run_id = format!(
        "cli-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    match handler::handle(&app, &payload, &run_id, deadline, Metrics::Off).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(InvocationError::Domains {
            report, summary, ..
        }) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            eprintln!("error: {summary}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
