//! The ACME side (RFC 8555, RFC 9773) with instant-acme: the account, one order per domain
//! solved by DNS-01, a CSR for a key we generate, and ACME Renewal Information.
//!
//! Where the challenge records go is the solver's business ([`crate::acme::dns01`]); where the account
//! is kept is the caller's. Challenge records are removed after validation whether it succeeded
//! or not.

pub mod account;
pub mod caa;
pub mod delegation;
pub mod directory;
pub mod dns01;
pub mod eab;
pub mod http;
pub mod journal;
pub mod propagation;

use std::fmt;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;

use crate::acme::dns01::{Challenge, Dns01Solver, SolverError};
use crate::acme::http::{RateLimit, RateLimitAware};
use crate::config::{AcmeConfig, KeyType};
use crate::model::names::DomainName;

/// Runs an instant-acme call again while the CA answers `badNonce` (RFC 8555 section 6.5: the
/// client should retry with a fresh nonce). instant-acme retries twice itself; CAs that reject
/// many nonces (Pebble rejects 5 % by default, tests 30 %) need more.
macro_rules! retry_bad_nonce {
    ($call:expr) => {{
        let mut left = 5;
        loop {
            match $call {
                Err(e) if left > 0 && is_bad_nonce(&e) => left -= 1,
                other => break other,
            }
        }
    }};
}

/// A private key in PEM (PKCS#8). Its `Debug` never shows the key; it serializes (for the
/// archive) as the PEM text; its buffer is zeroed when dropped (each clone's too). Copies made
/// from [`expose`](Self::expose) — the SDK's request bodies, serde's output — are not.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PrivateKeyPem(String);

impl Drop for PrivateKeyPem {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl PrivateKeyPem {
    /// Wraps PEM text.
    pub fn new(pem: String) -> Self {
        Self(pem)
    }

