// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * hangmod: creates real, independent kernel hangs (scenarios a..g, see README.md) and prints
 * the ground truth about each one to the kernel log as "holdup-truth: {json}" lines, in the
 * schema of dumps/TRUTH.md. Built for Debian's 5.10, 6.1, 6.12, 6.12 PREEMPT_RT and 7.3 x86_64
 * kernels. Never unloads.
 * With oops=1 it starts no hang: one kernel thread prints its truth lines, then oopses on a bad
 * pointer (see README.md, "The oops mode").
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/pid.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/semaphore.h>
#include <linux/slab.h>
#include <linux/version.h>

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("holdup: real hung-task scenarios with ground truth");

static int bench_pid;
module_param(bench_pid, int, 0444);
MODULE_PARM_DESC(bench_pid, "pid of the user process 'bench' (scenario a; 0 skips it)");
static unsigned long bench_addr;
module_param(bench_addr, ulong, 0444);
MODULE_PARM_DESC(bench_addr, "user address of a populated anonymous page of bench");
static bool oops;
module_param(oops, bool, 0444);
MODULE_PARM_DESC(oops, "start no hang: a kthread 'oopser' oopses on a NULL-based pointer instead");

/*
 * The function each kind of sleeper is found in by a backtrace of Debian's 6.1 and 6.12 kernels
 * (the same on both; checked against the hung-task traces in the serial log, which capture.py
 * re-checks on every run). The mutex one is "__mutex_lock.constprop.0" in the trace; TRUTH.md
 * wants it without the suffix. down() calls __down(), which tail-calls __down_common(): the
 * trace shows down -> __down_common, never __down.
 */
#ifndef CONFIG_PREEMPT_RT
#define IN_RWSEM_READ "rwsem_down_read_slowpath"
#define IN_RWSEM_WRITE "rwsem_down_write_slowpath"
#define IN_MUTEX "__mutex_lock"
#else
/*
 * PREEMPT_RT (Debian's 6.12 -rt): mutex and rw_semaphore are built on rt_mutex_base (a mutex
 * is one; an rw_semaphore is a struct rwbase_rt: a reader count and an rt_mutex_base). A mutex
 * waiter blocks on the rtmutex in rt_mutex_slowlock_block (after rt_mutex_schedule); a reader
 * queued behind a writer blocks on the rwsem's rtmutex in __rt_mutex_slowlock_locked (another
 * copy, "__rt_mutex_slowlock_locked.constprop.0.isra.0", with rt_mutex_slowlock_block inlined),
 * called from __rwbase_read_lock; a writer owns the rwsem's rtmutex and waits in
 * rwbase_write_lock for the readers to leave.
 */
#define IN_RWSEM_READ "__rt_mutex_slowlock_locked"
#define IN_RWSEM_WRITE "rwbase_write_lock"
#define IN_MUTEX "rt_mutex_slowlock_block"
#endif
#define IN_SEMAPHORE "__down_common"
#if defined(CONFIG_GCC_VERSION) && CONFIG_GCC_VERSION >= 160000
/* gcc-16 (Debian's 7.3) inlines __wait_for_common into wait_for_completion. */
#define IN_COMPLETION "wait_for_completion"
#else
#define IN_COMPLETION "__wait_for_common"
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0)
#define IN_PAGE_LOCK "folio_wait_bit_common"
#else
#define IN_PAGE_LOCK "wait_on_page_bit_common" /* 5.10: no folios, page locks wait on pages */
#endif
#define IN_SLEEP "schedule_timeout"

#define TRUTH_LEN 768

