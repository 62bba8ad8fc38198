//! Steps 4 and 5 of the pipeline: deploy the certificate where it is not yet — IAM and the
//! distributions, each ACM region, distributions pointed at the global ACM certificate — then
//! conclude the domain's outcome.

use tokio::time::Instant;

use super::{conclude, elapsed_ms, observe, obtain, offer, Context, DomainError};
use crate::certs::certificate::CertificateInfo;
use crate::deploy::{self, Certificate, Deployment, SwappedOff};
use crate::event::DomainRequest;
use crate::model::inventory;
use crate::model::targets::CloudFrontVia;
use crate::plan::delivery::{self, Origin, Situation};
use crate::plan::Attached;
use crate::report::{DomainReport, Outcome};

/// Steps 4 and 5: deploy where the certificate is not yet, then conclude.
pub(super) async fn deliver(
    cx: &Context<'_>,
    domain: &DomainRequest,
    (s, seen): (&Situation<'_>, &observe::Seen),
    (certificate, origin): (Certificate, Origin),
    report: &mut DomainReport,
) -> Result<Vec<SwappedOff>, DomainError> {
    if let (Origin::Own, Certificate::Bundle { leaf, .. }) = (origin, &certificate) {
        let latest = seen
            .acm
            .iter()
            .filter_map(|t| t.held.as_ref().and_then(|h| h.not_after))
            .chain(seen.observed.iter().filter_map(|o| match &o.attached {
                Attached::Cert(c) => Some(c.not_after),
                _ => None,
            }))
            .max();
        let policy = &cx.config.policy;
        obtain::judge_own(leaf, latest, (domain.force, policy, cx.now), report)?;
        if s.unserved() {
            report.outcome = Outcome::NotServed;
            return Ok(vec![]);
        }
    }
    let needs = delivery::needs(s, &offer(&certificate, origin));
    if !needs.any() && origin != Origin::New {
        return Ok(vec![]); // deployed everywhere already
    }
    if let (false, Certificate::Bundle { bundle, .. }) = (origin == Origin::New, &certificate) {
        // A new certificate took its slot before it was ordered.
        let uploaded = cx.listing.inventory.certificate_named(&bundle.iam_name);
        take_iam_slot(cx, !needs.iam.is_empty() && uploaded.is_none())?;
    }
    if let Certificate::Bundle { leaf, .. } = &certificate {
        acm_would_accept(cx, domain, leaf, &needs.acm).await?;
    }
    let deploy_started = Instant::now();
    if let (Origin::Own, Certificate::Bundle { bundle, .. }) = (origin, &certificate) {
        obtain::archive(cx, domain, bundle, "the certificate").await?;
    }
    let mut done = Deployment::default();
    deploy_all(cx, domain, seen, &certificate, &needs, report, &mut done).await;
    report
        .timings_ms
        .insert("deploy", elapsed_ms(deploy_started));
    conclude::conclude(
        domain,
        &certificate,
        (origin, &done),
        (&cx.config.policy, cx.now),
        report,
    );
    Ok(done.swapped_off)
}

/// Fails the domain before anything is deployed when an ACM region would refuse to re-import
/// the certificate over the one it holds (a profile change: [`deploy::acm::refusal`]), rather
/// than deploy it everywhere else and fail there.
async fn acm_would_accept(
    cx: &Context<'_>,
    domain: &DomainRequest,
    leaf: &CertificateInfo,
    steps: &[delivery::AcmStep],
) -> Result<(), DomainError> {
    let hash = inventory::names_hash(&domain.names);
    match deploy::acm::refusal(cx.ports.archive, &hash, leaf, steps).await {
        None => Ok(()),
        Some(r) => Err(DomainError::AcmRefusesReimport {
            region: r.region,
            arn: r.arn,
            dropped: r.dropped,
        }),
    }
}

/// Takes a slot of IAM's server-certificate quota when the certificate is to be uploaded.
pub(super) fn take_iam_slot(cx: &Context<'_>, uploads: bool) -> Result<(), DomainError> {
    if !uploads {
        return Ok(());
    }
    cx.listing
        .iam_slots
        .reserve()
        .map_err(|full| DomainError::IamQuota {
            used: full.used,
            quota: full.quota,
        })
}

/// Every target that needs the certificate, one after another.
async fn deploy_all(
    cx: &Context<'_>,
    domain: &DomainRequest,
    seen: &observe::Seen,
    certificate: &Certificate,
    needs: &delivery::Needs,
    report: &mut DomainReport,
    done: &mut Deployment,
) {
    let label = domain.label();
    let limits = &cx.config.limits;
    if !needs.iam.is_empty() {
        let to = deploy::iam::Writers {
            iam: cx.ports.iam,
            cloudfront: cx.ports.cloudfront,
            budget: cx.budget,
            limits,
        };
        let seen_now = (seen.observed.as_slice(), &cx.listing.inventory);
        deploy::iam::deploy(
            to,
            (certificate, &label),
            seen_now,
            &needs.iam,
            report,
            done,
        )
        .await;
    }
    let Certificate::Bundle { bundle, leaf } = certificate else {
        return; // an uploaded certificate goes to IAM targets only
    };
    let hash = inventory::names_hash(&domain.names);
    let tags = deploy::acm::tags(&label, &hash);
    let global_arn = deploy::acm::deploy(
        cx.ports.acm,
        (bundle, &leaf.serial),
        &needs.acm,
        (&tags, cx.partition),
        report,
        done,
    )
    .await;
    if domain.targets.cloudfront == Some(CloudFrontVia::Acm) {
        match &global_arn {
            None => done.failures.push(deploy::Failure::NoGlobalCertificate),
            Some(arn) => {
                deploy::cloudfront::point_at_acm(
                    cx.ports.iam,
                    cx.ports.cloudfront,
                    &seen.observed,
                    arn,
                    (cx.budget, limits),
                    report,
                    done,
                )
                .await
            }
        }
    }
}
