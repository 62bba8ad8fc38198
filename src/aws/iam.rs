//! IAM server certificates: where CloudFront in AWS China takes its certificates from.
//!
//! Certificates for CloudFront must be uploaded with a path under `/cloudfront/`
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-procedures.html>).
//! Known errors become meaning: `EntityAlreadyExists` → [`Upload::AlreadyExists`],
//! `DeleteConflict` → [`Deletion::InUse`], `NoSuchEntity` → `None` / [`Deletion::Gone`].

use aws_config::SdkConfig;
use aws_sdk_iam::operation::delete_server_certificate::DeleteServerCertificateError;
use aws_sdk_iam::operation::get_server_certificate::GetServerCertificateError;
use aws_sdk_iam::operation::upload_server_certificate::UploadServerCertificateError;
use aws_sdk_iam::types::{SummaryKeyType, Tag};
use time::OffsetDateTime;

use super::AwsError;

/// The path CloudFront sees IAM server certificates under.
pub const CLOUDFRONT_PATH: &str = "/cloudfront/";

/// An IAM server certificate, as listed (no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCert {
    /// `ServerCertificateId`: what a distribution's `IAMCertificateId` names.
    pub id: String,
    /// `ServerCertificateName`: unique in the account.
    pub name: String,
    /// `Path`.
    pub path: String,
    /// `Arn`.
    pub arn: String,
    /// `Expiration`: the certificate's NotAfter.
    pub expiration: Option<OffsetDateTime>,
}

/// A server certificate's body and chain, as GetServerCertificate returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertBody {
    /// Its metadata.
    pub meta: ServerCert,
    /// The leaf, PEM.
    pub body: String,
    /// The intermediates, PEM.
    pub chain: Option<String>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
}

/// What to upload. Its `Debug` leaves the key out.
#[derive(Clone)]
pub struct NewServerCert<'a> {
    /// Name (unique in the account; `[\w+=,.@-]+`).
    pub name: &'a str,
    /// Path, `/cloudfront/` for CloudFront.
    pub path: &'a str,
    /// The leaf, PEM.
    pub body: &'a str,
    /// The intermediates, PEM.
    pub chain: &'a str,
    /// The leaf's private key, PEM.
    pub private_key: &'a str,
    /// Tags at upload.
    pub tags: &'a [(String, String)],
}

impl std::fmt::Debug for NewServerCert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewServerCert")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("body", &self.body)
            .field("chain", &self.chain)
            .field("private_key", &"<redacted>")
            .field("tags", &self.tags)
            .finish()
    }
}

/// The outcome of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// Uploaded now.
    Created(ServerCert),
    /// A certificate with this name exists already (e.g. uploaded by a run that died).
    AlreadyExists,
}

/// The outcome of a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted.
    Deleted,
    /// Still attached somewhere (`DeleteConflict`): try again on a later run.
    InUse(String),
    /// Already gone.
    Gone,
}

/// The account's use of its server-certificate quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUse {
    /// Server certificates the account holds (every path, not only `/cloudfront/`).
    pub used: i32,
    /// How many it may hold.
    pub quota: i32,
}

/// The IAM adapter.
#[derive(Debug, Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
}

fn time_of(t: Option<&aws_sdk_iam::primitives::DateTime>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
}

fn metadata(m: Option<&aws_sdk_iam::types::ServerCertificateMetadata>) -> ServerCert {
    ServerCert {
        id: m
            .map(|m| m.server_certificate_id().to_owned())
            .unwrap_or_default(),
        name: m
            .map(|m| m.server_certificate_name().to_owned())
            .unwrap_or_default(),
        path: m.map(|m| m.path().to_owned()).unwrap_or_default(),
        arn: m.map(|m| m.arn().to_owned()).unwrap_or_default(),
        expiration: time_of(m.and_then(|m| m.expiration())),
    }
}

fn iam_tags(tags: &[(String, String)], operation: &'static str) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::invalid_request("iam", operation, e))
        })
        .collect()
}

