//! `rbtree_postorder`-free in-order walks of `struct rb_root` trees in a dump (`rb_first`,
//! `rb_next` order), bounded and cycle-checked like [`crate::list`]: a hostile dump can
//! make a tree point back at itself or anywhere.

use crate::list::ListEnd;
use holdup_kmem::KernelMemory;
use std::collections::HashSet;

/// Where `rb_node.rb_left` and `rb_node.rb_right` are (from the kernel's types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RbLayout {
    pub left: u64,
    pub right: u64,
}

impl RbLayout {
    pub fn from_types(t: &holdup_types::Types) -> Option<RbLayout> {
        Some(RbLayout {
            left: t.offsetof("rb_node.rb_left").ok()?,
            right: t.offsetof("rb_node.rb_right").ok()?,
        })
    }
}

/// The nodes of the tree whose root node is `root` (0: an empty tree), smallest first, at
/// most `limit`, and how the walk ended ([`ListEnd::Complete`] when every node was seen).
/// Every node must pass `plausible` (a kernel pointer, say); the walk stops at one that does
/// not, saying so.
pub fn rb_inorder(
    mem: &dyn KernelMemory,
    l: RbLayout,
    root: u64,
    limit: usize,
    plausible: impl Fn(u64) -> bool,
) -> (Vec<u64>, ListEnd) {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    // The path from the root to the next node to emit: iterative, so a deep (corrupt) tree
    // cannot exhaust the thread's stack; bounded by `limit` as every node is pushed once.
    let mut path: Vec<u64> = Vec::new();
    let mut node = root;
    loop {
        while node != 0 {
            if !plausible(node) {
                return (
                    out,
                    ListEnd::Unreadable(holdup_kmem::ReadError::Corrupt {
                        vaddr: node,
                        detail: format!("rb_node {node:#x} is not a kernel object address"),
                    }),
                );
            }
            if !seen.insert(node) {
                return (out, ListEnd::Cycle { node });
            }
            if seen.len() > limit {
                return (out, ListEnd::TooLong { limit });
            }
            path.push(node);
            node = match mem.read_u64(node.wrapping_add(l.left)) {
                Ok(n) => n,
                Err(e) => return (out, ListEnd::Unreadable(e)),
            };
        }
        let Some(n) = path.pop() else {
            return (out, ListEnd::Complete);
        };
        out.push(n);
        node = match mem.read_u64(n.wrapping_add(l.right)) {
            Ok(r) => r,
            Err(e) => return (out, ListEnd::Unreadable(e)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    const L: RbLayout = RbLayout { left: 16, right: 8 };

    fn node(m: &FakeMem, at: u64, left: u64, right: u64) {
        m.zero(at, 24);
        m.u64(at + 16, left);
        m.u64(at + 8, right);
    }

    #[test]
    fn walks_in_order_and_stops_at_a_cycle() {
        let m = FakeMem::new();
        let (a, b, c, d) = (0x1000u64, 0x2000, 0x3000, 0x4000);
        // b is the root; a < b < d < c? no: in-order is left, node, right.
        node(&m, b, a, c);
        node(&m, a, 0, 0);
        node(&m, c, d, 0);
        node(&m, d, 0, 0);
        let (nodes, end) = rb_inorder(&m, L, b, 100, |_| true);
        assert_eq!(nodes, [a, b, d, c]);
        assert_eq!(end, ListEnd::Complete);
        // d's right points back at b: a cycle, reported, the walk ends.
        m.u64(d + 8, b);
        let (nodes, end) = rb_inorder(&m, L, b, 100, |_| true);
        assert_eq!(nodes, [a, b, d]);
        assert_eq!(end, ListEnd::Cycle { node: b });
        // A limit below the size stops the walk.
        node(&m, d, 0, 0);
        let (_, end) = rb_inorder(&m, L, b, 2, |_| true);
        assert_eq!(end, ListEnd::TooLong { limit: 2 });
        // An implausible node stops it too.
        let (nodes, end) = rb_inorder(&m, L, b, 100, |n| n != c);
        assert_eq!(nodes, [a, b]);
        assert!(matches!(end, ListEnd::Unreadable(_)));
        assert_eq!(rb_inorder(&m, L, 0, 100, |_| true).0, Vec::<u64>::new());
    }
}
