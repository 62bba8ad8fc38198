//! The Lambda function: cold start builds the clients once, each event runs the rotation until
//! the invocation's deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cert_rotator::handler::{self, App, Metrics};
use cert_rotator::run::Invocation;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // lambda_runtime's default subscriber (AWS_LAMBDA_LOG_LEVEL, RUST_LOG, JSON), the SDK capped.
    cert_rotator::logging::init(std::io::stdout);
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            // 5 s to log the report and answer the runtime before Lambda stops the process.
            let left = handler::time_left(event.context.deadline, now_ms, Duration::from_secs(5));
            tracing::info!(seconds_left = left.as_secs(), "invocation received");
            let deadline = tokio::time::Instant::now() + left;
            // The function's own account from its ARN: no STS call needed to tell it.
            let invocation = Invocation::new(&event.context.request_id)
                .of_function(&event.context.invoked_function_arn);
            handler::handle(app, &event.payload, &invocation, deadline, Metrics::Stdout).await
        },
    ))
    .await
}
