//! Routing (to be written).
