//! The PREEMPT_RT `rw_semaphore`: a `struct rwbase_rt` (`include/linux/rwbase_rt.h`,
//! `kernel/locking/rwbase_rt.c`): a reader count and an rt_mutex.
//!
//! `readers` has `READER_BIAS` (bit 31) while no writer is around; readers add one each.
//! A writer takes the rt_mutex, removes `READER_BIAS` (new readers now take the slow path and
//! queue on the rt_mutex behind it) and sleeps in `rwbase_write_lock` until the readers that
//! hold the lock leave (`readers` falls to 0); it then sets `WRITER_BIAS`. So:
//! - `readers` = `READER_BIAS` + n: n readers hold it, no writer.
//! - `readers` = `WRITER_BIAS`: the rt_mutex's owner holds it for write (a fact).
//! - 0 <= `readers` < `WRITER_BIAS`: the rt_mutex's owner is a writer *waiting* for the
//!   `readers` readers that hold it; readers asleep on the rt_mutex wait behind it.
//!
//! The kernel records readers only as that count: which tasks they are is inferred as on
//! non-RT kernels (their code and stacks reference the lock).

use super::holders::{ReadHeld, rwsem_readers};
use super::rt_mutex::{self, RtMutex, RtMutexLayout};
use super::state::merge_waiters;
use super::state::{KindState, LockSideWaiter, StateCx};
use super::{Holder, HolderId, Known, LockId, LockObject, Mode, Wait};
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// `readers` bit 31: no writer; readers may take the fast path [L6.12 rwbase_rt.h].
pub const READER_BIAS: u32 = 1 << 31;
/// `readers` = bit 30: a writer holds the lock.
pub const WRITER_BIAS: u32 = 1 << 30;

/// Where the fields are (from BTF): an `rw_semaphore` holding a `rwbase_rt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RwbaseLayout {
    /// `sizeof(struct rw_semaphore)`.
    pub size: u64,
    /// `rw_semaphore.rwbase`.
    pub rwbase: u64,
    /// `rwbase_rt.readers`, `rwbase_rt.rtmutex`.
    pub readers: u64,
    pub rtmutex: u64,
    pub rt: RtMutexLayout,
}

impl RwbaseLayout {
    /// The layout on a PREEMPT_RT kernel; an error on others (their `rw_semaphore` has no
    /// `rwbase`).
    pub fn from_types(t: &Types) -> Result<RwbaseLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(RwbaseLayout {
            size: super::size_of(t, "struct rw_semaphore")?,
            rwbase: off("rw_semaphore.rwbase")?,
            readers: off("rwbase_rt.readers")?,
            rtmutex: off("rwbase_rt.rtmutex")?,
            rt: RtMutexLayout::from_types(t)?,
        })
    }

    /// The rt_mutex inside the rw_semaphore at `sem`.
    pub fn rtmutex_of(&self, sem: u64) -> u64 {
        sem.wrapping_add(self.rwbase).wrapping_add(self.rtmutex)
    }

    /// The rw_semaphore whose rt_mutex is at `rtm`.
    pub fn sem_of(&self, rtm: u64) -> u64 {
        rtm.wrapping_sub(self.rtmutex).wrapping_sub(self.rwbase)
    }
}

/// `rwbase_rt.readers`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Readers {
    /// `READER_BIAS` + n: n readers hold it (0: free).
    Read { readers: u32 },
    /// `WRITER_BIAS`: the rt_mutex's owner holds it for write.
    WriteLocked,
    /// No bias: the rt_mutex's owner waits for these readers to leave.
    WriterWaiting { readers: u32 },
    /// Fits none of these.
    Odd { raw: u32 },
}

impl Readers {
    pub fn decode(raw: u32) -> Readers {
        if raw & READER_BIAS != 0 {
            let n = raw - READER_BIAS;
            if n < WRITER_BIAS {
                Readers::Read { readers: n }
            } else {
                Readers::Odd { raw }
            }
        } else if raw == WRITER_BIAS {
            Readers::WriteLocked
        } else if raw < WRITER_BIAS {
            Readers::WriterWaiting { readers: raw }
        } else {
            Readers::Odd { raw }
        }
    }

    /// Readers that hold the lock now.
    pub fn holding_readers(self) -> u32 {
        match self {
            Readers::Read { readers } | Readers::WriterWaiting { readers } => readers,
            Readers::WriteLocked | Readers::Odd { .. } => 0,
        }
    }
}

