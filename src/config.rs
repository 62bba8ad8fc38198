//! Configuration from the environment, read once at cold start.
//!
//! Every variable is documented here and in the README's configuration reference. Errors name the
//! variable and say what to put in it. The test bed is reached through the same variables a user
//! has (`AWS_ENDPOINT_URL` for the SDK, an ACME directory URL and an extra trusted root for the
//! ACME server's HTTPS); nothing else differs between the bed and AWS.

use std::path::PathBuf;

/// Let's Encrypt production: the default ACME directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging: untrusted certificates, generous rate limits; use it to try things out.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The key type of the certificates cert-rotator requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyType {
    /// RSA 2048: what CloudFront in China and every client accept (the default).
    Rsa2048,
    /// ECDSA P-256: smaller and faster where all clients support it.
    EcdsaP256,
}

impl std::str::FromStr for KeyType {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "rsa-2048" | "rsa2048" | "rsa" => Ok(Self::Rsa2048),
            "ecdsa-p256" | "p256" | "ecdsa" | "ec" => Ok(Self::EcdsaP256),
            _ => Err(ConfigError::Invalid {
                var: "CERT_ROTATOR_KEY_TYPE",
                value: s.to_owned(),
                expected: "rsa-2048 (default) or ecdsa-p256",
            }),
        }
    }
}

/// Where the ACME CA is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// `CERT_ROTATOR_ACME_DIRECTORY`: the CA's directory URL (default: Let's Encrypt production;
    /// staging is [`LETS_ENCRYPT_STAGING`]).
    pub directory: String,
    /// `CERT_ROTATOR_ACME_CA_BUNDLE`: a PEM root certificate to trust for the CA's HTTPS, for a
    /// private or test CA. Unset: the CA must present a publicly trusted certificate.
    pub ca_bundle: Option<PathBuf>,
    /// `CERT_ROTATOR_CONTACT_EMAIL`: the ACME account's contact, for the CA's expiry notices.
    pub contact_email: Option<String>,
    /// `CERT_ROTATOR_KEY_TYPE`: `rsa-2048` (default) or `ecdsa-p256`.
    pub key_type: KeyType,
}

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The value is not one of the accepted forms.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What it holds.
        value: String,
        /// What it may hold.
        expected: &'static str,
    },
}

impl AcmeConfig {
    /// Reads the ACME variables through `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let directory =
            set("CERT_ROTATOR_ACME_DIRECTORY").unwrap_or_else(|| LETS_ENCRYPT.to_owned());
        if !directory.starts_with("https://") {
            return Err(ConfigError::Invalid {
                var: "CERT_ROTATOR_ACME_DIRECTORY",
                value: directory,
                expected: "an https:// URL of an ACME directory, e.g. the Let's Encrypt one",
            });
        }
        let contact_email = set("CERT_ROTATOR_CONTACT_EMAIL");
        if let Some(email) = &contact_email {
            if !email.contains('@') || email.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid {
                    var: "CERT_ROTATOR_CONTACT_EMAIL",
                    value: email.clone(),
                    expected: "an e-mail address like ops@example.cn",
                });
            }
        }
        Ok(Self {
            directory,
            ca_bundle: set("CERT_ROTATOR_ACME_CA_BUNDLE").map(PathBuf::from),
            contact_email,
            key_type: set("CERT_ROTATOR_KEY_TYPE")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(KeyType::Rsa2048),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_to_lets_encrypt_and_rsa() {
        let c = AcmeConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.directory, LETS_ENCRYPT);
        assert_eq!(c.key_type, KeyType::Rsa2048);
        assert_eq!(c.ca_bundle, None);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = AcmeConfig::from_lookup(lookup(&[("CERT_ROTATOR_KEY_TYPE", "dsa")])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("CERT_ROTATOR_KEY_TYPE=\"dsa\" is not valid"),
            "{e}"
        );
        let e =
            AcmeConfig::from_lookup(lookup(&[("CERT_ROTATOR_ACME_DIRECTORY", "http://ca/dir")]))
                .unwrap_err();
        assert!(e.to_string().contains("CERT_ROTATOR_ACME_DIRECTORY"), "{e}");
        let e = AcmeConfig::from_lookup(lookup(&[("CERT_ROTATOR_CONTACT_EMAIL", "nobody")]))
            .unwrap_err();
        assert!(e.to_string().contains("CERT_ROTATOR_CONTACT_EMAIL"), "{e}");
    }
}
