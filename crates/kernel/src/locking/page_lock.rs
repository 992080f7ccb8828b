//! A folio's lock and the other bits waited on through the page wait table (`PG_locked`,
//! `PG_writeback`, ...): the page is decoded by `mm`; nobody is recorded as holding a page
//! lock, so holders are inferred; writeback in flight holds `PG_writeback`.

use super::holders::page_lock_holders;
use super::state::{KindState, StateCx, in_queue_order};
use super::{Evidence, Holder, HolderId, LockId, LockKind, LockObject, Mode, Wait};
use holdup_kmem::ReadError;

/// The state of a page lock or page bit wait.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let m = cx.layouts.memmap.as_ref()?;
    Some(m.read_page(cx.mem, id.addr).map(|info| {
        let waiters = in_queue_order(task_side);
        let mut holders = Vec::new();
        let mut notes = Vec::new();
        let f = &info.folio_flags.value;
        if id.kind == LockKind::PageLock {
            if f.locked {
                holders.extend(page_lock_holders(cx.hcx, m, &info, &waiters));
            } else {
                notes.push(
                    "PG_locked is clear: the lock was released and the waiters are being woken"
                        .into(),
                );
            }
        }
        if id.kind == LockKind::PageWriteback && f.writeback {
            holders.push(Holder {
                who: HolderId::Io {
                    what: "writeback in flight (PG_writeback)".into(),
                },
                mode: Mode::None,
                evidence: Evidence::fact("folio.flags has PG_writeback", id.addr),
            });
        }
        if info.folio.value != id.addr {
            notes.push(format!(
                "{:#x} is a tail page of folio {:#x}",
                id.addr, info.folio.value
            ));
        }
        notes.push("the kernel does not record who holds a page lock: holders are inferred".into());
        KindState {
            object: LockObject::Folio(info),
            holders,
            waiters,
            notes,
        }
    }))
}
/// Whether `f` (no compiler suffix) is where a task sleeps for a folio's lock or another bit
/// through the page wait table (`folio_wait_bit_common`; `wait_on_page_bit_common` before
/// folios).
pub fn is_slow_path(f: &str) -> bool {
    matches!(
        f,
        "folio_wait_bit_common"
            | "__folio_lock"
            | "__folio_lock_killable"
            | "__folio_lock_or_retry"
            | "folio_wait_bit"
            | "folio_wait_bit_killable"
            | "folio_put_wait_locked"
            | "migration_entry_wait_on_locked"
            | "__lock_page"
            | "__lock_page_killable"
            | "wait_on_page_bit_common"
            | "folio_wait_writeback"
    )
}
