//! Test bed.

pub mod blackhole;
pub mod certs;
pub mod fault;
pub mod knot;
pub mod postfix;
pub mod postgres;
pub mod presign;
pub mod rbldnsd;
pub mod rspamd;
pub mod scanmix;
pub mod shared;
pub mod smtp_client;
pub mod smtp_sink;
pub mod sys;
pub mod unbound;
