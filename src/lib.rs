//! upspool receives browser uploads from Fine Uploader and FilePond into a
//! spool directory that many processes and hosts may share, running as a CGI
//! program, a FastCGI application or a small HTTP server.
//!
//! Data flows one way: [`gateway`] (transport → [`gateway::Request`]) →
//! [`protocol`] (widget protocols) → [`spool`] (the store).

// Every `unsafe` call is in `sys`, with its reason; nowhere else.
#![deny(unsafe_code)]

pub mod admin;
pub(crate) mod allow;
pub(crate) mod auth;
pub mod config;
pub mod demo;
pub(crate) mod files;
pub mod gateway;
pub mod hooks;
pub mod log;
pub mod message;
pub mod metrics;
pub(crate) mod outbound;
pub mod protocol;
pub(crate) mod spool;
pub mod sys;

/// The upload id grammar, for fuzzing it from outside.
pub use spool::Id;
