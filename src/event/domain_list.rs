//! A domain list kept in S3: `"domains": "s3://bucket/key"` in place of the list itself.
//!
//! A CloudFormation parameter's value holds at most 4,096 bytes
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>),
//! so the stack's `Domains` parameter holds some 50 to 100 plain domains, and about 15 that name
//! `dns` and `account` roles. A larger estate keeps its list as a JSON file in S3 (the stack's
//! `DomainsKey`, in `SourceBucket`): the schedule's input names the object, each run reads it —
//! at most [`MAX_EVENT_BYTES`] — and validates it exactly as a list given inline, every error
//! naming the object. Whoever may write the object decides what the function renews, as whoever
//! may update the stack does.
//!
//! Pure: the run reads the object ([`crate::handler`]); this module finds the reference, puts the
//! list read in its place, and says what is wrong with it.

use serde_json::Value;

use super::{invalid, unwrap_envelope, EventError, MAX_EVENT_BYTES};
use crate::certs::source::{Location, Reserved};

/// An S3 object holding a domain list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainList {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Where the event's request is: `""`, or `"detail."` in an EventBridge envelope.
    prefix: &'static str,
}

impl std::fmt::Display for DomainList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The object the event's `domains` names, if it names one instead of listing the domains.
pub fn reference(event: &Value) -> Result<Option<DomainList>, EventError> {
    let (body, prefix) = unwrap_envelope(event);
    let Some(Value::String(text)) = body.get("domains") else {
        return Ok(None);
    };
    match Location::parse(text) {
        Ok(Location::S3 { bucket, key }) => Ok(Some(DomainList {
            bucket,
            key,
            prefix,
        })),
        _ => Err(invalid(
            format!("{prefix}domains"),
            format!("{text:?} is neither a list of domains nor an S3 object: write the list, [{{\"names\": [\"cdn.example.cn\"]}}], or \"s3://bucket/key\" of a JSON file holding it"),
        )),
    }
}

impl DomainList {
    /// `event` with the list read from the object (`bytes`) in place of the object's name.
    pub fn substitute(&self, event: &Value, bytes: &[u8]) -> Result<Value, EventError> {
        let list: Value = serde_json::from_slice(bytes).map_err(|e| {
            self.error(format!("is not JSON ({e}): write the list as the Domains parameter takes it, [{{\"names\": [\"cdn.example.cn\"]}}, ...]"))
        })?;
        if !list.is_array() {
            let kind = match list {
                Value::Object(_) => "an object",
                Value::String(_) => "a string",
                Value::Null => "null",
                _ => "a scalar",
            };
            return Err(self.error(format!(
                "holds {kind}, not a list of domains: write [{{\"names\": [\"cdn.example.cn\"]}}, ...]"
            )));
        }
        let mut event = event.clone();
        let body = if self.prefix.is_empty() {
            &mut event
        } else {
            &mut event["detail"]
        };
        body["domains"] = list;
        Ok(event)
    }

    /// The object is missing.
    pub fn missing(&self) -> EventError {
        self.error("does not exist: upload the domain list there (a JSON array, as the Domains parameter takes it), or fix the object's name (the stack's DomainsKey)".into())
    }

    /// The object is larger than a list can be.
    pub fn too_large(&self, size: u64, at_least: bool) -> EventError {
        let more = if at_least { "more than " } else { "" };
        self.error(format!(
            "is {more}{size} bytes; a domain list holds at most {MAX_EVENT_BYTES} bytes ({} domains of a few names take about 50 KiB): is this the right object?",
            super::MAX_DOMAINS
        ))
    }

    /// The object could not be read.
    pub fn unreadable(&self, error: impl std::fmt::Display) -> EventError {
        self.error(format!("could not be read: {error} — the function reads only objects of the stack's SourceBucket (DomainsKey is a key in it); if the object is encrypted with a KMS key of your own, the function needs kms:Decrypt on it"))
    }

    /// Refuses a list in the archive bucket: it holds keys, never a domain list (only the
    /// function writes there), and an error quoting a key's bytes must not be possible.
    pub fn refuse_reserved(&self, reserved: Reserved<'_>) -> Result<(), EventError> {
        if self.bucket == reserved.archive_bucket {
            return Err(self.error("is in cert-rotator's archive bucket, which holds keys and is written by the function alone: put the domain list in the stack's SourceBucket (DomainsKey)".into()));
        }
        Ok(())
    }

    /// The event's field naming the object: `domains`, or `detail.domains`.
    fn field(&self) -> String {
        format!("{}domains", self.prefix)
    }