    /// The PEM text, for the archive and the upload — never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

/// A certificate the CA issued: the PEM chain (leaf first) and the key we generated for it.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Why the order was made without the `replaces` the request asked for, if it was.
    pub dropped_replaces: Option<String>,
    /// Leaf then intermediates, as the CA sent them.
    pub chain_pem: String,
    /// The leaf's private key.
    pub key: PrivateKeyPem,
}

/// A renewal window suggested by the CA (RFC 9773 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenewalWindow {
    /// Renew from here.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Renew before here.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

/// Why the ACME side failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The CA could not be reached or refused the account.
    #[error("ACME account at {directory}: {source} — check CERT_ROTATOR_ACME_DIRECTORY and that the CA is reachable (CERT_ROTATOR_ACME_CA_BUNDLE for a private CA)")]
    Account {
        /// The directory URL.
        directory: String,
        /// instant-acme's error.
        #[source]
        source: instant_acme::Error,
    },
    /// The CA refused a step of the order under a rate limit (HTTP 429, RFC 8555 section 6.6).
    #[error("the CA refused {step} for {names} under its rate limit: {limit}; {}", .limit.comes_back())]
    RateLimited {
        /// The names of the order.
        names: String,
        /// What we were doing.
        step: &'static str,
        /// The CA's answer.
        limit: RateLimit,
    },
    /// The CA refused or failed a step of the order.
    #[error("ACME order for {names}: {step}: {source}")]
    Order {
        /// The names of the order.
        names: String,
        /// What we were doing.
        step: &'static str,
        /// instant-acme's error.
        #[source]
        source: instant_acme::Error,
    },
    /// The CA offered no DNS-01 challenge for a name.
    #[error("the CA offers no dns-01 challenge for {0}")]
    NoDns01(String),
    /// The CA could not validate a name.
    #[error("the CA could not validate {name}: {detail} — check that the TXT record _acme-challenge.{base} is answered by the zone's public name servers (delegation, CAA, split-horizon DNS)")]
    Validation {
        /// The name.
        name: String,
        /// Its base name without a wildcard.
        base: String,
        /// The CA's explanation.
        detail: String,
    },
    /// The order ended in a state other than valid.
    #[error("ACME order for {names} ended {status:?}")]
    OrderStatus {
        /// The names.
        names: String,
        /// The final status.
        status: OrderStatus,
    },
    /// Writing or removing challenge records failed.
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// Key or CSR generation failed.
    #[error("generating the key or CSR: {0}")]
    Csr(#[from] rcgen::Error),
    /// The CA requires External Account Binding and none is configured, or refused the one
    /// given.
    #[error(transparent)]
    Eab(Box<EabProblem>),
    /// The profile asked for is not one the CA offers (no order was sent).
    #[error(transparent)]
    Profile(Box<ProfileRefusal>),
    /// The names' CAA records forbid this CA, this account or DNS-01 (no order was sent).
    #[error(transparent)]
    Caa(#[from] Box<caa::CaaRefusal>),
    /// The certificate to ask about cannot be identified (no AKI extension).
    #[error("cannot identify the certificate for ACME renewal information: {0}")]
    CertificateId(String),
}

/// Why the CA would not create the account with the binding configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EabProblem {
    /// It requires External Account Binding and none is configured.
    #[error("the ACME CA at {directory} requires External Account Binding (urn:ietf:params:acme:error:externalAccountRequired): create an EAB credential in the CA's console, store {{\"key_id\": \"...\", \"hmac_key\": \"...\"}} in a Secrets Manager secret, and set the stack parameter EabSecret (CERT_ROTATOR_EAB_SECRET) to its name")]
    Required {
        /// The directory URL.
        directory: String,
    },
    /// It refused the binding.
    #[error("the ACME CA at {directory} refused the External Account Binding with key id {key_id} ({problem}) — check that the secret in CERT_ROTATOR_EAB_SECRET holds the key id and HMAC key exactly as the CA's console shows them, for this CA and not yet used up or revoked")]
    Refused {
        /// The directory URL.
        directory: String,
        /// The binding's key id.
        key_id: String,
        /// The CA's problem.
        problem: String,
    },
}

/// A profile the CA does not offer, found before any order.
#[derive(Debug, thiserror::Error)]
#[error("{}", profile_refusal(.profile, .offered, .directory))]
pub struct ProfileRefusal {
    /// The profile and where it was set.
    pub profile: Profile,
    /// What the CA's directory offers (`meta.profiles`).
    pub offered: Vec<String>,
    /// The directory URL.
    pub directory: String,
}

fn profile_refusal(profile: &Profile, offered: &[String], directory: &str) -> String {
    if offered.is_empty() {
        format!(
            "{} asks for the profile {:?}, but the ACME CA at {directory} offers no profiles (its directory has no meta.profiles): remove {}",
            profile.setting, profile.name, profile.setting
        )
    } else {
        format!(
            "{} asks for the profile {:?}, which the ACME CA at {directory} does not offer: use one of {}",
            profile.setting,
            profile.name,
            offered.join(", ")
        )
    }
}

/// A certificate profile asked of the CA (the ACME profiles extension), and the setting that
/// asked for it, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name, as the CA's directory lists it.
    pub name: String,
    /// Where it was set: the event's `domains[i].profile` or `CERT_ROTATOR_PROFILE`.
    pub setting: String,
}

/// The key of a new certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKey {
    /// A new key of this type.
    Generate(KeyType),
    /// The archived key of the certificate it renews (`reuse_key`, for pinned clients).
    Reuse(PrivateKeyPem),
}

/// What an order asks for besides its names: the key and the CA's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOptions {
    /// The key.
    pub key: NewKey,
    /// The profile, or the CA's default.
    pub profile: Option<Profile>,
}

/// Opens the ACME client for `config`: publicly trusted roots, or the private roots in
/// `CERT_ROTATOR_ACME_CA_BUNDLE`; a 429 answer becomes a [`RateLimit`] ([`http`]).
fn builder(config: &AcmeConfig) -> Result<instant_acme::AccountBuilder, AcmeError> {
    Ok(Account::builder_with_http(Box::new(builder_http(config)?)))
}

/// The HTTPS client [`builder`] gives instant-acme, for the requests made beside it.
fn builder_http(config: &AcmeConfig) -> Result<RateLimitAware, AcmeError> {
    let roots = match &config.ca_bundle {
        None => None,
        Some(path) => Some(
            rustls_pki_types::CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))
                .map_err(account_error(config))?,
        ),
    };
    RateLimitAware::new(roots).map_err(account_error(config))
}

