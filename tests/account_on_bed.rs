//! The ACME account in Secrets Manager, on the bed: the secret the stack creates with the
//! placeholder `{}` (read and written as the function's role, which the bed holds to
//! template.yaml's policy), a secret created without a value (the CLI's case, with an operator's
//! credentials: `CreateSecret` is not the function's), and two first runs that meet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::acme::account::{self, Origin};
use cert_rotator::aws::secrets::Secrets;
use common::world::World;

/// The stack's secret, holding the placeholder, as the function sees it, and a client that
/// reads it as the function too (its resource policy denies its value to anyone else).
async fn stack_secret(prefix: &str) -> (World, Secrets, aws_sdk_secretsmanager::Client) {
    let w = World::new(prefix).await;
    let (secrets, client) = (
        Secrets::new(&w.function),
        aws_sdk_secretsmanager::Client::new(&w.function),
    );
    (w, secrets, client)
}

/// An operator's unrestricted credentials, as the CLI may run with.
async fn secrets() -> (Secrets, aws_sdk_secretsmanager::Client) {
    let sdk = common::sdk_config("cn-north-1").await;
    (
        Secrets::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    )
}

/// The account credentials stored in `id`, as JSON.
async fn stored(client: &aws_sdk_secretsmanager::Client, id: &str) -> serde_json::Value {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

#[tokio::test]
async fn the_stacks_placeholder_secret_gets_the_account_on_the_first_run() {
    // As template.yaml's AccountSecret: created by CloudFormation with the value {}; the stack
    // passes its ARN.
    let (w, secrets, client) = stack_secret("placeholder").await;
    let arn = aws_sdk_secretsmanager::Client::new(&w.sdk)
        .describe_secret()
        .secret_id(&w.secret)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let config = common::acme_config();

    assert!(
        account::load(&secrets, &arn, &config)
            .await
            .unwrap()
            .is_none(),
        "the placeholder is no account"
    );
    let (first, origin) = account::load_or_create(&secrets, &arn, &config)
        .await
        .unwrap();
    assert_eq!(origin, Origin::Created);
    let value = stored(&client, &arn).await;
    assert_eq!(value["id"], first.id(), "the created account is stored");
    assert_eq!(value["directory"], config.directory.as_str());

    let (again, origin) = account::load_or_create(&secrets, &arn, &config)
        .await
        .unwrap();
    assert_eq!((origin, again.id()), (Origin::Loaded, first.id()));
    let loaded = account::load(&secrets, &arn, &config).await.unwrap();
    assert_eq!(loaded.unwrap().id(), first.id());
}

#[tokio::test]
async fn two_first_runs_on_the_placeholder_end_with_one_stored_account_both_use() {
    let (w, secrets, client) = stack_secret("two-first").await;
    let name = w.secret.clone();
    let config = common::acme_config();

    let (a, b) = tokio::join!(
        account::load_or_create(&secrets, &name, &config),
        account::load_or_create(&secrets, &name, &config)
    );
    let ((a, a_origin), (b, b_origin)) = (a.unwrap(), b.unwrap());
    let value = stored(&client, &name).await;
    // Both ran against the same placeholder version: one stored its account, the other's
    // PutSecretValue was refused (same version token, other value) and it loaded the stored one.
    let mut origins = [a_origin, b_origin];
    origins.sort_by_key(|o| *o == Origin::Created);
    assert_eq!(origins, [Origin::Loaded, Origin::Created]);
    assert_eq!(a.id(), b.id());
    assert_eq!(value["id"], a.id());
    let versions = aws_sdk_secretsmanager::Client::new(&w.sdk)
        .list_secret_version_ids()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        2,
        "the placeholder and one account, nothing more"
    );
}

#[tokio::test]
async fn a_secret_created_without_a_value_and_reset_secrets_get_a_new_account() {
    let (secrets, client) = secrets().await;
    let config = common::acme_config();

    // A name that exists with no value yet (CreateSecret without SecretString).
    let name = common::unique("bare/acme-account-");
    client.create_secret().name(&name).send().await.unwrap();
    let (first, origin) = account::load_or_create(&secrets, &name, &config)
        .await
        .unwrap();
    assert_eq!(origin, Origin::Created);
    assert_eq!(stored(&client, &name).await["id"], first.id());

    // The README's way to start over: set the value back to {}. A new placeholder version gives
    // a new version token, so the next run stores a new account.
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string("{ }")
        .send()
        .await
        .unwrap();
    let (second, origin) = account::load_or_create(&secrets, &name, &config)
        .await
        .unwrap();
    assert_eq!(origin, Origin::Created);
    assert_ne!(second.id(), first.id());
    assert_eq!(stored(&client, &name).await["id"], second.id());
}
