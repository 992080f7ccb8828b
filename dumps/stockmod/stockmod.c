// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * stockmod: the ground truth of hangs in stock kernel code (make-dumps.sh 6.1-stock; see
 * README.md), printed to the kernel log as "holdup-truth: {json}" lines in the schema of
 * dumps/TRUTH.md ("task", "object" and "verdict" lines). Two of the hangs are started here
 * (scenario "work": flush_work() under a mutex the work function needs; scenario "i_rwsem": a
 * kthread holds an inode's i_rwsem), the others by user space (guest/init-stock.sh, the helper
 * guest/stock.c); for those this module looks up what the tasks wait on and prints it.
 *
 * Commands, one per write to /proc/holdup-stock (WAITER = PID of a task blocked in state D;
 * its blocked_in is found here by unwinding its stack: the first frame after the scheduler's
 * own, as a backtrace shows it; /proc/PID/stack would not do: it leaves out every __sched
 * function, e.g. rwsem_down_write_slowpath):
 *   frozen MOUNT FREEZER_PID WAITER...
 *       a frozen filesystem: the super_block of MOUNT, and each WAITER blocked on its
 *       s_writers (sb_start_write) in a percpu_rw_semaphore.
 *   io DMNAME MOUNT SUSPENDED WAITER:MODE:FILE...
 *       I/O queued on a suspended dm device: its mapped_device (the device under MOUNT;
 *       SUSPENDED: what its sysfs dm/suspended said), and each WAITER (MODE r or w) waiting for its I/O, with the folio at index 0 of FILE ("-":
 *       none) when FILE has one locked or under writeback.
 *   work
 *       starts scenario work: kthread wq_flusher takes mutex stock_m, queues stock_work on
 *       system_wq, whose function (in a kworker) waits for stock_m; wq_flusher then calls
 *       flush_work(&stock_work): a deadlock of the kernel's own workqueue code.
 *   i_rwsem PATH
 *       starts kthread i_holder, which takes inode_lock() of PATH and sleeps forever.
 *   i_rwsem_waiters WAITER...
 *       the tasks blocked on that i_rwsem (user space starts them: write(2) to PATH); may be
 *       written several times; the last write ends with the word "end", then the inode line
 *       (with the number of waiters) and the verdict are printed.
 *   freeze_wait MOUNT
 *       starts kthread sbw_holder, which takes sb_start_write() of MOUNT's super block (the
 *       read side of s_writers.rw_sem[SB_FREEZE_WRITE-1]) and sleeps forever.
 *   freeze_wait_freezer FREEZER
 *       waits (10 s at most) until FREEZER waits in percpu_down_write for that reader: the
 *       task of the semaphore's rcuwait, block set. (Before, in rcu_sync_enter, it sleeps too,
 *       for an RCU grace period, while writers still take the read side.)
 *   freeze_wait_waiters FREEZER WRITER...
 *       FREEZER (FIFREEZE on MOUNT) blocked in percpu_down_write, waiting for that reader;
 *       each WRITER blocked behind it in percpu_rwsem_wait; prints the super block (frozen:
 *       SB_FREEZE_WRITE), the holder, the freezer, the writers and the verdict.
 *   kthread_stop
 *       starts kthread ks_sleeper, which sleeps forever without ever checking
 *       kthread_should_stop(), and kthread ks_stopper, which calls kthread_stop() on it and
 *       waits for its exit (the completion kthread->exited); prints the truth once ks_stopper
 *       is blocked on it.
 *   buffer MOUNT BLOCK
 *       starts kthread bh_holder, which reads block BLOCK of MOUNT's device (sb_bread), locks
 *       the buffer_head (lock_buffer) and sleeps forever, then kthread bh_waiter, which calls
 *       lock_buffer() on it and waits in __lock_buffer (a bit wait on BH_Lock); prints the
 *       truth once bh_waiter is queued in the bit wait table.
 * A command that finds something other than what it expects prints "stockmod: FAILED ..." and
 * returns -EINVAL to the writer.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/device-mapper.h>
#include <linux/dm-ioctl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jbd2.h>
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/pid.h>
#include <linux/proc_fs.h>
#include <linux/sbitmap.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <asm/unwind.h>

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("holdup: ground truth of hangs in stock kernel code");

#define TRUTH_LEN 1024
#define CMD_LEN 8192

/* Where the module's own threads sleep, as a backtrace shows it (see hangmod/README.md). */
#define IN_MUTEX "__mutex_lock"
#define IN_COMPLETION "__wait_for_common"
#define IN_SLEEP "schedule_timeout"
/* A function name, as blocked_in (the later scenarios: their functions keep small frames) */
#define FN_LEN 128

/* A growing JSON line. */
struct line {
	char *buf;
	int n;
};

static bool line_start(struct line *l, const char *kind, const char *scenario)
{
	l->buf = kmalloc(TRUTH_LEN, GFP_KERNEL);
	if (!l->buf)
		return false;
	l->n = scnprintf(l->buf, TRUTH_LEN, "{\"kind\":\"%s\",\"scenario\":\"%s\"", kind, scenario);
	return true;
}

static __printf(2, 3) void line_add(struct line *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	l->n += vscnprintf(l->buf + l->n, TRUTH_LEN - l->n, fmt, ap);
	va_end(ap);
}

static void line_end(struct line *l)
{
	line_add(l, "}");
	printk(KERN_INFO "holdup-truth: %s\n", l->buf);
	kfree(l->buf);
}

static const char *state_name(struct task_struct *t)
{
	unsigned int s = READ_ONCE(t->__state);

	if (s == TASK_UNINTERRUPTIBLE)
		return "TASK_UNINTERRUPTIBLE";
	if (s == TASK_KILLABLE)
		return "TASK_KILLABLE";
	return NULL;
}

/*
 * One "task" line: a task holding or waiting in a stock hang. folio and inode may be NULL.
 * The state is the task's own when another task prints the line, and TASK_UNINTERRUPTIBLE
 * when the task prints it itself, right before it blocks in an uninterruptible sleep.
 */
static void truth_task(const char *scenario, struct task_struct *t, const char *role,
		       const char *lock_type, const void *lock, const char *lock_name,
		       const char *mode, const char *blocked_in, struct folio *folio,
		       struct inode *inode, bool recorded)
{
	struct line l;
	const char *state = t == current ? "TASK_UNINTERRUPTIBLE" : state_name(t);

	if (!line_start(&l, "task", scenario))
		return;
	line_add(&l, ",\"task\":\"0x%px\",\"pid\":%d,\"comm\":\"%s\",\"role\":\"%s\","
		 "\"lock_type\":\"%s\",\"lock\":\"0x%px\"", t, task_pid_nr(t), t->comm, role,
		 lock_type, lock);
	if (lock_name)
		line_add(&l, ",\"lock_name\":\"%s\"", lock_name);
	line_add(&l, ",\"mode\":\"%s\",\"blocked_in\":\"%s\",\"state\":\"%s\"", mode, blocked_in,
		 state ? state : "running");
	if (folio)
		line_add(&l, ",\"folio\":\"0x%px\",\"pfn\":%lu,\"index\":%lu,\"page_flags\":\"0x%lx\"",
			 folio, folio_pfn(folio), folio->index, READ_ONCE(folio->flags));
	if (inode)
		line_add(&l, ",\"inode\":\"0x%px\"", inode);
	line_add(&l, ",\"recorded_by_kernel\":%s", recorded ? "true" : "false");
	line_end(&l);
}

/* One "verdict" line: root cause tasks (may be none) and, optional, a non-task root cause. */
static void truth_verdict(const char *scenario, struct task_struct **roots, int nroots,
			  const char *root_cause, bool cycle, const char *summary)
{
	struct line l;
	int i;

	if (!line_start(&l, "verdict", scenario))
		return;
	line_add(&l, ",\"root_cause_pids\":[");
	for (i = 0; i < nroots; i++)
		line_add(&l, "%s%d", i ? "," : "", task_pid_nr(roots[i]));
	line_add(&l, "],\"root_cause_comms\":[");
	for (i = 0; i < nroots; i++)
		line_add(&l, "%s\"%s\"", i ? "," : "", roots[i]->comm);
	line_add(&l, "]");
	if (root_cause)
		line_add(&l, ",\"root_cause\":\"%s\"", root_cause);
	line_add(&l, ",\"cycle\":%s,\"summary\":\"%s\"", cycle ? "true" : "false", summary);
	line_end(&l);
}

static void __noreturn sleep_forever(void)
{
	for (;;)
		schedule_timeout_uninterruptible(MAX_SCHEDULE_TIMEOUT);
}

static struct task_struct *task_of(int nr)
{
	struct pid *pid = find_get_pid(nr);
	struct task_struct *t = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;

