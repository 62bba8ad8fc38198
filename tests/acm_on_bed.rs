//! ACM targets, bring-your-own certificates and the inventory, end to end on the bed, in both
//! partitions: us-east-1 (`arn:aws:`, CloudFront through ACM) and cn-north-1 (`arn:aws-cn:`,
//! CloudFront through IAM, ACM in the China regions). Pebble issues by DNS-01; moto with the
//! fidelity layer plays ACM (re-import in place, tags kept and refused on re-import, the key
//! type fixed), IAM, CloudFront (an ACM certificate only from us-east-1, never in aws-cn), S3
//! and Secrets Manager.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cert_rotator::handler::InvocationError;
use cert_rotator::report::{DomainReport, Outcome, Report};
use common::malformed::{self, SHOP};
use common::pki::{encrypted_key_pem, pem_of, pkcs12, pkcs7, Pki};
use common::world::{leaf_of, Invocation, World};
use serde_json::json;
use time::OffsetDateTime;

fn only(report: &Report) -> &DomainReport {
    assert_eq!(report.domains.len(), 1, "{report:#?}");
    &report.domains[0]
}

/// The event with its first domain forced.
fn forced(event: &serde_json::Value) -> serde_json::Value {
    let mut forced = event.clone();
    forced["domains"][0]["force"] = json!(true);
    forced
}

/// (region, arn, result) of each ACM change.
fn acm_of(d: &DomainReport) -> Vec<(String, String, String)> {
    d.acm
        .iter()
        .map(|a| (a.region.clone(), a.arn.clone(), a.result.to_string()))
        .collect()
}

