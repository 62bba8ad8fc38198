//! Step 3, obtain: the certificate the decision asked for — the user's files, the freshest
//! archived bundle, or a new one from the CA (unless a dead run already issued and archived one).
//! Every bundle is checked before use, and a new one is archived before anything uses it.

use time::OffsetDateTime;
use tracing::{info, warn};

use super::{Context, DomainError};
use crate::acme::{NewKey, OrderOptions, PrivateKeyPem, Profile};
use crate::certs::archive::Bundle;
use crate::certs::certificate::{self, CertificateInfo};
use crate::certs::source::{self, Source};
use crate::config::{KeyType, RenewalPolicy};
use crate::deploy::Certificate;
use crate::event::DomainRequest;
use crate::model::inventory::{self, Inventory};
use crate::model::names::DomainName;
use crate::plan::{self, issuance, Attached, Deployed};
use crate::report::{DomainReport, KeyUse};

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
        let leaves: Vec<CertificateInfo> = bundles
            .iter()
            .filter_map(|b| certificate::pem_chain(&b.certificate).ok())
            .filter_map(|ders| certificate::info(ders.first()?).ok())
            .collect();
        let issued: Vec<OffsetDateTime> = leaves.iter().map(|leaf| leaf.not_before).collect();
        // The cap counts over the time between two renewals of the certificate serving now
        // (of the newest archived one when none does), at most a week.
        let lifetime = report
            .lifetime_days
            .map(|days| time::Duration::seconds_f64(days * 86_400.0))
            .or_else(|| {
                let newest = leaves.iter().max_by_key(|l| l.not_before)?;
                Some(newest.not_after - newest.not_before)
            });
        let between_renewals =
            lifetime.map(|l| l * (1.0 - plan::renewal::remaining_share(&cx.config.policy, l)));
        let window = issuance::window(between_renewals);
        if let Some(found) = freshest(cx, domain, bundles, Some(&cx.listing.inventory)) {
            info!(domain = %domain.label(), certificate = %found.iam_name(), "reusing an archived certificate a previous run issued");
            slot()?;
            return Ok(found);
        }
        let max = cx.config.limits.max_issuances_per_week;
        if let Err(until) = issuance::allowed(&issued, (max, window), cx.now) {
            return Err(DomainError::IssuanceCap {
                max,
                window_days: window.whole_days(),
                until,
            });
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
    let reused = if domain.reuse_key {
        reusable_key(cx, domain, report).await?
    } else {
        None
    };
    report.key = Some(if reused.is_some() {
        KeyUse::Reused
    } else {
        KeyUse::New
    });
    let options = order_options(cx, domain, reused);
    let how = (&options, &domain.dns);
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

/// What the domain's order asks for besides its names: its key (`reused`, or a new one of the
/// domain's or the configured type) and its profile (the domain's, or the configured default).
pub fn order_options(
    cx: &Context<'_>,
    domain: &DomainRequest,
    reused: Option<PrivateKeyPem>,
) -> OrderOptions {
    let profile = match (&domain.profile, &cx.config.acme.profile) {
        (Some(name), _) => Some(Profile {
            name: name.clone(),
            setting: format!("{}.profile", domain.field()),
        }),
        (None, Some(name)) => Some(Profile {
            name: name.clone(),
            setting: "the stack's Profile (CERT_ROTATOR_PROFILE)".into(),
        }),
        (None, None) => None,
    };
    let key = match reused {
        Some(pem) => NewKey::Reuse(pem),
        None => NewKey::Generate(domain.key_type.unwrap_or(cx.config.acme.key_type)),
    };
    OrderOptions { key, profile }
}

/// The key to reuse for a `reuse_key` domain: the newest archived certificate's, when it is of
/// the key type the domain asks for. `None` (a new key, which later renewals reuse) when nothing
/// is archived yet or the type changed; the report says why.
async fn reusable_key(
    cx: &Context<'_>,
    domain: &DomainRequest,
    report: &mut DomainReport,
) -> Result<Option<PrivateKeyPem>, DomainError> {
    let newest = archived(cx, domain)
        .await?
        .into_iter()
        .filter_map(|b| {
            let ders = certificate::pem_chain(&b.certificate).ok()?;
            let leaf = certificate::info(ders.first()?).ok()?;
            Some((leaf.not_before, b))
        })
        .max_by_key(|(not_before, _)| *not_before);
    let Some((_, bundle)) = newest else {
        report.warnings.push(
            "reuse_key: no archived key for these names yet; a new key was made, and later renewals reuse it".into(),
        );
        return Ok(None);
    };
    let wanted = domain.key_type.unwrap_or(cx.config.acme.key_type);
    let kind = rcgen::KeyPair::from_pem(bundle.private_key.expose())
        .ok()
        .map(|k| k.algorithm() == &rcgen::PKCS_RSA_SHA256);
    let matches = match wanted {
        KeyType::Rsa2048 => kind == Some(true),
        _ => kind == Some(false),
    };
    if !matches {
        report.warnings.push(format!(
            "reuse_key: the archived key of {} is not a {} key; a new key was made, and later renewals reuse it",
            bundle.iam_name,
            serde_json::to_value(wanted)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ));
        return Ok(None);
    }
    info!(domain = %domain.label(), from = %bundle.iam_name, "reusing the archived key");
    Ok(Some(bundle.private_key.clone()))
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
    if now >= plan::renewal::renewal_point(policy, leaf.not_before, leaf.not_after) {
        warn!(%source, "the bring-your-own certificate is due");
        report.warnings.push(format!(
            "the certificate from {source} expires in {} days: get the renewed one from the CA and replace the file",
            (leaf.not_after - now).whole_days()
        ));
    }
    Ok(())
}
