//! The Lambda function: cold start builds the clients once, each event runs the rotation until
//! the invocation's deadline.

use std::time::{Duration, SystemTime};

use cert_rotator::handler::{self, App, Metrics};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let deadline =
                tokio::time::Instant::now() + left.saturating_sub(Duration::from_secs(5));
            handler::handle(
                app,
                &event.payload,
                &event.context.request_id,
                deadline,
                Metrics::Stdout,
            )
            .await
        },
    ))
    .await
}
