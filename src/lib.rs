//! K1s
pub mod model;
