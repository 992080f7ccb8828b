#!/usr/bin/env python3
"""Sleeping locks inside slab objects, each with the slab object drgn finds for it.

usage: drgn_slab_sample.py VMLINUX DUMP > drgn-slab-sample.tsv

The sample: for every task, the locks of the objects it points to
(`mm->mmap_lock`, `signal->cred_guard_mutex`, `signal->exec_update_lock`,
`signal->wait_chldexit`, `sighand->signalfd_wqh`, `files->resize_wait`, its own
`futex_exit_mutex`, and for kthreads the `exited` completion of their `struct kthread`); the
`anon_vma->rwsem` and `vm_file->f_pos_lock` of the first VMAs of each process; for every
mount of the initial namespace its super block's `s_umount` and the `i_rwsem` and
`i_data.i_mmap_rwsem` of its root inode and of the inodes of the first entries of its root
directory.

Each lock's address is built by following pointers from a known start, so the struct that
contains it and the member are known by construction, not guessed: an inode's container
comes from its file system's `super_operations.alloc_inode` (`shmem_alloc_inode` ->
`struct shmem_inode_info`, member `vfs_inode`), and `container_of` must give the object
drgn finds. drgn's `slab_object_info()` says which cache and which object the address is
in. One line per distinct lock address, sorted by address:

    addr  lock  cache  merged  aliases  object  offset  struct  path  inner  inner_addr  how

- addr: the lock; lock: `rwsem`, `mutex`, `completion` or `wait_queue` (holdup's names);
- cache: `kmem_cache.name`; merged: 1 when `slab_cache_is_merged()` (refcount > 1);
- aliases: the caches merged into it (`get_slab_cache_aliases()`), comma-separated, `-` if
  none;
- object: `SlabObjectInfo.address`; offset: addr - object, hex;
- struct: the object's type by construction (`ext4_inode_info`, `mm_struct`, `super_block`);
- path: the member path of the lock from the object's start (`vfs_inode.i_rwsem`);
- inner, inner_addr: the innermost struct holding the lock and its address (`inode`, the
  inode's address);
- how: how the address was reached (`pid 96 mm.mmap_lock`).
Addresses that drgn does not find in a slab object, or whose object does not start where the
construction says, are counted in trailing comments, not listed.
"""
import sys

import drgn
from drgn import FaultError, container_of
from drgn.helpers.linux.fs import for_each_file, for_each_mount, mount_fstype
from drgn.helpers.linux.list import hlist_for_each_entry, list_for_each_entry
from drgn.helpers.linux.mm import for_each_vma
from drgn.helpers.linux.slab import get_slab_cache_aliases, slab_cache_is_merged, slab_object_info

from drgn_common import open_dump
from drgn_d_stacks import all_tasks

# The struct embedding a file system's inodes, and the member that is the inode, by the
# file system's `super_operations.alloc_inode` (none: `alloc_inode()` takes a plain struct
# inode from inode_cache).
ALLOC_INODE_CONTAINER = {
    None: ("inode", None),
    "ext4_alloc_inode": ("ext4_inode_info", "vfs_inode"),
    "shmem_alloc_inode": ("shmem_inode_info", "vfs_inode"),
    "proc_alloc_inode": ("proc_inode", "vfs_inode"),
    "sock_alloc_inode": ("socket_alloc", "vfs_inode"),
}
LOCK_KIND = {
    "struct rw_semaphore": "rwsem",
    "struct mutex": "mutex",
    "struct completion": "completion",
    "wait_queue_head_t": "wait_queue",
    "struct wait_queue_head": "wait_queue",
}
MAX_VMAS = 8
MAX_CHILDREN = 8
MAX_FILES = 8


