//! Captures every log line of the test process at TRACE, through the subscriber the binaries use
//! (`cert_rotator::logging`, with its caps on the SDK's wire logging), so tests can assert that no
//! secret reaches one whatever level is asked for.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Mutex, Once};

use cert_rotator::logging::{self, Settings};
use tracing::level_filters::LevelFilter;

static LINES: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT: Once = Once::new();

struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LINES.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The SDK's own switches for printing the bodies it redacts at TRACE (GetSecretValue's response,
/// the body being signed): on in every test process, so the caps are tested against them.
pub const SDK_BODY_SWITCHES: [(&str, &str); 2] = [
    ("LOG_SENSITIVE_BODIES", "true"),
    ("LOG_SIGNABLE_BODY", "true"),
];

/// Starts capturing (once per test process): `RUST_LOG=trace`, as a user could set it.
pub fn capture() {
    INIT.call_once(|| {
        for (name, value) in SDK_BODY_SWITCHES {
            std::env::set_var(name, value);
        }
        let settings = Settings::from_lookup(|name| (name == "RUST_LOG").then(|| "trace".into()));
        assert_eq!(settings.level, LevelFilter::TRACE);
        tracing::subscriber::set_global_default(logging::subscriber(&settings, || Sink))
            .expect("the first subscriber of this process");
    });
}

/// Everything logged so far by every test of this process.
pub fn text() -> String {
    String::from_utf8_lossy(&LINES.lock().unwrap()).into_owned()
}