#[tokio::test]
async fn global_cloudfront_and_a_tokyo_alb_get_acm_certificates_whose_arns_survive_renewal() {
    // www-old is someone else's: retiring it is opted into. In the aws partition the regions
    // whose load balancers may serve IAM certificates must be named (ElbRegions).
    let w = World::new_in("acmg", "us-east-1")
        .await
        .retiring_foreign()
        .with_setting("CERT_ROTATOR_ELB_REGIONS", "us-east-1,ap-northeast-1");
    let www = w.name("www");
    // The distribution serves someone else's IAM certificate, 80 days into 90.
    let (dist, old) = w.due("www-old", &[&www], &[&www]).await;
    let event = json!({"domains": [{"names": [www], "targets": [
        {"type": "acm", "service": "cloudfront"},
        {"type": "acm", "service": "alb", "region": "ap-northeast-1"}]}]});
    let watcher = w.watch();

    // A dry run plans and changes nothing.
    let mut dry = event.clone();
    dry["dry_run"] = json!(true);
    let planned = w.run_ok(&dry).await;
    assert_eq!(only(&planned).outcome, Outcome::Planned, "{planned:#?}");
    assert!(
        w.acm_arns("us-east-1").await.is_empty() && w.acm_arns("ap-northeast-1").await.is_empty()
    );

    let first = w.run_ok(&event).await;
    let d = only(&first);
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    let changes = acm_of(d);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        (changes[0].0.as_str(), changes[0].2.as_str()),
        ("us-east-1", "imported")
    );
    assert_eq!(
        (changes[1].0.as_str(), changes[1].2.as_str()),
        ("ap-northeast-1", "imported")
    );
    let (east, tokyo) = (changes[0].1.clone(), changes[1].1.clone());
    assert!(
        east.starts_with("arn:aws:acm:us-east-1:")
            && tokyo.starts_with("arn:aws:acm:ap-northeast-1:")
    );
    assert_eq!(
        w.served(&dist).await,
        east,
        "the distribution now serves the us-east-1 certificate"
    );
    assert_eq!(d.acm[0].services, ["cloudfront"]);
    assert_eq!(d.acm[1].services, ["alb"]);
    let serial = w.acm_serial("us-east-1", &east).await;
    assert_eq!(
        serial,
        w.acm_serial("ap-northeast-1", &tokyo).await,
        "one certificate in both regions"
    );
    // The replaced IAM certificate is kept while the distribution deploys the swap (1 s on the
    // bed), then retired.
    assert!(
        first.retired.iter().all(|r| r.name == "www-old"
            && (r.result == "deleted" || r.result.to_string().contains("finish deploying"))),
        "{:?}",
        first.retired
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // The next renewal re-imports in place: both ARNs stay, the distribution is not touched.
    let second = w.run_ok(&forced(&event)).await;
    let d = only(&second);
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert_eq!(
        acm_of(d),
        [
            (
                "us-east-1".to_owned(),
                east.clone(),
                "reimported".to_owned()
            ),
            (
                "ap-northeast-1".to_owned(),
                tokyo.clone(),
                "reimported".to_owned()
            )
        ]
    );
    assert!(
        d.distributions.is_empty(),
        "nothing to swap: {:?}",
        d.distributions
    );
    let renewed = w.acm_serial("us-east-1", &east).await;
    assert_ne!(renewed, serial, "a new certificate behind the same ARN");
    assert_eq!(renewed, w.acm_serial("ap-northeast-1", &tokyo).await);
    assert_eq!(
        w.acm_arns("us-east-1").await,
        vec![east.clone()],
        "no second certificate"
    );
    assert_eq!(w.acm_arns("ap-northeast-1").await, vec![tokyo.clone()]);
    assert!(
        first
            .retired
            .iter()
            .chain(&second.retired)
            .any(|r| r.name == "www-old" && r.result == "deleted"),
        "the replaced IAM certificate is retired once nothing uses it: {:?} {:?}",
        first.retired,
        second.retired
    );
    assert!(
        w.certificate_names().await.is_empty(),
        "{old}: {:?}",
        w.certificate_names().await
    );
    let retired_in = if second.retired.iter().any(|r| r.result == "deleted") {
        &second
    } else {
        &first
    };
    assert!(
        retired_in.inventory.iter().all(|i| i.id != "www-old"),
        "a retired certificate is not in that run's inventory: {:?}",
        retired_in.inventory
    );

    // Then it rests, and a dry run plans nothing.
    let third = w.run_ok(&event).await;
    let d = only(&third);
    assert_eq!(d.outcome, Outcome::Kept, "{d:#?}");
    assert_eq!(only(&w.run_ok(&dry).await).outcome, Outcome::Kept);
    assert!(d.acm.iter().all(|a| a.result == "unchanged"), "{:?}", d.acm);

    // Every run's report, and an inventory on its own, list them with their days left.
    for item in [&east, &tokyo] {
        let listed = third
            .inventory
            .iter()
            .find(|i| &i.id == item)
            .unwrap_or_else(|| panic!("{item} not in {:#?}", third.inventory));
        assert!(
            listed.managed && listed.days_left.unwrap() > 30.0,
            "{listed:?}"
        );
    }
    let both_regions = [("CERT_ROTATOR_ACM_REGIONS", "us-east-1,ap-northeast-1")];
    let inventory = w
        .run_with(
            Invocation::overrides(&both_regions),
            &json!({"inventory": true}),
        )
        .await
        .unwrap();
    assert!(inventory.inventory_only && inventory.domains.is_empty());
    let ids: Vec<&str> = inventory.inventory.iter().map(|i| i.id.as_str()).collect();
    assert!(
        ids.contains(&east.as_str()) && ids.contains(&tokyo.as_str()),
        "{ids:?}"
    );
    let east_item = inventory.inventory.iter().find(|i| i.id == east).unwrap();
    assert!(east_item.in_use || east_item.managed);
    let emf: Vec<serde_json::Value> = inventory
        .emf_lines(0)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        emf.iter().any(|l| l.get("MinDaysToExpiry").is_some()),
        "the inventory feeds the expiry alarm: {emf:?}"
    );
    assert!(emf.iter().all(|l| l.get("SuccessfulRun").is_none()));
    let (polls, violations) = watcher.finish().await;
    assert!(
        polls > 3 && violations.is_empty(),
        "{polls} polls: {violations:?}"
    );
}

