//! Other accounts of an organisation, as the multi-account tests see them: a fresh account with
//! the member stack's role (template.yaml deployed with `Deploy=member`, created by the bed's
//! `stack.deploy_member` so that its trust policy is the template's, rendered), and DNS zones
//! "outside AWS" (the bed's static `outside_zones`).

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::world::World;
use super::{bed, http, unique};

/// Another account: its set-up identity and the member role in it.
pub struct Member {
    pub account: String,
    /// The tests' unrestricted identity there (`cert-rotator-e2e`).
    pub sdk: SdkConfig,
    /// The member role's ARN (the member stack's output `MemberRoleArn`).
    pub role: String,
}

impl Member {
    /// A fresh account whose member role trusts `world`'s function, asking `external_id`.
    pub async fn new(world: &World, external_id: Option<&str>) -> Self {
        Self::trusting(world, &world.function_role_arn(), external_id).await
    }

    /// A fresh member account whose member role trusts `rotator` (a role ARN) only.
    pub async fn trusting(world: &World, rotator: &str, external_id: Option<&str>) -> Self {
        let member = Self::outsider(world, rotator, external_id).await;
        world.admit(&member.account).await;
        member
    }

    /// A fresh account the stack does not name as a member (not in `MemberAccounts`), whose
    /// role is the member stack's, trusting `rotator`: someone else's account.
    pub async fn outsider(world: &World, rotator: &str, external_id: Option<&str>) -> Self {
        let region = world.region();
        let account = super::account_id();
        let (sdk, _) = super::sdk_config_for(&region, &account).await;
        let role = deploy_member(&region, &account, rotator, external_id);
        Self { account, sdk, role }
    }

    /// A public hosted zone `<unique>.<suffix>` in this account: (name, id).
    pub async fn zone(&self, prefix: &str, suffix: &str) -> (String, String) {
        let name = format!("{}.{suffix}", unique(prefix));
        let id = super::create_zone(&self.sdk, &name).await;
        (name, id)
    }

    /// TXT record sets left in zone `zone_id` of this account.
    pub async fn txt_records(&self, zone_id: &str) -> Vec<String> {
        let out = aws_sdk_route53::Client::new(&self.sdk)
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .send()
            .await
            .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|r| r.r#type().as_str() == "TXT")
            .map(|r| r.name().to_owned())
            .collect()
    }

    /// Asserts that the bed denied the member role's sessions nothing (the template's member
    /// policy grants all a run needs there).
    pub fn assert_no_denials(&self) {
        let url = format!(
            "{}/denials?account={}",
            bed()["BED_CONTROL_URL"],
            self.account
        );
        let (status, body) = http("GET", &url, "");
        assert_eq!(status, 200, "{body}");
        let denials: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert!(denials.is_empty(), "the bed denied: {denials:#?}");
    }
}

/// The member stack in `account` (stack.deploy_member, run by the bed's Python), created or
/// updated with these parameters; its role's ARN.
pub fn deploy_member(
    region: &str,
    account: &str,
    rotator: &str,
    external_id: Option<&str>,
) -> String {
    let bed = bed();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = "import sys, stack\n\
        endpoint, region, account, rotator, external_id = sys.argv[1:6]\n\
        setup = stack.setup_session(endpoint, region, account)\n\
        print(stack.deploy_member(endpoint, region, setup, account, rotator, external_id or None))";
    let out = std::process::Command::new(root.join("target/venv/bin/python"))
        .current_dir(root.join("tests/bed"))
        .args([
            "-c",
            script,
            &bed["AWS_ENDPOINT_URL"],
            region,
            account,
            rotator,
        ])
        .arg(external_id.unwrap_or_default())
        .output()
        .expect("run the bed's Python (make venv)");
    assert!(
        out.status.success(),
        "deploy_member: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Serves `zone` from the bed's DNS as a provider outside AWS would (DNSPod, Alibaba Cloud DNS),
/// with `records`: `(name, type, value)`.
pub fn outside_zone(zone: &str, records: &[(&str, &str, &str)]) {
    let records: Vec<Value> = records
        .iter()
        .map(|(name, kind, value)| json!({"name": name, "type": kind, "value": value, "ttl": 60}))
        .collect();
    let body = json!({"outside_zones": {zone: records}});
    let url = format!("{}/settings", bed()["BED_CONTROL_URL"]);
    let (status, reply) = http("POST", &url, &body.to_string());
    assert_eq!(status, 200, "{reply}");
}
