//! One domain's certificate to every target it names: CloudFront through IAM, ACM in each region
//! (re-imported in place, so load balancers, API domain names and distributions keep their ARN),
//! and CloudFront through the us-east-1 ACM certificate in the global partition — from ACME or
//! from the user's own files.
//!
//! The domains that only use the default target with ACME take the rotation's own path
//! ([`crate::run`]); this one adds, per domain:
//!
//! 1. What is deployed now: the IAM certificate of each distribution serving the names, and the
//!    certificate cert-rotator imported for these names (found by tag) in each ACM region.
//! 2. What should be deployed: the user's files, read and checked ([`crate::certs::source`]); or, for
//!    ACME, a new certificate when any target is due (or forced), else the freshest archived one
//!    for targets that lack it.
//! 3. Deploy it where it is not yet: upload to IAM and swap distributions (with the rotation's
//!    swap safety), import or re-import in each ACM region, and point distributions at the
//!    us-east-1 ARN once.
//!
//! Nothing is deployed from a bundle that fails its check; one target's failure is reported and
//! does not stop the others.

use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::certs::archive::{self, Bundle};
use crate::aws::acm::{AcmCert, Import, Reimport};
use crate::aws::cloudfront::ViewerCert;
use crate::certs::certificate;
use crate::event::DomainRequest;
use crate::model::inventory::{
    self, MANAGED_BY, TAG_MANAGED_BY, TAG_NAMES, TAG_NAMES_HASH, TAG_REPLACED_BY,
};
use crate::plan::{self, Action, Attached, Deployed, Observed};
use crate::report::{AcmChange, CertRef, DistributionChange, DomainReport, Outcome};
use crate::run::{self, Run};
use crate::certs::source::{self, Source};
use crate::model::targets::{AcmRegion, CloudFrontVia};

/// The certificate cert-rotator imported for `hash` in a region's listing (the latest, if a
/// dead run left two).
pub(crate) fn acm_current<'a>(certs: &'a [AcmCert], hash: &str) -> Option<&'a AcmCert> {
    certs
        .iter()
        .filter(|c| c.tag(TAG_NAMES_HASH) == Some(hash))
        .max_by_key(|c| c.not_after)
}

fn acm_deployed(c: &AcmCert, names: &[String]) -> Option<Deployed> {
    Some(Deployed {
        id: c.arn.clone(),
        name: c.arn.clone(),
        names: names.to_vec(),
        not_before: c.not_before?,
        not_after: c.not_after?,
        window: None,
        ari_id: None,
    })
}

/// A bundle and its leaf.
struct Candidate {
    bundle: Bundle,
    leaf: certificate::CertificateInfo,
    /// Issued in this run.
    new: bool,
}

impl Candidate {
    fn of(bundle: Bundle, now: OffsetDateTime, new: bool) -> Option<Self> {
        let leaf = certificate::pem_chain(&bundle.certificate)
            .ok()
            .and_then(|d| certificate::info(&d[0]).ok())?;
        (leaf.not_before <= now && now < leaf.not_after).then_some(Self { bundle, leaf, new })
    }
}

/// Distributions swapped away from an IAM certificate: (certificate id, distribution).
type SwappedOff = Vec<(String, String)>;

/// One domain with ACM targets, a bring-your-own source, or CloudFront through ACM.
pub(crate) async fn handle(
    run: &Run<'_>,
    domain: &DomainRequest,
    dry_run: bool,
) -> (DomainReport, SwappedOff) {
    let started = Instant::now();
    let mut report = DomainReport::new(run::names_of(domain), Outcome::Kept);
    report.source = Some(match &domain.source {
        Some(s) => s.certificate.to_string(),
        None => "acme".into(),
    });
    let offs = match deliver(run, domain, dry_run, &mut report).await {
        Ok(offs) => offs,
        Err(error) => {
            report.outcome = Outcome::Failed;
            report.error = Some(error);
            vec![]
        }
    };
    report
        .timings_ms
        .insert("total", started.elapsed().as_millis() as u64);
    (report, offs)
}