/// The error of `step` of the order for `names`: [`AcmeError::RateLimited`] when the CA answered
/// 429, otherwise [`AcmeError::Order`].
fn order_error(names: &str, step: &'static str, source: instant_acme::Error) -> AcmeError {
    match http::rate_limit(&source) {
        Some(limit) => AcmeError::RateLimited {
            names: names.to_owned(),
            step,
            limit: limit.clone(),
        },
        None => AcmeError::Order {
            names: names.to_owned(),
            step,
            source,
        },
    }
}

/// Creates a new account (terms of service agreed), with the External Account Binding where one
/// is configured, and returns its credentials to store.
pub async fn create_account(
    config: &AcmeConfig,
    binding: Option<&eab::Binding>,
) -> Result<(Account, AccountCredentials), AcmeError> {
    let contact = config.contact_email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contacts,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let key = binding.map(eab::Binding::key);
    retry_bad_nonce!(
        builder(config)?
            .create(&new, config.directory.clone(), key.as_ref())
            .await
    )
    .map_err(|source| match (&source, binding) {
        (instant_acme::Error::Api(p), _) if p.r#type.as_deref() == Some(EAB_REQUIRED) => {
            AcmeError::Eab(Box::new(EabProblem::Required {
                directory: config.directory.clone(),
            }))
        }
        // A CA names a bad binding `unauthorized` (Pebble, Boulder), `malformed`, or
        // `badExternalAccountBinding` (some); any refusal of an account with a binding but a
        // rate limit or a bad nonce is about it.
        (instant_acme::Error::Api(p), Some(b)) if may_refuse_binding(p) => {
            AcmeError::Eab(Box::new(EabProblem::Refused {
                directory: config.directory.clone(),
                key_id: b.key_id.clone(),
                problem: p.to_string(),
            }))
        }
        _ => account_error(config)(source),
    })
}

/// RFC 8555 section 7.3.4: the problem a CA that requires a binding answers without one.
const EAB_REQUIRED: &str = "urn:ietf:params:acme:error:externalAccountRequired";

fn may_refuse_binding(problem: &instant_acme::Problem) -> bool {
    matches!(
        problem.r#type.as_deref(),
        Some(
            "urn:ietf:params:acme:error:unauthorized"
                | "urn:ietf:params:acme:error:malformed"
                | "urn:ietf:params:acme:error:badExternalAccountBinding"
        )
    )
}

/// Restores an account from stored credentials.
pub async fn load_account(
    config: &AcmeConfig,
    credentials: AccountCredentials,
) -> Result<Account, AcmeError> {
    builder(config)?
        .from_credentials(credentials)
        .await
        .map_err(account_error(config))
}

fn account_error(config: &AcmeConfig) -> impl Fn(instant_acme::Error) -> AcmeError + '_ {
    |source| AcmeError::Account {
        directory: config.directory.clone(),
        source,
    }
}

/// The renewal window the CA suggests for the certificate `der` and when to ask again (the
/// answer's `Retry-After`, RFC 9773 section 4.3, from the time it came), or `None` when the CA
/// does not offer ACME Renewal Information.
pub async fn renewal_window(
    account: &Account,
    der: &[u8],
) -> Result<Option<(RenewalWindow, OffsetDateTime)>, AcmeError> {
    let der = rustls_pki_types::CertificateDer::from(der);
    let id = CertificateIdentifier::try_from(&der).map_err(AcmeError::CertificateId)?;
    match account.renewal_info(&id).await {
        Ok((info, retry_after)) => Ok(Some((
            RenewalWindow {
                start: info.suggested_window.start,
                end: info.suggested_window.end,
            },
            OffsetDateTime::now_utc() + retry_after,
        ))),
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(source) => Err(order_error(&id.to_string(), "renewal information", source)),
    }
}

/// The ARI identifier of a certificate, for `replaces` in a new order (RFC 9773 section 5).
pub fn certificate_id(der: &[u8]) -> Result<String, AcmeError> {
    let der = rustls_pki_types::CertificateDer::from(der);
    CertificateIdentifier::try_from(&der)
        .map(|id| id.to_string())
        .map_err(AcmeError::CertificateId)
}

