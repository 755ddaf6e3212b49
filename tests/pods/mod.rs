//! Pods: the REST API, k1s_ctl, conflicts, validation, recovery, restarts, isolation
//! between servers, and the access token.