class Sampler:
    def __init__(self, prog):
        self.prog = prog
        self.rows = {}
        self.not_slab = 0
        self.not_slab_how = []
        self.unknown_fs = 0
        try:
            self.aliases = get_slab_cache_aliases(prog)
        except (LookupError, FaultError):
            self.aliases = {}
        self.mismatch = []
        self.faults = 0

    def add(self, obj, struct, path, how, inner=None, inner_addr=None):
        """The lock at `obj.path` where `obj` is a `struct *` that starts the slab object."""
        prog = self.prog
        try:
            lock = eval_path(obj, path)
            kind = LOCK_KIND.get(lock.type_.type_name())
            if kind is None:
                raise ValueError(f"{struct}.{path} is a {lock.type_.type_name()}")
            addr = lock.address_
            base = obj.value_()
            info = slab_object_info(prog, addr)
        except FaultError:
            self.faults += 1
            return
        except LookupError:
            return  # a member this kernel does not have (7.x: task_struct.futex_exit_mutex)
        if info is None:
            self.not_slab += 1
            self.not_slab_how.append(how)
            return
        if info.address != base:
            self.mismatch.append(f"{addr:#x} {how}: drgn's object {info.address:#x}, constructed {base:#x}")
            return
        if addr in self.rows:
            return
        cache = info.slab_cache
        name = cache.name.string_().decode()
        merged = 1 if slab_cache_is_merged(cache) else 0
        aliases = ",".join(sorted(a for a, c in self.aliases.items() if c == name)) or "-"
        if inner is None:
            inner, inner_addr = inner_struct(obj, struct, path)
        self.rows[addr] = (f"{addr:#x}", kind, name, str(merged), aliases, f"{info.address:#x}",
                           f"{addr - info.address:#x}", struct, path, inner,
                           f"{inner_addr:#x}", how)


def eval_path(obj, path):
    cur = obj
    for part in path.split("."):
        cur = cur.member_(part)
    return cur


def inner_struct(obj, struct, path):
    """The innermost named struct of `path` holding the lock, and its address."""
    parts = path.split(".")
    cur, name = obj[0], struct
    for part in parts[:-1]:
        cur = cur.member_(part)
        t = cur.type_
        while t.kind == drgn.TypeKind.TYPEDEF:
            t = t.type
        if t.tag:
            name = t.tag
    return name, cur.address_


def sample_task(s, task):
    pid = task.pid.value_()
    comm = task.comm.string_().decode(errors="replace")
    who = f"pid {pid}"
    s.add(task, "task_struct", "futex_exit_mutex", f"{who} futex_exit_mutex")
    mm = task.mm
    if mm:
        s.add(mm, "mm_struct", "mmap_lock", f"{who} mm.mmap_lock")
    sig = task.signal
    if sig:
        s.add(sig, "signal_struct", "cred_guard_mutex", f"{who} signal.cred_guard_mutex")
        s.add(sig, "signal_struct", "exec_update_lock", f"{who} signal.exec_update_lock")
        s.add(sig, "signal_struct", "wait_chldexit", f"{who} signal.wait_chldexit")
    if task.sighand:
        s.add(task.sighand, "sighand_struct", "signalfd_wqh", f"{who} sighand.signalfd_wqh")
    if task.files:
        s.add(task.files, "files_struct", "resize_wait", f"{who} files.resize_wait")
    PF_KTHREAD = 0x00200000
    if task.flags.value_() & PF_KTHREAD:
        try:
            kt = task.worker_private
        except AttributeError:
            kt = task.set_child_tid  # 5.10: to_kthread() reads it
        if kt:
            kthread = drgn.cast("struct kthread *", kt)
            s.add(kthread, "kthread", "exited", f"{who} kthread.exited ({comm})")
    if mm and task.pid == task.tgid:
        for i, vma in enumerate(for_each_vma(mm)):
            if i >= MAX_VMAS:
                break
            if vma.anon_vma:
                s.add(vma.anon_vma, "anon_vma", "rwsem", f"{who} vma {vma.vm_start.value_():#x} anon_vma.rwsem")
            if vma.vm_file:
                s.add(vma.vm_file, "file", "f_pos_lock", f"{who} vma {vma.vm_start.value_():#x} file.f_pos_lock")
        for i, (fd, file) in enumerate(for_each_file(task)):
            if i >= MAX_FILES:
                break
            s.add(file, "file", "f_pos_lock", f"{who} fd {fd} file.f_pos_lock")
            sample_inode(s, file.f_inode, f"{who} fd {fd} inode")


