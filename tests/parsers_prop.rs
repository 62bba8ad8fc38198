//! Property tests of the parsers that take user input: names, events and bring-your-own files
//! never panic, accept only canonical names, and every refusal names a field or the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cert_rotator::certs::bundle::{normalize, File};
use cert_rotator::event;
use cert_rotator::model::names::DomainName;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("domains".to_owned()),
        Just("names".to_owned()),
        Just("force".to_owned()),
        Just("dry_run".to_owned()),
        Just("key_type".to_owned()),
        Just("detail".to_owned()),
        Just("detail-type".to_owned()),
        Just("source".to_owned()),
        "[a-z_-]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[a-z*.-]{1,30}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_name_or_a_clear_refusal(text in ".{0,300}") {
        match text.parse::<DomainName>() {
            Ok(name) => {
                let s = name.as_str();
                prop_assert_eq!(s, s.to_ascii_lowercase());
                prop_assert!(!s.ends_with('.') && s.len() <= 253 && s.contains('.'));
                prop_assert_eq!(s.parse::<DomainName>().unwrap(), name.clone());
                prop_assert!(name.is_wildcard() || name.covers(s));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn names_made_of_valid_labels_are_accepted_and_cover_themselves(
        labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 1..4),
        tld in "[a-z]{2,6}",
        wildcard in any::<bool>(),
    ) {
        let base = format!("{}.{tld}", labels.join("."));
        let name: DomainName = if wildcard { format!("*.{base}") } else { base.clone() }.parse().unwrap();
        prop_assert_eq!(name.base(), base.as_str());
        if wildcard {
            let host = format!("www.{base}");
            prop_assert!(name.covers(&host));
            prop_assert!(!name.covers(&base));
        } else {
            prop_assert!(name.covers(&base.to_uppercase()));
        }
    }

    #[test]
    fn any_json_is_a_request_or_an_error_naming_a_field(value in arb_json()) {
        if let Err(e) = event::parse(&value) {
            prop_assert!(e.to_string().starts_with("event field "), "{}", e);
        }
    }

    #[test]
    fn any_names_in_a_well_shaped_event_are_accepted_or_refused_by_position(
        names in prop::collection::vec(".{0,30}", 1..6),
        force in any::<bool>(),
    ) {
        match event::parse(&json!({"domains": [{"names": names, "force": force}]})) {
            Ok(request) => prop_assert_eq!(request.domains[0].names.len(), names.len()),
            Err(e) => prop_assert!(e.to_string().starts_with("event field domains[0].names["), "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Whatever a bring-your-own file holds — noise, noise that starts like a PKCS#12 archive, or
    /// text with a PEM block of noise — it is refused with a message naming the file.
    #[test]
    fn any_bytes_are_refused_naming_the_file(
        noise in prop::collection::vec(any::<u8>(), 0..2048),
        shape in 0..3u8,
    ) {
        let bytes = match shape {
            0 => noise,
            1 => [&[0x30, 0x82, 0x08, 0x00, 0x02, 0x01, 0x03][..], &noise].concat(),
            _ => format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                String::from_utf8_lossy(&noise)
            )
            .into_bytes(),
        };
        let file = File { origin: "s3://b/f", bytes: &bytes, format: None };
        let e = normalize(&[file], Some("pw"), &[], time::OffsetDateTime::now_utc()).unwrap_err();
        prop_assert!(e.to_string().contains("s3://b/f"), "{}", e);
    }
}
