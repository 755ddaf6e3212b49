//! K1s integration tests: one test binary (linked once) against the real Docker engine.
//!
//! Every test starts its own `k1s` server (temp data dir, free loopback port) and
//! names everything it creates uniquely, so tests run in parallel on one engine.
//! Run with `cargo test --test integration` (the Docker engine must be reachable;
//! the test images are built and imported on first use, see `support/images.rs`).

mod support;

mod config;
mod hpa;
mod kube_client;
mod kube_streams;
mod kubectl;
mod pods;
mod replicasets;
mod workload_images;