/*
 * The lock of a page lock: its folio, or before folios (5.10) its head page, the struct page
 * lock_page() waits on; truth prints it as "lock" and "folio" either way (TRUTH.md).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0)
#define PAGE_LOCK_OBJ(page) page_folio(page)
#else
#define PAGE_LOCK_OBJ(page) compound_head(page)
#endif

/* page->flags: a memdesc_flags_t from 6.18, an unsigned long before. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
#define PAGE_FLAGS(page) READ_ONCE((page)->flags.f)
#else
#define PAGE_FLAGS(page) READ_ONCE((page)->flags)
#endif

/* A task's state: task_struct.__state from 5.14, .state before. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 14, 0)
#define TASK_STATE(t) READ_ONCE((t)->__state)
#else
#define TASK_STATE(t) READ_ONCE((t)->state)
#endif

/* One "fact" line. lock_name, blocked_in and page may be NULL. */
static void truth_fact(const char *scenario, struct task_struct *t, const char *role,
		       const char *lock_type, const void *lock, const char *lock_name,
		       const char *mode, const char *blocked_in, struct page *page, bool recorded)
{
	char *buf = kmalloc(TRUTH_LEN, GFP_KERNEL);
	int n;

	if (!buf) {
		pr_err("hangmod: no memory for a truth line of scenario %s\n", scenario);
		return;
	}
	n = scnprintf(buf, TRUTH_LEN,
		      "{\"kind\":\"fact\",\"scenario\":\"%s\",\"task\":\"0x%px\",\"pid\":%d,"
		      "\"comm\":\"%s\",\"role\":\"%s\",\"lock_type\":\"%s\",\"lock\":\"0x%px\"",
		      scenario, t, task_pid_nr(t), t->comm, role, lock_type, lock);
	if (lock_name)
		n += scnprintf(buf + n, TRUTH_LEN - n, ",\"lock_name\":\"%s\"", lock_name);
	n += scnprintf(buf + n, TRUTH_LEN - n, ",\"mode\":\"%s\"", mode);
	if (blocked_in)
		n += scnprintf(buf + n, TRUTH_LEN - n, ",\"blocked_in\":\"%s\"", blocked_in);
	else
		n += scnprintf(buf + n, TRUTH_LEN - n, ",\"blocked_in\":null");
	if (page)
		n += scnprintf(buf + n, TRUTH_LEN - n,
			       ",\"page\":\"0x%px\",\"folio\":\"0x%px\",\"pfn\":%lu,"
			       "\"page_flags\":\"0x%lx\"",
			       page, PAGE_LOCK_OBJ(page), page_to_pfn(page), PAGE_FLAGS(page));
	scnprintf(buf + n, TRUTH_LEN - n, ",\"recorded_by_kernel\":%s}",
		  recorded ? "true" : "false");
	printk(KERN_INFO "holdup-truth: %s\n", buf);
	kfree(buf);
}

/* One "verdict" line; the root causes are given as tasks. */
static void truth_verdict(const char *scenario, struct task_struct **roots, int nroots,
			  bool cycle, const char *summary)
{
	char *buf = kmalloc(TRUTH_LEN, GFP_KERNEL);
	int n, i;

	if (!buf) {
		pr_err("hangmod: no memory for the verdict of scenario %s\n", scenario);
		return;
	}
	n = scnprintf(buf, TRUTH_LEN, "{\"kind\":\"verdict\",\"scenario\":\"%s\",\"root_cause_pids\":[",
		      scenario);
	for (i = 0; i < nroots; i++)
		n += scnprintf(buf + n, TRUTH_LEN - n, "%s%d", i ? "," : "", task_pid_nr(roots[i]));
	n += scnprintf(buf + n, TRUTH_LEN - n, "],\"root_cause_comms\":[");
	for (i = 0; i < nroots; i++)
		n += scnprintf(buf + n, TRUTH_LEN - n, "%s\"%s\"", i ? "," : "", roots[i]->comm);
	scnprintf(buf + n, TRUTH_LEN - n, "],\"cycle\":%s,\"summary\":\"%s\"}",
		  cycle ? "true" : "false", summary);
	printk(KERN_INFO "holdup-truth: %s\n", buf);
	kfree(buf);
}

/* A holder that keeps its lock: sleeps uninterruptibly (state D) forever. */
static void __noreturn sleep_forever(void)
{
	for (;;)
		schedule_timeout_uninterruptible(MAX_SCHEDULE_TIMEOUT);
}

/* Polls until cond() holds (e.g. a waiter is queued); gives up after about 30 s. */
static bool wait_until(bool (*cond)(void *), void *arg)
{
	int i;

	for (i = 0; i < 3000; i++) {
		if (cond(arg))
			return true;
		msleep(10);
	}
	return false;
}

#if !defined(CONFIG_PREEMPT_RT) && LINUX_VERSION_CODE < KERNEL_VERSION(7, 1, 0)
static bool rwsem_has_waiters(void *sem)
{
	return !list_empty(&((struct rw_semaphore *)sem)->wait_list);
}