#[tokio::test]
async fn in_china_cloudfront_stays_on_iam_while_an_alb_in_ningxia_gets_acm() {
    let w = World::new("acmcn").await;
    let cdn = w.name("cdn");
    let (dist, _) = w.due("cdn-old", &[&cdn], &[&cdn]).await;
    let event = json!({"domains": [{"names": [cdn], "targets": [
        "cloudfront-iam", {"type": "acm", "service": "alb", "region": "cn-northwest-1"}]}]});
    let watcher = w.watch();
    let first = w.run_ok(&event).await;
    let d = only(&first);
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    let iam_id = d.new_certificate.as_ref().unwrap().id.clone();
    assert_eq!(
        w.served(&dist).await,
        iam_id,
        "CloudFront serves the new IAM certificate"
    );
    let changes = acm_of(d);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, "cn-northwest-1");
    assert_eq!(changes[0].2, "imported");
    let arn = changes[0].1.clone();
    assert!(arn.starts_with("arn:aws-cn:acm:cn-northwest-1:"), "{arn}");

    let second = w.run_ok(&forced(&event)).await;
    let d = only(&second);
    assert_eq!(d.outcome, Outcome::Renewed, "{d:#?}");
    assert_eq!(
        acm_of(d),
        [(
            "cn-northwest-1".to_owned(),
            arn.clone(),
            "reimported".to_owned()
        )]
    );
    let new_iam = d.new_certificate.as_ref().unwrap().id.clone();
    assert_ne!(new_iam, iam_id);
    assert_eq!(w.served(&dist).await, new_iam);
    assert_eq!(w.acm_arns("cn-northwest-1").await, vec![arn.clone()]);
    let iam_serial = w
        .iam_serial(&d.new_certificate.as_ref().unwrap().name)
        .await;
    assert_eq!(
        w.acm_serial("cn-northwest-1", &arn).await,
        iam_serial,
        "IAM and ACM hold the same certificate"
    );
    assert!(second
        .inventory
        .iter()
        .any(|i| i.id == arn && i.region.as_deref() == Some("cn-northwest-1")));
    assert!(second
        .inventory
        .iter()
        .any(|i| i.store == "iam" && i.in_use && i.managed));
    let (_, violations) = watcher.finish().await;
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test]
async fn a_certificate_for_cloudfront_outside_us_east_1_is_refused_with_the_reason_in_both_partitions(
) {
    for (region, target, says) in [
        (
            "us-east-1",
            json!({"type": "acm", "service": "cloudfront", "region": "ap-northeast-1"}),
            "control plane is in us-east-1",
        ),
        (
            "us-east-1",
            json!({"type": "acm", "service": "api-gateway-edge", "region": "eu-west-1"}),
            "The certificate must be in us-east-1 Region",
        ),
        (
            "cn-north-1",
            json!({"type": "acm", "service": "cloudfront"}),
            "in AWS China CloudFront takes only IAM server certificates",
        ),
        (
            "cn-north-1",
            json!({"type": "acm", "service": "alb", "region": "ap-northeast-1"}),
            "ap-northeast-1 is in partition aws",
        ),
    ] {
        let w = World::new_in("wrong", region).await;
        let name = w.name("www");
        let err = w
            .run(&json!({"domains": [{"names": [name], "targets": [target]}]}))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, InvocationError::Event(_)), "{text}");
        assert!(
            text.contains("domains[0].targets[0]") && text.contains(says),
            "{region}: {text}"
        );
        for r in [
            "us-east-1",
            "ap-northeast-1",
            "cn-north-1",
            "cn-northwest-1",
        ] {
            if cert_rotator::model::partition::Partition::of_region(r)
                == cert_rotator::model::partition::Partition::of_region(region)
            {
                assert!(w.acm_arns(r).await.is_empty(), "nothing imported in {r}");
            }
        }
        assert!(w.certificate_names().await.is_empty(), "nothing uploaded");
    }
}

