//! Least privilege (issue #13, part 6), end to end: what template.yaml forbids the function, the
//! bed refuses as AWS would (tests/bed/motobed/authz.py enforces the template's policies on the
//! function's role and the archive's bucket policy on everyone). Every other bed test runs the
//! product as the function too, so a missing grant fails them; these make the forbidden calls,
//! through the product's adapters where it has one, and expect `AccessDenied`. Plain moto allows
//! every one of them. The boto3 cases, one per rule and condition operator, are in
//! tests/bed/test_fidelity_policy.py.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_s3::types::ServerSideEncryption;
use cert_rotator::aws::acm::{Acm, Import, Reimport};
use cert_rotator::aws::route53::{Route53, TxtRecordSet};
use cert_rotator::model::inventory::{MANAGED_BY, TAG_MANAGED_BY};
use cert_rotator::report::Outcome;
use common::world::{Invocation, World};
use serde_json::json;
use time::OffsetDateTime;

/// A KMS key ARN in the world's account (the bed's S3 asks for KMS grants on it; moto's S3 does
/// not encrypt, so the key need not exist).
fn kms_key(w: &World, n: u8) -> String {
    format!(
        "arn:aws-cn:kms:cn-north-1:{}:key/0f1e2d3c-0000-4000-8000-0000000000{n:02}",
        w.account
    )
}

#[tokio::test]
async fn with_the_stacks_kms_key_the_archive_is_sse_kms_and_the_run_renews() {
    let w = World::new("kms").await;
    let key = kms_key(&w, 1);
    w.set_stack_parameter("ArchiveKmsKeyArn", &key).await;
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    let kms = [("CERT_ROTATOR_KMS_KEY", key.as_str())];
    let report = w
        .run_with(
            Invocation::overrides(&kms),
            &json!({"domains": [{"names": [name]}]}),
        )
        .await
        .unwrap();
    assert_eq!(report.domains[0].outcome, Outcome::Renewed, "{report:#?}");
    let listed = w
        .archive()
        .list_objects_v2()
        .bucket(&w.bucket)
        .prefix("archive/")
        .send()
        .await
        .unwrap();
    let archived = listed.contents()[0].key().unwrap();
    let head = w
        .archive()
        .head_object()
        .bucket(&w.bucket)
        .key(archived)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key.as_str()));
    w.assert_converged().await;
}

#[tokio::test]
async fn a_kms_key_the_stack_does_not_name_is_denied_through_s3() {
    let w = World::new("kms-other").await.expecting_denials();
    w.set_stack_parameter("ArchiveKmsKeyArn", &kms_key(&w, 1))
        .await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let other = kms_key(&w, 2);
    let kms = [("CERT_ROTATOR_KMS_KEY", other.as_str())];
    let err = w
        .run_with(
            Invocation::overrides(&kms),
            &json!({"domains": [{"names": [name]}]}),
        )
        .await
        .expect_err("writing the lease with another key is denied")
        .to_string();
    assert!(
        err.contains(&format!("kms:GenerateDataKey on resource: {other}")),
        "{err}"
    );
    assert_eq!(w.served(&dist).await, old, "nothing deployed");
}

#[tokio::test]
async fn the_archive_is_read_and_written_by_the_function_alone() {
    let w = World::new("archive").await;
    let name = w.name("cdn");
    w.due("cdn-old", &[&name], &[&name]).await;
    w.run_ok(&json!({"domains": [{"names": [name]}]})).await;
    let archived = w.archived().await;
    assert_eq!(archived.len(), 1, "the function reads its archive");

    // The tests' set-up role stands for an administrator of the account: its identity policy
    // allows everything, the bucket policy still denies it every object.
    let admin = aws_sdk_s3::Client::new(&w.sdk);
    let keys = admin
        .list_objects_v2()
        .bucket(&w.bucket)
        .prefix("archive/")
        .send()
        .await
        .unwrap();
    let key = keys.contents()[0].key().unwrap();
    let read = admin
        .get_object()
        .bucket(&w.bucket)
        .key(key)
        .send()
        .await
        .expect_err("an administrator reads a private key");
    let read = aws_sdk_s3::error::ProvideErrorMetadata::message(&read)
        .unwrap_or_default()
        .to_owned();
    assert!(
        read.ends_with(&format!(
            "s3:GetObject on resource: arn:aws-cn:s3:::{}/{key} with an explicit deny in a resource-based policy",
            w.bucket
        )),
        "{read}"
    );
    let forged = admin
        .put_object()
        .bucket(&w.bucket)
        .key(cert_rotator::run::lock::LOCK_KEY)
        .body(b"{}".to_vec().into())
        .send()
        .await;
    assert!(forged.is_err(), "an administrator writes the lease");
    w.assert_converged().await;
}

