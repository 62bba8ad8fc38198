//! S3: the archive of issued certificates and keys, and the run's lease lock.
//!
//! Objects are written with server-side encryption (SSE-S3, or SSE-KMS with a key id). The lock
//! uses S3 conditional writes: `If-None-Match: *` creates only if absent, `If-Match: <etag>`
//! replaces only what we read (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html>);
//! a lost race is [`Put::PreconditionFailed`].

use aws_config::SdkConfig;
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::{ByteStream, DateTimeFormat};
use aws_sdk_s3::types::ServerSideEncryption;
use time::OffsetDateTime;

use super::AwsError;

/// A stored object: its bytes and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The content.
    pub body: Vec<u8>,
    /// The ETag, for a conditional write.
    pub etag: String,
}

/// What a bounded read ([`S3::get_bounded`]) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounded {
    /// The object, no larger than the limit.
    Within(Object),
    /// An object larger than the limit: `size` bytes as S3 declared it, or at least `size` when
    /// its body ran past the limit. Nothing past the limit was read.
    Over {
        /// Its size, or how much was read before the read stopped.
        size: u64,
        /// Whether `size` is a lower bound (the body ran past the limit).
        at_least: bool,
    },
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; the new ETag.
    Written(String),
    /// The condition did not hold (someone else wrote first).
    PreconditionFailed,
}

/// When to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Always.
    None,
    /// Only if no object exists at the key.
    Absent,
    /// Only if the object still has this ETag.
    Matches(&'a str),
}

/// S3's own times for an object read ([`S3::get_timed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct S3Clock {
    /// When the object was last written (`Last-Modified`, whole seconds).
    pub last_modified: Option<OffsetDateTime>,
    /// S3's time when it answered (`Date`, whole seconds).
    pub served_at: Option<OffsetDateTime>,
}

/// Reads the `Date` header of a response (the SDK's outputs do not carry it).
#[derive(Debug, Clone, Default)]
struct ServedAt(std::sync::Arc<std::sync::Mutex<Option<OffsetDateTime>>>);

impl ServedAt {
    fn get(&self) -> Option<OffsetDateTime> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Intercept for ServedAt {
    fn name(&self) -> &'static str {
        "ServedAt"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context.response().headers().get("date").and_then(|d| {
            aws_sdk_s3::primitives::DateTime::from_str(d, DateTimeFormat::HttpDate)
                .ok()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
        });
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = date;
        Ok(())
    }
}

/// The S3 adapter, for one bucket.
#[derive(Debug, Clone)]
pub struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key: Option<String>,
}

impl S3 {
    /// A client for `bucket`, encrypting with `kms_key` if given, else SSE-S3.
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>, kms_key: Option<String>) -> Self {
        Self {
            client: aws_sdk_s3::Client::new(sdk),
            bucket: bucket.into(),
            kms_key,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Writes `body` at `key` if `condition` holds.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Condition<'_>,
    ) -> Result<Put, AwsError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        req = match &self.kms_key {
            Some(k) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k),
            None => req.server_side_encryption(ServerSideEncryption::Aes256),
        };
        req = match condition {
            Condition::None => req,
            Condition::Absent => req.if_none_match("*"),
            Condition::Matches(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => Ok(Put::Written(out.e_tag().unwrap_or_default().to_owned())),
            Err(e)
                if e.code() == Some("PreconditionFailed")
                    || e.code() == Some("ConditionalRequestConflict") =>
            {
                Ok(Put::PreconditionFailed)
            }
            Err(e) => Err(AwsError::from_sdk("s3", "PutObject", e)),
        }
    }

    /// The object at `key`, or `None` (our own objects: the archive, the lease, the journal).
    pub async fn get(&self, key: &str) -> Result<Option<Object>, AwsError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_owned();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::invalid_request("s3", "GetObject", e))?
                    .into_bytes()
                    .to_vec();
                Ok(Some(Object { body, etag }))
            }
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("s3", "GetObject", e)),
        }
    }

    /// The object at `key` with S3's clock: when it was last written, and S3's time when it
    /// answered (the response's `Date` header). A lease judged by these is not fooled by the
    /// caller's clock.
    pub async fn get_timed(&self, key: &str) -> Result<Option<(Object, S3Clock)>, AwsError> {
        let date = ServedAt::default();
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .customize()
            .interceptor(date.clone())
            .send()
            .await;
        match sent {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_owned();
                let last_modified = out
                    .last_modified()
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok());
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::invalid_request("s3", "GetObject", e))?
                    .into_bytes()
                    .to_vec();
                let clock = S3Clock {
                    last_modified,
                    served_at: date.get(),
                };
                Ok(Some((Object { body, etag }, clock)))
            }
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("s3", "GetObject", e)),
        }
    }

    /// The object at `key` in `bucket` (a bring-your-own certificate's file), or `None`, read
    /// only if it holds at most `limit` bytes: its `Content-Length` is checked before the body is
    /// read, and the read stops past `limit` whatever the length said, so a huge object never
    /// costs more than `limit` bytes of memory.
    pub async fn get_bounded(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<Option<Bounded>, AwsError> {
        let mut out = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Ok(None)
            }
            Err(e) => return Err(AwsError::from_sdk("s3", "GetObject", e)),
        };
        if let Some(size) = out.content_length().and_then(|n| u64::try_from(n).ok()) {
            if size > limit {
                return Ok(Some(Bounded::Over {
                    size,
                    at_least: false,
                }));
            }
        }
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let mut body = Vec::new();
        while let Some(chunk) = out.body.next().await {
            let chunk = chunk.map_err(|e| AwsError::invalid_request("s3", "GetObject", e))?;
            body.extend_from_slice(&chunk);
            let read = u64::try_from(body.len()).unwrap_or(u64::MAX);
            if read > limit {
                return Ok(Some(Bounded::Over {
                    size: read,
                    at_least: true,
                }));
            }
        }
        Ok(Some(Bounded::Within(Object { body, etag })))
    }

    /// Deletes `key` if it still has `etag` (a missing object counts as deleted).
    pub async fn delete_if(&self, key: &str, etag: &str) -> Result<Put, AwsError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(Put::Written(String::new())),
            Err(e) if e.code() == Some("PreconditionFailed") => Ok(Put::PreconditionFailed),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(Put::Written(String::new())),
            Err(e) => Err(AwsError::from_sdk("s3", "DeleteObject", e)),
        }
    }

    /// Deletes `key` (a missing object counts as deleted).
    pub async fn delete(&self, key: &str) -> Result<(), AwsError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(|e| AwsError::from_sdk("s3", "DeleteObject", e))
    }

    /// The keys under `prefix`, all pages.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("s3", "ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }
}