/// The three steps of the module documentation. An `Err` is a failure before anything was
/// deployed; a failure on some targets after others were deployed is reported in `report`.
async fn deliver(
    run: &Run<'_>,
    domain: &DomainRequest,
    dry_run: bool,
    report: &mut DomainReport,
) -> Result<SwappedOff, String> {
    let hash = inventory::names_hash(&domain.names);

    // 1. What is deployed now.
    let observed: Vec<Observed> = if domain.targets.cloudfront.is_some() {
        run::observed_for(run, domain)
    } else {
        vec![]
    };
    let acm_now = acm_held(run, domain, &hash)?;
    let iam_plan = match domain.targets.cloudfront {
        Some(CloudFrontVia::Iam) => Some(run::plan_for(run, domain, &observed).await),
        _ => None,
    };
    let latest = deployed_expiries(&acm_now, &observed).max();
    report.days_to_expiry = deployed_expiries(&acm_now, &observed)
        .min()
        .map(|na| run::days_left(na, run.now));

    // 2. What should be deployed.
    let candidate = match &domain.source {
        Some(src) => Some(own_certificate(run, domain, src, report).await?),
        None => None,
    };
    let policy = &run.config.policy;
    let acm_due = acm_now.iter().any(|(_, c)| {
        c.and_then(|c| acm_deployed(c, &report.names))
            .is_some_and(|d| {
                plan::due("", &Attached::Cert(d), &domain.names, policy, run.now).is_err()
            })
    });
    let iam_due = iam_plan
        .as_ref()
        .is_some_and(|p| matches!(p.action, Action::Issue { .. }));
    let replaces = iam_plan.as_ref().and_then(|p| match &p.action {
        Action::Issue { replaces } => replaces.clone(),
        _ => None,
    });
    let lacking = |serial: &str| {
        acm_now
            .iter()
            .any(|(_, c)| c.is_none_or(|c| c.serial != serial))
    };
    let cloudfront_acm = domain.targets.cloudfront == Some(CloudFrontVia::Acm);
    let iam_changes = |p: &plan::Plan| !matches!(p.action, Action::Keep | Action::NotServed);
    // Every target holds one fresh certificate: nothing to read from the archive (the daily
    // run's common case costs no S3 call).
    let settled = {
        let mut serials = acm_now.iter().map(|(_, c)| c.map(|c| c.serial.as_str()));
        let first = serials.next().flatten();
        acm_now.iter().all(|(_, c)| c.is_some())
            && serials.all(|s| s == first)
            && !iam_plan.as_ref().is_some_and(iam_changes)
            && !(cloudfront_acm && swaps_pending(&observed, &acm_now, run))
    };
    let candidate = match candidate {
        Some(byo) => Some(byo),
        None if domain.force || iam_due || acm_due || settled => None,
        None => freshest_archived(run, domain, &hash).await,
    };
    let needs_issue = domain.source.is_none()
        && (domain.force
            || iam_due
            || acm_due
            || candidate.is_none() && acm_now.iter().any(|(_, c)| c.is_none()));
    if let Some(p) = &iam_plan {
        report.plan = Some(p.clone());
    }
    if dry_run {
        let changes = needs_issue
            || candidate.as_ref().is_some_and(|c| {
                lacking(&c.leaf.serial) || iam_plan.as_ref().is_some_and(iam_changes)
            })
            || (cloudfront_acm && swaps_pending(&observed, &acm_now, run));
        report.outcome = if changes {
            Outcome::Planned
        } else {
            Outcome::Kept
        };
        return Ok(vec![]);
    }
    if let Some(why) = run.deferral() {
        report.outcome = Outcome::Deferred;
        report.error = Some(why);
        return Ok(vec![]);
    }
    let candidate = if needs_issue {
        let issue_started = Instant::now();
        let bundle = run::acquire(run, domain, replaces).await?;
        report
            .timings_ms
            .insert("issue", issue_started.elapsed().as_millis() as u64);
        Candidate::of(bundle, OffsetDateTime::now_utc(), true)
    } else {
        candidate
    };
    let Some(candidate) = candidate else {
        // Nothing due, nothing lacking (or nothing to deploy anywhere).
        if iam_plan
            .as_ref()
            .is_some_and(|p| p.action == Action::NotServed)
            && domain.targets.acm.is_empty()
        {
            report.outcome = Outcome::NotServed;
        }
        return Ok(vec![]);
    };
    if domain.source.is_some() && !candidate.new {
        judge_own(domain, &candidate, latest, run.now, policy, report)?;
    }
    if observed.is_empty() && domain.targets.acm.is_empty() {
        report.outcome = Outcome::NotServed;
        return Ok(vec![]);
    }

    // 3. Deploy it where it is not yet.
    let iam_deploy = domain.targets.cloudfront == Some(CloudFrontVia::Iam)
        && (domain.source.is_some()
            || candidate.new
            || matches!(
                iam_plan.as_ref().map(|p| &p.action),
                Some(Action::Deploy { .. })
            ));
    let iam_targets: Vec<String> = observed
        .iter()
        .filter(|o| iam_deploy && plan::blocked(o).is_none())
        .filter(
            |o| !matches!(&o.attached, Attached::Cert(c) if c.name == candidate.bundle.iam_name),
        )
        .map(|o| o.distribution.clone())
        .collect();
    let anything_to_do = candidate.new
        || !iam_targets.is_empty()
        || lacking(&candidate.leaf.serial)
        || (cloudfront_acm && swaps_pending(&observed, &acm_now, run));
    if !anything_to_do {
        return Ok(vec![]); // deployed everywhere already
    }
    let deploy_started = Instant::now();
    if domain.source.is_some() {
        archive::store(&run.services.s3, &hash, &candidate.bundle)
            .await
            .map_err(|e| format!("archiving the certificate (nothing deployed): {e}"))?;
    }
    let mut done = Deployment::default();
    if !iam_targets.is_empty() {
        deploy_iam(
            run,
            domain,
            &candidate,
            &observed,
            &iam_targets,
            report,
            &mut done,
        )
        .await;
    }
    let global_arn = deploy_acm(run, domain, &hash, &candidate, &acm_now, report, &mut done).await;
    if cloudfront_acm {
        match &global_arn {
            None => done
                .failures
                .push("CloudFront: no ACM certificate in the global region to attach".into()),
            Some(arn) => point_at_acm(run, &observed, arn, report, &mut done).await,
        }
    }
    report
        .timings_ms
        .insert("deploy", deploy_started.elapsed().as_millis() as u64);
    conclude(domain, &candidate, &done, run.now, report);
    Ok(done.offs)
}

