//! Where a domain's certificate goes: CloudFront through IAM (the China path and the default), and
//! ACM in the region each service needs — through one table, in the partition of the run.
//!
//! | service | ACM region | why |
//! |---|---|---|
//! | CloudFront | us-east-1 | global service, control plane in us-east-1 |
//! | API Gateway, edge-optimized | us-east-1 | served through CloudFront |
//! | Amplify Hosting | us-east-1 | served through CloudFront |
//! | API Gateway, regional | the API's region | regional service |
//! | Application / Network Load Balancer | the load balancer's region | regional service |
//! | Elastic Beanstalk | the environment's region | uses a regional load balancer |
//! | App Runner | the service's region | regional service |
//! | Transfer Family | the server's region | regional service |
//!
//! In AWS China CloudFront takes only IAM server certificates, and there is no us-east-1: a
//! CloudFront-served target there is `cloudfront-iam`, and ACM targets are cn-north-1 or
//! cn-northwest-1. Pure: JSON in, [`Targets`] or a [`TargetError`] naming the field out.

use std::fmt;

use crate::model::partition::Partition;

/// A service that takes its certificate from ACM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// Amazon CloudFront.
    Cloudfront,
    /// API Gateway with an edge-optimized endpoint.
    ApiGatewayEdge,
    /// AWS Amplify Hosting.
    Amplify,
    /// API Gateway with a regional endpoint.
    ApiGatewayRegional,
    /// Application Load Balancer.
    Alb,
    /// Network Load Balancer (TLS listeners).
    Nlb,
    /// Elastic Beanstalk (its load balancer).
    ElasticBeanstalk,
    /// AWS App Runner.
    AppRunner,
    /// AWS Transfer Family (FTPS).
    TransferFamily,
}

/// Where a service needs its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// In the partition's global-certificate region (us-east-1), because it is served through
    /// CloudFront.
    Global,
    /// In the region of the resource itself.
    Regional(&'static str),
}

/// The table: key, other spellings, name, placement.
const TABLE: [(Service, &str, &[&str], &str, Placement); 9] = [
    (
        Service::Cloudfront,
        "cloudfront",
        &[],
        "CloudFront",
        Placement::Global,
    ),
    (
        Service::ApiGatewayEdge,
        "api-gateway-edge",
        &["apigateway-edge", "api-gateway-edge-optimized"],
        "API Gateway (edge-optimized)",
        Placement::Global,
    ),
    (
        Service::Amplify,
        "amplify",
        &["amplify-console", "amplify-hosting"],
        "Amplify Hosting",
        Placement::Global,
    ),
    (
        Service::ApiGatewayRegional,
        "api-gateway-regional",
        &["apigateway-regional", "api-gateway"],
        "API Gateway (regional)",
        Placement::Regional("the API's region"),
    ),
    (
        Service::Alb,
        "alb",
        &["application-load-balancer", "elb"],
        "Application Load Balancer",
        Placement::Regional("the load balancer's region"),
    ),
    (
        Service::Nlb,
        "nlb",
        &["network-load-balancer"],
        "Network Load Balancer",
        Placement::Regional("the load balancer's region"),
    ),
    (
        Service::ElasticBeanstalk,
        "elastic-beanstalk",
        &["beanstalk"],
        "Elastic Beanstalk",
        Placement::Regional("the environment's region"),
    ),
    (
        Service::AppRunner,
        "app-runner",
        &["apprunner"],
        "App Runner",
        Placement::Regional("the service's region"),
    ),
    (
        Service::TransferFamily,
        "transfer-family",
        &["transfer"],
        "Transfer Family",
        Placement::Regional("the server's region"),
    ),
];

impl Service {
    fn row(
        self,
    ) -> &'static (
        Service,
        &'static str,
        &'static [&'static str],
        &'static str,
        Placement,
    ) {
        TABLE.iter().find(|r| r.0 == self).unwrap_or(&TABLE[0])
    }

    /// The service a user's spelling names.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase().replace('_', "-");
        TABLE
            .iter()
            .find(|r| r.1 == t || r.2.contains(&t.as_str()))
            .map(|r| r.0)
    }

    /// Its key in events and reports.
    pub fn key(self) -> &'static str {
        self.row().1
    }

    /// Whether it is served through CloudFront (and so needs its certificate in us-east-1).
    pub fn is_global(self) -> bool {
        self.row().4 == Placement::Global
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.row().3)
    }
}