/// A decoded RT `rw_semaphore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RwbaseRt {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub readers_raw: u64,
    pub readers: Known<Readers>,
    /// The writer: holding it (`WriteLocked`) or waiting for the readers (`WriterWaiting`).
    #[serde(serialize_with = "crate::locking::hex::opt_known")]
    #[schemars(with = "Option<crate::locking::hex::KnownHex>")]
    pub writer: Option<Known<u64>>,
    pub rtmutex: RtMutex,
}

/// Decodes the RT rw_semaphore at `sem`.
pub fn read(mem: &dyn KernelMemory, l: &RwbaseLayout, sem: u64) -> Result<RwbaseRt, ReadError> {
    let at = sem.wrapping_add(l.rwbase).wrapping_add(l.readers);
    let raw = mem.read_u32(at)?;
    let readers = Readers::decode(raw);
    let rtmutex = rt_mutex::read(mem, &l.rt, l.rtmutex_of(sem))?;
    let writer = match readers {
        Readers::WriteLocked | Readers::WriterWaiting { .. } => {
            rtmutex.owner.as_ref().map(|o| {
                Known::fact(
                    o.value,
                    if readers == Readers::WriteLocked {
                        "rwbase_rt.rtmutex.owner (readers = WRITER_BIAS: write-locked)"
                    } else {
                        "rwbase_rt.rtmutex.owner (readers without READER_BIAS: a writer waits for the readers)"
                    },
                    l.rtmutex_of(sem) + l.rt.owner,
                )
            })
        }
        Readers::Read { .. } | Readers::Odd { .. } => None,
    };
    Ok(RwbaseRt {
        addr: sem,
        readers_raw: u64::from(raw),
        readers: Known::fact(readers, "rwbase_rt.readers", at),
        writer,
        rtmutex,
    })
}

/// The RT rw_semaphore `task` is the waiting writer of, found from the words of its stack
/// (`rwbase_write_lock` keeps the semaphore's address in a register its callee saves there):
/// one whose rt_mutex `task` owns while `readers` says a writer waits, and whose words fit
/// an rt_mutex. Addresses for which `on_a_stack` holds are not locks (a stack slot can hold
/// the task pointer where an rt_mutex would keep its owner). The first such.
pub fn waiting_writer_of(
    mem: &dyn KernelMemory,
    l: &RwbaseLayout,
    task: u64,
    words: impl Iterator<Item = u64>,
    on_a_stack: impl Fn(u64) -> bool,
) -> Option<(u64, RwbaseRt)> {
    let mut tried = std::collections::HashSet::new();
    for w in words {
        if !mem.is_kernel_pointer(w, 4) {
            continue;
        }
        // The word may be the semaphore, its rwbase_rt or its rt_mutex.
        for sem in [w, w.wrapping_sub(l.rwbase), l.sem_of(w)] {
            if !tried.insert(sem)
                || on_a_stack(sem)
                || !rt_mutex::plausible(mem, &l.rt, l.rtmutex_of(sem))
            {
                continue;
            }
            let Ok(s) = read(mem, l, sem) else { continue };
            let waiting = matches!(s.readers.value, Readers::WriterWaiting { .. });
            if waiting && s.writer.as_ref().is_some_and(|o| o.value == task) {
                return Some((sem, s));
            }
        }
    }
    None
}

