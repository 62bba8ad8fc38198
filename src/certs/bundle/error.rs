//! The one error type of [`normalize`](super::normalize): why a bundle cannot be deployed, each
//! variant with the message a user reads (the file or certificate, what is wrong, what to do).
//!
//! Only the type and its messages: which check raises which variant is in the modules that read
//! and check (`pem`, `der`, `pkcs7`, `pkcs12`, `key`, `chain`).

use ::time::OffsetDateTime;

use super::Format;

/// Why a bundle cannot be deployed. Every message names the file or certificate and says what to
/// do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file with no bytes.
    #[error("{origin} is empty: upload the certificate file again")]
    Empty {
        /// The file.
        origin: String,
    },
    /// Text with no PEM block.
    #[error("{origin} is text without a -----BEGIN line: give the PEM file as the CA sent it (with its BEGIN/END lines), or the binary DER/PKCS#7/PKCS#12 file")]
    NoPemBlock {
        /// The file.
        origin: String,
    },
    /// A PEM block that is not closed.
    #[error("{origin}: the {label} block that starts on line {line} has no END line: the file is truncated; copy it again")]
    Unterminated {
        /// The file.
        origin: String,
        /// The block's label.
        label: String,
        /// Its first line.
        line: usize,
    },
    /// A PEM block whose content or framing is broken.
    #[error("{origin}: the {label} block that starts on line {line} is damaged ({reason}); copy it again from the CA's file, without editing it")]
    BadPem {
        /// The file.
        origin: String,
        /// The block's label.
        label: String,
        /// Its first line.
        line: usize,
        /// What the PEM parser says.
        reason: String,
    },
    /// A PEM block we do not use.
    #[error("{origin}: line {line} starts a {label} block, which {what}")]
    UnexpectedBlock {
        /// The file.
        origin: String,
        /// The block's label.
        label: String,
        /// Its first line.
        line: usize,
        /// What it is and what to give instead.
        what: &'static str,
    },
    /// Bytes that are no certificate, key or bag in any format we read.
    #[error("{origin} is not {expected}: {reason}")]
    Unreadable {
        /// The file.
        origin: String,
        /// What was expected.
        expected: String,
        /// What the parser says.
        reason: String,
    },
    /// Bytes that are none of the formats we read (an image, an archive, random data).
    #[error("{origin} is not a certificate, key or bundle in PEM, DER, PKCS#7 or PKCS#12 ({what}): check that source names the right file, and give the files as the CA sent them")]
    NotACertificate {
        /// The file.
        origin: String,
        /// What it looks like instead, and what to do about that.
        what: String,
    },
    /// A password-protected part whose key derivation would cost more time or memory than a run
    /// has; refused before deriving anything.
    #[error("{origin}: {what} is encrypted with {kdf}, over the {limit} cert-rotator accepts (deriving its key would take too long or too much memory): {fix}")]
    KdfCost {
        /// The file.
        origin: String,
        /// What is encrypted (the private key, the PKCS#12 file's MAC...).
        what: &'static str,
        /// The function and its parameter, e.g. `PBKDF2 at 50000000 iterations`.
        kdf: String,
        /// The cap, e.g. `1000000 iterations`.
        limit: String,
        /// How to write the file again with usual parameters.
        fix: &'static str,
    },
    /// More password-protected parts than any real bundle has.
    #[error("{origin}: the bundle's files hold more than {limit} password-protected parts (encrypted keys, PKCS#12 MACs and bags): give only this certificate's files, with its one key")]
    TooManyEncrypted {
        /// The file where the allowance ran out.
        origin: String,
        /// The allowance.
        limit: u32,
    },
    /// Bytes after a complete DER structure.
    #[error("{origin}: {extra} bytes follow the end of the {what}: the file is damaged or two files were concatenated; give one DER structure per file, or PEM")]
    TrailingData {
        /// The file.
        origin: String,
        /// What ended.
        what: &'static str,
        /// How many bytes follow it.
        extra: usize,
    },
    /// The declared format does not match the content.
    #[error("{origin} was declared {declared} but holds {found}: fix source.format, or leave it out to detect the format")]
    FormatMismatch {
        /// The file.
        origin: String,
        /// What the user said.
        declared: Format,
        /// What it is.
        found: Format,
    },
    /// A PKCS#7 bag without certificates.
    #[error("{origin}: the PKCS#7 file holds no certificate: export it again with the certificates included")]
    EmptyPkcs7 {
        /// The file.
        origin: String,
    },
    /// A password-protected file without a password.
    #[error("{origin}: {what} is encrypted and no password was given: store the password in Secrets Manager and name that secret in source.password")]
    PasswordNeeded {
        /// The file.
        origin: String,
        /// What is encrypted.
        what: &'static str,
    },
    /// The password does not open the file.
    #[error("{origin}: the password in source.password does not open {what}: check the secret's value (no trailing newline)")]
    WrongPassword {
        /// The file.
        origin: String,
        /// What it should open.
        what: &'static str,
    },
    /// An OpenSSL "traditional" encrypted PEM key.
    #[error("{origin}: the key is encrypted the old OpenSSL way (Proc-Type: 4,ENCRYPTED), which no maintained library decrypts: convert it with `openssl pkcs8 -topk8 -in key.pem -out key-pkcs8.pem` (add -nocrypt for no password)")]
    LegacyEncryptedKey {
        /// The file.
        origin: String,
    },
    /// No certificate anywhere.
    #[error("no certificate in {origins}: name the certificate file in source.certificate")]
    NoCertificate {
        /// The files read.
        origins: String,
    },
    /// No key anywhere.
    #[error("no private key in {origins}: name the key file in source.private_key, or give a PKCS#12 file that holds the key")]
    NoKey {
        /// The files read.
        origins: String,
    },
    /// More than one distinct key.
    #[error("{count} different private keys in {origins}: give only the key of this certificate")]
    SeveralKeys {
        /// How many.
        count: usize,
        /// The files read.
        origins: String,
    },
    /// A key we cannot read or use.
    #[error("{origin}: {reason}")]
    Key {
        /// The file.
        origin: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The key belongs to none of the certificates.
    #[error("the private key does not belong to any certificate given ({subjects}): give the key that was generated with this certificate's request")]
    KeyMismatch {
        /// The certificates' subjects and serials.
        subjects: String,
    },
    /// Two certificates for the one key.
    #[error("two certificates have this key (serials {first} and {second}): give only the one to deploy")]
    TwoLeaves {
        /// A serial.
        first: String,
        /// The other.
        second: String,
    },
    /// A self-signed leaf.
    #[error("the certificate for {subject} is self-signed: browsers do not trust it; give a certificate issued by a CA")]
    SelfSigned {
        /// The leaf's subject.
        subject: String,
    },
    /// The leaf's issuer is missing.
    #[error("the chain is incomplete: the certificate is issued by \"{issuer}\", which is not in the bundle{present}: add the intermediate certificate(s) your CA sent (often named chain.pem, ca-bundle.crt or *.p7b) in source.chain")]
    IncompleteChain {
        /// Who issued the top certificate.
        issuer: String,
        /// Which other certificates the bundle holds, if any.
        present: String,
    },
    /// A certificate that is not in the leaf's chain.
    #[error("certificate \"{subject}\" (serial {serial}) is not in the chain of the certificate for {leaf}: remove it from the bundle")]
    Unrelated {
        /// Its subject.
        subject: String,
        /// Its serial.
        serial: String,
        /// The leaf's first name.
        leaf: String,
    },
    /// An intermediate that is not a CA.
    #[error("\"{subject}\" is in the chain but is not a CA certificate: the chain must hold only the CA's intermediates")]
    NotACa {
        /// Its subject.
        subject: String,
    },
    /// The leaf is expired.
    #[error("the certificate expired on {not_after}: ask the CA for a renewed one")]
    Expired {
        /// When.
        not_after: OffsetDateTime,
    },
    /// The leaf is not valid yet.
    #[error("the certificate is not valid before {not_before}: deploy it from then on (check the clock of whoever issued it)")]
    NotYetValid {
        /// When it starts.
        not_before: OffsetDateTime,
    },
    /// An intermediate is expired.
    #[error(
        "intermediate \"{subject}\" expired on {not_after}: get the current chain from the CA"
    )]
    IntermediateExpired {
        /// Its subject.
        subject: String,
        /// When.
        not_after: OffsetDateTime,
    },
    /// Names the certificate does not cover.
    #[error("the certificate does not cover {missing} (it covers {covered}): request it with these names, or drop them from the domain's names")]
    NotCovered {
        /// The names missing.
        missing: String,
        /// Its names.
        covered: String,
    },
    /// The final check (the same one issued certificates pass) refused it.
    #[error("{0}")]
    Check(String),
}
