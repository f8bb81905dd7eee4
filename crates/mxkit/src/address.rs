//! Addresses (to be written).
