//! `list_for_each_entry` over `struct list_head` lists in a dump: bounded and cycle-checked,
//! because a corrupted or hostile dump can make any list loop or point anywhere.

use holdup_kmem::{KernelMemory, ReadError};
use std::collections::HashSet;

/// The most nodes any list walk visits before it gives up.
pub const MAX_LIST_NODES: usize = 1 << 20;

/// How a list walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEnd {
    /// Back at the head, as a sound list does.
    Complete,
    /// A node was reached twice before the head: the list is corrupt.
    Cycle { node: u64 },
    /// A `next` pointer could not be read.
    Unreadable(ReadError),
    /// More than the limit of nodes.
    TooLong { limit: usize },
}

impl std::fmt::Display for ListEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListEnd::Complete => f.write_str("complete"),
            ListEnd::Cycle { node } => write!(
                f,
                "corrupt: node {node:#x} is reached twice before the head (a cycle)"
            ),
            ListEnd::Unreadable(e) => write!(f, "a next pointer is unreadable: {e}"),
            ListEnd::TooLong { limit } => {
                write!(f, "longer than {limit} nodes (corrupt?); walk stopped")
            }
        }
    }
}

/// The nodes of the list whose `struct list_head` is at `head` (the head itself excluded),
/// in `next` order, and how the walk ended.
pub fn list_nodes(mem: &dyn KernelMemory, head: u64, limit: usize) -> (Vec<u64>, ListEnd) {
    let mut nodes = Vec::new();
    let mut seen = HashSet::new();
    let mut node = match mem.read_u64(head) {
        Ok(n) => n,
        Err(e) => return (nodes, ListEnd::Unreadable(e)),
    };
    while node != head {
        if nodes.len() >= limit {
            return (nodes, ListEnd::TooLong { limit });
        }
        if !seen.insert(node) {
            return (nodes, ListEnd::Cycle { node });
        }
        nodes.push(node);
        node = match mem.read_u64(node) {
            Ok(n) => n,
            Err(e) => return (nodes, ListEnd::Unreadable(e)),
        };
    }
    (nodes, ListEnd::Complete)
}

/// `list_for_each_entry`: the containing objects, given the offset of the `list_head` member
/// in them (`container_of`).
pub fn list_entries(
    mem: &dyn KernelMemory,
    head: u64,
    member_offset: u64,
    limit: usize,
) -> (Vec<u64>, ListEnd) {
    let (nodes, end) = list_nodes(mem, head, limit);
    (
        nodes
            .into_iter()
            .map(|n| n.wrapping_sub(member_offset))
            .collect(),
        end,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Words(HashMap<u64, u64>);
    impl KernelMemory for Words {
        fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            let w = self.0.get(&vaddr).ok_or(ReadError::NotMapped {
                vaddr,
                detail: "test".into(),
            })?;
            buf.copy_from_slice(&w.to_le_bytes()[..buf.len()]);
            Ok(())
        }
    }

    #[test]
    fn a_sound_list_is_walked_in_order() {
        let m = Words([(0x100, 0x210), (0x210, 0x310), (0x310, 0x100)].into());
        assert_eq!(
            list_entries(&m, 0x100, 0x10, 10),
            (vec![0x200, 0x300], ListEnd::Complete)
        );
    }

    #[test]
    fn a_cycle_that_misses_the_head_is_detected() {
        let m = Words([(0x100, 0x200), (0x200, 0x300), (0x300, 0x200)].into());
        let (nodes, end) = list_nodes(&m, 0x100, 10);
        assert_eq!(nodes, [0x200, 0x300]);
        assert_eq!(end, ListEnd::Cycle { node: 0x200 });
    }

    #[test]
    fn unreadable_and_overlong_lists_stop() {
        let m = Words([(0x100, 0x200)].into());
        assert!(matches!(
            list_nodes(&m, 0x100, 10).1,
            ListEnd::Unreadable(_)
        ));
        let m = Words([(0x100, 0x200), (0x200, 0x300), (0x300, 0x100)].into());
        assert_eq!(list_nodes(&m, 0x100, 1).1, ListEnd::TooLong { limit: 1 });
    }
}
