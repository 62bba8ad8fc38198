//! Elastic Load Balancing, v1 (Classic) and v2 (Application, Network): which IAM server
//! certificates the listeners of a region serve.
//!
//! IAM certificates serve load balancer listeners as well as CloudFront, and IAM does not reliably
//! refuse deleting one a listener uses: "If Elastic Load Balancing doesn't detect the deletion of
//! bound certificates, it may continue to use the certificates. This could cause Elastic Load
//! Balancing to stop accepting traffic"
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteServerCertificate.html>).
//! Retirement asks here first.
//!
//! - v1: DescribeLoadBalancers → `ListenerDescriptions[].Listener.SSLCertificateId`.
//! - v2: DescribeLoadBalancers → DescribeListeners → DescribeListenerCertificates for every
//!   HTTPS/TLS listener: DescribeListeners returns only the default certificate
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeListeners.html>),
//!   DescribeListenerCertificates the default and the others.
//!
//! Both sign as `elasticloadbalancing`; the API version tells them apart.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use aws_config::SdkConfig;

use super::AwsError;

/// An IAM server certificate a load balancer listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerUse {
    /// The certificate's ARN (`arn:<partition>:iam::<account>:server-certificate/...`).
    pub certificate_arn: String,
    /// The load balancer: its name (v1) or ARN (v2).
    pub load_balancer: String,
    /// The listener: its port (v1) or ARN (v2).
    pub listener: String,
    /// The region.
    pub region: String,
}

impl fmt::Display for ListenerUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "load balancer {} listener {}",
            self.load_balancer, self.listener
        )
    }
}

/// Whether `arn` names an IAM server certificate (not an ACM one).
pub fn is_iam_certificate(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    parts.next() == Some("arn")
        && parts.nth(1) == Some("iam")
        && parts
            .nth(2)
            .is_some_and(|r| r.starts_with("server-certificate/"))
}

/// The ELB adapter: v1 and v2 clients per region, made on first use.
#[derive(Debug)]
pub struct Elb {
    sdk: SdkConfig,
    v1: Mutex<HashMap<String, aws_sdk_elasticloadbalancing::Client>>,
    v2: Mutex<HashMap<String, aws_sdk_elasticloadbalancingv2::Client>>,
}

impl Clone for Elb {
    fn clone(&self) -> Self {
        Self::new(&self.sdk)
    }
}

impl Elb {
    /// The adapter for `sdk`'s credentials; regions are chosen per call.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            v1: Mutex::new(HashMap::new()),
            v2: Mutex::new(HashMap::new()),
        }
    }

    fn regional(&self, region: &str) -> SdkConfig {
        self.sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build()
    }

    fn v1(&self, region: &str) -> aws_sdk_elasticloadbalancing::Client {
        let mut clients = self.v1.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| aws_sdk_elasticloadbalancing::Client::new(&self.regional(region)))
            .clone()
    }

    fn v2(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        let mut clients = self.v2.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| aws_sdk_elasticloadbalancingv2::Client::new(&self.regional(region)))
            .clone()
    }

    /// Every IAM server certificate a listener of a Classic, Application or Network load
    /// balancer in `region` serves, with where.
    pub async fn iam_certificates_in_use(
        &self,
        region: &str,
    ) -> Result<Vec<ListenerUse>, AwsError> {
        let mut uses = self.classic(region).await?;
        uses.extend(self.current(region).await?);
        Ok(uses)
    }

    /// v1: every listener's `SSLCertificateId`.
    async fn classic(&self, region: &str) -> Result<Vec<ListenerUse>, AwsError> {
        let client = self.v1(region);
        let mut uses = Vec::new();
        let mut pages = client.describe_load_balancers().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("elb", "DescribeLoadBalancers", e))?;
            for lb in page.load_balancer_descriptions() {
                let name = lb.load_balancer_name().unwrap_or_default();
                for listener in lb
                    .listener_descriptions()
                    .iter()
                    .filter_map(|d| d.listener())
                {
                    let Some(arn) = listener.ssl_certificate_id() else {
                        continue;
                    };
                    if is_iam_certificate(arn) {
                        uses.push(ListenerUse {
                            certificate_arn: arn.to_owned(),
                            load_balancer: name.to_owned(),
                            listener: listener.load_balancer_port().to_string(),
                            region: region.to_owned(),
                        });
                    }
                }
            }
        }
        Ok(uses)
    }

    /// v2: every HTTPS/TLS listener's certificates, the default and the others.
    async fn current(&self, region: &str) -> Result<Vec<ListenerUse>, AwsError> {
        use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;

        let client = self.v2(region);
        let mut balancers = Vec::new();
        let mut pages = client.describe_load_balancers().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("elbv2", "DescribeLoadBalancers", e))?;
            balancers.extend(page.load_balancers().iter().filter_map(|lb| {
                Some((
                    lb.load_balancer_arn()?.to_owned(),
                    lb.load_balancer_name().unwrap_or_default().to_owned(),
                ))
            }));
        }
        let mut uses = Vec::new();
        for (lb_arn, lb_name) in balancers {
            let mut listeners = Vec::new();
            let mut pages = client
                .describe_listeners()
                .load_balancer_arn(&lb_arn)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| AwsError::from_sdk("elbv2", "DescribeListeners", e))?;
                listeners.extend(
                    page.listeners()
                        .iter()
                        .filter(|l| {
                            matches!(l.protocol(), Some(ProtocolEnum::Https | ProtocolEnum::Tls))
                        })
                        .filter_map(|l| l.listener_arn().map(str::to_owned)),
                );
            }
            for listener in listeners {
                let mut marker: Option<String> = None;
                loop {
                    let page = client
                        .describe_listener_certificates()
                        .listener_arn(&listener)
                        .set_marker(marker.take())
                        .send()
                        .await
                        .map_err(|e| {
                            AwsError::from_sdk("elbv2", "DescribeListenerCertificates", e)
                        })?;
                    for arn in page
                        .certificates()
                        .iter()
                        .filter_map(|c| c.certificate_arn())
                        .filter(|a| is_iam_certificate(a))
                    {
                        uses.push(ListenerUse {
                            certificate_arn: arn.to_owned(),
                            load_balancer: lb_name.clone(),
                            listener: listener.clone(),
                            region: region.to_owned(),
                        });
                    }
                    match page.next_marker().filter(|m| !m.is_empty()) {
                        Some(next) => marker = Some(next.to_owned()),
                        None => break,
                    }
                }
            }
        }
        Ok(uses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_iam_server_certificates_count() {
        assert!(is_iam_certificate(
            "arn:aws-cn:iam::123456789012:server-certificate/cloudfront/www-old"
        ));
        let global = crate::model::partition::Partition::of_region("us-east-1");
        let iam = global.arn("iam", "", "123456789012", "server-certificate/x");
        assert!(is_iam_certificate(&iam));
        let acm = global.arn("acm", "us-east-1", "123456789012", "certificate/abc");
        assert!(!is_iam_certificate(&acm));
        assert!(!is_iam_certificate("ASCACKCEVSQ6C2EXAMPLE"));
    }
}
