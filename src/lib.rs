//! K1s: a small Kubernetes for one machine, on the Docker engine.
//!
//! The crate is the core library; `src/bin/k1s.rs` is the server and
//! `src/bin/k1s_ctl.rs` the command-line client. See ARCHITECTURE.md for the map.

pub mod api;
pub mod cli;
pub mod controller;
pub mod core;
pub mod events;
pub mod model;
pub mod node;
pub mod reconcile;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod util;

pub use crate::core::{Config, CoreError, K1s};
