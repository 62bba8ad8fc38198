//! `cert-rotator`: the same rotation as the Lambda function, from a laptop or bastion host with the
//! usual AWS credentials. The report goes to stdout as JSON, logs to stderr.
//!
//!     cert-rotator run --event events/manual.json [--dry-run] [--force]
//!     cert-rotator inventory                      # every managed certificate, days left
//!     cert-rotator check --names shop.example.cn --certificate shop.pfx --password-file pw
//!                                                 # a bring-your-own bundle, checked offline

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cert_rotator::certs::source::{self, password_text, MAX_FILE_BYTES};
use cert_rotator::event;
use cert_rotator::handler::{self, App, InvocationError, Metrics};
use cert_rotator::model::names::DomainName;
use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

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
    /// Check an event offline, as the function would parse it (a stack's Domains value, or the
    /// input its schedule sends): prints the domains with their targets, the schedule's mark, and
    /// the domains a scheduled run refuses; or the error, naming the field. Reads nothing from AWS
    /// (a list in S3 is named, not read).
    CheckEvent {
        /// The event file, or `-` for standard input.
        event: PathBuf,
        /// The region the function runs in (its partition decides the targets).
        #[arg(long, default_value = "cn-north-1")]
        region: String,
    },
    /// List every IAM certificate under /cloudfront/ and every ACM certificate cert-rotator
    /// imported (in CERT_ROTATOR_ACM_REGIONS), with days left; change nothing.
    Inventory,
    /// Check a bring-your-own bundle offline, as a run would read it from S3 or Secrets Manager:
    /// prints the leaf, the chain and any warnings, or the error; never the key.
    Check {
        /// The names the certificate must cover (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        names: Vec<String>,
        /// The certificate file (PEM, DER, PKCS#7 or PKCS#12; a whole bundle is fine).
        #[arg(long)]
        certificate: PathBuf,
        /// The private key, if in a file of its own.
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// The intermediates, if in a file of their own.
        #[arg(long)]
        chain: Option<PathBuf>,
        /// A file holding the password of a PKCS#12 file or an encrypted key.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// `cert-rotator check-event`: exit 0 and the request as the function reads it, 1 and the error
/// naming the field if it would be refused, 2 if the file cannot be read.
fn check_event(path: &std::path::Path, region: &str) -> ExitCode {
    use cert_rotator::event;
    use cert_rotator::model::partition::Partition;
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    let value: serde_json::Value = match text.map(|t| serde_json::from_str(&t)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            eprintln!("error: {} is not JSON: {e}", path.display());
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let list = match event::domain_list::reference(&value) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(list) = list {
        let summary = serde_json::json!({"domains_from": list.to_string(), "note": "the list is read from S3 at each run; check its file with check-event too"});
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let partition = Partition::of_region(region);
    match event::parse_for(&value, partition, region) {
        Ok(request) => {
            let domains: Vec<serde_json::Value> = request
                .domains
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "names": d.label(),
                        "force": d.force,
                        "profile": d.profile,
                        "reuse_key": d.reuse_key,
                        "targets": d.targets,
                        "account": d.account.as_ref().map(ToString::to_string),
                    })
                })
                .collect();
            let summary = serde_json::json!({
                "scheduled": request.schedule.as_ref().map(|s| serde_json::json!({"arn": s.arn, "time": s.time})),
                "dry_run": request.dry_run,
                "inventory": request.inventory_only,
                "domains": domains,
                "refused": request.refused.iter().map(|r| r.error.to_string()).collect::<Vec<_>>(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `cert-rotator check`: exit 0 and a summary if the bundle would deploy, 1 and the error if not.
fn check(
    names: &[String],
    certificate: PathBuf,
    private_key: Option<PathBuf>,
    chain: Option<PathBuf>,
    password_file: Option<PathBuf>,
) -> ExitCode {
    use cert_rotator::certs::bundle::{self, File, Format};
    let inputs = check_inputs(
        names,
        [Some(certificate), chain, private_key],
        password_file,
    );
    let (wanted, read, password) = match inputs {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let files: Vec<File<'_>> = read
        .iter()
        .enumerate()
        .map(|(i, (origin, bytes))| File {
            origin,
            bytes,
            format: if i == 0 {
                Format::from_file_name(origin)
            } else {
                None
            },
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    match bundle::normalize(
        &files,
        password.as_deref().map(String::as_str),
        &wanted,
        now,
    ) {
        Ok(n) => {
            let chain = cert_rotator::certs::certificate::pem_chain(&n.chain)
                .map(|c| c.len())
                .unwrap_or(0);
            let summary = serde_json::json!({
                "names": n.leaf.names,
                "serial": n.leaf.serial,
                "not_before": n.leaf.not_before.to_string(),
                "not_after": n.leaf.not_after.to_string(),
                "intermediates": chain,
                "warnings": n.warnings,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// What `check` reads: the names, each file (certificate first) with its bytes, the password.
/// The bytes and the password are zeroed when dropped.
type CheckInputs = (
    Vec<DomainName>,
    Vec<(String, Zeroizing<Vec<u8>>)>,
    Option<Zeroizing<String>>,
);

/// Reads `check`'s arguments, or says which one is wrong.
fn check_inputs(
    names: &[String],
    paths: [Option<PathBuf>; 3],
    password_file: Option<PathBuf>,
) -> Result<CheckInputs, String> {
    let wanted = names
        .iter()
        .map(|n| {
            n.parse::<DomainName>()
                .map_err(|e| format!("--names {n}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The same cap as a run's read from S3 or Secrets Manager, checked the same way.
    let bounded = |path: &Path| {
        let origin = path.display().to_string();
        match read_at_most(path, MAX_FILE_BYTES) {
            Ok(Ok(bytes)) => Ok((origin, bytes)),
            Ok(Err((size, at_least))) => Err(source::too_large(&origin, size, at_least)),
            Err(e) => Err(format!("cannot read {origin}: {e}")),
        }
    };
    let read = paths
        .iter()
        .flatten()
        .map(|path| bounded(path).map(|(origin, bytes)| (origin, Zeroizing::new(bytes))))
        .collect::<Result<Vec<_>, _>>()?;
    let password = password_file
        .map(|path| {
            let (origin, bytes) = bounded(&path)?;
            let bytes = Zeroizing::new(bytes);
            password_text(&bytes).ok_or_else(|| format!("{origin}: the password is not text"))
        })
        .transpose()
        .map_err(|e| format!("the password file: {e}"))?;
    Ok((wanted, read, password))
}

/// The bytes of `path` if it holds at most `limit`, else its size (and whether that is a lower
/// bound): the length is checked before reading, and the read stops past `limit` whatever the
/// length said (a pipe, a file still growing).
fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Result<Vec<u8>, (u64, bool)>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let declared = file.metadata()?.len();
    if declared > limit {
        return Ok(Err((declared, false)));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > limit {
        return Ok(Err((read, true)));
    }
    Ok(Ok(bytes))
}

/// The JSON of the event file `path` (at most [`event::MAX_EVENT_BYTES`]), or why not.
fn read_event(path: &Path) -> Result<serde_json::Value, String> {
    match read_at_most(path, event::MAX_EVENT_BYTES) {
        Ok(Ok(bytes)) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
        Ok(Err((size, at_least))) => Err(format!(
            "it is {}{size} bytes, over the {}-byte limit for an event: split its domains into several events",
            if at_least { "at least " } else { "" },
            event::MAX_EVENT_BYTES
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    cert_rotator::logging::init(std::io::stderr);
    let (event, dry_run, force, timeout) = match Cli::parse().command {
        Command::Run {
            event,
            dry_run,
            force,
            timeout,
        } => (Some(event), dry_run, force, timeout),
        Command::Inventory => (None, false, false, 300),
        Command::CheckEvent { event, region } => return check_event(&event, &region),
        Command::Check {
            names,
            certificate,
            private_key,
            chain,
            password_file,
        } => return check(&names, certificate, private_key, chain, password_file),
    };
    let Some(event) = event else {
        return invoke(serde_json::json!({"inventory": true}), timeout).await;
    };
    let mut payload = match read_event(&event) {
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
    invoke(payload, timeout).await
}

/// Runs the handler on `payload` and prints its report.
async fn invoke(payload: serde_json::Value, timeout: u64) -> ExitCode {
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
    // The own account is asked of STS (GetCallerIdentity) when a domain names a role.
    let invocation = cert_rotator::run::Invocation::new(&run_id);
    match handler::handle(&app, &payload, &invocation, deadline, Metrics::Off).await {
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