	put_pid(pid);
	return t;
}

/*
 * The function a blocked task sleeps in, as a backtrace (crash's bt, the hung-task detector's
 * trace) shows it: the first frame that is not the scheduler's own, without the module name
 * and a .constprop.N-style suffix. The task is blocked for good: its stack stays.
 */
static void blocked_in_of(struct task_struct *t, char *buf, size_t len)
{
	static const char *const sched[] = { "__schedule", "schedule", "schedule_preempt_disabled",
					     "schedule_timeout", "io_schedule", "io_schedule_timeout" };
	struct unwind_state st;
	char name[KSYM_SYMBOL_LEN];
	unsigned long ip;
	int i;

	strscpy(buf, "?", len);
	for (unwind_start(&st, t, NULL, NULL); !unwind_done(&st); unwind_next_frame(&st)) {
		ip = unwind_get_return_address(&st);
		if (!ip)
			break;
		snprintf(name, sizeof(name), "%ps", (void *)ip);
		name[strcspn(name, " .")] = 0;
		for (i = 0; i < ARRAY_SIZE(sched) && strcmp(name, sched[i]); i++)
			;
		if (i == ARRAY_SIZE(sched)) {
			strscpy(buf, name, len);
			return;
		}
	}
}

/* "PID[:...]" -> the task (a reference), blocked_in into fn, *rest pointing after "PID:". */
static struct task_struct *waiter_of(char *word, char *fn, size_t fnlen, char **rest)
{
	char *pid_s = strsep(&word, ":");
	int nr;
	struct task_struct *t;

	*rest = word;
	if (!pid_s || kstrtoint(pid_s, 10, &nr)) {
		pr_err("stockmod: FAILED: bad waiter word\n");
		return NULL;
	}
	t = task_of(nr);
	if (!t)
		pr_err("stockmod: FAILED: no task with pid %d\n", nr);
	else if (!state_name(t)) {
		pr_err("stockmod: FAILED: pid %d is not blocked (state 0x%x)\n", nr,
		       READ_ONCE(t->__state));
		put_task_struct(t);
		t = NULL;
	} else
		blocked_in_of(t, fn, fnlen);
	return t;
}

/* ---- frozen: a filesystem frozen by FIFREEZE, writers blocked in sb_start_write ---- */

static int cmd_frozen(char *args)
{
	char *mnt = strsep(&args, " "), *freezer = strsep(&args, " "), *w, *rest;
	char fn[KSYM_SYMBOL_LEN];
	struct path path;
	struct super_block *sb;
	struct line l;
	struct percpu_rw_semaphore *sem;
	char root[160], name[96];
	int frozen, n = 0;

	if (!mnt || !freezer || kern_path(mnt, LOOKUP_FOLLOW, &path)) {
		pr_err("stockmod: FAILED: frozen: no mount %s\n", mnt ? mnt : "(none)");
		return -EINVAL;
	}
	sb = path.mnt->mnt_sb;
	frozen = READ_ONCE(sb->s_writers.frozen);
	if (frozen != SB_FREEZE_COMPLETE) {
		pr_err("stockmod: FAILED: frozen: %s is not frozen (%d)\n", mnt, frozen);
		path_put(&path);
		return -EINVAL;
	}
	/* mnt_want_write() and file_start_write() both take sb_start_write: level SB_FREEZE_WRITE */
	sem = &sb->s_writers.rw_sem[SB_FREEZE_WRITE - 1];
	snprintf(name, sizeof(name), "s_writers.rw_sem[SB_FREEZE_WRITE-1] of %s", sb->s_id);
	if (line_start(&l, "object", "frozen")) {
		line_add(&l, ",\"object\":\"super_block\",\"address\":\"0x%px\",\"device\":\"%s\","
			 "\"fstype\":\"%s\",\"mount\":\"%s\",\"s_writers\":\"0x%px\",\"frozen\":%d,"
			 "\"frozen_by_pid\":%s", sb, sb->s_id, sb->s_type->name, mnt, &sb->s_writers,
			 frozen, freezer);
		line_end(&l);
	}
	while ((w = strsep(&args, " "))) {
		struct task_struct *t;

		if (!*w)
			continue;
		t = waiter_of(w, fn, sizeof(fn), &rest);
		if (!t) {
			path_put(&path);
			return -EINVAL;
		}
		truth_task("frozen", t, "waiter", "percpu_rwsem", sem, name, "read", fn, NULL, NULL,
			   true);
		put_task_struct(t);
		n++;
	}
	snprintf(root, sizeof(root), "frozen filesystem on %s (%s, FIFREEZE by pid %s, exited)",
		 sb->s_id, mnt, freezer);
	truth_verdict("frozen", NULL, 0, root, false,
		      "the ext4 filesystem was frozen with FIFREEZE by a process that then exited; "
		      "nobody thaws it, and every writer blocks in sb_start_write on s_writers");
	path_put(&path);
	return n ? 0 : -EINVAL;
}

/* ---- io: a dm device suspended with --nolockfs --noflush, its I/O queued ---- */

/* The folio at index 0 of FILE if it is locked or under writeback (a reference), else NULL. */
static struct folio *io_folio(const char *file, struct inode **inode)
{
	struct path path;
	struct folio *folio;

	*inode = NULL;
	if (!strcmp(file, "-") || kern_path(file, LOOKUP_FOLLOW, &path))
		return NULL;
	*inode = d_inode(path.dentry);
	folio = __filemap_get_folio((*inode)->i_mapping, 0, 0, 0);
	path_put(&path); /* the waiter keeps the file open: the inode stays */
	if (IS_ERR(folio)) /* 6.4+: ERR_PTR(-ENOENT) where 6.1 returns NULL */
		folio = NULL;
	if (folio && !folio_test_locked(folio) && !folio_test_writeback(folio)) {
		folio_put(folio);
		folio = NULL;
	}
	return folio;
}

static int cmd_io(char *args)
{
	char *dmname = strsep(&args, " "), *mnt = strsep(&args, " "), *susp = strsep(&args, " ");
	char *w, *rest, root[160], dm_name[DM_NAME_LEN], dm_uuid[DM_UUID_LEN];
	char fn[KSYM_SYMBOL_LEN];
	struct path path;
	struct super_block *sb;
	struct gendisk *disk;
	struct mapped_device *md;
	struct line l;
	int n = 0;

	if (!dmname || !mnt || !susp || kern_path(mnt, LOOKUP_FOLLOW, &path)) {
		pr_err("stockmod: FAILED: io: no mount %s\n", mnt ? mnt : "(none)");
		return -EINVAL;
	}
	sb = path.mnt->mnt_sb;
	disk = sb->s_bdev ? sb->s_bdev->bd_disk : NULL;
	md = disk ? disk->private_data : NULL; /* dm sets it to the mapped_device */
	if (!md || strncmp(disk->disk_name, "dm-", 3) ||
	    dm_copy_name_and_uuid(md, dm_name, dm_uuid) || strcmp(dm_name, dmname)) {
		pr_err("stockmod: FAILED: io: %s is not on dm device %s\n", mnt, dmname);
		path_put(&path);
		return -EINVAL;
	}
	if (line_start(&l, "object", "io")) {
		line_add(&l, ",\"object\":\"mapped_device\",\"address\":\"0x%px\",\"name\":\"%s\","
			 "\"device\":\"%s\",\"mount\":\"%s\",\"suspended\":%s", md, dmname,
			 disk->disk_name, mnt, strcmp(susp, "1") ? "false" : "true");
		line_end(&l);
	}
	while ((w = strsep(&args, " "))) {
		struct task_struct *t;
		struct folio *folio;
		struct inode *inode;
		char *mode, *file;

		if (!*w)
			continue;
		t = waiter_of(w, fn, sizeof(fn), &rest);
		mode = strsep(&rest, ":");
		file = rest;
		if (!t || !mode || !file || (strcmp(mode, "r") && strcmp(mode, "w"))) {
			pr_err("stockmod: FAILED: io: bad waiter\n");
			if (t)
				put_task_struct(t);
			path_put(&path);
			return -EINVAL;
		}
		folio = io_folio(file, &inode);
		if (folio && line_start(&l, "object", "io")) {
			line_add(&l, ",\"object\":\"folio\",\"address\":\"0x%px\",\"inode\":\"0x%px\","
				 "\"path\":\"%s\",\"index\":%lu,\"pfn\":%lu,\"page_flags\":\"0x%lx\","
				 "\"locked\":%s,\"writeback\":%s,\"uptodate\":%s", folio, inode, file,
				 folio->index, folio_pfn(folio), READ_ONCE(folio->flags),
				 folio_test_locked(folio) ? "true" : "false",
				 folio_test_writeback(folio) ? "true" : "false",
				 folio_test_uptodate(folio) ? "true" : "false");
			line_end(&l);
		}
		/* A folio wait (lock or writeback) is in the page wait table; so is a buffer's. */
		truth_task("io", t, "waiter", "io", md, dmname, *mode == 'r' ? "read" : "write", fn,
			   folio, folio ? inode : NULL, true);
		if (folio)
			folio_put(folio);
		put_task_struct(t);
		n++;
	}
	snprintf(root, sizeof(root), "dm device %s (%s) suspended with its I/O queued", dmname,
		 disk->disk_name);
	truth_verdict("io", NULL, 0, root, false,
		      "dmsetup suspend --nolockfs --noflush left the device suspended: bios queue "
		      "inside dm and never complete, so writeback waiters, jbd2 and readers of "
		      "uncached data wait forever");
	path_put(&path);
	return n ? 0 : -EINVAL;
}