static bool mutex_has_waiters(void *m)
{
	return !list_empty(&((struct mutex *)m)->wait_list);
}
#elif !defined(CONFIG_PREEMPT_RT)
/* 7.1 replaced the locks' wait_list by first_waiter (the waiters form a ring of their own). */
static bool rwsem_has_waiters(void *sem)
{
	return data_race(READ_ONCE(((struct rw_semaphore *)sem)->first_waiter) != NULL);
}

static bool mutex_has_waiters(void *m)
{
	return data_race(READ_ONCE(((struct mutex *)m)->first_waiter) != NULL);
}
#else
/* A writer has come: it owns the rtmutex and took READER_BIAS out of the reader count. */
static bool rwsem_has_waiters(void *sem)
{
	return rw_base_is_contended(&((struct rw_semaphore *)sem)->rwbase);
}

static bool mutex_has_waiters(void *m)
{
	return !RB_EMPTY_ROOT(&((struct mutex *)m)->rtmutex.waiters.rb_root);
}
#endif

static bool task_is_in_d(void *t)
{
	return TASK_STATE((struct task_struct *)t) & TASK_UNINTERRUPTIBLE;
}

static struct task_struct *start(int (*fn)(void *), void *arg, const char *comm)
{
	struct task_struct *t = kthread_run(fn, arg, "%s", comm);

	if (IS_ERR(t)) {
		pr_err("hangmod: cannot start kthread %s: %ld\n", comm, PTR_ERR(t));
		return NULL;
	}
	return t;
}

/* ---- a: the seed incident (uksmd / khugepaged / benchmark), modern names ---- */

static struct task_struct *a_bench;
static struct mm_struct *a_mm;
static struct page *a_page;
static DECLARE_COMPLETION(a_held);
static bool a_ok;

static int kscand_fn(void *unused)
{
	struct page *page = NULL;
	long n;

	mmap_read_lock(a_mm);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	n = get_user_pages_remote(a_mm, bench_addr, 1, 0, &page, NULL);
#else
	n = get_user_pages_remote(a_mm, bench_addr, 1, 0, &page, NULL, NULL);
#endif
	if (n != 1 || !page) {
		pr_err("hangmod: a: get_user_pages_remote(bench, 0x%lx) = %ld\n", bench_addr, n);
		mmap_read_unlock(a_mm);
		complete_all(&a_held);
		return 0;
	}
	a_page = page;
	lock_page(page); /* first pass: locked... and never unlocked */
	truth_fact("a", current, "holder", "rwsem", &a_mm->mmap_lock, "mmap_lock of bench", "read",
		   IN_PAGE_LOCK, NULL, false);
	truth_fact("a", current, "holder", "page_lock", PAGE_LOCK_OBJ(page), NULL, "exclusive",
		   IN_PAGE_LOCK, page, false);
	truth_fact("a", current, "waiter", "page_lock", PAGE_LOCK_OBJ(page), NULL, "exclusive",
		   IN_PAGE_LOCK, page, true);
	a_ok = true;
	complete_all(&a_held);
	lock_page(page); /* second pass on the same page: self-deadlock, mmap_lock still held */
	pr_err("hangmod: a: kscand got the page lock twice?\n");
	sleep_forever();
}

static int kcollapsed_fn(void *unused)
{
	wait_for_completion(&a_held);
	if (!a_ok)
		return 0;
	truth_fact("a", current, "waiter", "rwsem", &a_mm->mmap_lock, "mmap_lock of bench", "write",
		   IN_RWSEM_WRITE, NULL, true);
	mmap_write_lock(a_mm);
	pr_err("hangmod: a: kcollapsed got mmap_lock for write?\n");
	sleep_forever();
}

/*
 * bench blocks later, in mincore(), when /init signals it. This short-lived thread waits until
 * kcollapsed is queued and bench sleeps in state D for a second, then records bench's fact.
 */
static int a_watch_fn(void *unused)
{
	int i, d = 0;

	wait_for_completion(&a_held);
	if (!a_ok)
		return 0;
	if (!wait_until(rwsem_has_waiters, &a_mm->mmap_lock)) {
		pr_err("hangmod: a: kcollapsed never queued on mmap_lock\n");
		return 0;
	}
	for (i = 0; i < 1200 && d < 10; i++) { /* up to 120 s */
		d = task_is_in_d(a_bench) ? d + 1 : 0;
		msleep(100);
	}
	if (d < 10) {
		pr_err("hangmod: a: bench (pid %d) never blocked\n", bench_pid);
		return 0;
	}
	truth_fact("a", a_bench, "waiter", "rwsem", &a_mm->mmap_lock, "mmap_lock of bench", "read",
		   IN_RWSEM_READ, NULL, true);
	return 0;
}

