//! Cache (to be written).
