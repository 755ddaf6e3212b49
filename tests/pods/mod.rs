//! Pods: the REST API, k1s_ctl, conflicts, validation, recovery, restarts, isolation
//! between servers, and the access token.

mod conflicts;
mod ctl;
mod engine;
mod multi;
mod recovery;
mod rest;
mod restarts;
mod token;
mod validation;
