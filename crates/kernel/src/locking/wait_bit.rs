//! Waits for a bit of a word (`kernel/sched/wait_bit.c`): `wait_on_bit()`,
//! `wait_on_bit_lock()` and their `_io` forms, as `lock_buffer()` (`BH_Lock` of a
//! `buffer_head`'s `b_state`), `wait_on_inode()` and many others use.
//!
//! The sleeper keeps a `struct wait_bit_queue_entry` on its stack: a `wait_bit_key` naming the
//! word (`flags`) and the bit (`bit_nr`), and a wait queue entry running `wake_bit_function`,
//! linked into one of the hashed `bit_wait_table` queues (shared by unrelated words). So the
//! thing waited on is the word and bit the key names, not the queue. The kernel records
//! nobody as holding a bit: a task that set it (`lock_buffer`) and went on is inferred from
//! its stack, which refers to the object the word is in.

use super::holders::referencing_tasks;
use super::state::{KindState, StateCx, in_queue_order};
use super::{Evidence, LockId, LockKind, LockObject, Mode, Wait};
use holdup_kmem::{KernelMemory, ReadError};
use serde::Serialize;

/// `WQ_FLAG_EXCLUSIVE` of `wait_queue_entry.flags` (include/linux/wait.h, every version):
/// set by the `_lock` forms, which take the bit when it clears.
const WQ_FLAG_EXCLUSIVE: u32 = 0x01;

/// Where the fields are (from BTF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitBitLayout {
    /// `wait_bit_queue_entry.wq_entry`, `.key.flags`, `.key.bit_nr`.
    pub wq_entry: u64,
    pub key_flags: u64,
    pub key_bit_nr: u64,
}

impl WaitBitLayout {
    pub fn from_types(t: &holdup_types::Types) -> Result<WaitBitLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(WaitBitLayout {
            wq_entry: off("wait_bit_queue_entry.wq_entry")?,
            key_flags: off("wait_bit_queue_entry.key.flags")?,
            key_bit_nr: off("wait_bit_queue_entry.key.bit_nr")?,
        })
    }
}

/// The word and bit a `wait_queue_entry` at `entry` (running `wake_bit_function`) waits for,
/// and whether it waits to take the bit (`wait_on_bit_lock`).
pub fn key_of(
    mem: &dyn KernelMemory,
    l: &WaitBitLayout,
    entry: u64,
    flags: u32,
) -> Option<(u64, u32, bool)> {
    let wbq = entry.checked_sub(l.wq_entry)?;
    let word = mem.read_u64(wbq.wrapping_add(l.key_flags)).ok()?;
    let bit = mem.read_u32(wbq.wrapping_add(l.key_bit_nr)).ok()?;
    (mem.is_kernel_pointer(word, 8) && bit < 64).then_some((
        word,
        bit,
        flags & WQ_FLAG_EXCLUSIVE != 0,
    ))
}

/// A decoded word waited on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BitWord {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub value: u64,
    /// The bits the waiters wait for, with their names where the word's type has them
    /// (`BH_Lock`).
    pub bits: Vec<(u32, Option<String>)>,
}

/// The enum whose enumerators name the bits of a word, by the word's member: a
/// `buffer_head`'s `b_state` bits are `enum bh_state_bits` (`BH_Lock`...). Words of other
/// types keep their bits by number.
const BIT_ENUMS: &[(&str, &str, &str)] = &[("buffer_head", "b_state", "bh_state_bits")];

/// The name of bit `bit` of the word at member `path` of a `ty`, where the kernel names it.
fn bit_name(k: &crate::Kernel, ty: &str, path: &str, bit: u32) -> Option<String> {
    let member = path.rsplit('.').next()?;
    let (_, _, e) = BIT_ENUMS
        .iter()
        .find(|(t, m, _)| *m == member && (*t == ty || path.contains(t)))?;
    k.types.enumerator_name(e, i128::from(bit))
}

