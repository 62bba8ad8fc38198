//! The command-line interface (see the rotation issue).
fn main() {}