    /// `error`, found in the list read from the object: its field is named within the object.
    pub fn within(&self, error: EventError) -> EventError {
        match error {
            EventError::Shape { field, message } if field.starts_with(&self.field()) => {
                EventError::Shape {
                    field: format!("{field} (in {self})"),
                    message,
                }
            }
            EventError::Invalid { field, message } if field.starts_with(&self.field()) => {
                EventError::Invalid {
                    field: format!("{field} (in {self})"),
                    message,
                }
            }
            other => other,
        }
    }

    fn error(&self, what: String) -> EventError {
        invalid(self.field(), format!("{self} {what}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::parse;

    fn list_of(event: &Value) -> DomainList {
        reference(event).unwrap().expect("names an object")
    }

    #[test]
    fn an_inline_list_names_no_object() {
        assert_eq!(
            reference(&json!({"domains": [{"names": ["a.example.cn"]}]})),
            Ok(None)
        );
        assert_eq!(reference(&json!({"inventory": true})), Ok(None));
    }

    #[test]
    fn the_list_read_takes_the_objects_place_and_is_validated_as_if_inline() {
        let event = json!({"schedule": {"arn": "arn:aws-cn:scheduler:::x"}, "domains": "s3://inputs/cert-rotator/domains.json"});
        let list = list_of(&event);
        assert_eq!(
            (list.bucket.as_str(), list.key.as_str()),
            ("inputs", "cert-rotator/domains.json")
        );
        let read = list
            .substitute(
                &event,
                br#"[{"names": ["a.example.cn"]}, {"names": ["b.example.cn"]}]"#,
            )
            .unwrap();
        let request = parse(&read).unwrap();
        assert_eq!(request.domains.len(), 2);
        assert!(request.schedule.is_some(), "the rest of the event is kept");
    }

    #[test]
    fn in_an_eventbridge_envelope_the_detail_names_the_object() {
        let event =
            json!({"detail-type": "x", "source": "y", "detail": {"domains": "s3://b/k.json"}});
        let list = list_of(&event);
        let read = list
            .substitute(&event, br#"[{"names": ["a.example.cn"]}]"#)
            .unwrap();
        assert_eq!(parse(&read).unwrap().domains.len(), 1);
        let error = list.missing().to_string();
        assert!(
            error.starts_with("event field detail.domains: s3://b/k.json does not exist"),
            "{error}"
        );
    }

    #[test]
    fn each_bad_list_says_what_is_wrong_and_names_the_object() {
        let event = json!({"domains": "s3://b/list.json"});
        let list = list_of(&event);
        for (bytes, expected) in [
            (
                &b"[{\"names\": [\"a.example.cn\"]},"[..],
                "s3://b/list.json is not JSON",
            ),
            (
                &b"{\"domains\": []}"[..],
                "s3://b/list.json holds an object, not a list of domains",
            ),
            (&b"\"s3://b/other.json\""[..], "holds a string"),
        ] {
            let error = list.substitute(&event, bytes).unwrap_err().to_string();
            assert!(
                error.starts_with("event field domains: ") && error.contains(expected),
                "{error}"
            );
        }
        let read = list
            .substitute(
                &event,
                br#"[{"names": ["a.example.cn"]}, {"name": ["b.example.cn"]}]"#,
            )
            .unwrap();
        let error = list.within(parse(&read).unwrap_err()).to_string();
        assert!(
            error.starts_with("event field domains[1].name (in s3://b/list.json): unknown field"),
            "{error}"
        );
        let error = list.too_large(3 << 20, false).to_string();
        assert!(
            error.contains("s3://b/list.json is 3145728 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_list_in_the_archive_bucket_is_refused_before_it_is_read() {
        let list = list_of(&json!({"domains": "s3://archive/archive/abc/cert.json"}));
        let reserved = Reserved {
            archive_bucket: "archive",
            account_secret: "cert-rotator/acme-account",
        };
        let error = list.refuse_reserved(reserved).unwrap_err().to_string();
        assert!(
            error.contains("is in cert-rotator's archive bucket"),
            "{error}"
        );
        let elsewhere = list_of(&json!({"domains": "s3://inputs/domains.json"}));
        assert!(elsewhere.refuse_reserved(reserved).is_ok());
    }

    #[test]
    fn a_string_that_names_no_object_is_refused() {
        for text in ["cdn.example.cn", "s3://bucket-only", "secretsmanager:list"] {
            let error = reference(&json!({"domains": text}))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("event field domains: ")
                    && error.contains("neither a list of domains nor an S3 object"),
                "{error}"
            );
        }
    }
}
