//! Integration tests of `soulbox-api`: it stays light, and its types survive the wire.

mod deps;
mod serde_round_trip;
