//! The Lambda function (see the rotation issue).
fn main() {}
