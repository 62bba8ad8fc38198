//! What the CA's directory says of itself (RFC 8555 section 7.1.1, `meta`): the profiles it
//! offers (the ACME profiles extension, draft-aaron-acme-profiles: `meta.profiles`), the domain
//! names it recognises in CAA records (`meta.caaIdentities`), and whether it requires External
//! Account Binding (`meta.externalAccountRequired`). Read once per run, before any order, so a
//! profile it does not offer or a CAA record that forbids it fails the domain without an order.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, Request};
use instant_acme::{BodyWrapper, HttpClient};

use crate::acme::{builder_http, AcmeError, Profile, ProfileRefusal};
use crate::config::AcmeConfig;

/// The directory's `meta`, as far as cert-rotator uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Profile names and their descriptions.
    #[serde(default)]
    pub profiles: BTreeMap<String, String>,
    /// The issuer domain names CAA records name this CA by (`letsencrypt.org`, `pki.goog`...).
    #[serde(default)]
    pub caa_identities: Vec<String>,
    /// Whether a new account needs External Account Binding.
    #[serde(default)]
    pub external_account_required: bool,
}

#[derive(serde::Deserialize)]
struct Directory {
    #[serde(default)]
    meta: Meta,
}

impl Meta {
    /// Reads the directory of `config`'s CA.
    pub async fn fetch(config: &AcmeConfig) -> Result<Self, AcmeError> {
        let http = builder_http(config)?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(&config.directory)
            .body(BodyWrapper::from(Vec::new()))
            .map_err(|e| directory_error(config, instant_acme::Error::Other(Box::new(e))))?;
        let mut response = http
            .request(request)
            .await
            .map_err(|e| directory_error(config, e))?;
        let status = response.parts.status;
        let body: Bytes = response
            .body
            .into_bytes()
            .await
            .map_err(|e| directory_error(config, instant_acme::Error::Other(e)))?;
        if !status.is_success() {
            return Err(directory_error(
                config,
                instant_acme::Error::Str("the directory did not answer 200"),
            ));
        }
        Self::parse(&body).map_err(|e| directory_error(config, e))
    }

    /// The `meta` of a directory document.
    pub fn parse(body: &[u8]) -> Result<Self, instant_acme::Error> {
        serde_json::from_slice::<Directory>(body)
            .map(|d| d.meta)
            .map_err(instant_acme::Error::Json)
    }

    /// `Ok` when the CA offers `profile`; otherwise the error naming what it offers, or that it
    /// offers none, and the setting.
    pub fn check_profile(&self, profile: &Profile, directory: &str) -> Result<(), AcmeError> {
        if self.profiles.contains_key(&profile.name) {
            return Ok(());
        }
        Err(AcmeError::Profile(Box::new(ProfileRefusal {
            profile: profile.clone(),
            offered: self.profiles.keys().cloned().collect(),
            directory: directory.to_owned(),
        })))
    }
}

fn directory_error(config: &AcmeConfig, source: instant_acme::Error) -> AcmeError {
    AcmeError::Account {
        directory: config.directory.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LETS_ENCRYPT: &str = r#"{
      "keyChange": "https://acme-v02.api.letsencrypt.org/acme/key-change",
      "meta": {
        "caaIdentities": ["letsencrypt.org"],
        "profiles": {
          "classic": "https://letsencrypt.org/docs/profiles#classic",
          "shortlived": "https://letsencrypt.org/docs/profiles#shortlived (not yet generally available)",
          "tlsserver": "https://letsencrypt.org/docs/profiles#tlsserver"
        },
        "termsOfService": "https://letsencrypt.org/documents/LE-SA-v1.5-February-24-2025.pdf",
        "website": "https://letsencrypt.org"
      },
      "newAccount": "https://acme-v02.api.letsencrypt.org/acme/new-acct"
    }"#;

    fn profile(name: &str) -> Profile {
        Profile {
            name: name.into(),
            setting: "domains[0].profile".into(),
        }
    }

    #[test]
    fn lets_encrypts_directory_offers_three_profiles_and_names_itself_in_caa() {
        let meta = Meta::parse(LETS_ENCRYPT.as_bytes()).unwrap();
        assert_eq!(meta.caa_identities, ["letsencrypt.org"]);
        assert!(!meta.external_account_required);
        assert!(meta.check_profile(&profile("shortlived"), "d").is_ok());
        let e = meta
            .check_profile(&profile("short-lived"), "https://ca/dir")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "domains[0].profile asks for the profile \"short-lived\", which the ACME CA at https://ca/dir does not offer: use one of classic, shortlived, tlsserver"
        );
    }

    #[test]
    fn a_ca_without_profiles_refuses_every_profile_naming_the_setting() {
        let meta = Meta::parse(br#"{"newOrder": "x", "meta": {"externalAccountRequired": true}}"#)
            .unwrap();
        assert!(meta.external_account_required);
        let p = Profile {
            name: "tlsserver".into(),
            setting: "Profile (CERT_ROTATOR_PROFILE)".into(),
        };
        let e = meta
            .check_profile(&p, "https://ca/dir")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("offers no profiles")
                && e.ends_with("remove Profile (CERT_ROTATOR_PROFILE)"),
            "{e}"
        );
        assert_eq!(
            Meta::parse(br#"{"newOrder": "x"}"#).unwrap(),
            Meta::default()
        );
    }
}