/// An ARI identifier in its text form (`<base64url AKI>.<base64url serial>`).
fn parse_certificate_id(id: &str) -> Result<CertificateIdentifier<'static>, AcmeError> {
    match id.split_once('.') {
        Some((aki, serial)) if !aki.is_empty() && !serial.is_empty() && !serial.contains('.') => {
            Ok(CertificateIdentifier {
                authority_key_identifier: aki.to_owned().into(),
                serial: serial.to_owned().into(),
            })
        }
        _ => Err(AcmeError::CertificateId(format!(
            "{id:?} is not of the form <AKI>.<serial>"
        ))),
    }
}

/// What to ask the CA for.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    /// Every name of the certificate; the first becomes the CSR's only SAN order anchor.
    pub names: &'a [DomainName],
    /// The key of the new certificate and the CA's profile.
    pub options: &'a OrderOptions,
    /// The ARI id of the certificate this one replaces, where the CA offers ARI.
    pub replaces: Option<String>,
    /// How long and how often to poll the order.
    pub retry: RetryPolicy,
}

/// Issues a certificate for `request.names` by DNS-01 through `solver`.
pub async fn issue<S: Dns01Solver>(
    account: &Account,
    request: &OrderRequest<'_>,
    solver: &S,
) -> Result<Issued, AcmeError> {
    let names = request
        .names
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let err = |step: &'static str| {
        let names = names.clone();
        move |source| order_error(&names, step, source)
    };
    let identifiers: Vec<Identifier> = request
        .names
        .iter()
        .map(|n| Identifier::Dns(n.to_string()))
        .collect();
    let (mut order, dropped_replaces) = new_order(account, &identifiers, request, &names).await?;
    let challenges = walk(&mut order, &names, Walk::Collect).await?;

    let validated = validate(&mut order, &challenges, solver, request.retry, &names).await;
    let cleaned = solver.cleanup(&challenges).await;
    validated?;
    cleaned?;

    // rcgen's copy of the key (its PKCS#8 DER) is zeroed when dropped, as the PEM is.
    let key = zeroize::Zeroizing::new(match &request.options.key {
        NewKey::Generate(KeyType::Rsa2048) => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?
        }
        NewKey::Generate(_) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        NewKey::Reuse(pem) => KeyPair::from_pem(pem.expose())?,
    });
    let mut params = CertificateParams::new(
        request
            .names
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
    )?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(&*key)?;
    retry_bad_nonce!(order.finalize_csr(csr.der()).await).map_err(err("finalize"))?;
    let chain_pem = retry_bad_nonce!(order.poll_certificate(&request.retry).await)
        .map_err(err("download certificate"))?;
    // Issued, with a valid replacement order at the CA, and not yet archived.
    crate::failpoint::hit("after-finalize");
    Ok(Issued {
        chain_pem,
        key: PrivateKeyPem::new(key.serialize_pem()),
        dropped_replaces,
    })
}

/// Creates the order, with `replaces` where the request has it. A CA refuses an order for its
/// `replaces` in more ways than one: Let's Encrypt answers 403 `unauthorized` for a certificate
/// issued to another account (a migration, an account reset), 409 `alreadyReplaced` for one that
/// already has a replacement order (a run that died after ordering), and 400 `malformed` for one
/// sharing no identifier with the order (Boulder's `orderMatchesReplacement`; cert-rotator does
/// not send those, [`crate::plan::renewal::shares_an_identifier`]) — and other CAs have their own
/// words. `replaces` only tells the CA which certificate the new one succeeds (RFC 9773 section
/// 5), so any refusal of an order carrying it but a rate limit (which an order without it meets
/// too) is answered by ordering once more without it, rather than let it block every renewal;
/// lego and cert-manager do the same. Returns the order and, when `replaces` was dropped, the
/// CA's reason.
async fn new_order<'a>(
    account: &Account,
    identifiers: &'a [Identifier],
    request: &'a OrderRequest<'_>,
    names: &str,
) -> Result<(instant_acme::Order, Option<String>), AcmeError> {
    let err = |source| order_error(names, "new order", source);
    let profiled = |order: NewOrder<'a>| match &request.options.profile {
        Some(p) => order.profile(&p.name),
        None => order,
    };
    let plain = profiled(NewOrder::new(identifiers));
    let Some(id) = &request.replaces else {
        let order = retry_bad_nonce!(account.new_order(&plain).await).map_err(err)?;
        return Ok((order, None));
    };
    let replaces = parse_certificate_id(id)?;
    let replacing = profiled(NewOrder::new(identifiers)).replaces(replaces);
    match retry_bad_nonce!(account.new_order(&replacing).await) {
        Ok(order) => Ok((order, None)),
        Err(instant_acme::Error::Api(problem)) if may_refuse_replaces(&problem) => {
            let why = format!(
                "the CA refused the order replacing {id} ({}); ordered without replaces",
                problem
            );
            tracing::warn!(%names, reason = %why, "ordering again without replaces");
            let order = retry_bad_nonce!(account.new_order(&plain).await).map_err(err)?;
            Ok((order, Some(why)))
        }
        Err(e) => Err(err(e)),
    }
}

