//! Step 3, obtain: the certificate the decision asked for — the user's files, the freshest
//! archived bundle, or a new one from the CA (unless a dead run already issued and archived one).
//! Every bundle is checked before use, and a new one is archived before anything uses it.

use time::OffsetDateTime;
use tracing::{info, warn};

use super::{Context, DomainError};
use crate::certs::archive::Bundle;
use crate::certs::certificate::{self, CertificateInfo};
use crate::certs::source::{self, Source};
use crate::config::RenewalPolicy;
use crate::deploy::Certificate;
use crate::event::DomainRequest;
use crate::model::inventory::{self, Inventory};
use crate::model::names::DomainName;
use crate::plan::{self, issuance, Attached, Deployed};
use crate::report::DomainReport;

/// `bundle` with its leaf, if the bundle passes the check (chain, key, names, valid at `now`)
/// and is not itself due for renewal.
pub fn fresh(
    bundle: Bundle,
    names: &[DomainName],
    policy: &RenewalPolicy,
    now: OffsetDateTime,
) -> Option<(Bundle, CertificateInfo)> {
    let chain = format!("{}{}", bundle.certificate, bundle.chain);
    let leaf = certificate::check_bundle(&chain, bundle.private_key.expose(), names, now).ok()?;
    let deployed = Deployed {
        id: String::new(),
        name: String::new(),
        names: leaf.names.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        window: None,
        ari_id: None,
    };
    plan::due("", &Attached::Cert(deployed), names, policy, now)
        .is_ok()
        .then_some((bundle, leaf))
}

/// A bundle and its leaf as the certificate to deploy.
pub fn certificate_of(bundle: Bundle, leaf: CertificateInfo) -> Certificate {
    Certificate::Bundle {
        bundle: Box::new(bundle),
        leaf: Box::new(leaf),
    }
}

/// The freshest archived bundle of the names; with `not_in`, only one never uploaded there (its
/// run died between archiving and uploading).
pub async fn freshest_archived(
    cx: &Context<'_>,
    domain: &DomainRequest,
    not_in: Option<&Inventory>,
) -> Result<Option<Certificate>, DomainError> {
    let bundles = archived(cx, domain).await?;
    Ok(freshest(cx, domain, bundles, not_in))
}

async fn archived(cx: &Context<'_>, domain: &DomainRequest) -> Result<Vec<Bundle>, DomainError> {
    let hash = inventory::names_hash(&domain.names);
    cx.ports
        .archive
        .find(&hash)
        .await
        .map_err(DomainError::ArchiveRead)
}

fn freshest(
    cx: &Context<'_>,
    domain: &DomainRequest,
    bundles: Vec<Bundle>,
    not_in: Option<&Inventory>,
) -> Option<Certificate> {
    bundles
        .into_iter()
        .filter(|b| not_in.is_none_or(|inv| inv.certificate_named(&b.iam_name).is_none()))
        .filter_map(|b| fresh(b, &domain.names, &cx.config.policy, cx.now))
        .max_by_key(|(_, leaf)| leaf.not_after)
        .map(|(bundle, leaf)| certificate_of(bundle, leaf))
}

/// A new certificate: one a dead run archived but never uploaded, if fresh (not when forced);
/// otherwise issued now, checked and archived — unless the names were issued
/// [`Limits::max_issuances_per_week`](crate::config::Limits) times in 7 days ([`issuance`]), or
/// their last issuances failed and the failure memory says to wait ([`super::memory`]).
///
/// `slot` takes the IAM quota slot the certificate will need, last before ordering: a domain
/// that waits takes none.
pub async fn issue(
    cx: &Context<'_>,
    (domain, slot): (&DomainRequest, impl FnOnce() -> Result<(), DomainError>),
    replaces: Option<String>,
    report: &mut DomainReport,
) -> Result<Certificate, DomainError> {
    if !domain.force {
        let bundles = archived(cx, domain).await?;
        let issued: Vec<OffsetDateTime> = bundles
            .iter()
            .filter_map(|b| certificate::pem_chain(&b.certificate).ok())
            .filter_map(|ders| certificate::info(ders.first()?).ok())
            .map(|leaf| leaf.not_before)
            .collect();
        if let Some(found) = freshest(cx, domain, bundles, Some(&cx.listing.inventory)) {
            info!(domain = %domain.label(), certificate = %found.iam_name(), "reusing an archived certificate a previous run issued");
            slot()?;
            return Ok(found);
        }
        let max = cx.config.limits.max_issuances_per_week;
        if let Err(until) = issuance::allowed(&issued, max, cx.now) {
            return Err(DomainError::IssuanceCap { max, until });
        }
    }
    let hash = inventory::names_hash(&domain.names);
    let remembered = super::memory::before_ordering(cx, domain, &hash, report).await?;
    slot()?;
    let ordered = order(cx, domain, replaces, report).await;
    super::memory::after_ordering(cx, (domain, &hash), remembered, ordered, report).await
}