/// What the deploy step did so far, across targets.
#[derive(Default)]
struct Deployment {
    /// One line per target that did not take the certificate.
    failures: Vec<String>,
    /// Distributions swapped away from an IAM certificate.
    offs: SwappedOff,
    /// Whether anything now serves a different certificate.
    changed: bool,
}

/// The certificate cert-rotator imported for these names in each of the domain's ACM regions.
fn acm_held<'r>(
    run: &'r Run<'_>,
    domain: &'r DomainRequest,
    hash: &str,
) -> Result<Vec<(&'r AcmRegion, Option<&'r AcmCert>)>, String> {
    domain
        .targets
        .acm
        .iter()
        .map(|target| match run.acm.get(&target.region) {
            Some(Ok(certs)) => Ok((target, acm_current(certs, hash))),
            Some(Err(e)) => Err(format!(
                "listing ACM certificates in {}: {e}",
                target.region
            )),
            None => Err(format!("ACM in {} was not listed", target.region)),
        })
        .collect()
}

/// The user's files, read and checked (valid now, names covered) by [`source::load`]; their
/// warnings go to the report.
async fn own_certificate(
    run: &Run<'_>,
    domain: &DomainRequest,
    src: &Source,
    report: &mut DomainReport,
) -> Result<Candidate, String> {
    let n = source::load(
        &run.services.s3,
        &run.services.secrets,
        src,
        &domain.names,
        run.now,
    )
    .await
    .map_err(|e| format!("{}: {e}; nothing was deployed", src.certificate))?;
    report.warnings.extend(n.warnings.iter().cloned());
    let bundle = Bundle {
        names: report.names.clone(),
        iam_name: inventory::iam_name(&domain.names, n.leaf.not_after, &n.leaf.serial),
        certificate: n.certificate,
        chain: n.chain,
        private_key: n.private_key,
    };
    Ok(Candidate {
        bundle,
        leaf: n.leaf,
        new: false,
    })
}

/// A bring-your-own certificate older than what is deployed is not rolled back to (unless
/// forced); one with less than the renewal fraction of its lifetime left gets a warning.
fn judge_own(
    domain: &DomainRequest,
    candidate: &Candidate,
    latest_deployed: Option<OffsetDateTime>,
    now: OffsetDateTime,
    policy: &crate::config::RenewalPolicy,
    report: &mut DomainReport,
) -> Result<(), String> {
    let source = report.source.clone().unwrap_or_default();
    let leaf = &candidate.leaf;
    if let Some(newest) = latest_deployed.filter(|s| *s > leaf.not_after && !domain.force) {
        return Err(format!(
            "the certificate at {source} expires {}, before the deployed one ({newest}): not deployed; replace the file with the current certificate, or set force to roll back",
            leaf.not_after
        ));
    }
    let lifetime = leaf.not_after - leaf.not_before;
    if leaf.not_after - now < lifetime * policy.remaining_fraction {
        report.warnings.push(format!(
            "the certificate from {source} expires in {} days: get the renewed one from the CA and replace the file",
            (leaf.not_after - now).whole_days()
        ));
    }
    Ok(())
}