#[tokio::test]
async fn challenge_records_are_written_only_under_the_challenge_label() {
    let w = World::new("r53").await.expecting_denials();
    let r53 = Route53::new(&w.function);
    let set = TxtRecordSet {
        ttl: 60,
        values: vec!["token".into()],
    };
    let allowed = format!("_acme-challenge.{}", w.name("cdn"));
    r53.upsert_txt(&w.zone_id, &allowed, &set).await.unwrap();
    r53.delete_txt(&w.zone_id, &allowed, &set).await.unwrap();
    for forbidden in [
        w.name("www"),
        format!("x._acme-challenge.{}", w.zone),
        format!("_acme-challenge-evil.{}", w.zone),
    ] {
        let err = r53
            .upsert_txt(&w.zone_id, &forbidden, &set)
            .await
            .expect_err(&forbidden);
        assert_eq!(err.code, "AccessDenied", "{forbidden}: {err}");
        assert!(
            err.message.contains("route53:ChangeResourceRecordSets"),
            "{err}"
        );
    }
    assert!(w.txt_records().await.is_empty());
}

#[tokio::test]
async fn acm_imports_its_own_but_never_tags_or_reimports_someone_elses() {
    let w = World::new("acm").await.expecting_denials();
    let region = "cn-north-1";
    let name = w.name("api");
    let (cert, key) = w.ca.issue(&[&name], OffsetDateTime::now_utc(), 90);
    let import = Import {
        certificate: &cert,
        chain: &w.ca.pem,
        private_key: &key,
    };
    let foreign = w
        .acm(region)
        .import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(cert.as_bytes()))
        .certificate_chain(aws_sdk_acm::primitives::Blob::new(w.ca.pem.as_bytes()))
        .private_key(aws_sdk_acm::primitives::Blob::new(key.as_bytes()))
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_owned();

    let acm = Acm::new(&w.function);
    let tag = [(TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned())];
    let own = acm.import(region, &import, &tag).await.unwrap();
    assert!(matches!(
        acm.reimport(region, &own, &import).await.unwrap(),
        Reimport::Done
    ));
    let err = acm
        .reimport(region, &foreign, &import)
        .await
        .expect_err("a re-import over someone else's certificate");
    assert_eq!(err.code, "AccessDeniedException", "{err}");
    // Nor can the function tag it first to make it look like its own.
    let tag = aws_sdk_acm::types::Tag::builder()
        .key(TAG_MANAGED_BY)
        .value(MANAGED_BY)
        .build()
        .unwrap();
    let tagged = aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(&w.function)
            .region(aws_sdk_acm::config::Region::new(region))
            .build(),
    )
    .add_tags_to_certificate()
    .certificate_arn(&foreign)
    .tags(tag)
    .send()
    .await
    .expect_err("tagging someone else's certificate");
    let message = aws_sdk_acm::error::ProvideErrorMetadata::message(&tagged).unwrap_or_default();
    assert!(
        message.contains(&format!("acm:AddTagsToCertificate on resource: {foreign} ")),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_bring_your_own_file_is_named_not_blamed_on_the_role() {
    // The function may list the source bucket (ListBringYourOwnFiles): S3 answers NoSuchKey, not
    // the AccessDenied it gives a caller who may only read.
    let w = World::new("byo-missing").await;
    let name = w.name("cdn");
    let (dist, old) = w.due("cdn-old", &[&name], &[&name]).await;
    let missing = format!("s3://{}/byo/not-uploaded.pem", w.source_bucket);
    let event = json!({"domains": [{"names": [name], "source": {"certificate": missing}}]});
    let err = w
        .run(&event)
        .await
        .expect_err("a missing file fails the domain");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "{missing} does not exist: upload the file, or fix the name in source"
        )),
        "{message}"
    );
    assert_eq!(w.served(&dist).await, old);
}