/* ---- work: flush_work() while holding the mutex the work function takes ---- */

static DEFINE_MUTEX(stock_m);
static void stock_work_fn(struct work_struct *w);
static DECLARE_WORK(stock_work, stock_work_fn);
static DECLARE_COMPLETION(work_running);
static struct task_struct *work_kworker;

static void stock_work_fn(struct work_struct *w)
{
	work_kworker = current;
	get_task_struct(current);
	/* worker->current_work records it (the pool's busy_hash finds the worker) */
	truth_task("work", current, "holder", "work", &stock_work, "stock_work", "none", IN_MUTEX,
		   NULL, NULL, true);
	truth_task("work", current, "waiter", "mutex", &stock_m, "stock_m", "exclusive", IN_MUTEX,
		   NULL, NULL, true);
	complete(&work_running);
	mutex_lock(&stock_m);
	mutex_unlock(&stock_m);
}

static int wq_flusher_fn(void *unused)
{
	struct task_struct *roots[1];
	struct line l;
	char func[KSYM_SYMBOL_LEN];
	int i;

	mutex_lock(&stock_m);
	truth_task("work", current, "holder", "mutex", &stock_m, "stock_m", "exclusive",
		   IN_COMPLETION, NULL, NULL, true);
	queue_work(system_wq, &stock_work);
	wait_for_completion(&work_running);
	for (i = 0; i < 3000 && list_empty(&stock_m.wait_list); i++)
		msleep(10);
	if (list_empty(&stock_m.wait_list))
		pr_err("stockmod: FAILED: work: the kworker never queued on stock_m\n");
	snprintf(func, sizeof(func), "%ps", stock_work.func);
	func[strcspn(func, " ")] = 0; /* "stock_work_fn [stockmod]" */
	if (line_start(&l, "object", "work")) {
		line_add(&l, ",\"object\":\"work_struct\",\"address\":\"0x%px\",\"func\":\"%s\","
			 "\"workqueue\":\"events\",\"worker_pid\":%d", &stock_work, func,
			 task_pid_nr(work_kworker));
		line_end(&l);
	}
	/* The flusher waits for the completion of a struct wq_barrier on its stack, queued behind
	 * the running work on the worker's scheduled list; the barrier's task field names it. */
	truth_task("work", current, "waiter", "work", &stock_work, "stock_work", "none",
		   IN_COMPLETION, NULL, NULL, true);
	/*
	 * A cycle of two tasks; the one to blame is the flusher: it flushes a work while holding a
	 * lock the work's function takes (the kworker only runs that function, as it should).
	 */
	roots[0] = current;
	truth_verdict("work", roots, 1, NULL, true,
		      "wq_flusher holds mutex stock_m and waits in flush_work() for stock_work, "
		      "whose function runs in a kworker of system_wq and waits for stock_m: a "
		      "deadlock cycle through the workqueue, caused by flushing under the lock");
	flush_work(&stock_work);
	pr_err("stockmod: work: flush_work returned?\n");
	sleep_forever();
}

/* ---- i_rwsem: a kthread holds an inode's i_rwsem, writers to the file queue ---- */

static struct inode *irw_inode;
static struct task_struct *irw_holder;
static char irw_path[128];
static DECLARE_COMPLETION(irw_held);
static int irw_waiters;

static int i_holder_fn(void *unused)
{
	char name[160];

	inode_lock(irw_inode);
	snprintf(name, sizeof(name), "i_rwsem of %s", irw_path);
	truth_task("i_rwsem", current, "holder", "rwsem", &irw_inode->i_rwsem, name, "write",
		   IN_SLEEP, NULL, irw_inode, true);
	complete(&irw_held);
	sleep_forever();
}

static int cmd_i_rwsem(char *args)
{
	char *p = strsep(&args, " ");
	struct path path;

	if (irw_inode || !p || strscpy(irw_path, p, sizeof(irw_path)) < 0 ||
	    kern_path(irw_path, LOOKUP_FOLLOW, &path)) {
		pr_err("stockmod: FAILED: i_rwsem: no file %s\n", p ? p : "(none)");
		return -EINVAL;
	}
	irw_inode = d_inode(path.dentry);
	ihold(irw_inode); /* kept for ever, as is the lock */
	path_put(&path);
	irw_holder = kthread_run(i_holder_fn, NULL, "i_holder");
	if (IS_ERR(irw_holder)) {
		irw_holder = NULL;
		return -EINVAL;
	}
	get_task_struct(irw_holder);
	wait_for_completion(&irw_held);
	return 0;
}

static int cmd_i_rwsem_waiters(char *args)
{
	char *w, *rest, name[160], fn[KSYM_SYMBOL_LEN];
	struct line l;

	if (!irw_inode)
		return -EINVAL;
	snprintf(name, sizeof(name), "i_rwsem of %s", irw_path);
	while ((w = strsep(&args, " "))) {
		struct task_struct *t;

		if (!*w)
			continue;
		if (!strcmp(w, "end")) {
			if (line_start(&l, "object", "i_rwsem")) {
				line_add(&l, ",\"object\":\"inode\",\"address\":\"0x%px\",\"path\":\"%s\","
					 "\"i_rwsem\":\"0x%px\",\"fstype\":\"%s\",\"holder_pid\":%d,"
					 "\"waiters\":%d", irw_inode, irw_path, &irw_inode->i_rwsem,
					 irw_inode->i_sb->s_type->name, task_pid_nr(irw_holder),
					 irw_waiters);
				line_end(&l);
			}
			truth_verdict("i_rwsem", &irw_holder, 1, NULL, false,
				      "i_holder holds the i_rwsem of a tmpfs file for write and sleeps "
				      "forever; every write(2) to the file waits for it");
			return 0;
		}
		t = waiter_of(w, fn, sizeof(fn), &rest);
		if (!t)
			return -EINVAL;
		truth_task("i_rwsem", t, "waiter", "rwsem", &irw_inode->i_rwsem, name, "write", fn,
			   NULL, NULL, true);
		put_task_struct(t);
		irw_waiters++;
	}
	return 0;
}

/* ---- shared: a kthread of ours blocked for good ---- */

/* Until t sleeps in TASK_UNINTERRUPTIBLE off its CPU (its stack then stays), at most ms. */
static bool wait_blocked(struct task_struct *t, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (READ_ONCE(t->__state) == TASK_UNINTERRUPTIBLE && !READ_ONCE(t->on_cpu))
			return true;
		msleep(10);
	}
	pr_err("stockmod: FAILED: %s (pid %d) did not block (state 0x%x)\n", t->comm,
	       task_pid_nr(t), READ_ONCE(t->__state));
	return false;
}

/* ---- freeze_wait: FIFREEZE waits in percpu_down_write for a task holding sb_start_write ---- */

static struct super_block *fw_sb;
static struct path fw_path;
static char fw_mnt[128];
static struct task_struct *fw_holder;
static DECLARE_COMPLETION(fw_held);

static int sbw_holder_fn(void *unused)
{
	/* the read side of s_writers.rw_sem[SB_FREEZE_WRITE-1], as vfs_write() takes it */
	sb_start_write(fw_sb);
	complete(&fw_held);
	sleep_forever();
}

static int cmd_freeze_wait(char *args)
{
	char *p = strsep(&args, " ");

	if (fw_sb || !p || strscpy(fw_mnt, p, sizeof(fw_mnt)) < 0 ||
	    kern_path(fw_mnt, LOOKUP_FOLLOW, &fw_path)) {
		pr_err("stockmod: FAILED: freeze_wait: no mount %s\n", p ? p : "(none)");
		return -EINVAL;
	}
	fw_sb = fw_path.mnt->mnt_sb; /* fw_path is kept for ever: the super block stays */
	fw_holder = kthread_run(sbw_holder_fn, NULL, "sbw_holder");
	if (IS_ERR(fw_holder)) {
		fw_holder = NULL;
		return -EINVAL;
	}
	get_task_struct(fw_holder);
	wait_for_completion(&fw_held);
	return wait_blocked(fw_holder, 10000) ? 0 : -EINVAL;
}

