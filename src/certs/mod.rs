//! Certificates as data: parsing and checking ([`certificate`]), bundles from any CA in any format
//! ([`bundle`]), where a bring-your-own bundle's files are ([`source`]), and the S3 archive of every
//! key ([`archive`]).

pub mod archive;
pub mod bundle;
pub mod certificate;
pub mod source;
