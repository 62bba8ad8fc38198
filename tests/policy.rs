//! The template grants exactly the AWS actions the code calls — no more, no fewer — every ARN in
//! it names its partition through `${AWS::Partition}`, and the statements that narrow a grant
//! (the archive's KMS key, the archive's bucket policy, ACM tagging, Route 53 record changes) say
//! what they must. The bed enforces these statements on every request of the function
//! (tests/bed/motobed/authz.py); its negative tests prove they deny what they should.
//!
//! The calls are read from the source of the adapters (`src/aws/*.rs`, the only place SDK calls
//! are made): every `.client.<operation>()`, mapped to its IAM action.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// The IAM action of an SDK operation of the adapter in `file`.
fn action(file: &str, operation: &str) -> String {
    let service = match file {
        "iam.rs" => "iam",
        "acm.rs" => "acm",
        "cloudfront.rs" => "cloudfront",
        "route53.rs" => "route53",
        "s3.rs" => "s3",
        "secrets.rs" => "secretsmanager",
        // Classic (v1) and Application/Network (v2) load balancers share one action namespace.
        "elb.rs" => "elasticloadbalancing",
        "sns.rs" => "sns",
        "events.rs" => "events",
        other => panic!("an adapter without a service: {other}"),
    };
    // Operations whose action is not their own name.
    let renamed = match (service, operation) {
        ("s3", "list_objects_v2") => Some("ListBucket"),
        ("cloudfront", "wait_until_distribution_deployed") => Some("GetDistribution"),
        _ => None,
    };
    let name = renamed.map(str::to_owned).unwrap_or_else(|| {
        operation
            .split('_')
            .map(|w| format!("{}{}", w[..1].to_uppercase(), &w[1..]))
            .collect()
    });
    format!("{service}:{name}")
}

fn called() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/aws");
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        if file == "mod.rs" {
            continue;
        }
        let source: String = std::fs::read_to_string(&path)
            .unwrap()
            .split_whitespace()
            .collect();
        for operation in client_calls(&source) {
            actions.insert(action(&file, &operation));
        }
    }
    actions
}

/// `client.<operation>()` and `.client(region).<operation>()` occurrences in whitespace-free
/// source.
fn client_calls(source: &str) -> Vec<String> {
    let source = source.replace(".client(region).", "client.");
    source
        .split("client.")
        .skip(1)
        .filter_map(|rest| {
            let op: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest[op.len()..].starts_with("()").then_some(op)
        })
        .collect()
}

fn template() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml")).unwrap()
}

fn granted() -> BTreeSet<String> {
    let template = template();
    let start = template
        .find("      Policies:")
        .expect("the function's Policies");
    let end = start
        + template[start..]
            .find("\n  AlarmTopic:")
            .expect("the policies end before AlarmTopic");
    let policies = &template[start..end];
    let mut actions = BTreeSet::new();
    for token in policies.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | '"')) {
        if let Some((service, name)) = token.split_once(':') {
            if matches!(
                service,
                "iam"
                    | "cloudfront"
                    | "route53"
                    | "s3"
                    | "secretsmanager"
                    | "acm"
                    | "elasticloadbalancing"
                    | "kms"
                    | "sns"
                    | "events"
            ) && name.chars().all(|c| c.is_ascii_alphanumeric())
                && !name.is_empty()
            {
                actions.insert(token.to_owned());
            }
        }
    }
    actions
}

/// Actions the code can call that the stack's function never needs, and why.
const NOT_GRANTED: &[(&str, &str)] = &[(
    "secretsmanager:CreateSecret",
    "the stack creates the account secret (AccountSecret, value {}) and the function fills it with \
     PutSecretValue; CreateSecret is for the CLI with a secret name that does not exist yet",
)];

/// Actions the template grants that no call names, and why.
const IMPLIED: &[(&str, &str)] = &[
    (
        "acm:AddTagsToCertificate",
        "ImportCertificate with Tags is also authorized as AddTagsToCertificate",
    ),
    (
        "kms:GenerateDataKey",
        "S3 asks KMS for a data key as the caller when it writes an SSE-KMS object (CERT_ROTATOR_KMS_KEY)",
    ),
    (
        "kms:Decrypt",
        "S3 asks KMS to decrypt the data key as the caller when it reads an SSE-KMS object",
    ),
];

#[test]
fn the_template_grants_exactly_the_actions_the_code_calls() {
    let mut called = called();
    for (action, _why) in IMPLIED {
        called.insert((*action).to_owned());
    }
    for (action, why) in NOT_GRANTED {
        assert!(
            called.remove(*action),
            "{action} is no longer called ({why})"
        );
    }
    let granted = granted();
    assert!(called.len() >= 20, "found only {called:?}");
    let missing: Vec<&String> = called.difference(&granted).collect();
    let extra: Vec<&String> = granted.difference(&called).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "called but not granted: {missing:?}\ngranted but never called: {extra:?}"
    );
}

#[test]
fn every_arn_in_the_template_names_its_partition() {
    for (n, line) in template().lines().enumerate() {
        if line.contains("arn:")
            && !line.trim_start().starts_with('#')
            && !line.contains("Description")
        {
            assert!(
                line.contains("arn:${AWS::Partition}:"),
                "template.yaml:{}: {line}",
                n + 1
            );
        }
    }
    assert!(!template().contains("us-east-1"), "no hard-coded region");
}

