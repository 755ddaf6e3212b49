//! How `k1s_ctl` shows things: kubectl-like tables, ages and quantities (`format`)
//! and `describe` pages (`describe`), computed from the `/k1s` result shapes. They
//! live in the library so that the registry can name each kind's columns and
//! describe page; `k1s_ctl` itself only talks HTTP and prints.

pub mod describe;
pub mod format;
pub mod kube_table;