static void scenario_a(void)
{
	struct task_struct *kscand;
	struct pid *pid;

	if (!bench_pid || !bench_addr) {
		pr_err("hangmod: a: no bench_pid/bench_addr given: scenario a skipped\n");
		return;
	}
	pid = find_get_pid(bench_pid);
	a_bench = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	if (!a_bench) {
		pr_err("hangmod: a: no task with pid %d\n", bench_pid);
		return;
	}
	a_mm = get_task_mm(a_bench); /* keeps bench's mm alive; never dropped */
	if (!a_mm) {
		pr_err("hangmod: a: pid %d has no mm\n", bench_pid);
		return;
	}
	kscand = start(kscand_fn, NULL, "kscand");
	if (!kscand)
		return;
	start(kcollapsed_fn, NULL, "kcollapsed");
	start(a_watch_fn, NULL, "a_watch");
	truth_verdict("a", &kscand, 1, true,
		      "kscand holds bench's mmap_lock for read and waits for a page lock it took "
		      "itself and never released (self-deadlock); kcollapsed waits for the "
		      "mmap_lock for write and bench's mincore() waits for read behind it");
}

/* ---- b: mutex ABBA deadlock ---- */

static DEFINE_MUTEX(abba_m1);
static DEFINE_MUTEX(abba_m2);
static DECLARE_COMPLETION(b_a_has_m1);
static DECLARE_COMPLETION(b_b_has_m2);

static int abba_a_fn(void *unused)
{
	mutex_lock(&abba_m1);
	complete(&b_a_has_m1);
	wait_for_completion(&b_b_has_m2);
	truth_fact("b", current, "holder", "mutex", &abba_m1, "abba_m1", "exclusive", IN_MUTEX,
		   NULL, true);
	truth_fact("b", current, "waiter", "mutex", &abba_m2, "abba_m2", "exclusive", IN_MUTEX,
		   NULL, true);
	mutex_lock(&abba_m2);
	sleep_forever();
}

static int abba_b_fn(void *unused)
{
	mutex_lock(&abba_m2);
	complete(&b_b_has_m2);
	wait_for_completion(&b_a_has_m1);
	truth_fact("b", current, "holder", "mutex", &abba_m2, "abba_m2", "exclusive", IN_MUTEX,
		   NULL, true);
	truth_fact("b", current, "waiter", "mutex", &abba_m1, "abba_m1", "exclusive", IN_MUTEX,
		   NULL, true);
	mutex_lock(&abba_m1);
	sleep_forever();
}

static void scenario_b(void)
{
	struct task_struct *t[2];

	t[0] = start(abba_a_fn, NULL, "abba_a");
	t[1] = start(abba_b_fn, NULL, "abba_b");
	if (t[0] && t[1])
		truth_verdict("b", t, 2, true,
			      "abba_a holds abba_m1 and waits for abba_m2 while abba_b holds "
			      "abba_m2 and waits for abba_m1 (ABBA deadlock)");
}

/* ---- c: rw_semaphore read-held forever, a writer queued, a reader queued behind it ---- */

static DECLARE_RWSEM(held_rwsem);
static DECLARE_COMPLETION(c_held);

static int rw_holder_fn(void *unused)
{
	down_read(&held_rwsem);
	truth_fact("c", current, "holder", "rwsem", &held_rwsem, "held_rwsem", "read", IN_SLEEP,
		   NULL, false);
	complete_all(&c_held);
	sleep_forever();
}

static int rw_writer_fn(void *unused)
{
	wait_for_completion(&c_held);
	truth_fact("c", current, "waiter", "rwsem", &held_rwsem, "held_rwsem", "write",
		   IN_RWSEM_WRITE, NULL, true);
	down_write(&held_rwsem);
	sleep_forever();
}

static int rw_reader_fn(void *unused)
{
	wait_for_completion(&c_held);
	if (!wait_until(rwsem_has_waiters, &held_rwsem))
		pr_err("hangmod: c: the writer never queued\n");
	truth_fact("c", current, "waiter", "rwsem", &held_rwsem, "held_rwsem", "read",
		   IN_RWSEM_READ, NULL, true);
	down_read(&held_rwsem);
	sleep_forever();
}