/* Whether t sleeps on the percpu_rw_semaphore's wait queue (percpu_rwsem_wait). */
static bool on_percpu_waiters(struct percpu_rw_semaphore *sem, struct task_struct *t)
{
	struct wait_queue_entry *e;
	bool found = false;

	spin_lock_irq(&sem->waiters.lock);
	list_for_each_entry(e, &sem->waiters.head, entry)
		if (e->private == t)
			found = true;
	spin_unlock_irq(&sem->waiters.lock);
	return found;
}

/* Whether the freezer waits for the readers of sem: the rcuwait's task, with block set. */
static bool freezer_waits(struct percpu_rw_semaphore *sem, struct task_struct *freezer)
{
	struct task_struct *w;

	rcu_read_lock();
	w = rcu_dereference(sem->writer.task);
	rcu_read_unlock();
	return w == freezer && atomic_read(&sem->block);
}

static int cmd_freeze_wait_freezer(char *args)
{
	char *w = strsep(&args, " ");
	struct task_struct *freezer;
	struct percpu_rw_semaphore *sem;
	int i, nr;

	if (!fw_sb || !w || kstrtoint(w, 10, &nr) || !(freezer = task_of(nr)))
		return -EINVAL;
	sem = &fw_sb->s_writers.rw_sem[SB_FREEZE_WRITE - 1];
	for (i = 0; i < 1000 && !freezer_waits(sem, freezer); i++)
		msleep(10);
	put_task_struct(freezer);
	if (!freezer_waits(sem, freezer)) {
		pr_err("stockmod: FAILED: freeze_wait: pid %d does not wait in percpu_down_write\n",
		       nr);
		return -EINVAL;
	}
	return 0;
}

static int cmd_freeze_wait_waiters(char *args)
{
	char *w, *rest, fn[KSYM_SYMBOL_LEN], name[96];
	struct percpu_rw_semaphore *sem;
	struct task_struct *freezer = NULL, *t, *writer_task;
	struct line l;
	int frozen, freezer_pid = 0, n = 0;

	if (!fw_sb)
		return -EINVAL;
	sem = &fw_sb->s_writers.rw_sem[SB_FREEZE_WRITE - 1];
	frozen = READ_ONCE(fw_sb->s_writers.frozen);
	snprintf(name, sizeof(name), "s_writers.rw_sem[SB_FREEZE_WRITE-1] of %s", fw_sb->s_id);
	w = strsep(&args, " ");
	if (!w || !(freezer = waiter_of(w, fn, sizeof(fn), &rest)))
		return -EINVAL;
	freezer_pid = task_pid_nr(freezer);
	rcu_read_lock();
	writer_task = rcu_dereference(sem->writer.task);
	rcu_read_unlock();
	if (frozen != SB_FREEZE_WRITE || writer_task != freezer || !atomic_read(&sem->block)) {
		pr_err("stockmod: FAILED: freeze_wait: frozen %d, rcuwait task %px, block %d: the "
		       "freezer %d is not waiting for readers\n", frozen, writer_task,
		       atomic_read(&sem->block), freezer_pid);
		put_task_struct(freezer);
		return -EINVAL;
	}
	if (line_start(&l, "object", "freeze_wait")) {
		line_add(&l, ",\"object\":\"super_block\",\"address\":\"0x%px\",\"device\":\"%s\","
			 "\"fstype\":\"%s\",\"mount\":\"%s\",\"s_writers\":\"0x%px\",\"frozen\":%d,"
			 "\"frozen_by_pid\":%d", fw_sb, fw_sb->s_id, fw_sb->s_type->name, fw_mnt,
			 &fw_sb->s_writers, frozen, freezer_pid);
		line_end(&l);
	}
	/* A reader of a percpu_rw_semaphore is a per-CPU count: no owner is recorded. */
	truth_task("freeze_wait", fw_holder, "holder", "percpu_rwsem", sem, name, "read", IN_SLEEP,
		   NULL, NULL, false);
	/* The writer is the rcuwait's task (sem->writer), block is set. */
	truth_task("freeze_wait", freezer, "waiter", "percpu_rwsem", sem, name, "write", fn, NULL,
		   NULL, true);
	put_task_struct(freezer);
	while ((w = strsep(&args, " "))) {
		if (!*w)
			continue;
		t = waiter_of(w, fn, sizeof(fn), &rest);
		if (!t)
			return -EINVAL;
		if (!on_percpu_waiters(sem, t)) {
			pr_err("stockmod: FAILED: freeze_wait: pid %d is not on the waiters of %s\n",
			       task_pid_nr(t), name);
			put_task_struct(t);
			return -EINVAL;
		}
		truth_task("freeze_wait", t, "waiter", "percpu_rwsem", sem, name, "read", fn, NULL,
			   NULL, true);
		put_task_struct(t);
		n++;
	}
	truth_verdict("freeze_wait", &fw_holder, 1, NULL, false,
		      "sbw_holder holds the read side of s_writers (sb_start_write) and sleeps "
		      "forever; FIFREEZE waits in percpu_down_write for that reader to leave, and "
		      "every later writer to the filesystem waits behind the freeze");
	return n ? 0 : -EINVAL;
}

/* ---- kthread_stop: kthread_stop() of a kthread that never checks kthread_should_stop ---- */

static struct task_struct *ks_sleeper, *ks_stopper;

static int ks_sleeper_fn(void *unused)
{
	sleep_forever(); /* kthread_stop() wakes it; it sleeps again */
}

static int ks_stopper_fn(void *unused)
{
	kthread_stop(ks_sleeper);
	pr_err("stockmod: kthread_stop: kthread_stop returned?\n");
	sleep_forever();
}

/*
 * The struct completion inside the kthread's struct kthread (task->worker_private) whose
 * wait list has the stopper's swait_queue entry (on the stopper's stack): kthread->exited.
 * struct kthread is private to kernel/kthread.c; its start (flags, cpu, result, threadfn) has
 * been the same since 5.17, which threadfn checks.
 */
static struct completion *exited_of(void *kt, struct task_struct *stopper)
{
	unsigned long stack = (unsigned long)task_stack_page(stopper);
	size_t size = ksize(kt), off;

	for (off = 3 * sizeof(long); off + sizeof(struct completion) <= size; off += sizeof(long)) {
		struct completion *c = kt + off;
		struct list_head *next = READ_ONCE(c->wait.task_list.next);
		struct swait_queue *q;

		if ((unsigned long)next < stack || (unsigned long)next >= stack + THREAD_SIZE)
			continue;
		q = container_of(next, struct swait_queue, task_list);
		if (q->task == stopper && c->done == 0)
			return c;
	}
	return NULL;
}

static int cmd_kthread_stop(void)
{
	char fn[KSYM_SYMBOL_LEN], name[96], threadfn[KSYM_SYMBOL_LEN];
	struct completion *exited;
	struct task_struct *roots[1];
	struct line l;
	void *kt;
	bool should_stop;

	if (ks_sleeper)
		return -EINVAL;
	ks_sleeper = kthread_run(ks_sleeper_fn, NULL, "ks_sleeper");
	if (IS_ERR(ks_sleeper)) {
		ks_sleeper = NULL;
		return -EINVAL;
	}
	get_task_struct(ks_sleeper);
	if (!wait_blocked(ks_sleeper, 10000))
		return -EINVAL;
	ks_stopper = kthread_run(ks_stopper_fn, NULL, "ks_stopper");
	if (IS_ERR(ks_stopper)) {
		ks_stopper = NULL;
		return -EINVAL;
	}
	get_task_struct(ks_stopper);
	msleep(500);
	if (!wait_blocked(ks_stopper, 10000) || !wait_blocked(ks_sleeper, 10000))
		return -EINVAL;
	kt = ks_sleeper->worker_private;
	if (!kt || ((void **)kt)[2] != (void *)ks_sleeper_fn) {
		pr_err("stockmod: FAILED: kthread_stop: worker_private %px is not the struct kthread "
		       "of ks_sleeper_fn\n", kt);
		return -EINVAL;
	}
	should_stop = test_bit(1 /* KTHREAD_SHOULD_STOP */, (unsigned long *)kt);
	exited = exited_of(kt, ks_stopper);
	if (!exited || !should_stop) {
		pr_err("stockmod: FAILED: kthread_stop: exited completion %px, should_stop %d\n",
		       exited, should_stop);
		return -EINVAL;
	}
	snprintf(threadfn, sizeof(threadfn), "%ps", ks_sleeper_fn);
	threadfn[strcspn(threadfn, " ")] = 0;
	snprintf(name, sizeof(name), "exited of kthread ks_sleeper (pid %d)",
		 task_pid_nr(ks_sleeper));
	if (line_start(&l, "object", "kthread_stop")) {
		line_add(&l, ",\"object\":\"kthread\",\"address\":\"0x%px\",\"task\":\"0x%px\","
			 "\"pid\":%d,\"comm\":\"%s\",\"threadfn\":\"%s\",\"should_stop\":%s,"
			 "\"exited\":\"0x%px\"", kt, ks_sleeper, task_pid_nr(ks_sleeper),
			 ks_sleeper->comm, threadfn, should_stop ? "true" : "false", exited);
		line_end(&l);
	}
	/* The completion is the kthread's own (its struct kthread, worker_private): recorded. */
	truth_task("kthread_stop", ks_sleeper, "holder", "kthread_exit", exited, name, "none",
		   IN_SLEEP, NULL, NULL, true);
	blocked_in_of(ks_stopper, fn, sizeof(fn));
	truth_task("kthread_stop", ks_stopper, "waiter", "kthread_exit", exited, name, "none", fn,
		   NULL, NULL, true);
	roots[0] = ks_sleeper;
	truth_verdict("kthread_stop", roots, 1, NULL, false,
		      "ks_stopper waits in kthread_stop() for kthread ks_sleeper to exit, but "
		      "ks_sleeper sleeps forever without checking kthread_should_stop(): it never "
		      "exits, and its exited completion is never completed");
	return 0;
}

