//! The chain: the leaf is the certificate the key belongs to; its intermediates are found by
//! walking up from it (each the issuer, by name and signature, of the one below), whatever order
//! they were given in (reordered with a warning); a self-signed issuer at the top is the root,
//! dropped with a warning. Then the checks: the leaf is not self-signed and has an issuer in the
//! bundle, no certificate is outside its chain, intermediates are CAs and not expired, the leaf
//! is valid now and covers the names wanted.
//!
//! Does not read files or keys (it gets DER and the key's public key), and does not consult a
//! trust store, revocation or Certificate Transparency.

use ::time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::BundleError;
use crate::certs::certificate::{self, CertificateInfo};
use crate::model::names::DomainName;

/// The leaf and its intermediates without the root, as indices into the certificates given.
pub(super) struct Chain {
    /// The leaf.
    pub(super) leaf: usize,
    /// The intermediates in issuing order: the first issued the leaf.
    pub(super) intermediates: Vec<usize>,
}

/// Finds the leaf of `public_key` among `certs` (DER) and orders its chain; warns when the root
/// is dropped or the order was changed.
pub(super) fn order(
    certs: &[Vec<u8>],
    public_key: &[u8],
    now: OffsetDateTime,
    warnings: &mut Vec<String>,
) -> Result<Chain, BundleError> {
    let parsed: Vec<X509Certificate<'_>> = certs
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect::<Result<_, _>>()
        .map_err(|e| BundleError::Check(format!("a certificate cannot be parsed: {e}")))?;
    let leaf_at = find_leaf(&parsed, public_key)?;
    let leaf = &parsed[leaf_at];
    if issued_by(leaf, leaf) {
        return Err(BundleError::SelfSigned {
            subject: leaf.subject().to_string(),
        });
    }
    let (order, root) = walk_up(&parsed, leaf_at);
    check_all_in_chain(certs, &parsed, &order, root)?;
    if let Some(r) = root {
        warnings.push(format!(
            "the root \"{}\" is dropped from the chain (clients have it; CloudFront and ACM take the chain without it)",
            parsed[r].subject()
        ));
    }
    let given: Vec<usize> = (0..parsed.len()).filter(|i| *i != leaf_at).collect();
    let issuing: Vec<usize> = order[1..].iter().copied().chain(root).collect();
    if given != issuing {
        warnings.push("the intermediates were not in issuing order; reordered".to_owned());
    }
    check_intermediates(&parsed, &order[1..], now)?;
    Ok(Chain {
        leaf: leaf_at,
        intermediates: order[1..].to_vec(),
    })
}

/// The one certificate whose public key is `public_key`.
fn find_leaf(parsed: &[X509Certificate<'_>], public_key: &[u8]) -> Result<usize, BundleError> {
    let leaves: Vec<usize> = (0..parsed.len())
        .filter(|&i| parsed[i].public_key().subject_public_key.data.as_ref() == public_key)
        .collect();
    match leaves.as_slice() {
        [] => Err(BundleError::KeyMismatch {
            subjects: parsed
                .iter()
                .map(|c| format!("{} serial {}", c.subject(), serial(c)))
                .collect::<Vec<_>>()
                .join("; "),
        }),
        [one] => Ok(*one),
        [a, b, ..] => Err(BundleError::TwoLeaves {
            first: serial(&parsed[*a]),
            second: serial(&parsed[*b]),
        }),
    }
}

/// Walks up from the leaf: each next certificate is the one that signed the current one. Returns
/// the leaf and its intermediates in issuing order, and the self-signed root above them, if given.
fn walk_up(parsed: &[X509Certificate<'_>], leaf_at: usize) -> (Vec<usize>, Option<usize>) {
    let mut order = vec![leaf_at];
    let mut root = None;
    loop {
        let current = &parsed[*order.last().unwrap_or(&leaf_at)];
        let Some(next) = (0..parsed.len())
            .find(|&i| !order.contains(&i) && root != Some(i) && issued_by(current, &parsed[i]))
        else {
            break;
        };
        if issued_by(&parsed[next], &parsed[next]) {
            root = Some(next);
            break;
        }
        order.push(next);
    }
    (order, root)
}

/// Refuses a leaf whose issuer is not given, and a certificate outside the leaf's chain.
/// `order` starts with the leaf.
fn check_all_in_chain(
    certs: &[Vec<u8>],
    parsed: &[X509Certificate<'_>],
    order: &[usize],
    root: Option<usize>,
) -> Result<(), BundleError> {
    let leaf_at = order[0];
    let stray = (0..parsed.len()).find(|i| !order.contains(i) && root != Some(*i));
    if order.len() == 1 && root.is_none() {
        return Err(BundleError::IncompleteChain {
            issuer: parsed[leaf_at].issuer().to_string(),
            present: stray
                .map(|i| {
                    format!(
                        " (the bundle's \"{}\" did not issue it)",
                        parsed[i].subject()
                    )
                })
                .unwrap_or_default(),
        });
    }
    if let Some(stray) = stray {
        return Err(BundleError::Unrelated {
            subject: parsed[stray].subject().to_string(),
            serial: serial(&parsed[stray]),
            leaf: certificate::info(&certs[leaf_at])
                .ok()
                .and_then(|i| i.names.first().cloned())
                .unwrap_or_default(),
        });
    }
    Ok(())
}

/// Refuses an intermediate that is not a CA or is expired at `now`.
fn check_intermediates(
    parsed: &[X509Certificate<'_>],
    intermediates: &[usize],
    now: OffsetDateTime,
) -> Result<(), BundleError> {
    for &i in intermediates {
        let c = &parsed[i];
        if !c.is_ca() {
            return Err(BundleError::NotACa {
                subject: c.subject().to_string(),
            });
        }
        let not_after = c.validity().not_after.to_datetime();
        if now >= not_after {
            return Err(BundleError::IntermediateExpired {
                subject: c.subject().to_string(),
                not_after,
            });
        }
    }
    Ok(())
}

/// The leaf (DER), parsed and checked: valid at `now` and covering every name in `wanted`.
pub(super) fn check_leaf(
    der: &[u8],
    wanted: &[DomainName],
    now: OffsetDateTime,
) -> Result<CertificateInfo, BundleError> {
    let info = certificate::info(der).map_err(|e| BundleError::Check(e.to_string()))?;
    if now < info.not_before {
        return Err(BundleError::NotYetValid {
            not_before: info.not_before,
        });
    }
    if now >= info.not_after {
        return Err(BundleError::Expired {
            not_after: info.not_after,
        });
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|w| !info.covers(w.as_str()))
        .map(DomainName::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(BundleError::NotCovered {
            missing: missing.join(", "),
            covered: info.names.join(", "),
        });
    }
    Ok(info)
}

/// A certificate's serial as hex without colons, for messages.
fn serial(c: &X509Certificate<'_>) -> String {
    c.raw_serial_as_string().replace(':', "")
}

/// Whether `parent` issued (and signed) `child`.
fn issued_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer() == parent.subject() && child.verify_signature(Some(parent.public_key())).is_ok()
}