/// The state of a word waited on: its value (a fact: whether each bit is still set), the
/// waiters (their keys name it), holders inferred from the tasks whose stacks refer to the
/// object the word is in.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let k = cx.k;
    Some(k.mem().read_u64(id.addr).map(|value| {
        let waiters = in_queue_order(task_side);
        let mut bits: Vec<u32> = waiters
            .iter()
            .filter_map(|w| w.detail.iter().find(|d| d.0 == "bit_nr")?.1.parse().ok())
            .collect();
        bits.sort_unstable();
        bits.dedup();
        // The object the word is in: its extent for the holders, its type for the bit names.
        let container = match (&cx.layouts.memmap, &cx.layouts.slab) {
            (Some(m), Some(sl)) => crate::mm::slab::lock_container(
                k.mem(),
                &k.types,
                m,
                sl,
                id.addr,
                id.kind.c_type(),
                |_| Err("not needed".into()),
            )
            .ok()
            .flatten(),
            _ => None,
        };
        let names: Vec<(u32, Option<String>)> = bits
            .iter()
            .map(|&b| {
                let n = container
                    .as_ref()
                    .and_then(|c| c.member.as_ref())
                    .and_then(|m| bit_name(k, &m.value.ty, &m.value.path, b));
                (b, n)
            })
            .collect();
        let mut notes = vec![
            "the kernel does not record who set a bit: holders are inferred from the tasks whose stacks refer to the object the word is in".to_string(),
        ];
        let set: Vec<u32> = bits.iter().copied().filter(|b| value & (1 << b) != 0).collect();
        if set.len() < bits.len() {
            notes.push(format!(
                "bit(s) {:?} of the word are clear: the waiters are being woken",
                bits.iter().filter(|b| !set.contains(b)).collect::<Vec<_>>()
            ));
        }
        let holders = match (&container, set.is_empty()) {
            (Some(c), false) => {
                let lo = c.object.object;
                let hi = lo.saturating_add(u64::from(c.object.slab.object_size));
                let waiting: Vec<u64> = waiters.iter().map(|w| w.task).collect();
                let what = format!("the {} object", c.object.slab.cache_name);
                referencing_tasks(
                    cx.hcx,
                    (lo, hi),
                    LockKind::WaitBit,
                    &what,
                    &waiting,
                    Mode::Exclusive,
                    vec![format!(
                        "the word at {:#x} has the bit(s) waited for set (value {value:#x})",
                        id.addr
                    )],
                )
            }
            _ => vec![],
        };
        KindState {
            object: LockObject::WaitBit(BitWord {
                addr: id.addr,
                value,
                bits: names,
            }),
            holders,
            waiters,
            notes,
        }
    }))
}

/// The evidence of a wait for a bit.
pub(crate) fn waiter_evidence(entry: u64, word: u64, bit: u32) -> Evidence {
    Evidence::fact(
        format!(
            "wait_bit_queue_entry on the task's stack (func wake_bit_function) linked into a bit_wait_table queue; its key names bit {bit} of the word at {word:#x}"
        ),
        entry,
    )
}

/// The wait of a task whose wait queue entry at `entry` runs `wake_bit_function`.
pub(crate) fn wait_of(
    mem: &dyn KernelMemory,
    l: &WaitBitLayout,
    task: u64,
    entry: u64,
    flags: u32,
    bucket: u64,
) -> Option<Wait> {
    let (word, bit, lock) = key_of(mem, l, entry, flags)?;
    Some(Wait {
        task,
        lock: LockId {
            kind: LockKind::WaitBit,
            addr: word,
        },
        mode: if lock { Mode::Exclusive } else { Mode::None },
        record: entry,
        position: None,
        detail: vec![
            ("bit_nr".into(), bit.to_string()),
            ("bucket".into(), format!("{bucket:#x}")),
        ],
        evidence: waiter_evidence(entry, word, bit),
    })
}

/// Whether `f` (no compiler suffix) is where a task sleeps for a bit (`out_of_line_wait_on_bit`,
/// `__wait_on_bit_lock`, `bit_wait_io`, `__lock_buffer`, `__wait_on_buffer`).
pub fn is_slow_path(f: &str) -> bool {
    f.starts_with("out_of_line_wait_on_bit")
        || f.starts_with("__wait_on_bit")
        || f.starts_with("bit_wait")
        || f == "__lock_buffer"
        || f == "__wait_on_buffer"
}