/* ---- buffer: a buffer_head locked (BH_Lock) by a sleeper, a second locker waits ---- */

static struct buffer_head *bh;
static struct super_block *bh_sb;
static struct path bh_path;
static char bh_mnt[128];
static sector_t bh_block;
static struct task_struct *bh_holder, *bh_waiter;
static DECLARE_COMPLETION(bh_locked);

static int bh_holder_fn(void *unused)
{
	bh = sb_bread(bh_sb, bh_block);
	if (!bh) {
		pr_err("stockmod: FAILED: buffer: sb_bread of block %llu failed\n",
		       (unsigned long long)bh_block);
		complete(&bh_locked);
		sleep_forever();
	}
	lock_buffer(bh);
	complete(&bh_locked);
	sleep_forever();
}

static int bh_waiter_fn(void *unused)
{
	lock_buffer(bh); /* __lock_buffer: a bit wait on BH_Lock of bh->b_state */
	pr_err("stockmod: buffer: lock_buffer returned?\n");
	sleep_forever();
}

/* Whether t waits in the bit wait table for BH_Lock of b_state (wait_on_bit_lock_io). */
static bool on_bit_waitqueue(unsigned long *word, int bit, struct task_struct *t)
{
	struct wait_queue_head *wq = bit_waitqueue(word, bit);
	struct wait_queue_entry *e;
	bool found = false;

	spin_lock_irq(&wq->lock);
	list_for_each_entry(e, &wq->head, entry) {
		struct wait_bit_queue_entry *wb = container_of(e, struct wait_bit_queue_entry,
							       wq_entry);

		if (e->private == t && wb->key.flags == word && wb->key.bit_nr == bit)
			found = true;
	}
	spin_unlock_irq(&wq->lock);
	return found;
}

static int cmd_buffer(char *args)
{
	char *p = strsep(&args, " "), *b = strsep(&args, " "), fn[KSYM_SYMBOL_LEN], name[96];
	unsigned long long blk;
	struct task_struct *roots[1];
	struct line l;

	if (bh_sb || !p || !b || kstrtoull(b, 10, &blk) || strscpy(bh_mnt, p, sizeof(bh_mnt)) < 0 ||
	    kern_path(bh_mnt, LOOKUP_FOLLOW, &bh_path)) {
		pr_err("stockmod: FAILED: buffer: bad arguments or no mount %s\n", p ? p : "(none)");
		return -EINVAL;
	}
	bh_sb = bh_path.mnt->mnt_sb; /* bh_path is kept for ever */
	bh_block = blk;
	bh_holder = kthread_run(bh_holder_fn, NULL, "bh_holder");
	if (IS_ERR(bh_holder)) {
		bh_holder = NULL;
		return -EINVAL;
	}
	get_task_struct(bh_holder);
	wait_for_completion(&bh_locked);
	if (!bh || !buffer_locked(bh) || !wait_blocked(bh_holder, 10000))
		return -EINVAL;
	bh_waiter = kthread_run(bh_waiter_fn, NULL, "bh_waiter");
	if (IS_ERR(bh_waiter)) {
		bh_waiter = NULL;
		return -EINVAL;
	}
	get_task_struct(bh_waiter);
	msleep(500);
	if (!wait_blocked(bh_waiter, 10000))
		return -EINVAL;
	if (!on_bit_waitqueue(&bh->b_state, BH_Lock, bh_waiter)) {
		pr_err("stockmod: FAILED: buffer: bh_waiter is not in the bit wait table of %px\n",
		       bh);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "buffer_head of block %llu on %s",
		 (unsigned long long)bh->b_blocknr, bh_sb->s_id);
	if (line_start(&l, "object", "buffer")) {
		line_add(&l, ",\"object\":\"buffer_head\",\"address\":\"0x%px\",\"device\":\"%s\","
			 "\"mount\":\"%s\",\"block\":%llu,\"size\":%zu,\"b_state\":\"0x%lx\","
			 "\"locked\":%s,\"page\":\"0x%px\"", bh, bh_sb->s_id, bh_mnt,
			 (unsigned long long)bh->b_blocknr, bh->b_size, READ_ONCE(bh->b_state),
			 buffer_locked(bh) ? "true" : "false", bh->b_page);
		line_end(&l);
	}
	/* BH_Lock is a bit: the kernel records no owner of a buffer lock. */
	truth_task("buffer", bh_holder, "holder", "buffer_lock", bh, name, "exclusive", IN_SLEEP,
		   NULL, NULL, false);
	blocked_in_of(bh_waiter, fn, sizeof(fn));
	/* Its wait_bit_queue_entry (key: &bh->b_state, BH_Lock) is in bit_waitqueue(). */
	truth_task("buffer", bh_waiter, "waiter", "buffer_lock", bh, name, "exclusive", fn, NULL,
		   NULL, true);
	roots[0] = bh_holder;
	truth_verdict("buffer", roots, 1, NULL, false,
		      "bh_holder locked a buffer_head (lock_buffer) and sleeps forever; bh_waiter "
		      "waits in __lock_buffer for BH_Lock, a bit wait nobody will wake");
	return 0;
}

/* ---- shared: a task on a wait queue ---- */

/* Whether t sleeps on the wait queue wq (an entry whose private is the task). */
static bool on_wait_queue(struct wait_queue_head *wq, struct task_struct *t)
{
	struct wait_queue_entry *e;
	bool found = false;

	spin_lock_irq(&wq->lock);
	list_for_each_entry(e, &wq->head, entry)
		if (e->private == t)
			found = true;
	spin_unlock_irq(&wq->lock);
	return found;
}

/* Whether t waits for the completion c (its swait_queue entry is on c's wait list). */
static bool on_completion(struct completion *c, struct task_struct *t)
{
	struct swait_queue *q;
	bool found = false;

	raw_spin_lock_irq(&c->wait.lock);
	list_for_each_entry(q, &c->wait.task_list, task_list)
		if (q->task == t)
			found = true;
	raw_spin_unlock_irq(&c->wait.lock);
	return found;
}

/* ---- wq_flush: flush_workqueue() under the mutex a work item of the workqueue takes ---- */

static struct workqueue_struct *stock_wq;
static DEFINE_MUTEX(stock_wq_m);
static void stock_wq_fn(struct work_struct *w);
static DECLARE_WORK(stock_wq_work, stock_wq_fn);
static DECLARE_COMPLETION(wqf_started);
static struct task_struct *wqf_kworker, *wqf_flusher;

static void stock_wq_fn(struct work_struct *w)
{
	get_task_struct(current);
	WRITE_ONCE(wqf_kworker, current);
	complete(&wqf_started);
	mutex_lock(&stock_wq_m);
	mutex_unlock(&stock_wq_m);
}

static int wqf_flusher_fn(void *unused)
{
	mutex_lock(&stock_wq_m);
	queue_work(stock_wq, &stock_wq_work);
	wait_for_completion(&wqf_started); /* the work runs: flush_workqueue() must wait for it */
	flush_workqueue(stock_wq);
	pr_err("stockmod: wq_flush: flush_workqueue returned?\n");
	sleep_forever();
}

