//! Captures every log line of the test process (debug level, SDK included), so tests can assert
//! that no secret reaches one.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Mutex, Once};

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

/// Starts capturing (once per test process).
pub fn capture() {
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_writer(|| Sink)
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .init();
    });
}

/// Everything logged so far by every test of this process.
pub fn text() -> String {
    String::from_utf8_lossy(&LINES.lock().unwrap()).into_owned()
}