#[test]
fn a_scheduled_run_is_retried_neither_by_the_scheduler_nor_by_lambda() {
    // Lambda retries a failed asynchronous invocation twice unless told otherwise; the scheduler
    // has its own retries. Either would repeat every order of the run: the next run repairs.
    let template = template();
    let invoke_config = template
        .split("EventInvokeConfig:")
        .nth(1)
        .expect("the function has an EventInvokeConfig");
    let first_setting = invoke_config
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(first_setting, "MaximumRetryAttempts: 0");
    assert_eq!(
        template
            .matches("RetryPolicy: {MaximumRetryAttempts: 0}")
            .count(),
        2,
        "the rule's target and the scheduler's"
    );
}

#[test]
fn old_versions_of_archived_keys_expire() {
    // The run deletes archived bundles long expired; in a versioned bucket only a lifecycle rule
    // removes the versions left behind, keys included.
    let template = template();
    let bucket = template
        .split("ArchiveBucket:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the template has an ArchiveBucket");
    assert!(bucket.contains("VersioningConfiguration: {Status: Enabled}"));
    assert!(
        bucket.contains("NoncurrentVersionExpiration: {NoncurrentDays: 30}"),
        "{bucket}"
    );
    assert!(bucket.contains("ExpiredObjectDeleteMarker: true"));
}

/// The text of the policy statement `sid`: its line and those indented deeper.
fn statement(sid: &str) -> String {
    let template = template();
    let lines: Vec<&str> = template.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.trim() == format!("- Sid: {sid}"))
        .unwrap_or_else(|| panic!("no statement {sid}"));
    let depth = |l: &str| l.len() - l.trim_start().len();
    let body = lines[first + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || depth(l) > depth(lines[first]));
    std::iter::once(&lines[first])
        .chain(body)
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_archive_kms_key_is_set_and_granted_only_when_the_stack_names_one() {
    let template = template();
    for line in [
        r#"HasArchiveKmsKey: !Not [!Equals [!Ref ArchiveKmsKeyArn, ""]]"#,
        "CERT_ROTATOR_KMS_KEY: !Ref ArchiveKmsKeyArn",
        r#"- {SSEAlgorithm: "aws:kms", KMSMasterKeyID: !Ref ArchiveKmsKeyArn}"#,
    ] {
        assert!(template.contains(line), "{line}");
    }
    let grant = statement("ArchiveKmsKey");
    assert!(
        grant.contains("Action: [kms:GenerateDataKey, kms:Decrypt]"),
        "{grant}"
    );
    assert!(grant.contains("Resource: !Ref ArchiveKmsKeyArn"), "{grant}");
    assert!(
        grant.contains("kms:ViaService:"),
        "only through S3: {grant}"
    );
    // Inside `!If [HasArchiveKmsKey, <statement>, !Ref AWS::NoValue]`.
    let before = &template[..template.find("- Sid: ArchiveKmsKey").unwrap()];
    let condition = before.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(condition.trim(), "- HasArchiveKmsKey");
}

#[test]
fn only_the_functions_role_reads_or_writes_the_archives_objects() {
    let deny = statement("ObjectsForTheFunctionOnly");
    for part in [
        "Effect: Deny",
        r#"Principal: "*""#,
        "s3:GetObject, s3:GetObjectVersion, s3:PutObject, s3:DeleteObject",
        r#"Resource: !Sub "${ArchiveBucket.Arn}/*""#,
        r#"{ArnNotEquals: {"aws:PrincipalArn": !GetAtt RotatorRole.Arn}}"#,
    ] {
        assert!(deny.contains(part), "{part} in {deny}");
    }
    assert!(statement("TlsOnly").contains(r#"{Bool: {"aws:SecureTransport": "false"}}"#));
}

#[test]
fn no_statement_lets_the_function_tag_an_existing_acm_certificate() {
    // The only grant of AddTagsToCertificate names the not-yet-created certificate (IAM's
    // literal asterisk, ${*}): tagging on import, never tagging someone else's certificate.
    let template = template();
    let grants: Vec<&str> = template
        .split("- Sid: ")
        .skip(1)
        .filter(|s| s.contains("acm:AddTagsToCertificate"))
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let grant = statement("ImportNewTaggedCertificates");
    assert!(
        grant.contains(":certificate/${!*}\n"),
        "resource of {grant}"
    );
    assert!(grant.contains("aws:RequestTag/managed-by: cert-rotator"));
    let reimport = statement("ReimportOwnCertificates");
    assert!(reimport.contains("Action: acm:ImportCertificate\n"));
    assert!(reimport.contains("aws:ResourceTag/managed-by: cert-rotator"));
}

#[test]
fn record_changes_need_the_challenge_label_the_txt_type_and_the_keys_present() {
    let grant = statement("AcmeChallengeRecordsOnly");
    for part in [
        r#"route53:ChangeResourceRecordSetsNormalizedRecordNames: ["_acme-challenge.*"]"#,
        "route53:ChangeResourceRecordSetsRecordTypes: [TXT]",
        r#"route53:ChangeResourceRecordSetsNormalizedRecordNames: "false""#,
        r#"route53:ChangeResourceRecordSetsRecordTypes: "false""#,
    ] {
        assert!(grant.contains(part), "{part} in {grant}");
    }
}