/// The state of a PREEMPT_RT rw_semaphore: a writer holding it (a fact), or a writer
/// waiting for the readers (first in the queue, a fact) and the readers that hold it
/// (inferred, as on non-RT kernels); then the tasks asleep on its rt_mutex.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let l = cx.layouts.rwbase.as_ref()?;
    Some(read(cx.mem, l, id.addr).map(|s| {
        let mut holders = Vec::new();
        let mut notes = Vec::new();
        let mut lock_side = Vec::new();
        let readers = s.readers.value;
        match (readers, &s.writer) {
            (Readers::WriteLocked, Some(w)) => holders.push(Holder {
                who: HolderId::Task { task: w.value },
                mode: Mode::Write,
                evidence: w.evidence.clone(),
            }),
            (Readers::WriterWaiting { readers: n }, Some(w)) => {
                lock_side.push(LockSideWaiter {
                    task: w.value,
                    record: l.rtmutex_of(id.addr),
                    mode: Mode::Write,
                    evidence: w.evidence.clone(),
                    detail: vec![("readers".into(), n.to_string())],
                });
                notes.push(format!(
                    "PREEMPT_RT: the writer holds the inner rt_mutex and waits for {n} reader(s) to leave; readers that come after it sleep on the rt_mutex behind it"
                ));
            }
            (Readers::Odd { raw }, _) => {
                notes.push(format!("rwbase_rt.readers = {raw:#x} fits no state of the lock"))
            }
            _ => {}
        }
        let waiting: Vec<u64> = lock_side
            .iter()
            .map(|w| w.task)
            .chain(s.rtmutex.waiters.iter().map(|w| w.value.task))
            .collect();
        let n = readers.holding_readers();
        if n > 0 {
            let held = ReadHeld {
                kind: super::LockKind::Rwsem,
                what: "the rw_semaphore",
                addr: id.addr,
                size: l.size,
                readers: u64::from(n),
                last_reader: None,
            };
            let mm = super::rwsem::mm_range(cx, id.addr).map(|(lo, hi)| (lo, hi, "its mm_struct"));
            holders.extend(rwsem_readers(cx.hcx, &held, &waiting, mm));
            notes.push(format!(
                "{n} reader(s) hold it; the kernel does not record which tasks (a PREEMPT_RT rw_semaphore keeps no owner hint)"
            ));
        }
        // Tasks asleep on the rt_mutex: the reader or writer side is what their stacks say.
        let modes: std::collections::HashMap<u64, Mode> =
            task_side.iter().map(|w| (w.record, w.mode)).collect();
        for mut w in rt_mutex::tree_waiters(&s.rtmutex, Mode::Write) {
            if let Some(&m) = modes.get(&w.record) {
                w.mode = m;
            }
            lock_side.push(w);
        }
        if let Some(p) = &s.rtmutex.waiters_problem {
            notes.push(p.clone());
        }
        let waiters = merge_waiters(id, lock_side, task_side, &mut notes);
        KindState {
            object: LockObject::RwbaseRt(s),
            holders,
            waiters,
            notes,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;
    use crate::rbtree::RbLayout;

    const L: RwbaseLayout = RwbaseLayout {
        size: 40,
        rwbase: 0,
        readers: 0,
        rtmutex: 8,
        rt: RtMutexLayout {
            size: 32,
            wait_lock: 0,
            owner: 24,
            waiters_root: 8,
            waiter_node: 0,
            waiter_task: 80,
            waiter_lock: 88,
            rb: RbLayout { left: 16, right: 8 },
        },
    };
    const SEM: u64 = 0xffff_8880_0000_1000;
    const WRITER: u64 = 0xffff_8880_0100_0000;

    #[test]
    fn readers_decode_every_state() {
        assert_eq!(Readers::decode(READER_BIAS), Readers::Read { readers: 0 });
        assert_eq!(
            Readers::decode(READER_BIAS + 3),
            Readers::Read { readers: 3 }
        );
        assert_eq!(Readers::decode(WRITER_BIAS), Readers::WriteLocked);
        assert_eq!(Readers::decode(1), Readers::WriterWaiting { readers: 1 });
        assert_eq!(
            Readers::decode(WRITER_BIAS + 1),
            Readers::Odd {
                raw: WRITER_BIAS + 1
            }
        );
        assert_eq!(Readers::decode(1).holding_readers(), 1);
    }

    #[test]
    fn a_waiting_writer_is_found_from_its_stack_and_not_from_a_reader_held_lock() {
        let m = FakeMem::new();
        m.zero(SEM, 40);
        m.u32(SEM, 1); // one reader holds it; the bias is gone: a writer waits
        m.u64(SEM + 8 + 24, WRITER);
        let words = [0x10u64, SEM + 8, 0xffff_8880_0000_2000];
        let (sem, s) = waiting_writer_of(&m, &L, WRITER, words.into_iter(), |_| false).unwrap();
        assert_eq!(sem, SEM);
        assert_eq!(s.readers.value, Readers::WriterWaiting { readers: 1 });
        assert!(s.writer.unwrap().evidence.is_fact());
        // Not when the address is on a stack.
        assert!(waiting_writer_of(&m, &L, WRITER, words.into_iter(), |a| a == SEM).is_none());
        // Nor when the words do not fit an rt_mutex (a pointer where its spinlock is).
        m.u64(SEM + 8, 0xffff_8880_dead_0000);
        assert!(waiting_writer_of(&m, &L, WRITER, words.into_iter(), |_| false).is_none());
        m.u64(SEM + 8, 0);
        // Another task is not its writer.
        assert!(waiting_writer_of(&m, &L, WRITER + 0x100, words.into_iter(), |_| false).is_none());
        // With READER_BIAS back (no writer), nobody is.
        m.u32(SEM, READER_BIAS + 1);
        assert!(waiting_writer_of(&m, &L, WRITER, words.into_iter(), |_| false).is_none());
        // Write-locked: the owner holds it, it does not wait.
        m.u32(SEM, WRITER_BIAS);
        assert!(waiting_writer_of(&m, &L, WRITER, words.into_iter(), |_| false).is_none());
        let s = read(&m, &L, SEM).unwrap();
        assert_eq!(s.writer.unwrap().value, WRITER);
    }
}
