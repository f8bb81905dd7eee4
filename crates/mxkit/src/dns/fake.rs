//! Fakes (to be written).