/*
 * struct wq_flusher of kernel/workqueue.c (the same since 3.x; private to that file): the
 * flusher's own, on its stack, which __flush_workqueue() makes wq->first_flusher and whose
 * completion done it waits for.
 */
struct stock_wq_flusher {
	struct list_head list;
	int flush_color;
	struct completion done;
};

/*
 * wq->first_flusher (struct workqueue_struct is private to kernel/workqueue.c): the word of
 * the workqueue pointing into the flusher's stack at a struct wq_flusher whose done the
 * flusher waits for, the first flusher (not queued: its list is empty). *off: its offset.
 */
static struct stock_wq_flusher *first_flusher_of(struct workqueue_struct *wq,
						 struct task_struct *flusher, size_t *off)
{
	unsigned long stack = (unsigned long)task_stack_page(flusher);
	size_t size = ksize(wq);

	for (*off = 0; *off + sizeof(long) <= size; *off += sizeof(long)) {
		unsigned long p = READ_ONCE(*(unsigned long *)((void *)wq + *off));
		struct stock_wq_flusher *f = (void *)p;

		if (p < stack || p + sizeof(*f) > stack + THREAD_SIZE || p % sizeof(long))
			continue;
		if (READ_ONCE(f->list.next) == &f->list && f->flush_color >= 0 &&
		    !READ_ONCE(f->done.done) && on_completion(&f->done, flusher))
			return f;
	}
	return NULL;
}

static int cmd_wq_flush(void)
{
	char fn_f[FN_LEN], fn_k[FN_LEN], func[FN_LEN];
	struct stock_wq_flusher *ff = NULL;
	struct task_struct *roots[1], *kw;
	struct line l;
	size_t off = 0;
	int i;

	if (stock_wq)
		return -EINVAL;
	stock_wq = alloc_workqueue("stock_wq", 0, 0);
	if (!stock_wq)
		return -ENOMEM;
	wqf_flusher = kthread_run(wqf_flusher_fn, NULL, "wqf_flusher");
	if (IS_ERR(wqf_flusher)) {
		wqf_flusher = NULL;
		return -EINVAL;
	}
	get_task_struct(wqf_flusher);
	/* the flusher in __flush_workqueue(), first_flusher set: the work had started before */
	for (i = 0; i < 1000 && !(ff = first_flusher_of(stock_wq, wqf_flusher, &off)); i++)
		msleep(10);
	kw = READ_ONCE(wqf_kworker);
	for (i = 0; i < 1000 && list_empty(&stock_wq_m.wait_list); i++)
		msleep(10);
	if (!ff || !kw || list_empty(&stock_wq_m.wait_list)) {
		pr_err("stockmod: FAILED: wq_flush: first_flusher %px, kworker %px, stock_wq_m %s\n",
		       ff, kw, list_empty(&stock_wq_m.wait_list) ? "without waiters" : "waited on");
		return -EINVAL;
	}
	if (!wait_blocked(wqf_flusher, 10000) || !wait_blocked(kw, 10000))
		return -EINVAL;
	pr_info("stockmod: wq_flush: stock_wq %px: first_flusher (at +%zu) %px on the stack of "
		"wqf_flusher\n", stock_wq, off, ff);
	blocked_in_of(wqf_flusher, fn_f, sizeof(fn_f));
	blocked_in_of(kw, fn_k, sizeof(fn_k));
	snprintf(func, sizeof(func), "%ps", stock_wq_work.func);
	func[strcspn(func, " ")] = 0; /* "stock_wq_fn [stockmod]" */
	truth_task("wq_flush", wqf_flusher, "holder", "mutex", &stock_wq_m, "stock_wq_m",
		   "exclusive", fn_f, NULL, NULL, true);
	/* worker->current_work and current_pwq (of stock_wq) name it: recorded */
	truth_task("wq_flush", kw, "holder", "workqueue", stock_wq, "stock_wq", "none", fn_k, NULL,
		   NULL, true);
	truth_task("wq_flush", kw, "waiter", "mutex", &stock_wq_m, "stock_wq_m", "exclusive", fn_k,
		   NULL, NULL, true);
	if (line_start(&l, "object", "wq_flush")) {
		line_add(&l, ",\"object\":\"workqueue_struct\",\"address\":\"0x%px\",\"name\":\"stock_wq\","
			 "\"work\":\"0x%px\",\"func\":\"%s\",\"worker_pid\":%d,\"flusher_pid\":%d,"
			 "\"first_flusher\":\"0x%px\"", stock_wq, &stock_wq_work, func,
			 task_pid_nr(kw), task_pid_nr(wqf_flusher), ff);
		line_end(&l);
	}
	/* wq->first_flusher is its struct wq_flusher, whose done it waits for: recorded */
	truth_task("wq_flush", wqf_flusher, "waiter", "workqueue", stock_wq, "stock_wq", "none", fn_f,
		   NULL, NULL, true);
	roots[0] = wqf_flusher;
	truth_verdict("wq_flush", roots, 1, NULL, true,
		      "wqf_flusher holds mutex stock_wq_m and waits in flush_workqueue(stock_wq) for "
		      "the work items queued on it, but the one running, in a kworker, waits for "
		      "stock_wq_m: a deadlock cycle through the workqueue, caused by flushing under "
		      "the lock");
	return 0;
}

/* ---- jbd2: an open jbd2 handle stops the journal's commit; writers queue behind it ---- */

static struct path jh_path;
static struct super_block *jh_sb;
static char jh_mnt[128];
static journal_t *jh_journal;
static handle_t *jh_handle;
static transaction_t *jh_transaction;
static struct task_struct *jh_holder;
static DECLARE_COMPLETION(jh_started);

static int jh_holder_fn(void *unused)
{
	/* an update of the running transaction (t_updates), kept open: current->journal_info */
	jh_handle = jbd2_journal_start(jh_journal, 1);
	complete(&jh_started);
	sleep_forever();
}

/*
 * The journal of an ext4 super block. sb->s_fs_info is ext4's struct ext4_sb_info, whose layout
 * is not in the headers: the word of it pointing to a journal_t whose j_private is the super
 * block (ext4 sets it so); every word is tried with copy_from_kernel_nofault. *off: its offset.
 */
static journal_t *journal_of(struct super_block *sb, size_t *off)
{
	void *sbi = sb->s_fs_info;
	size_t size = sbi ? ksize(sbi) : 0;

	for (*off = 0; *off + sizeof(long) <= size; *off += sizeof(long)) {
		unsigned long p = *(unsigned long *)(sbi + *off);
		void *priv;

		if (!(p >> 63) || p % sizeof(long))
			continue; /* not a kernel address */
		if (copy_from_kernel_nofault(&priv, &((journal_t *)p)->j_private, sizeof(priv)))
			continue;
		if (priv == sb)
			return (journal_t *)p;
	}
	return NULL;
}

static const char *const t_states[] = { "T_RUNNING", "T_LOCKED", "T_SWITCH", "T_FLUSH",
					"T_COMMIT", "T_COMMIT_DFLUSH", "T_COMMIT_JFLUSH",
					"T_COMMIT_CALLBACK", "T_FINISHED" };

static const char *t_state_name(transaction_t *t)
{
	unsigned int s = READ_ONCE(t->t_state);

	return s < ARRAY_SIZE(t_states) ? t_states[s] : "?";
}

static int cmd_jbd2(char *args)
{
	char *p = strsep(&args, " ");
	struct task_struct *jt;
	size_t off;

	if (jh_sb || !p || strscpy(jh_mnt, p, sizeof(jh_mnt)) < 0 ||
	    kern_path(jh_mnt, LOOKUP_FOLLOW, &jh_path)) {
		pr_err("stockmod: FAILED: jbd2: no mount %s\n", p ? p : "(none)");
		return -EINVAL;
	}
	jh_sb = jh_path.mnt->mnt_sb; /* jh_path is kept for ever */
	jh_journal = strcmp(jh_sb->s_type->name, "ext4") ? NULL : journal_of(jh_sb, &off);
	jt = jh_journal ? jh_journal->j_task : NULL;
	if (!jt || strncmp(jt->comm, "jbd2/", 5) || jh_journal->j_dev != jh_sb->s_bdev) {
		pr_err("stockmod: FAILED: jbd2: no journal found for %s (%px)\n", jh_mnt, jh_journal);
		return -EINVAL;
	}
	jh_holder = kthread_run(jh_holder_fn, NULL, "jh_holder");
	if (IS_ERR(jh_holder)) {
		jh_holder = NULL;
		return -EINVAL;
	}
	get_task_struct(jh_holder);
	wait_for_completion(&jh_started);
	if (IS_ERR_OR_NULL(jh_handle) || !wait_blocked(jh_holder, 10000)) {
		pr_err("stockmod: FAILED: jbd2: jbd2_journal_start: %px\n", jh_handle);
		return -EINVAL;
	}
	jh_transaction = jh_handle->h_transaction;
	if (jh_holder->journal_info != jh_handle ||
	    jh_transaction != READ_ONCE(jh_journal->j_running_transaction) ||
	    atomic_read(&jh_transaction->t_updates) != 1 ||
	    READ_ONCE(jh_transaction->t_state) != T_RUNNING) {
		pr_err("stockmod: FAILED: jbd2: handle %px, journal_info %px, transaction %px "
		       "(running %px), t_updates %d, %s\n", jh_handle, jh_holder->journal_info,
		       jh_transaction, jh_journal->j_running_transaction,
		       atomic_read(&jh_transaction->t_updates), t_state_name(jh_transaction));
		return -EINVAL;
	}
	pr_info("stockmod: jbd2: %s (%s): journal %px (ext4_sb_info +%zu), jbd2 task %s (pid %d); "
		"jh_holder's handle %px in transaction %px, tid %u, t_updates 1, T_RUNNING\n",
		jh_mnt, jh_sb->s_id, jh_journal, off, jt->comm, task_pid_nr(jt), jh_handle,
		jh_transaction, jh_transaction->t_tid);
	return 0;
}