def children(dentry):
    """The first child dentries of a directory (6.1: d_subdirs list; 6.8+: d_children hlist)."""
    try:
        it = list_for_each_entry("struct dentry", dentry.d_subdirs.address_of_(), "d_child")
    except AttributeError:
        it = hlist_for_each_entry("struct dentry", dentry.d_children.address_of_(), "d_sib")
    out = []
    for d in it:
        if len(out) >= MAX_CHILDREN:
            break
        if d.d_inode:
            out.append(d)
    return out


def inode_container(prog, inode):
    """(struct, member) embedding the inode, from its super block's alloc_inode; None when
    the file system is not in ALLOC_INODE_CONTAINER."""
    alloc = inode.i_sb.s_op.alloc_inode.value_()
    name = None
    if alloc:
        try:
            name = prog.symbol(alloc).name
        except LookupError:
            return None
    return ALLOC_INODE_CONTAINER.get(name)


def sample_inode(s, inode, how):
    found = inode_container(s.prog, inode)
    if found is None:
        s.unknown_fs += 1
        return
    container, member = found
    if member is None:
        obj, prefix = inode, ""
    else:
        obj = container_of(inode, "struct " + container, member)
        prefix = member + "."
    ia = inode.value_()
    s.add(obj, container, prefix + "i_rwsem", f"{how} i_rwsem", "inode", ia)
    s.add(obj, container, prefix + "i_data.i_mmap_rwsem", f"{how} i_data.i_mmap_rwsem",
          "address_space", inode.i_data.address_of_().value_())


def sample_mounts(s, prog):
    seen_sb = set()
    for mnt in for_each_mount(prog):
        fstype = mount_fstype(mnt).decode()
        sb = mnt.mnt.mnt_sb
        if sb.value_() in seen_sb:
            continue
        seen_sb.add(sb.value_())
        s.add(sb, "super_block", "s_umount", f"sb {fstype} s_umount")
        root = mnt.mnt.mnt_root
        try:
            if root.d_inode:
                sample_inode(s, root.d_inode, f"{fstype} root inode")
            for i, d in enumerate(children(root)):
                name = d.d_name.name.string_().decode(errors="replace")
                sample_inode(s, d.d_inode, f"{fstype} /{name} inode")
        except FaultError:
            s.faults += 1


def main(vmlinux, dump):
    prog = open_dump(vmlinux, dump)
    s = Sampler(prog)
    tasks, note = all_tasks(prog)
    for task in tasks:
        try:
            sample_task(s, task)
        except FaultError:
            s.faults += 1
    try:
        sample_mounts(s, prog)
    except FaultError as e:
        note = (note + "; " if note else "") + f"mount walk stopped: {e}"
    print("#addr\tlock\tcache\tmerged\taliases\tobject\toffset\tstruct\tpath\tinner\tinner_addr\thow")
    for addr in sorted(s.rows):
        print("\t".join(s.rows[addr]))
    print(f"# {len(s.rows)} locks in slab objects; {s.not_slab} addresses not in a slab object; "
          f"{s.faults} reads faulted; {len(s.mismatch)} objects not where constructed; "
          f"{s.unknown_fs} inodes of file systems whose inode container is not known")
    kinds = {}
    for how in s.not_slab_how:
        what = how.split(" ", 2)[-1].split(" (")[0]
        kinds[what] = kinds.get(what, 0) + 1
    if kinds:
        print("# not in a slab object (static objects, e.g. init_files): "
              + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    if note:
        print(f"# {note}")
    for m in s.mismatch:
        print(f"# mismatch: {m}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