/// CloudFront through IAM: upload once, swap every distribution in `targets`.
async fn deploy_iam(
    run: &Run<'_>,
    domain: &DomainRequest,
    candidate: &Candidate,
    observed: &[Observed],
    targets: &[String],
    report: &mut DomainReport,
    done: &mut Deployment,
) {
    let cert = match run::upload(run, domain, &candidate.bundle).await {
        Ok(cert) => cert,
        Err(e) => return done.failures.push(e),
    };
    let (changes, swapped) = run::deploy(run, &cert, observed, targets).await;
    done.failures.extend(
        changes
            .iter()
            .filter(|c| c.result != "updated" && c.result != "unchanged")
            .map(|c| format!("{}: {}", c.id, c.result)),
    );
    done.changed |= changes.iter().any(|c| c.result == "updated");
    done.offs.extend(swapped);
    report.distributions.extend(changes);
    report.new_certificate = Some(CertRef {
        id: cert.id.clone(),
        name: cert.name.clone(),
        not_after: cert.expiration,
    });
}

/// ACM, region by region: import where there is none, re-import in place where another
/// certificate is held. Returns the ARN in the partition's global region, if it holds the
/// certificate now.
async fn deploy_acm(
    run: &Run<'_>,
    domain: &DomainRequest,
    hash: &str,
    candidate: &Candidate,
    acm_now: &[(&AcmRegion, Option<&AcmCert>)],
    report: &mut DomainReport,
    done: &mut Deployment,
) -> Option<String> {
    let tags = [
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (TAG_NAMES_HASH.to_owned(), hash.to_owned()),
        (
            TAG_NAMES.to_owned(),
            domain.label().chars().take(256).collect(),
        ),
    ];
    let import = Import {
        certificate: &candidate.bundle.certificate,
        chain: &candidate.bundle.chain,
        private_key: candidate.bundle.private_key.expose(),
    };
    let acm = &run.services.acm;
    let mut global_arn = None;
    for (target, current) in acm_now {
        let region = &target.region;
        let (arn, result) = match current {
            Some(c) if c.serial == candidate.leaf.serial => (c.arn.clone(), "unchanged".to_owned()),
            Some(c) => match acm.reimport(region, &c.arn, &import).await {
                Ok(Reimport::Done) => (c.arn.clone(), "reimported".to_owned()),
                Ok(Reimport::Gone) => match acm.import(region, &import, &tags).await {
                    Ok(arn) => (arn, "imported (the previous one was deleted)".to_owned()),
                    Err(e) => (c.arn.clone(), e.to_string()),
                },
                Err(e) => (c.arn.clone(), e.to_string()),
            },
            None => match acm.import(region, &import, &tags).await {
                Ok(arn) => (arn, "imported".to_owned()),
                Err(e) => (String::new(), e.to_string()),
            },
        };
        crate::failpoint::hit("after-acm-import");
        info!(domain = %domain.label(), %region, %arn, %result, "acm");
        let ok =
            matches!(result.as_str(), "unchanged" | "reimported") || result.starts_with("imported");
        if ok {
            done.changed |= result != "unchanged";
            if Some(region.as_str()) == run.services.partition.global_certificate_region() {
                global_arn = Some(arn.clone());
            }
        } else {
            done.failures.push(format!("ACM {region}: {result}"));
        }
        report.acm.push(AcmChange {
            region: region.clone(),
            services: target.services.iter().map(|s| s.key().to_owned()).collect(),
            arn,
            from_serial: current.map(|c| c.serial.clone()),
            serial: candidate.leaf.serial.clone(),
            result,
        });
    }
    global_arn
}