/* The commit has locked the transaction and waits for its updates (the handle) to finish. */
static bool jbd2_commit_waits(void)
{
	struct task_struct *jt = jh_journal->j_task;

	return READ_ONCE(jh_transaction->t_state) == T_LOCKED &&
	       READ_ONCE(jh_journal->j_running_transaction) == jh_transaction &&
	       READ_ONCE(jt->__state) == TASK_UNINTERRUPTIBLE &&
	       on_wait_queue(&jh_journal->j_wait_updates, jt);
}

static int cmd_jbd2_locked(void)
{
	int i;

	if (!jh_transaction)
		return -EINVAL;
	for (i = 0; i < 1000 && !jbd2_commit_waits(); i++)
		msleep(10);
	if (!jbd2_commit_waits()) {
		pr_err("stockmod: FAILED: jbd2: the commit does not wait for the updates: %s, "
		       "t_updates %d, jbd2 task state 0x%x\n", t_state_name(jh_transaction),
		       atomic_read(&jh_transaction->t_updates),
		       READ_ONCE(jh_journal->j_task->__state));
		return -EINVAL;
	}
	pr_info("stockmod: jbd2: transaction %px tid %u T_LOCKED, %s waits on j_wait_updates\n",
		jh_transaction, jh_transaction->t_tid, jh_journal->j_task->comm);
	return 0;
}

static int cmd_jbd2_waiters(char *args)
{
	char *w, *rest, fn_s[FN_LEN], fn_w[FN_LEN], fn_j[FN_LEN];
	char tname[96], cname[96];
	struct task_struct *syncer = NULL, *writer = NULL, *jt, *roots[1];
	struct line l;
	int ret = -EINVAL;

	if (!jh_transaction)
		return -EINVAL;
	w = strsep(&args, " ");
	if (w)
		syncer = waiter_of(w, fn_s, sizeof(fn_s), &rest);
	w = strsep(&args, " ");
	if (w)
		writer = waiter_of(w, fn_w, sizeof(fn_w), &rest);
	jt = jh_journal->j_task;
	if (!syncer || !writer || !jbd2_commit_waits() ||
	    !on_wait_queue(&jh_journal->j_wait_done_commit, syncer) ||
	    !on_wait_queue(&jh_journal->j_wait_transaction_locked, writer)) {
		pr_err("stockmod: FAILED: jbd2: syncer %d on j_wait_done_commit %d, writer %d on "
		       "j_wait_transaction_locked %d, commit waiting %d\n",
		       syncer ? task_pid_nr(syncer) : 0,
		       syncer && on_wait_queue(&jh_journal->j_wait_done_commit, syncer),
		       writer ? task_pid_nr(writer) : 0,
		       writer && on_wait_queue(&jh_journal->j_wait_transaction_locked, writer),
		       jbd2_commit_waits());
		goto out;
	}
	get_task_struct(jt);
	blocked_in_of(jt, fn_j, sizeof(fn_j));
	snprintf(tname, sizeof(tname), "transaction tid %u of the journal of %s",
		 jh_transaction->t_tid, jh_sb->s_id);
	snprintf(cname, sizeof(cname), "commit of tid %u of the journal of %s",
		 jh_transaction->t_tid, jh_sb->s_id);
	if (line_start(&l, "object", "jbd2")) {
		line_add(&l, ",\"object\":\"journal\",\"address\":\"0x%px\",\"device\":\"%s\","
			 "\"mount\":\"%s\",\"running_transaction\":\"0x%px\","
			 "\"committing_transaction\":\"0x%px\",\"t_updates\":%d,\"t_state\":\"%s\","
			 "\"tid\":%u,\"handle\":\"0x%px\",\"holder_pid\":%d", jh_journal, jh_sb->s_id,
			 jh_mnt, READ_ONCE(jh_journal->j_running_transaction),
			 READ_ONCE(jh_journal->j_committing_transaction),
			 atomic_read(&jh_transaction->t_updates), t_state_name(jh_transaction),
			 jh_transaction->t_tid, jh_holder->journal_info, task_pid_nr(jh_holder));
		line_end(&l);
	}
	/* task->journal_info is the handle, handle->h_transaction the transaction: recorded */
	truth_task("jbd2", jh_holder, "holder", "jbd2_transaction", jh_transaction, tname, "read",
		   IN_SLEEP, NULL, NULL, true);
	/* journal->j_task, on j_wait_updates: waits for t_updates of the locked transaction */
	truth_task("jbd2", jt, "waiter", "jbd2_transaction", jh_transaction, tname, "write", fn_j,
		   NULL, NULL, true);
	/* on j_wait_transaction_locked: start_this_handle waits for the locked transaction */
	truth_task("jbd2", writer, "waiter", "jbd2_transaction", jh_transaction, tname, "read", fn_w,
		   NULL, NULL, true);
	/* on j_wait_done_commit: jbd2_log_wait_commit waits until j_commit_sequence reaches tid */
	truth_task("jbd2", syncer, "waiter", "jbd2_commit", jh_journal, cname, "none", fn_s, NULL,
		   NULL, true);
	roots[0] = jh_holder;
	truth_verdict("jbd2", roots, 1, NULL, false,
		      "jh_holder started a jbd2 handle (jbd2_journal_start) and sleeps with it open; "
		      "the journal's commit locked the running transaction and waits for its updates "
		      "to finish, syncfs waits for that commit, and every new handle (a write) waits "
		      "for the locked transaction");
	put_task_struct(jt);
	ret = 0;
out:
	if (syncer)
		put_task_struct(syncer);
	if (writer)
		put_task_struct(writer);
	return ret;
}

/* ---- blk_tags: a null_blk device that does not complete its I/O, out of tags ---- */

/*
 * The gendisk of the block device the writer (init-stock.sh) has open as file descriptor FD.
 * The file (and so the disk) is kept for ever.
 */
static struct gendisk *disk_of_fd(const char *fd_s)
{
	static struct file *f;
	int fd;

	if (!f) {
		if (!fd_s || kstrtoint(fd_s, 10, &fd))
			return NULL;
		f = fget(fd);
		if (!f)
			return NULL;
	}
	if (!S_ISBLK(f->f_mapping->host->i_mode))
		return NULL;
	return I_BDEV(f->f_mapping->host)->bd_disk;
}

/*
 * null_blk completes a request (irqmode=2) completion_nsec after it handles it, reading the
 * value from its struct nullb_device each time; the disk's private_data is its struct nullb,
 * whose first member is that device (drivers/block/null_blk/null_blk.h). The word of the device
 * equal to the completion_nsec the module was loaded with (FROM, a value no other member has)
 * becomes TO: the device's partition scan at add_disk() completed at FROM, later requests
 * complete TO ns after they are issued (the configfs attribute refuses a configured device).
 */
static unsigned long nb_completion_ns;

static int cmd_nullb_slow(char *args)
{
	char *fd_s = strsep(&args, " "), *from_s = strsep(&args, " "), *to_s = strsep(&args, " ");
	unsigned long from, to, *dev, *hit = NULL;
	struct gendisk *disk = disk_of_fd(fd_s);
	size_t i, n = 0;

	if (!disk || strncmp(disk->disk_name, "nullb", 5) || !disk->private_data || !from_s ||
	    !to_s || kstrtoul(from_s, 10, &from) || kstrtoul(to_s, 10, &to)) {
		pr_err("stockmod: FAILED: nullb_slow: not a null_blk disk or bad arguments\n");
		return -EINVAL;
	}
	dev = *(unsigned long **)disk->private_data; /* struct nullb: dev first */
	for (i = 0; i < ksize(dev) / sizeof(long); i++)
		if (dev[i] == from) {
			hit = &dev[i];
			n++;
		}
	if (n != 1) {
		pr_err("stockmod: FAILED: nullb_slow: %zu words of struct nullb_device %px are %lu\n",
		       n, dev, from);
		return -EINVAL;
	}
	WRITE_ONCE(*hit, to);
	nb_completion_ns = to;
	pr_info("stockmod: nullb_slow: %s: completion_nsec of its struct nullb_device %px "
		"(+%zu) %lu -> %lu\n", disk->disk_name, dev, (size_t)((void *)hit - (void *)dev),
		from, to);
	return 0;
}