static void scenario_c(void)
{
	struct task_struct *holder = start(rw_holder_fn, NULL, "rw_holder");

	start(rw_writer_fn, NULL, "rw_writer");
	start(rw_reader_fn, NULL, "rw_reader");
	if (holder)
		truth_verdict("c", &holder, 1, false,
			      "rw_holder holds held_rwsem for read and sleeps forever; rw_writer "
			      "waits for write and rw_reader waits for read behind the writer");
}

/* ---- d: counting semaphore (count 2) held by two sleepers, one waiter ---- */

static struct semaphore held_sem;
static DECLARE_COMPLETION(d_held1);
static DECLARE_COMPLETION(d_held2);

static int sem_holder_fn(void *done)
{
	down(&held_sem);
	truth_fact("d", current, "holder", "semaphore", &held_sem, "held_sem", "count", IN_SLEEP,
		   NULL, false);
	complete(done);
	sleep_forever();
}

static int sem_waiter_fn(void *unused)
{
	wait_for_completion(&d_held1);
	wait_for_completion(&d_held2);
	truth_fact("d", current, "waiter", "semaphore", &held_sem, "held_sem", "count",
		   IN_SEMAPHORE, NULL, true);
	down(&held_sem);
	sleep_forever();
}

static void scenario_d(void)
{
	struct task_struct *t[2];

	sema_init(&held_sem, 2);
	t[0] = start(sem_holder_fn, &d_held1, "sem_holder1");
	t[1] = start(sem_holder_fn, &d_held2, "sem_holder2");
	start(sem_waiter_fn, NULL, "sem_waiter");
	if (t[0] && t[1])
		truth_verdict("d", t, 2, false,
			      "sem_holder1 and sem_holder2 hold both units of held_sem and sleep "
			      "forever; sem_waiter waits for a unit");
}

/* ---- e: a completion nobody will ever complete ---- */

static DECLARE_COMPLETION(never_done);

static int done_waiter_fn(void *unused)
{
	truth_fact("e", current, "waiter", "completion", &never_done, "never_done", "none",
		   IN_COMPLETION, NULL, true);
	wait_for_completion(&never_done);
	sleep_forever();
}

static void scenario_e(void)
{
	struct task_struct *t = start(done_waiter_fn, NULL, "done_waiter");

	if (t)
		truth_verdict("e", &t, 1, false,
			      "done_waiter waits for the completion never_done, which no code "
			      "will ever complete");
}

/* ---- f: mutex chain A -> B -> C ---- */

static DEFINE_MUTEX(chain_m1);
static DEFINE_MUTEX(chain_m2);
static DECLARE_COMPLETION(f_a_has_m1);
static DECLARE_COMPLETION(f_b_has_m2);

static int chain_a_fn(void *unused)
{
	mutex_lock(&chain_m1);
	truth_fact("f", current, "holder", "mutex", &chain_m1, "chain_m1", "exclusive", IN_SLEEP,
		   NULL, true);
	complete_all(&f_a_has_m1);
	sleep_forever();
}

static int chain_b_fn(void *unused)
{
	wait_for_completion(&f_a_has_m1);
	mutex_lock(&chain_m2);
	truth_fact("f", current, "holder", "mutex", &chain_m2, "chain_m2", "exclusive", IN_MUTEX,
		   NULL, true);
	truth_fact("f", current, "waiter", "mutex", &chain_m1, "chain_m1", "exclusive", IN_MUTEX,
		   NULL, true);
	complete_all(&f_b_has_m2);
	mutex_lock(&chain_m1);
	sleep_forever();
}

static int chain_c_fn(void *unused)
{
	wait_for_completion(&f_b_has_m2);
	if (!wait_until(mutex_has_waiters, &chain_m1))
		pr_err("hangmod: f: chain_b never queued\n");
	truth_fact("f", current, "waiter", "mutex", &chain_m2, "chain_m2", "exclusive", IN_MUTEX,
		   NULL, true);
	mutex_lock(&chain_m2);
	sleep_forever();
}

static void scenario_f(void)
{
	struct task_struct *a = start(chain_a_fn, NULL, "chain_a");

	start(chain_b_fn, NULL, "chain_b");
	start(chain_c_fn, NULL, "chain_c");
	if (a)
		truth_verdict("f", &a, 1, false,
			      "chain_a holds chain_m1 and sleeps forever; chain_b holds chain_m2 "
			      "and waits for chain_m1; chain_c waits for chain_m2");
}

