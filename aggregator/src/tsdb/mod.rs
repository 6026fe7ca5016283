//! The aggregator's time-series storage.
pub mod bits;
pub mod xor;