/// Whether the CA's refusal of an order carrying `replaces` may be about `replaces` (RFC 9773
/// section 5): anything but a rate limit, which an order without it meets as well, and a bad
/// nonce, which is retried as it is.
fn may_refuse_replaces(problem: &instant_acme::Problem) -> bool {
    !matches!(
        problem.r#type.as_deref(),
        Some("urn:ietf:params:acme:error:rateLimited" | "urn:ietf:params:acme:error:badNonce")
    )
}

fn is_bad_nonce(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p) if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:badNonce"))
}

/// What to do with each pending authorization on a walk over the order's authorizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Collect its DNS-01 answer (RFC 8555 section 7.5: collect them all first, publish them
    /// all, and only then tell the CA to validate).
    Collect,
    /// Tell the CA its DNS-01 answer is ready.
    Answer,
}

/// Walks the order's pending authorizations, starting over when the CA rejects a nonce; returns
/// the answers collected (none for [`Walk::Answer`]).
async fn walk(
    order: &mut instant_acme::Order,
    names: &str,
    what: Walk,
) -> Result<Vec<Challenge>, AcmeError> {
    let err = |step: &'static str| move |source| order_error(names, step, source);
    let mut attempts = 5;
    'walk: loop {
        let mut challenges = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = match authz {
                Ok(authz) => authz,
                Err(e) if is_bad_nonce(&e) && attempts > 0 => {
                    attempts -= 1;
                    continue 'walk;
                }
                Err(source) => return Err(err("fetch authorization")(source)),
            };
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                _ if what == Walk::Answer => continue,
                _ => return Err(invalid_authorization(&authz)),
            }
            let wanted = authz.identifier().to_string();
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .ok_or(AcmeError::NoDns01(wanted))?;
            if what == Walk::Answer {
                retry_bad_nonce!(challenge.set_ready().await).map_err(err("answer challenge"))?;
                continue;
            }
            let Identifier::Dns(base) = challenge.identifier().identifier else {
                continue;
            };
            challenges.push(Challenge::new(
                format!("_acme-challenge.{base}"),
                challenge.key_authorization().dns_value(),
            ));
        }
        return Ok(challenges);
    }
}

/// Publishes the answers, tells the CA, and waits for the order to become ready.
async fn validate<S: Dns01Solver>(
    order: &mut instant_acme::Order,
    challenges: &[Challenge],
    solver: &S,
    retry: RetryPolicy,
    names: &str,
) -> Result<(), AcmeError> {
    let err = |step: &'static str| move |source| order_error(names, step, source);
    solver.present(challenges).await?;
    walk(order, names, Walk::Answer).await?;
    let status =
        retry_bad_nonce!(order.poll_ready(&retry).await).map_err(err("wait for validation"))?;
    crate::failpoint::hit("after-authorization");
    if status == OrderStatus::Ready {
        return Ok(());
    }
    // Find the authorization that failed, for a message that says which name and why.
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(err("fetch authorization"))?;
        let _ = authz.refresh().await;
        if authz.status != AuthorizationStatus::Valid {
            return Err(invalid_authorization(&authz));
        }
    }
    Err(AcmeError::OrderStatus {
        names: names.to_owned(),
        status,
    })
}

fn invalid_authorization(authz: &instant_acme::AuthorizationState) -> AcmeError {
    let name = authz.identifier().to_string();
    let base = name.trim_start_matches("*.").to_owned();
    let detail = authz
        .challenges
        .iter()
        .find_map(|c| c.error.as_ref())
        .map(|p| p.detail.clone().unwrap_or_else(|| p.to_string()))
        .unwrap_or_else(|| format!("authorization is {:?}", authz.status));
    AcmeError::Validation { name, base, detail }
}