/// Orders a certificate from the CA, checks it and archives it.
async fn order(
    cx: &Context<'_>,
    domain: &DomainRequest,
    replaces: Option<String>,
    report: &mut DomainReport,
) -> Result<Certificate, DomainError> {
    let key_type = domain.key_type.unwrap_or(cx.config.acme.key_type);
    let how = (key_type, &domain.dns);
    let issued = cx.ports.ca.issue(&domain.names, how, replaces).await?;
    report.warnings.extend(issued.dropped_replaces.clone());
    // The CA's clock, not the run's start: the certificate may begin after the run did.
    let leaf = certificate::check_bundle(
        &issued.chain_pem,
        issued.key.expose(),
        &domain.names,
        OffsetDateTime::now_utc(),
    )
    .map_err(DomainError::Check)?;
    let (leaf_pem, chain) =
        certificate::split_leaf(&issued.chain_pem).map_err(DomainError::Check)?;
    let bundle = Bundle {
        names: super::names_of(domain),
        iam_name: inventory::iam_name(&domain.names, leaf.not_after, &leaf.serial),
        certificate: leaf_pem,
        chain,
        private_key: issued.key,
    };
    archive(cx, domain, &bundle, "the new certificate").await?;
    crate::failpoint::hit("after-archive");
    Ok(certificate_of(bundle, leaf))
}

/// Archives `bundle` (before anything uses it).
pub async fn archive(
    cx: &Context<'_>,
    domain: &DomainRequest,
    bundle: &Bundle,
    what: &'static str,
) -> Result<(), DomainError> {
    let hash = inventory::names_hash(&domain.names);
    cx.ports
        .archive
        .store(&hash, bundle)
        .await
        .map_err(|source| DomainError::Archiving { what, source })
}

/// The user's files, read and checked (valid now, names covered); their warnings go to the
/// report.
pub async fn own(
    cx: &Context<'_>,
    domain: &DomainRequest,
    src: &Source,
    report: &mut DomainReport,
) -> Result<Certificate, DomainError> {
    let n = source::load(cx.ports.files, src, &domain.names, cx.now)
        .await
        .map_err(|message| DomainError::Source {
            location: src.certificate.to_string(),
            message,
        })?;
    report.warnings.extend(n.warnings.iter().cloned());
    let bundle = Bundle {
        names: report.names.clone(),
        iam_name: inventory::iam_name(&domain.names, n.leaf.not_after, &n.leaf.serial),
        certificate: n.certificate,
        chain: n.chain,
        private_key: n.private_key,
    };
    Ok(certificate_of(bundle, n.leaf))
}

/// A bring-your-own certificate older than what is deployed is not rolled back to (unless
/// forced); one with less than the renewal fraction of its lifetime left gets a warning.
pub fn judge_own(
    leaf: &CertificateInfo,
    latest_deployed: Option<OffsetDateTime>,
    (force, policy, now): (bool, &RenewalPolicy, OffsetDateTime),
    report: &mut DomainReport,
) -> Result<(), DomainError> {
    let source = report.source.clone().unwrap_or_default();
    if let Some(newest) = latest_deployed.filter(|s| *s > leaf.not_after && !force) {
        return Err(DomainError::Rollback {
            source_at: source,
            not_after: leaf.not_after,
            newest,
        });
    }
    let lifetime = leaf.not_after - leaf.not_before;
    if leaf.not_after - now < lifetime * policy.remaining_fraction {
        warn!(%source, "the bring-your-own certificate is due");
        report.warnings.push(format!(
            "the certificate from {source} expires in {} days: get the renewed one from the CA and replace the file",
            (leaf.not_after - now).whole_days()
        ));
    }
    Ok(())
}
