//! External Account Binding (RFC 8555 section 7.3.4): the key id and HMAC key a CA that requires
//! one (ZeroSSL, Google Trust Services, TrustAsia, Sectigo, Actalis) hands out in its console, kept
//! in a Secrets Manager secret of their own (`CERT_ROTATOR_EAB_SECRET`) — never in the event or a
//! plain environment value. The binding is needed once, to create the account; the account secret
//! then records its key id, so an account made under one binding is never used, nor overwritten,
//! under another.

use base64::Engine;
use instant_acme::ExternalAccountKey;
use zeroize::Zeroizing;

use crate::aws::secrets::Secrets;
use crate::aws::AwsError;

/// A binding read from its secret. The HMAC key is zeroed when dropped and never shown.
pub struct Binding {
    /// The key id, as the CA gave it (not secret: it names the binding in messages).
    pub key_id: String,
    hmac_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("key_id", &self.key_id)
            .field("hmac_key", &"<redacted>")
            .finish()
    }
}

/// Why the binding could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// Secrets Manager failed.
    #[error("reading the External Account Binding secret {secret}: {source}")]
    Aws {
        /// The secret.
        secret: String,
        /// The SDK's error.
        #[source]
        source: AwsError,
    },
    /// The secret does not exist or has no value.
    #[error("the External Account Binding secret {secret} (CERT_ROTATOR_EAB_SECRET) has no value: store {{\"key_id\": \"...\", \"hmac_key\": \"...\"}} with the key id and HMAC key from the CA's console")]
    Missing {
        /// The secret.
        secret: String,
    },
    /// The value is not a binding.
    #[error("the External Account Binding secret {secret} (CERT_ROTATOR_EAB_SECRET) {why}: its value must be {{\"key_id\": \"...\", \"hmac_key\": \"<base64url, as the CA gives it>\"}}, or the CA's own JSON as it comes (ZeroSSL's eab_kid and eab_hmac_key; gcloud publicca external-account-keys create --format=json's keyId and b64MacKey), one name per field")]
    Malformed {
        /// The secret.
        secret: String,
        /// What is wrong (never the value).
        why: String,
    },
}

impl Binding {
    /// The binding in `secret`.
    pub async fn read(secrets: &Secrets, secret: &str) -> Result<Self, BindingError> {
        let stored = secrets
            .get(secret)
            .await
            .map_err(|source| BindingError::Aws {
                secret: secret.to_owned(),
                source,
            })?;
        let text = stored
            .and_then(|s| s.text)
            .ok_or_else(|| BindingError::Missing {
                secret: secret.to_owned(),
            })?;
        Self::parse(secret, &text)
    }

    /// Reads `{"key_id": ..., "hmac_key": ...}`; the HMAC key in base64url as CAs hand it out
    /// (padded or not; standard base64 is accepted too). The CAs' own field names are accepted
    /// as well, so their output can be stored as it comes: ZeroSSL's EAB API answers
    /// `{"eab_kid", "eab_hmac_key"}`, Google's `gcloud publicca external-account-keys create
    /// --format=json` `{"keyId", "b64MacKey"}`.
    pub fn parse(secret: &str, text: &str) -> Result<Self, BindingError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(alias = "eab_kid", alias = "keyId", alias = "kid")]
            key_id: Option<String>,
            #[serde(alias = "eab_hmac_key", alias = "b64MacKey", alias = "hmacKey")]
            hmac_key: Option<String>,
        }
        let malformed = |why: &str| BindingError::Malformed {
            secret: secret.to_owned(),
            why: why.to_owned(),
        };
        let raw: Raw = serde_json::from_str(text).map_err(|_| {
            malformed("is not that JSON, or names a field twice (key_id and eab_kid?)")
        })?;
        let key_id = raw
            .key_id
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| malformed("has no \"key_id\""))?;
        // The parsed copy is zeroed when dropped (serde's buffers are not).
        let encoded = Zeroizing::new(raw.hmac_key.unwrap_or_default());
        if encoded.trim().is_empty() {
            return Err(malformed("has no \"hmac_key\""));
        }
        let trimmed = encoded.trim().trim_end_matches('=');
        let engines = [
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let hmac_key = engines
            .iter()
            .find_map(|e| e.decode(trimmed).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| malformed("has an \"hmac_key\" that is not base64url"))?;
        if hmac_key.len() < 16 {
            return Err(malformed(
                "has an \"hmac_key\" shorter than 16 bytes (not the whole key?)",
            ));
        }
        Ok(Self { key_id, hmac_key })
    }

    /// The key instant-acme signs the binding with.
    pub fn key(&self) -> ExternalAccountKey {
        ExternalAccountKey::new(self.key_id.clone(), &self.hmac_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

    #[test]
    fn a_binding_reads_its_key_id_and_base64url_key_and_never_shows_the_key() {
        let b = Binding::parse(
            "s",
            &format!(r#"{{"key_id": " kid-1 ", "hmac_key": "{KEY}"}}"#),
        )
        .unwrap();
        assert_eq!(b.key_id, "kid-1");
        assert_eq!(b.hmac_key.len(), 48);
        assert!(!format!("{b:?}").contains(KEY));
        let padded = Binding::parse(
            "s",
            r#"{"key_id": "k", "hmac_key": "AAAAAAAAAAAAAAAAAAAAAA=="}"#,
        );
        assert!(padded.is_ok());
    }

    #[test]
    fn a_bad_binding_names_the_secret_and_the_field_without_the_value() {
        for (text, says) in [
            ("hunter2", "is not that JSON"),
            (r#"{"hmac_key": "AAAA"}"#, "no \"key_id\""),
            (r#"{"key_id": "k"}"#, "no \"hmac_key\""),
            (
                r#"{"key_id": "k", "hmac_key": "not base64 !!"}"#,
                "not base64url",
            ),
            (
                r#"{"key_id": "k", "hmac_key": "AAAA"}"#,
                "shorter than 16 bytes",
            ),
        ] {
            let e = Binding::parse("cert-rotator/eab", text)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("cert-rotator/eab")
                    && e.contains("CERT_ROTATOR_EAB_SECRET")
                    && e.contains(says),
                "{e}"
            );
            assert!(
                !e.contains("hunter2") && !e.contains("not base64 !!"),
                "{e}"
            );
        }
    }
}