/// CloudFront through the us-east-1 ACM certificate: point each distribution serving the names
/// at `arn` once, with the rotation's swap safety; an IAM certificate swapped away from is
/// retired once nothing uses it.
async fn point_at_acm(
    run: &Run<'_>,
    observed: &[Observed],
    arn: &str,
    report: &mut DomainReport,
    done: &mut Deployment,
) {
    for o in observed {
        if !o.uncovered.is_empty() {
            report.warnings.push(format!(
                "{} left alone: it also serves {}, which these names do not cover",
                o.distribution,
                o.uncovered.join(", ")
            ));
            continue;
        }
        let from = match &o.attached {
            Attached::Acm(a) if a == arn => continue,
            Attached::Cert(c) => Some(c.id.clone()),
            Attached::Unreadable { id, .. } => Some(id.clone()),
            Attached::Acm(a) => Some(a.clone()),
            Attached::None => None,
        };
        let result =
            run::swap_with_retry(run, &o.distribution, &ViewerCert::Acm(arn.to_owned())).await;
        info!(distribution = %o.distribution, certificate = %arn, %result, "swap");
        if result == "updated" {
            done.changed = true;
            if let Attached::Cert(c) = &o.attached {
                done.offs.push((c.id.clone(), o.distribution.clone()));
                // Someone else's IAM certificate is retired once nothing uses it.
                if inventory::managed_hash(&c.name).is_none() {
                    let tag = [(TAG_REPLACED_BY.to_owned(), arn.to_owned())];
                    if let Err(e) = run.services.iam.tag(&c.name, &tag).await {
                        warn!(certificate = %c.name, error = %e, "could not tag the replaced certificate; it will be kept");
                    }
                }
            }
        } else if result != "unchanged" {
            done.failures.push(format!("{}: {result}", o.distribution));
        }
        report.distributions.push(DistributionChange {
            id: o.distribution.clone(),
            from,
            to: arn.to_owned(),
            result,
        });
    }
}

/// The domain's outcome once every target was tried.
fn conclude(
    domain: &DomainRequest,
    candidate: &Candidate,
    done: &Deployment,
    now: OffsetDateTime,
    report: &mut DomainReport,
) {
    let changed = done.changed || candidate.new;
    if report.new_certificate.is_none() && changed {
        report.new_certificate = Some(CertRef {
            id: candidate.leaf.serial.clone(),
            name: candidate.bundle.iam_name.clone(),
            not_after: Some(candidate.leaf.not_after),
        });
    }
    if !done.failures.is_empty() {
        warn!(domain = %domain.label(), failures = ?done.failures, "not deployed everywhere");
        report.outcome = Outcome::Failed;
        report.error = Some(format!(
            "certificate {} (serial {}) not deployed everywhere: {}; the next run retries",
            candidate.bundle.iam_name,
            candidate.leaf.serial,
            done.failures.join("; ")
        ));
        return;
    }
    report.outcome = match (candidate.new, done.changed) {
        (true, _) => Outcome::Renewed,
        (false, true) => Outcome::Deployed,
        (false, false) => Outcome::Kept,
    };
    if changed {
        report.days_to_expiry = Some(run::days_left(candidate.leaf.not_after, now));
    }
}

/// Whether a distribution serving the names is not yet on the global region's ACM certificate.
fn swaps_pending(
    observed: &[Observed],
    acm_now: &[(&AcmRegion, Option<&AcmCert>)],
    run: &Run<'_>,
) -> bool {
    let global = run.services.partition.global_certificate_region();
    let arn = acm_now
        .iter()
        .find(|(t, _)| Some(t.region.as_str()) == global)
        .and_then(|(_, c)| c.map(|c| c.arn.as_str()));
    observed.iter().any(|o| {
        o.uncovered.is_empty()
            && !matches!(&o.attached, Attached::Acm(a) if Some(a.as_str()) == arn)
    })
}

/// When each certificate deployed on a target expires.
fn deployed_expiries<'a>(
    acm_now: &'a [(&AcmRegion, Option<&AcmCert>)],
    observed: &'a [Observed],
) -> impl Iterator<Item = OffsetDateTime> + 'a {
    acm_now
        .iter()
        .filter_map(|(_, c)| c.and_then(|c| c.not_after))
        .chain(observed.iter().filter_map(|o| match &o.attached {
            Attached::Cert(c) => Some(c.not_after),
            _ => None,
        }))
}

/// The archived bundle for these names with the latest expiry that is valid and not due.
async fn freshest_archived(run: &Run<'_>, domain: &DomainRequest, hash: &str) -> Option<Candidate> {
    let bundles = match archive::find(&run.services.s3, hash).await {
        Ok(b) => b,
        Err(e) => {
            warn!(domain = %domain.label(), error = %e, "cannot read the archive");
            return None;
        }
    };
    bundles
        .into_iter()
        .filter_map(|b| Candidate::of(b, run.now, false))
        .filter(|c| {
            let chain = format!("{}{}", c.bundle.certificate, c.bundle.chain);
            certificate::check_bundle(
                &chain,
                c.bundle.private_key.expose(),
                &domain.names,
                run.now,
            )
            .is_ok()
                && plan::due(
                    "",
                    &Attached::Cert(run::deployed_of(&c.leaf)),
                    &domain.names,
                    &run.config.policy,
                    run.now,
                )
                .is_ok()
        })
        .max_by_key(|c| c.leaf.not_after)
}