/* ---- g: a page lock held by a sleeper, one waiter ---- */

static struct page *g_page;
static DECLARE_COMPLETION(g_held);

static int pg_holder_fn(void *unused)
{
	struct page *page = alloc_page(GFP_KERNEL);

	if (!page) {
		pr_err("hangmod: g: alloc_page failed\n");
		complete_all(&g_held);
		return 0;
	}
	lock_page(page);
	truth_fact("g", current, "holder", "page_lock", PAGE_LOCK_OBJ(page), NULL, "exclusive",
		   IN_SLEEP, page, false);
	g_page = page;
	complete_all(&g_held);
	sleep_forever();
}

static int pg_waiter_fn(void *unused)
{
	wait_for_completion(&g_held);
	if (!g_page)
		return 0;
	truth_fact("g", current, "waiter", "page_lock", PAGE_LOCK_OBJ(g_page), NULL, "exclusive",
		   IN_PAGE_LOCK, g_page, true);
	lock_page(g_page);
	sleep_forever();
}

static void scenario_g(void)
{
	struct task_struct *holder = start(pg_holder_fn, NULL, "pg_holder");

	start(pg_waiter_fn, NULL, "pg_waiter");
	if (holder)
		truth_verdict("g", &holder, 1, false,
			      "pg_holder locked a page and sleeps forever; pg_waiter waits for "
			      "that page lock");
}

/* ---- the oops mode: no hang, a kernel NULL-pointer dereference in a kthread ---- */

/* The faulting load reads ->value, at offset 0x10 of a NULL pointer. */
struct oops_victim {
	unsigned long pad[2];
	unsigned long value;
};
static struct oops_victim *oops_target; /* never set: NULL */

#define OOPS_FUNCTION "oops_deref"

/* Both noinline, and the result used after each call, so each has its own frame. */
static noinline unsigned long oops_deref(struct oops_victim *v)
{
	return READ_ONCE(v->value);
}

static noinline unsigned long oops_walk(struct oops_victim *v)
{
	unsigned long x = oops_deref(v);

	return x + 1;
}

static int oopser_fn(void *unused)
{
	struct oops_victim *v = READ_ONCE(oops_target);
	char *buf = kmalloc(TRUTH_LEN, GFP_KERNEL);

	if (buf) {
		scnprintf(buf, TRUTH_LEN,
			  "{\"kind\":\"oops\",\"scenario\":\"oops\",\"task\":\"0x%px\",\"pid\":%d,"
			  "\"comm\":\"%s\",\"function\":\"" OOPS_FUNCTION "\","
			  "\"callers\":[\"oops_walk\",\"oopser_fn\",\"kthread\",\"ret_from_fork\"],"
			  "\"address\":\"0x%016lx\",\"access\":\"read\"}",
			  current, task_pid_nr(current), current->comm,
			  (unsigned long)&v->value);
		printk(KERN_INFO "holdup-truth: %s\n", buf);
		scnprintf(buf, TRUTH_LEN,
			  "{\"kind\":\"verdict\",\"scenario\":\"oops\",\"verdict\":\"no-hang\","
			  "\"root_cause_pids\":[],\"root_cause_comms\":[],\"cycle\":false,"
			  "\"summary\":\"no task is blocked: %s (pid %d) oopses on a NULL-pointer "
			  "read in " OOPS_FUNCTION " and panic_on_oops crashes the kernel\"}",
			  current->comm, task_pid_nr(current));
		printk(KERN_INFO "holdup-truth: %s\n", buf);
		kfree(buf);
	}
	/* Let insmod return and the console drain; interruptible, so never in state D. */
	schedule_timeout_interruptible(HZ);
	pr_err("hangmod: oops: oopser read %lu from a NULL pointer?\n", oops_walk(v));
	return 0;
}

static int __init hangmod_init(void)
{
	if (oops) {
		pr_info("hangmod: oops mode: starting oopser\n");
		start(oopser_fn, NULL, "oopser");
		return 0;
	}
	pr_info("hangmod: starting scenarios (bench_pid=%d bench_addr=0x%lx)\n", bench_pid,
		bench_addr);
	scenario_a();
	scenario_b();
	scenario_c();
	scenario_d();
	scenario_e();
	scenario_f();
	scenario_g();
	return 0;
}
module_init(hangmod_init);
/* No module_exit: the module cannot be unloaded (its threads never return). */