/// How CloudFront distributions serving the names get the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudFrontVia {
    /// An IAM server certificate under `/cloudfront/` (the only way in AWS China).
    Iam,
    /// The ACM certificate in us-east-1, re-imported in place on renewal.
    Acm,
}

/// One ACM region and the services the certificate there is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AcmRegion {
    /// The region.
    pub region: String,
    /// The services named for it (empty for a bare region).
    pub services: Vec<Service>,
}

/// Where one domain's certificate goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Targets {
    /// The distributions serving the names, and how; `None` leaves CloudFront alone.
    pub cloudfront: Option<CloudFrontVia>,
    /// ACM imports, one per region, in the order first named.
    pub acm: Vec<AcmRegion>,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            cloudfront: Some(CloudFrontVia::Iam),
            acm: Vec::new(),
        }
    }
}

impl Targets {
    /// The ACM regions.
    pub fn acm_regions(&self) -> impl Iterator<Item = &str> {
        self.acm.iter().map(|a| a.region.as_str())
    }
}

/// A target that cannot be honoured, with the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TargetError {
    /// The field, e.g. `domains[0].targets[1].region`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> TargetError {
    TargetError {
        field: field.into(),
        message: message.into(),
    }
}

/// The explanation the second background document gives, for a global service asked into
/// another region.
fn global_only(service: Service, region: &str, global: &str) -> String {
    let alternative = match service {
        Service::ApiGatewayEdge => " — or make the API's endpoint REGIONAL and use {\"type\": \"acm\", \"service\": \"api-gateway-regional\", \"region\": \"<the API's region>\"}",
        _ => "",
    };
    format!(
        "{service} must have its certificate in ACM in {global}, not {region}: {} is served through CloudFront, a global service whose control plane is in {global}, so a certificate imported to {region} cannot be used by it, wherever the viewers or the origin are (API Gateway answers \"The certificate must be in us-east-1 Region\"). Leave \"region\" out (cert-rotator imports to {global}) or set it to {global}{alternative}",
        if service == Service::Cloudfront { "CloudFront" } else { "it" }
    )
}

/// Resolves a domain's `targets` (the JSON list, `field` its path) for a run in `partition`
/// and `run_region`. `None` is the default: CloudFront through IAM.
pub fn resolve(
    raw: Option<&serde_json::Value>,
    field: &str,
    partition: Partition,
    run_region: &str,
) -> Result<Targets, TargetError> {
    let Some(raw) = raw else {
        return Ok(Targets::default());
    };
    let list = raw.as_array().ok_or_else(|| {
        err(field, "must be a list, e.g. [\"cloudfront-iam\", {\"type\": \"acm\", \"service\": \"alb\", \"region\": \"cn-northwest-1\"}]")
    })?;
    if list.is_empty() {
        return Err(err(field, "is empty: leave it out for the default [\"cloudfront-iam\"], or name at least one target"));
    }
    let mut targets = Targets {
        cloudfront: None,
        acm: Vec::new(),
    };
    for (i, item) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let (kind, service, region) = target_fields(item, &at)?;
        match kind {
            "cloudfront-iam" => {
                if service.is_some() || region.is_some() {
                    return Err(err(&at, "cloudfront-iam takes no service or region: IAM server certificates are global, and every distribution serving the names is updated"));
                }
                if targets.cloudfront == Some(CloudFrontVia::Acm) {
                    return Err(err(&at, "CloudFront is already served from ACM by another target: a distribution has one certificate; keep one of the two"));
                }
                targets.cloudfront = Some(CloudFrontVia::Iam);
            }
            "acm" => add_acm(
                &mut targets,
                &at,
                (service, region),
                (partition, run_region),
            )?,
            other => {
                return Err(err(
                    format!("{at}.type"),
                    format!("unknown target type {other:?}: \"cloudfront-iam\" or \"acm\""),
                ))
            }
        }
    }
    Ok(targets)
}

