//! The live engine (to be written).
