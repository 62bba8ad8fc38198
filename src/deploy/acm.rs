//! ACM, region by region: import where the region holds nothing for the names, re-import in place
//! where it holds another certificate (the ARN stays, so load balancers, API domain names and
//! distributions keep it), leave it where it holds this one.

use tracing::info;

use super::{Deployment, Failure};
use crate::aws::acm::{Import, Reimport};
use crate::certs::archive::Bundle;
use crate::certs::certificate::{self, CertificateInfo, Usages};
use crate::model::inventory::{MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES, TAG_NAMES_HASH};
use crate::model::partition::Partition;
use crate::plan::delivery::{AcmAction, AcmStep};
use crate::ports::{Archive, CertificateManager};
use crate::report::{AcmChange, AcmResult, DomainReport};

/// The tags of cert-rotator's ACM certificates: how it finds them again by names hash.
pub fn tags(label: &str, names_hash: &str) -> [(String, String); 3] {
    [
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (TAG_NAMES_HASH.to_owned(), names_hash.to_owned()),
        (TAG_NAMES.to_owned(), label.chars().take(256).collect()),
    ]
}

/// Why ACM would refuse to re-import a certificate with `new` usages over one with `held`
/// usages, if it would. The ACM User Guide ("Reimport a certificate", import-reimport.html): Key
/// Usage and Extended Key Usage values may be added but not removed, save that an ECDSA
/// certificate may drop `keyEncipherment` and any may drop `clientAuth`. A profile change shows
/// it: Let's Encrypt's `tlsserver` and `shortlived` certificates carry `digitalSignature` alone,
/// where an RSA `classic` one also has `keyEncipherment`.
pub fn reimport_refusal(held: &Usages, new: &Usages) -> Option<String> {
    let mut dropped: Vec<String> = Vec::new();
    if let Some(before) = &held.key_usage {
        let after = new.key_usage.clone().unwrap_or_default();
        dropped.extend(
            before
                .iter()
                .filter(|u| !after.contains(*u))
                .filter(|u| **u != "keyEncipherment" || new.rsa)
                .map(|u| format!("Key Usage {u}")),
        );
    }
    if let Some(before) = &held.extended {
        let after = new.extended.clone().unwrap_or_default();
        dropped.extend(
            before
                .iter()
                .filter(|u| !after.contains(*u) && *u != "clientAuth")
                .map(|u| format!("Extended Key Usage {u}")),
        );
    }
    (!dropped.is_empty()).then(|| dropped.join(", "))
}

/// A region whose ACM would refuse the re-import, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The region.
    pub region: String,
    /// The certificate it holds.
    pub arn: String,
    /// The usages the new certificate lacks.
    pub dropped: String,
}

/// The first re-import among `steps` that ACM would refuse for the certificate `leaf` (a Key
/// Usage or Extended Key Usage value dropped: [`reimport_refusal`]), found before anything is
/// deployed. The certificate a region holds is read from the archive of the names `names_hash`
/// (cert-rotator imported it); one that is not there, or an archive that cannot be read, is left
/// to ACM.
pub async fn refusal(
    archive: &dyn Archive,
    names_hash: &str,
    leaf: &CertificateInfo,
    steps: &[AcmStep],
) -> Option<Refusal> {
    let reimports: Vec<(&AcmStep, &str, &str)> = steps
        .iter()
        .filter_map(|s| match (&s.action, &s.held) {
            (AcmAction::Reimport { arn }, Some(held)) => {
                Some((s, arn.as_str(), held.serial.as_str()))
            }
            _ => None,
        })
        .collect();
    if reimports.is_empty() {
        return None;
    }
    let new = certificate::usages(&leaf.der).ok()?;
    let archived = archive.find(names_hash).await.unwrap_or_default();
    let held_usages = |serial: &str| {
        archived.iter().find_map(|b| {
            let ders = certificate::pem_chain(&b.certificate).ok()?;
            let der = ders.first()?;
            if certificate::info(der).ok()?.serial != serial {
                return None;
            }
            certificate::usages(der).ok()
        })
    };
    reimports.into_iter().find_map(|(step, arn, serial)| {
        let dropped = reimport_refusal(&held_usages(serial)?, &new)?;
        Some(Refusal {
            region: step.target.region.clone(),
            arn: arn.to_owned(),
            dropped,
        })
    })
}