/// The same certificate in the four formats a CA hands out.
#[tokio::test]
async fn a_bring_your_own_certificate_in_each_format_deploys_to_iam_and_acm() {
    for (region, acm_region) in [
        ("cn-north-1", "cn-northwest-1"),
        ("us-east-1", "ap-northeast-1"),
    ] {
        let w = World::new_in("byo", region).await;
        let pki = Pki::new("Commercial CA");
        let now = OffsetDateTime::now_utc();
        let mut domains = Vec::new();
        let mut dists = Vec::new();
        for format in ["pem", "der", "pkcs7", "pkcs12"] {
            let name = w.name(format);
            let leaf = if format == "pem" {
                // DER writes this serial with a leading 00 byte and ACM's Serial without it: the
                // daily run below must still see the certificate as the one deployed.
                let serial = [0xd7, 0xd9, 0xd7, 0x83, 0xb1, 0x67, 0x12];
                pki.leaf_with_serial(&[&name], now - time::Duration::days(3), 365, &serial)
            } else {
                pki.leaf(&[&name], now - time::Duration::days(3), 365)
            };
            let (dist, _) = w.due(&format!("{format}-old"), &[&name], &[&name]).await;
            dists.push((dist, name.clone(), leaf.pem.clone()));
            let source = match format {
                "pem" => {
                    json!({"certificate": w.put_file("byo/pem/bundle.pem", format!("{}{}{}", leaf.pem, pki.intermediate.pem, leaf.key_pem).into_bytes()).await})
                }
                "der" => json!({
                    "certificate": w.put_file("byo/der/cert.cer", leaf.der.clone()).await,
                    "chain": w.put_file("byo/der/chain.der", pki.intermediate.der.clone()).await,
                    "private_key": w.put_secret(&common::unique("byo-key"), &encrypted_key_pem(&leaf, "key pass")).await,
                    "password": w.put_secret(&common::unique("byo-pw"), "key pass\n").await,
                    "format": "der"}),
                "pkcs7" => json!({
                    "certificate": w.put_file("byo/p7/cert.p7b", pkcs7(&[&leaf.der, &pki.intermediate.der, &pki.root.der])).await,
                    "private_key": w.put_file("byo/p7/key.pem", pem_of("PRIVATE KEY", &leaf.key_der).into_bytes()).await}),
                _ => json!({
                    "certificate": w.put_file("byo/p12/site.pfx", pkcs12(&leaf, &[&pki.intermediate.der, &pki.root.der], "pfx pass")).await,
                    "password": w.put_secret(&common::unique("byo-pfx"), "pfx pass").await}),
            };
            domains.push(json!({"names": [name], "source": source,
                "targets": ["cloudfront-iam", {"type": "acm", "region": acm_region}]}));
        }
        let event = json!({"domains": domains});
        let report = w.run_ok(&event).await;
        for (d, (dist, name, leaf_pem)) in report.domains.iter().zip(&dists) {
            assert_eq!(d.outcome, Outcome::Deployed, "{region} {name}: {d:#?}");
            assert_eq!(d.acm.len(), 1);
            assert_eq!(d.acm[0].result, "imported", "{d:#?}");
            let served = w.served(dist).await;
            assert_eq!(
                Some(&served),
                d.new_certificate.as_ref().map(|c| &c.id),
                "{name}"
            );
            assert_eq!(
                w.acm_serial(acm_region, &d.acm[0].arn).await,
                leaf_of(leaf_pem).serial,
                "{name}"
            );
        }
        // The daily run after: nothing to do, nothing re-uploaded.
        let again = w.run_ok(&event).await;
        for d in &again.domains {
            assert_eq!(d.outcome, Outcome::Kept, "{d:#?}");
            assert!(d.acm.iter().all(|a| a.result == "unchanged"), "{d:#?}");
        }
        assert_eq!(w.acm_arns(acm_region).await.len(), 4);

        // The CA renews; the team replaces the file: the next run deploys it, same ARN.
        let pem_name = &dists[0].1;
        let renewed = pki.leaf(&[pem_name], now - time::Duration::days(1), 400);
        w.put_file(
            "byo/pem/bundle.pem",
            format!("{}{}{}", renewed.pem, pki.intermediate.pem, renewed.key_pem).into_bytes(),
        )
        .await;
        let third = w.run_ok(&json!({"domains": [domains[0].clone()]})).await;
        let d = only(&third);
        assert_eq!(d.outcome, Outcome::Deployed, "{d:#?}");
        assert_eq!(d.acm[0].result, "reimported");
        assert_eq!(d.acm[0].arn, report.domains[0].acm[0].arn, "the ARN stays");
        assert_eq!(
            w.served(&dists[0].0).await,
            d.new_certificate.as_ref().unwrap().id
        );
        let serial = cert_rotator::certs::certificate::info(&renewed.der)
            .unwrap()
            .serial;
        assert_eq!(w.acm_serial(acm_region, &d.acm[0].arn).await, serial);
    }
}

