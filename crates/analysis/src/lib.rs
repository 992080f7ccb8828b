//! The wait-for graph of a hung kernel, and what it says.
//!
//! Nodes are tasks and locks (any object a task can wait on: rw_semaphore, mutex, semaphore,
//! completion, page lock). Edges are "task waits for lock" and "lock is held by task", each
//! either a fact read from memory or an inference with a confidence and its reasons. From
//! them: the cycles (deadlocks, a task waiting for a lock it holds itself included), the
//! chain from every blocked task to what it ultimately waits for, and the root causes,
//! ranked by how many tasks are stuck behind them.
//!
//! [`hang::analyse_hang`] fills the graph from a dump's kernel objects; the graph itself
//! ([`WaitGraph`]) knows nothing about dumps, so its logic is tested on its own.

pub mod crash;
pub mod frames;
mod graph;
pub mod hang;

pub use graph::{
    Analysis, Certainty, Chain, ChainStep, Cycle, GraphIndex, Hold, LockId, LockNode, RootCause,
    RootKind, StateHolder, TaskId, TaskNode, Wait, WaitGraph,
};