/// Takes each step in order; returns the ARN in the partition's global region, if that region
/// holds the certificate now.
pub async fn deploy(
    acm: &dyn CertificateManager,
    (bundle, serial): (&Bundle, &str),
    steps: &[AcmStep],
    (tags, partition): (&[(String, String)], Partition),
    report: &mut DomainReport,
    done: &mut Deployment,
) -> Option<String> {
    let import = Import {
        certificate: &bundle.certificate,
        chain: &bundle.chain,
        private_key: bundle.private_key.expose(),
    };
    let mut global_arn = None;
    for step in steps {
        let region = &step.target.region;
        let (arn, result) = take(acm, region, step, &import, tags).await;
        crate::failpoint::hit("after-acm-import");
        info!(%region, %arn, %result, "acm");
        match &result {
            AcmResult::Failed(why) => done.failures.push(Failure::Acm {
                region: region.clone(),
                why: why.clone(),
            }),
            ok => {
                done.changed |= ok.changed();
                if Some(region.as_str()) == partition.global_certificate_region() {
                    global_arn = Some(arn.clone());
                }
            }
        }
        report.acm.push(AcmChange {
            region: region.clone(),
            services: step
                .target
                .services
                .iter()
                .map(|s| s.key().to_owned())
                .collect(),
            arn,
            from_serial: step.held.as_ref().map(|h| h.serial.clone()),
            serial: serial.to_owned(),
            result,
        });
    }
    global_arn
}

/// One region's step: the ARN it holds afterwards and the result.
async fn take(
    acm: &dyn CertificateManager,
    region: &str,
    step: &AcmStep,
    import: &Import<'_>,
    tags: &[(String, String)],
) -> (String, AcmResult) {
    let failed = |e: crate::aws::AwsError| AcmResult::Failed(e.to_string());
    match &step.action {
        AcmAction::Keep => (held_arn(step), AcmResult::Unchanged),
        AcmAction::Reimport { arn } => match acm.reimport(region, arn, import).await {
            Ok(Reimport::Done) => (arn.clone(), AcmResult::Reimported),
            Ok(Reimport::Gone) => match acm.import(region, import, tags).await {
                Ok(new) => (new, AcmResult::ImportedAfterDeletion),
                Err(e) => (arn.clone(), failed(e)),
            },
            Err(e) => (arn.clone(), failed(e)),
        },
        AcmAction::Import => match acm.import(region, import, tags).await {
            Ok(arn) => (arn, AcmResult::Imported),
            Err(e) => (String::new(), failed(e)),
        },
    }
}

fn held_arn(step: &AcmStep) -> String {
    step.held
        .as_ref()
        .map(|h| h.arn.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn usages(ku: &[&'static str], eku: &[&str], rsa: bool) -> Usages {
        Usages {
            key_usage: Some(ku.iter().copied().collect::<BTreeSet<_>>()),
            extended: Some(eku.iter().map(|e| e.to_string()).collect()),
            rsa,
        }
    }

    #[test]
    fn acm_refuses_a_reimport_that_drops_a_usage_save_its_two_exceptions() {
        let classic_rsa = usages(
            &["digitalSignature", "keyEncipherment"],
            &["serverAuth", "clientAuth"],
            true,
        );
        let tlsserver_rsa = usages(&["digitalSignature"], &["serverAuth"], true);
        assert_eq!(
            reimport_refusal(&classic_rsa, &tlsserver_rsa).as_deref(),
            Some("Key Usage keyEncipherment"),
            "clientAuth may go; keyEncipherment may not, for RSA"
        );
        let classic_ec = usages(
            &["digitalSignature", "keyEncipherment"],
            &["serverAuth"],
            false,
        );
        let tlsserver_ec = usages(&["digitalSignature"], &["serverAuth"], false);
        assert_eq!(reimport_refusal(&classic_ec, &tlsserver_ec), None);
        assert_eq!(
            reimport_refusal(&tlsserver_rsa, &classic_rsa),
            None,
            "adding is fine"
        );
        let no_server = usages(&["digitalSignature"], &["clientAuth"], false);
        assert_eq!(
            reimport_refusal(&tlsserver_ec, &no_server).as_deref(),
            Some("Extended Key Usage serverAuth")
        );
        let bare = Usages {
            key_usage: None,
            extended: None,
            rsa: false,
        };
        assert_eq!(reimport_refusal(&bare, &tlsserver_ec), None);
        assert!(
            reimport_refusal(&tlsserver_ec, &bare).is_some(),
            "dropping the extension drops its values"
        );
    }
}
