//! The controllers, each a [`crate::reconcile::Reconciler`] on the shared runtime:
//! the ReplicaSet controller (a ReplicaSet → its pods) and the HPA controller (pod
//! metrics → a ReplicaSet's replicas), with the HPA's pure replica calculator.

pub mod hpa;
pub mod replica_calculator;
pub mod replicaset;