#[tokio::test]
async fn every_malformed_bundle_is_refused_with_its_own_error_and_deploys_nothing() {
    let w = World::new("bad").await;
    // A distribution serving the shop's names with a valid certificate: it must keep it.
    let (dist, served) = {
        let id = w
            .upload_foreign(
                "shop-current",
                SHOP,
                OffsetDateTime::now_utc() - time::Duration::days(1),
                90,
            )
            .await;
        (w.distribution(SHOP, &id).await, id)
    };
    let cases = malformed::cases();
    assert!(cases.len() >= 20);
    let mut seen = std::collections::BTreeSet::new();
    for (i, case) in cases.iter().enumerate() {
        let mut source = serde_json::Map::new();
        for (j, (origin, bytes, format)) in case.files.iter().enumerate() {
            let file = origin.rsplit('/').next().unwrap();
            let at = w.put_file(&format!("bad/{i}/{file}"), bytes.clone()).await;
            let field = if j == 0 {
                "certificate"
            } else if j == 1 {
                "private_key"
            } else {
                "chain"
            };
            source.insert(field.into(), json!(at));
            if let (0, Some(f)) = (j, format) {
                source.insert(
                    "format".into(),
                    json!(match f {
                        cert_rotator::certs::bundle::Format::Pem => "pem",
                        cert_rotator::certs::bundle::Format::Der => "der",
                        cert_rotator::certs::bundle::Format::Pkcs7 => "pkcs7",
                        cert_rotator::certs::bundle::Format::Pkcs12 => "pkcs12",
                    }),
                );
            }
        }
        if let Some(pw) = case.password {
            source.insert(
                "password".into(),
                json!(w.put_secret(&common::unique("bad-pw"), pw).await),
            );
        }
        let event = json!({"domains": [{"names": SHOP, "source": source,
            "targets": ["cloudfront-iam", {"type": "acm", "region": "cn-northwest-1"}]}]});
        let err = w.run(&event).await.unwrap_err();
        let InvocationError::Domains { report, .. } = &err else {
            panic!("{}: {err}", case.what);
        };
        let d = only(report);
        assert_eq!(d.outcome, Outcome::Failed, "{}", case.what);
        let message = d.error.clone().unwrap();
        assert!(
            message.contains(case.says) && message.contains("nothing was deployed"),
            "{}: {message}",
            case.what
        );
        // Its own error: the message without the file's location is unique.
        let general = message.replace(&format!("bad/{i}/"), "");
        assert!(
            seen.insert(general),
            "{}: the same message as another case: {message}",
            case.what
        );
    }
    assert_eq!(
        w.served(&dist).await,
        served,
        "the distribution kept its certificate"
    );
    assert_eq!(
        w.certificate_names().await,
        ["shop-current"],
        "nothing uploaded to IAM"
    );
    assert!(
        w.acm_arns("cn-northwest-1").await.is_empty(),
        "nothing imported to ACM"
    );
    println!(
        "{} malformed bundles refused on the bed, none deployed",
        cases.len()
    );
}