/* Whether t waits for a tag of the sbitmap_queue bt (on one of its wait queues). */
static bool on_sbitmap_queue(struct sbitmap_queue *bt, struct task_struct *t)
{
	int i;

	for (i = 0; i < SBQ_WAIT_QUEUES; i++)
		if (on_wait_queue(&bt->ws[i].wait, t))
			return true;
	return false;
}

static int cmd_blk_tags(char *args)
{
	char *fd_s = strsep(&args, " "), *w, *rest, fn[FN_LEN], tname[96], rname[96];
	char root[200];
	struct gendisk *disk = disk_of_fd(fd_s);
	struct request_queue *q = disk ? disk->queue : NULL;
	struct blk_mq_hw_ctx *hctx, *h;
	struct request *rq = NULL;
	struct blk_mq_tags *tags;
	struct task_struct *holder = NULL;
	struct completion *done;
	unsigned long i, stack;
	unsigned int in_use, inflight = 0, nr_hctx = 0;
	struct line l;

	if (!q || !queue_is_mq(q) || !nb_completion_ns) {
		pr_err("stockmod: FAILED: blk_tags: no blk-mq disk made slow by nullb_slow\n");
		return -EINVAL;
	}
	queue_for_each_hw_ctx(q, h, i)
		nr_hctx++;
	hctx = xa_load(&q->hctx_table, 0);
	tags = hctx ? hctx->tags : NULL;
	if (!tags || nr_hctx != 1 || q->elevator) {
		pr_err("stockmod: FAILED: blk_tags: %s: %u hardware queues, tags %px, elevator %px "
		       "(want one queue and no scheduler: its driver tags are the only tags)\n",
		       disk->disk_name, nr_hctx, tags, q->elevator);
		return -EINVAL;
	}
	for (i = 0; i < tags->nr_tags; i++) {
		struct request *r = READ_ONCE(tags->rqs[i]);

		if (r && r->q == q && blk_mq_rq_state(r) == MQ_RQ_IN_FLIGHT) {
			inflight++;
			rq = r;
		}
	}
	in_use = sbitmap_weight(&tags->bitmap_tags.sb);
	w = strsep(&args, " ");
	if (w)
		holder = waiter_of(w, fn, sizeof(fn), &rest);
	/* submit_bio_wait(): bi_private is the completion on the holder's stack it waits for */
	done = rq && rq->bio ? rq->bio->bi_private : NULL;
	stack = holder ? (unsigned long)task_stack_page(holder) : 0;
	if (!holder || inflight != 1 || in_use != tags->nr_tags || (unsigned long)done < stack ||
	    (unsigned long)done >= stack + THREAD_SIZE || !on_completion(done, holder)) {
		pr_err("stockmod: FAILED: blk_tags: %u requests in flight, %u of %u tags in use, "
		       "the holder %d not waiting for the in-flight request %px\n", inflight, in_use,
		       tags->nr_tags, holder ? task_pid_nr(holder) : 0, rq);
		if (holder)
			put_task_struct(holder);
		return -EINVAL;
	}
	snprintf(tname, sizeof(tname), "driver tags of %s (hardware queue 0)", disk->disk_name);
	snprintf(rname, sizeof(rname), "request of %s (tag %d)", disk->disk_name, rq->tag);
	if (line_start(&l, "object", "blk_tags")) {
		line_add(&l, ",\"object\":\"request_queue\",\"address\":\"0x%px\",\"device\":\"%s\","
			 "\"tags\":\"0x%px\",\"depth\":%u,\"tags_in_use\":%u,\"request\":\"0x%px\","
			 "\"start_time_ns\":%llu,\"scheduler\":\"none\",\"io_timeout_ms\":%u", q,
			 disk->disk_name, tags, tags->nr_tags, in_use, rq,
			 (unsigned long long)rq->start_time_ns, jiffies_to_msecs(q->rq_timeout));
		line_end(&l);
	}
	/* tags->rqs[tag] is its request, whose bio's bi_private is its completion: recorded */
	truth_task("blk_tags", holder, "holder", "blk_mq_tag", tags, tname, "none", fn, NULL, NULL,
		   true);
	truth_task("blk_tags", holder, "waiter", "io", rq, rname, "read", fn, NULL, NULL, true);
	put_task_struct(holder);
	while ((w = strsep(&args, " "))) {
		struct task_struct *t;

		if (!*w)
			continue;
		t = waiter_of(w, fn, sizeof(fn), &rest);
		if (!t)
			return -EINVAL;
		if (!on_sbitmap_queue(&tags->bitmap_tags, t)) {
			pr_err("stockmod: FAILED: blk_tags: pid %d waits on no wait queue of the "
			       "tags' bitmap_tags\n", task_pid_nr(t));
			put_task_struct(t);
			return -EINVAL;
		}
		/* on a wait queue of tags->bitmap_tags (sbitmap_queue ws[]): recorded */
		truth_task("blk_tags", t, "waiter", "blk_mq_tag", tags, tname, "none", fn, NULL, NULL,
			   true);
		put_task_struct(t);
	}
	snprintf(root, sizeof(root), "device %s does not complete its I/O (null_blk completes a "
		 "request %lu s after it handles it; the read in flight holds the only driver tag)",
		 disk->disk_name, nb_completion_ns / NSEC_PER_SEC);
	truth_verdict("blk_tags", NULL, 0, root, false,
		      "the device completes no request in time: the one read in flight holds the "
		      "queue's only driver tag, so every other request waits in blk_mq_get_tag for a "
		      "tag that is not freed");
	return 0;
}

/* ---- /proc/holdup-stock ---- */

static ssize_t stock_write(struct file *f, const char __user *ubuf, size_t len, loff_t *off)
{
	char *buf, *args, *cmd;
	int ret;

	if (len >= CMD_LEN)
		return -E2BIG;
	buf = memdup_user_nul(ubuf, len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	args = strim(buf);
	cmd = strsep(&args, " ");
	if (!args)
		args = "";
	if (!strcmp(cmd, "frozen"))
		ret = cmd_frozen(args);
	else if (!strcmp(cmd, "io"))
		ret = cmd_io(args);
	else if (!strcmp(cmd, "work"))
		ret = IS_ERR(kthread_run(wq_flusher_fn, NULL, "wq_flusher")) ? -EINVAL : 0;
	else if (!strcmp(cmd, "i_rwsem"))
		ret = cmd_i_rwsem(args);
	else if (!strcmp(cmd, "i_rwsem_waiters"))
		ret = cmd_i_rwsem_waiters(args);
	else if (!strcmp(cmd, "freeze_wait"))
		ret = cmd_freeze_wait(args);
	else if (!strcmp(cmd, "freeze_wait_freezer"))
		ret = cmd_freeze_wait_freezer(args);
	else if (!strcmp(cmd, "freeze_wait_waiters"))
		ret = cmd_freeze_wait_waiters(args);
	else if (!strcmp(cmd, "kthread_stop"))
		ret = cmd_kthread_stop();
	else if (!strcmp(cmd, "buffer"))
		ret = cmd_buffer(args);
	else if (!strcmp(cmd, "wq_flush"))
		ret = cmd_wq_flush();
	else if (!strcmp(cmd, "jbd2"))
		ret = cmd_jbd2(args);
	else if (!strcmp(cmd, "jbd2_locked"))
		ret = cmd_jbd2_locked();
	else if (!strcmp(cmd, "jbd2_waiters"))
		ret = cmd_jbd2_waiters(args);
	else if (!strcmp(cmd, "nullb_slow"))
		ret = cmd_nullb_slow(args);
	else if (!strcmp(cmd, "blk_tags"))
		ret = cmd_blk_tags(args);
	else
		ret = -EINVAL;
	kfree(buf);
	return ret ? ret : len;
}

static const struct proc_ops stock_ops = {
	.proc_write = stock_write,
};

static int __init stockmod_init(void)
{
	return proc_create("holdup-stock", 0200, NULL, &stock_ops) ? 0 : -ENOMEM;
}
module_init(stockmod_init);
