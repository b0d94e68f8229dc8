//! `mpmsd bench`: a load generator and latency meter for MPMS networks.
//!
//! Open-loop fixed-rate steps (the send rate never drops because the system under
//! test slowed down), a configurable mix of credential issuances, access grants and
//! credential queries, a discarded warm-up. For every transaction it measures:
//!
//! - **submission**: sent → the node's API answered that it validated and admitted it;
//! - **confirmation**: sent → the node's event stream reported it in a finalized block;
//! - **retrieval** (queries): a credential query sent → the whole answer read.
//!
//! Modules: [`stats`] (percentiles), [`schedule`] (the open loop), [`api`] (an async
//! client of a node's HTTP API and its event stream), [`workload`] (the actors and
//! the transactions they sign), [`setup`] (the accounts and schemas a step needs), [`run`] (one measured step), [`local`] (a network of
//! real `mpmsd` processes on 127.0.0.1), [`simulated`] (the simulator at any size), [`report`] (tables and CSV), [`chart`] (PNG charts), [`verify`] (each committed transaction counted once).

pub mod api;
pub mod chart;
pub mod local;
pub mod report;
pub mod run;
pub mod schedule;
pub mod setup;
pub mod simulated;
pub mod stats;
pub mod verify;
pub mod workload;
