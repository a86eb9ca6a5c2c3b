//! Transports. Each adapter turns its input (CGI environment and stdin, an
//! HTTP connection, FastCGI records) into the same [`crate::message::Request`]
//! and writes the same [`crate::message::Response`], calling whatever
//! [`crate::message::Service`] it is given; none of them knows a widget
//! protocol.

pub mod cgi;
pub mod fastcgi;
pub mod http;
pub mod http_codec;
pub mod listen;
pub(crate) mod pool;
