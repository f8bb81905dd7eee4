//! Test bed.

pub mod fault;
pub mod knot;