impl Iam {
    /// A client for `sdk` (IAM is global; the SDK picks the partition's endpoint).
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_iam::Client::new(sdk),
        }
    }

    /// Every server certificate under `path_prefix`, all pages.
    pub async fn list(&self, path_prefix: &str) -> Result<Vec<ServerCert>, AwsError> {
        let mut certs = Vec::new();
        let mut pages = self
            .client
            .list_server_certificates()
            .path_prefix(path_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam", "ListServerCertificates", e))?;
            certs.extend(
                page.server_certificate_metadata_list()
                    .iter()
                    .map(|m| metadata(Some(m))),
            );
        }
        Ok(certs)
    }

    /// The body, chain and tags of the certificate `name`; `None` if there is none.
    pub async fn get(&self, name: &str) -> Result<Option<ServerCertBody>, AwsError> {
        match self
            .client
            .get_server_certificate()
            .server_certificate_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.server_certificate().map(|c| ServerCertBody {
                meta: metadata(c.server_certificate_metadata()),
                body: c.certificate_body().to_owned(),
                chain: c.certificate_chain().map(str::to_owned),
                tags: c
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            })),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(GetServerCertificateError::NoSuchEntityException(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("iam", "GetServerCertificate", e)),
        }
    }

    /// Uploads a server certificate with its tags.
    pub async fn upload(&self, cert: &NewServerCert<'_>) -> Result<Upload, AwsError> {
        let tags = iam_tags(cert.tags, "UploadServerCertificate")?;
        let result = self
            .client
            .upload_server_certificate()
            .server_certificate_name(cert.name)
            .path(cert.path)
            .certificate_body(cert.body)
            .certificate_chain(cert.chain)
            .private_key(cert.private_key)
            .set_tags(Some(tags))
            .send()
            .await;
        match result {
            Ok(out) => {
                let m = out.server_certificate_metadata().ok_or_else(|| AwsError {
                    service: "iam",
                    operation: "UploadServerCertificate",
                    code: "EmptyResponse".into(),
                    message: "no ServerCertificateMetadata in the response".into(),
                    source: None,
                })?;
                Ok(Upload::Created(metadata(Some(m))))
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UploadServerCertificateError::EntityAlreadyExistsException(
                        _
                    ))
                ) =>
            {
                Ok(Upload::AlreadyExists)
            }
            Err(e) => Err(AwsError::from_sdk("iam", "UploadServerCertificate", e)),
        }
    }

    /// Adds tags to a server certificate.
    pub async fn tag(&self, name: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        let tags = iam_tags(tags, "TagServerCertificate")?;
        self.client
            .tag_server_certificate()
            .server_certificate_name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map(drop)
            .map_err(|e| AwsError::from_sdk("iam", "TagServerCertificate", e))
    }

    /// Removes the tags `keys` from a server certificate.
    pub async fn untag(&self, name: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client
            .untag_server_certificate()
            .server_certificate_name(name)
            .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
            .send()
            .await
            .map(drop)
            .map_err(|e| AwsError::from_sdk("iam", "UntagServerCertificate", e))
    }

    /// The tags of a server certificate.
    pub async fn tags(&self, name: &str) -> Result<Vec<(String, String)>, AwsError> {
        let out = self
            .client
            .list_server_certificate_tags()
            .server_certificate_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam", "ListServerCertificateTags", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// How many server certificates the account holds and may hold (`GetAccountSummary`'s
    /// `ServerCertificates` and `ServerCertificatesQuota`).
    /// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountSummary.html>
    pub async fn server_certificate_quota(&self) -> Result<QuotaUse, AwsError> {
        let out = self
            .client
            .get_account_summary()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam", "GetAccountSummary", e))?;
        let map = out.summary_map();
        let get = |key: SummaryKeyType| map.and_then(|m| m.get(&key)).copied();
        match (
            get(SummaryKeyType::ServerCertificates),
            get(SummaryKeyType::ServerCertificatesQuota),
        ) {
            (Some(used), Some(quota)) => Ok(QuotaUse { used, quota }),
            _ => Err(AwsError {
                service: "iam",
                operation: "GetAccountSummary",
                code: "incomplete".into(),
                message: "the summary has no ServerCertificates or ServerCertificatesQuota".into(),
                source: None,
            }),
        }
    }

    /// Deletes a server certificate.
    pub async fn delete(&self, name: &str) -> Result<Deletion, AwsError> {
        match self
            .client
            .delete_server_certificate()
            .server_certificate_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(Deletion::Deleted),
            Err(e) => match e.as_service_error() {
                Some(DeleteServerCertificateError::DeleteConflictException(c)) => {
                    Ok(Deletion::InUse(c.message().unwrap_or("in use").to_owned()))
                }
                Some(DeleteServerCertificateError::NoSuchEntityException(_)) => Ok(Deletion::Gone),
                _ => Err(AwsError::from_sdk("iam", "DeleteServerCertificate", e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_shows_its_certificate_but_never_its_key_in_debug() {
        let tags = [("managed-by".to_owned(), "cert-rotator".to_owned())];
        let upload = NewServerCert {
            name: "shop-1",
            path: CLOUDFRONT_PATH,
            body: "LEAF",
            chain: "CHAIN",
            private_key: "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n",
            tags: &tags,
        };
        let text = format!("{upload:?} {upload:#?}");
        assert!(text.contains("shop-1") && text.contains("LEAF"), "{text}");
        assert!(
            !text.contains("SECRETKEY") && !text.contains("PRIVATE KEY"),
            "{text}"
        );
    }
}
