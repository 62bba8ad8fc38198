//! The ACME client's HTTP: instant-acme's own hyper client (public roots, or the private root of
//! `CERT_ROTATOR_ACME_CA_BUNDLE`), with the CA's rate limits made visible.
//!
//! A CA refusing a request under a rate limit answers 429 with the problem type
//! `urn:ietf:params:acme:error:rateLimited` and may say when to come back in a `Retry-After`
//! header (RFC 8555 section 6.6; Let's Encrypt sends it with every rate-limit answer,
//! <https://letsencrypt.org/docs/rate-limits/>, "Retrying After Hitting Rate Limits").
//! instant-acme 0.8.5 turns the answer into a `Problem` and drops its headers, so the date
//! would be lost; [`RateLimitAware`] reads it first and answers the caller with a [`RateLimit`]
//! (inside `instant_acme::Error::Other`), which [`crate::acme`] turns into
//! [`AcmeError::RateLimited`](super::AcmeError::RateLimited). Nothing else is changed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderMap, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient, Problem};
use rustls_pki_types::CertificateDer;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The problem type of a rate limit (RFC 8555 section 6.7).
pub const RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";

/// The CA's answer to a request it refused under a rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// The problem type, if the answer had a problem document.
    pub kind: Option<String>,
    /// The CA's explanation (Let's Encrypt's names the limit and links its documentation).
    pub detail: Option<String>,
    /// When the CA takes requests again, from `Retry-After`.
    pub retry_after: Option<OffsetDateTime>,
    /// The request was not sent: an earlier answer of the run put the whole account under it.
    pub not_sent: bool,
}

impl RateLimit {
    /// Whether the limit is the account's, not these names' (Let's Encrypt's "New Orders per
    /// Account": 300 new orders per account per 3 hours), so every order of the account would be
    /// refused until `retry_after`.
    pub fn account_wide(&self) -> bool {
        self.detail.as_deref().is_some_and(|d| {
            d.contains("new-orders-per-account") || d.contains("too many new orders")
        })
    }
}

impl RateLimit {
    /// When the CA takes orders again, in words.
    pub fn comes_back(&self) -> String {
        match &self.retry_after {
            Some(at) => format!(
                "the CA takes orders again at {}",
                at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
            ),
            None => "the CA said no time to come back".into(),
        }
    }
}

/// The CA's problem: its detail and type.
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail.as_deref().unwrap_or("too many requests"))?;
        write!(f, " ({})", self.kind.as_deref().unwrap_or(RATE_LIMITED))?;
        if self.not_sent {
            f.write_str(
                "; this order was not sent: an earlier order of this run met this account's limit",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RateLimit {}

/// The time a `Retry-After` header names (RFC 9110 section 10.2.3: seconds, or an HTTP date).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<OffsetDateTime> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let at = match value.parse::<u64>() {
        Ok(seconds) => now.checked_add(Duration::from_secs(seconds))?,
        Err(_) => httpdate::parse_http_date(value).ok()?,
    };
    Some(OffsetDateTime::from(at))
}

/// instant-acme's HTTP client that answers a 429 with a [`RateLimit`] error.
pub struct RateLimitAware {
    inner: Box<dyn HttpClient>,
}

impl RateLimitAware {
    /// Trusting the platform's roots, or only the certificates in `roots`.
    pub fn new(roots: Option<Vec<CertificateDer<'static>>>) -> Result<Self, instant_acme::Error> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match roots {
            None => builder
                .try_with_platform_verifier()
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?,
            Some(ders) => {
                let mut store = rustls::RootCertStore::empty();
                for der in ders {
                    store
                        .add(der)
                        .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
                }
                builder.with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(store)
                        .with_no_client_auth(),
                )
            }
        };
        let connector = builder.https_only().enable_http1().enable_http2().build();
        let client: HyperClient<_, BodyWrapper<Bytes>> =
            HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            inner: Box::new(client),
        })
    }
}

impl HttpClient for RateLimitAware {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let sent = self.inner.request(req);
        Box::pin(async move {
            let mut response = sent.await?;
            if response.parts.status != StatusCode::TOO_MANY_REQUESTS {
                return Ok(response);
            }
            let retry_after = retry_after(&response.parts.headers, SystemTime::now());
            let body = response
                .body
                .into_bytes()
                .await
                .map_err(instant_acme::Error::Other)?;
            let problem = serde_json::from_slice::<Problem>(&body).ok();
            Err(instant_acme::Error::Other(Box::new(RateLimit {
                kind: problem.as_ref().and_then(|p| p.r#type.clone()),
                detail: problem.and_then(|p| p.detail),
                retry_after,
                not_sent: false,
            })))
        })
    }
}

/// The rate limit inside an instant-acme error, if it is one.
pub fn rate_limit(error: &instant_acme::Error) -> Option<&RateLimit> {
    match error {
        instant_acme::Error::Other(inner) => inner.downcast_ref::<RateLimit>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = SystemTime::from(datetime!(2026-12-02 03:00 UTC));
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(
            retry_after(&headers, now),
            Some(datetime!(2026-12-02 04:00 UTC))
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 09 Dec 2026 03:00:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers, now),
            Some(datetime!(2026-12-09 03:00 UTC))
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn lets_encrypts_new_orders_limit_is_the_accounts() {
        let limit = |detail: &str| RateLimit {
            kind: Some(RATE_LIMITED.into()),
            detail: Some(detail.into()),
            retry_after: Some(datetime!(2026-12-02 06:00 UTC)),
            not_sent: false,
        };
        let orders = limit("too many new orders (300) from this account in the last 3h0m0s, retry after 2026-12-02 06:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-orders-per-account");
        assert!(orders.account_wide());
        let duplicate = limit("too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-02 06:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers");
        assert!(!duplicate.account_wide());
        assert!(duplicate
            .to_string()
            .ends_with("#new-certificates-per-exact-set-of-identifiers (urn:ietf:params:acme:error:rateLimited)"));
        assert_eq!(
            duplicate.comes_back(),
            "the CA takes orders again at 2026-12-02T06:00:00Z"
        );
    }
}
