//! Controllers and the machinery they share. For now: the work queue, which the node
//! agent drives its pods with; the ReplicaSet and HPA controllers come next and use
//! the same queue.

pub mod hpa;
pub mod replica_calculator;
pub mod replicaset;
pub mod workqueue;