/// A target's `type`, `service` and `region`, from a string or an object.
fn target_fields<'v>(
    item: &'v serde_json::Value,
    at: &str,
) -> Result<(&'v str, Option<&'v str>, Option<&'v str>), TargetError> {
    match item {
        serde_json::Value::String(s) => Ok((s.as_str(), None, None)),
        serde_json::Value::Object(o) => {
            if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "type" | "service" | "region")) {
                return Err(err(format!("{at}.{k}"), "unknown field: a target has \"type\", \"service\" and \"region\""));
            }
            let text = |k: &str| -> Result<Option<&'v str>, TargetError> {
                match o.get(k) {
                    None => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
                    Some(_) => Err(err(format!("{at}.{k}"), "must be a string")),
                }
            };
            let kind = text("type")?.ok_or_else(|| {
                err(format!("{at}.type"), "missing: \"cloudfront-iam\" or \"acm\"")
            })?;
            Ok((kind, text("service")?, text("region")?))
        }
        _ => Err(err(at, "must be \"cloudfront-iam\" or an object like {\"type\": \"acm\", \"service\": \"alb\", \"region\": \"ap-northeast-1\"}")),
    }
}

/// Adds an ACM target at `at` to `targets`: its service parsed, its region from the table (or
/// the run's region for a regional service without one), within the run's partition.
fn add_acm(
    targets: &mut Targets,
    at: &str,
    (service, region): (Option<&str>, Option<&str>),
    (partition, run_region): (Partition, &str),
) -> Result<(), TargetError> {
    let service = match service {
        None => None,
        Some(s) => Some(Service::parse(s).ok_or_else(|| {
            err(
                format!("{at}.service"),
                format!(
                    "unknown service {s:?}: one of {}",
                    TABLE.iter().map(|r| r.1).collect::<Vec<_>>().join(", ")
                ),
            )
        })?),
    };
    if let Some(r) = region {
        if !Partition::is_region_name(r) {
            return Err(err(
                format!("{at}.region"),
                format!(
                    "{r:?} is not a region name: write it like ap-northeast-1 or cn-northwest-1"
                ),
            ));
        }
    }
    let region = acm_region(at, service, region, (partition, run_region))?;
    let region_partition = Partition::of_region(&region);
    if region_partition != partition {
        return Err(err(format!("{at}.region"), format!("{region} is in partition {region_partition}, but this function runs in {run_region} ({partition}): credentials of one partition cannot import into another; deploy cert-rotator in {region_partition} for it")));
    }
    if service == Some(Service::Cloudfront) {
        if targets.cloudfront == Some(CloudFrontVia::Iam) {
            return Err(err(at, "CloudFront is already served through IAM by another target: a distribution has one certificate; keep one of the two"));
        }
        targets.cloudfront = Some(CloudFrontVia::Acm);
    }
    match targets.acm.iter_mut().find(|a| a.region == region) {
        Some(existing) => existing
            .services
            .extend(service.filter(|s| !existing.services.contains(s))),
        None => targets.acm.push(AcmRegion {
            region,
            services: service.into_iter().collect(),
        }),
    }
    Ok(())
}

/// The ACM region of a target: the partition's global region for a CloudFront-served service,
/// else the region named, else the run's region for a named service.
fn acm_region(
    at: &str,
    service: Option<Service>,
    region: Option<&str>,
    (partition, run_region): (Partition, &str),
) -> Result<String, TargetError> {
    match service {
        Some(s) if s.is_global() => {
            let Some(global) = partition.global_certificate_region() else {
                return Err(err(format!("{at}.service"), match s {
                    Service::Cloudfront => "in AWS China CloudFront takes only IAM server certificates, not ACM ones: use \"cloudfront-iam\" (the default)".to_owned(),
                    other => format!("{other} is served through CloudFront, which in AWS China takes no ACM certificate: use a regional endpoint (e.g. api-gateway-regional) with its certificate in cn-north-1 or cn-northwest-1"),
                }));
            };
            if let Some(r) = region.filter(|r| *r != global) {
                return Err(err(format!("{at}.region"), global_only(s, r, global)));
            }
            Ok(global.to_owned())
        }
        _ => match region {
            Some(r) => Ok(r.to_owned()),
            None if service.is_some() => Ok(run_region.to_owned()),
            None => Err(err(
                at,
                "an acm target names a \"service\" (e.g. \"alb\"), a \"region\", or both",
            )),
        },
    }
}

#[cfg(test)]
#[path = "targets_tests.rs"]
mod tests;
