// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * big: the user space of the big capture (dumps/gen/big.sh, guest/init-big.sh). Built static.
 *
 *   big bench INFO_FILE NTHREADS
 *       As bench.c (comm "bench"): maps 16 anonymous pages, populates and mlocks them, then
 *       starts NTHREADS-1 more threads (64 KiB stacks), all before anyone holds its mmap_lock,
 *       each parked in read(2) on a pipe. Writes "PID ADDR\n" to INFO_FILE and waits for
 *       SIGUSR1; then closes the pipe (every thread wakes) and every thread, the main one last,
 *       calls mincore() on the region: with a writer queued on the mmap_lock, all NTHREADS
 *       sleep in rwsem_down_read_slowpath for good.
 *   big writers FILE N PIDS_FILE
 *       Forks N processes (comm "tmp_writer") that open FILE O_WRONLY|O_APPEND and write(2) one
 *       line to it; writes their pids to PIDS_FILE, one a line, and exits.
 *   big idle NPROC NTHREADS
 *       Forks NPROC processes (comm "idler"), each with NTHREADS-1 more threads, all in pause()
 *       (state S); exits once all are started.
 *   big census PID...|-f PIDS_FILE|-t TGID
 *       For each task (each thread of TGID with -t): its state letter and the syscall it is in
 *       (/proc/.../syscall); prints one JSON object of counts, with those in state D inside
 *       mincore(2) and inside write(2). (/proc/.../stack cannot say more: it leaves out every
 *       __sched function, rwsem_down_*_slowpath among them.)
 *   big tasks
 *       Counts every task of the system (processes and threads, kernel threads included) by
 *       state letter; prints one JSON object.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 16
#define STACK (64 * 1024)

static char *region;
static size_t region_len;
static int park[2];

static void die(const char *what)
{
    fprintf(stderr, "big: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *mincore_thread(void *unused)
{
    unsigned char vec[PAGES];
    char c;

    (void)unused;
    while (read(park[0], &c, 1) != 0)
        ; /* until the write end is closed */
    mincore(region, region_len, vec);
    return NULL;
}

static int cmd_bench(const char *info, int n)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char vec[PAGES];
    pthread_attr_t attr;
    char tmp[4096];
    sigset_t set;
    int sig = 0, i;
    FILE *f;

    prctl(PR_SET_NAME, "bench");
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        die("sigprocmask");
    region_len = (size_t)PAGES * (size_t)page;
    region = mmap(NULL, region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        die("mmap");
    memset(region, 0x5a, region_len);
    if (mlock(region, region_len) != 0)
        perror("big: mlock (continuing)");
    if (pipe(park) != 0)
        die("pipe");
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK);
    for (i = 1; i < n; i++) {
        pthread_t t;
        int e = pthread_create(&t, &attr, mincore_thread, NULL);

        if (e) {
            errno = e;
            fprintf(stderr, "big: bench: thread %d of %d: %s\n", i, n, strerror(e));
            return 1;
        }
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", info);
    f = fopen(tmp, "w");
    if (!f)
        die("fopen");
    fprintf(f, "%d 0x%lx\n", (int)getpid(), (unsigned long)region);
    if (fclose(f) != 0 || rename(tmp, info) != 0)
        die("writing the info file");
    printf("big: bench pid %d region %p, %d threads, waiting for SIGUSR1\n", (int)getpid(),
           (void *)region, n);
    fflush(stdout);
    if (sigwait(&set, &sig) != 0)
        die("sigwait");
    close(park[1]);
    usleep(200000);
    mincore(region, region_len, vec);
    printf("big: bench: mincore() returned: the mmap_lock was not contended (no hang)\n");
    return 1;
}

static int cmd_writers(const char *path, int n, const char *pids_file)
{
    FILE *f = fopen(pids_file, "w");
    int i;

    if (!f)
        die("fopen pids file");
    for (i = 0; i < n; i++) {
        pid_t p = fork();

        if (p < 0)
            die("fork");
        if (p == 0) {
            int fd;

            prctl(PR_SET_NAME, "tmp_writer");
            fd = open(path, O_WRONLY | O_APPEND);
            if (fd < 0)
                _exit(1);
            if (write(fd, "x\n", 2) != 2)
                _exit(1);
            _exit(0); /* the write returned: no hang */
        }
        fprintf(f, "%d\n", (int)p);
    }
    if (fclose(f) != 0)
        die("writing the pids file");
    return 0;
}

static void *idle_thread(void *unused)
{
    (void)unused;
    for (;;)
        pause();
    return NULL;
}

static int cmd_idle(int nproc, int nthreads)
{
    int i, j;

    for (i = 0; i < nproc; i++) {
        int ready[2];
        pid_t p;
        char c;

        if (pipe(ready) != 0)
            die("pipe");
        p = fork();
        if (p < 0)
            die("fork");
        if (p == 0) {
            pthread_attr_t attr;

            prctl(PR_SET_NAME, "idler");
            close(ready[0]);
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, STACK);
            for (j = 1; j < nthreads; j++) {
                pthread_t t;

                if (pthread_create(&t, &attr, idle_thread, NULL))
                    _exit(1);
            }
            close(ready[1]);
            idle_thread(NULL);
        }
        close(ready[1]);
        if (read(ready[0], &c, 1) != 0) /* EOF once all its threads are started */
            die("idler");
        close(ready[0]);
    }
    return 0;
}

/* Reads a small /proc file into buf; returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ssize_t n, got = 0;

    if (fd < 0)
        return -1;
    while (got < (ssize_t)len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
        got += n;
    close(fd);
    buf[got > 0 ? got : 0] = 0;
    return got;
}

struct counts {
    int tasks, state[128], sys_mincore, sys_write, sys_other, d_mincore, d_write;
};

static void census_one(struct counts *c, const char *dir)
{
    static char buf[16384];
    char path[700], *p, state;
    long nr;

    snprintf(path, sizeof(path), "%s/stat", dir);
    if (slurp(path, buf, sizeof(buf)) <= 0)
        return;
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return;
    c->tasks++;
    c->state[(unsigned char)p[2] & 127]++;
    state = p[2];
    snprintf(path, sizeof(path), "%s/syscall", dir);
    if (slurp(path, buf, sizeof(buf)) > 0) {
        nr = strtol(buf, NULL, 10);
        if (nr == 27) {
            c->sys_mincore++;
            c->d_mincore += state == 'D';
        } else if (nr == 1) {
            c->sys_write++;
            c->d_write += state == 'D';
        } else
            c->sys_other++;
    }
}

static void print_counts(const struct counts *c)
{
    int s, first = 1;

    printf("{\"tasks\":%d,\"states\":{", c->tasks);
    for (s = 0; s < 128; s++)
        if (c->state[s]) {
            printf("%s\"%c\":%d", first ? "" : ",", s, c->state[s]);
            first = 0;
        }
    printf("},\"syscall_mincore\":%d,\"syscall_write\":%d,\"syscall_other\":%d,"
           "\"D_in_mincore\":%d,\"D_in_write\":%d}\n",
           c->sys_mincore, c->sys_write, c->sys_other, c->d_mincore, c->d_write);
}

static int cmd_census(int argc, char **argv)
{
    struct counts c;
    char dir[600];
    int i;

    memset(&c, 0, sizeof(c));
    if (argc == 2 && !strcmp(argv[0], "-t")) {
        char tdir[64];
        struct dirent *e;
        DIR *d;

        snprintf(tdir, sizeof(tdir), "/proc/%s/task", argv[1]);
        d = opendir(tdir);
        if (!d)
            die(tdir);
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(dir, sizeof(dir), "%s/%s", tdir, e->d_name);
                census_one(&c, dir);
            }
        closedir(d);
    } else if (argc == 2 && !strcmp(argv[0], "-f")) {
        FILE *f = fopen(argv[1], "r");
        int pid;

        if (!f)
            die(argv[1]);
        while (fscanf(f, "%d", &pid) == 1) {
            snprintf(dir, sizeof(dir), "/proc/%d", pid);
            census_one(&c, dir);
        }
        fclose(f);
    } else {
        for (i = 0; i < argc; i++) {
            snprintf(dir, sizeof(dir), "/proc/%s", argv[i]);
            census_one(&c, dir);
        }
    }
    print_counts(&c);
    return 0;
}

static int cmd_tasks(void)
{
    struct counts c;
    struct dirent *e, *t;
    DIR *d, *td;
    int procs = 0, s, first = 1;
    char path[600];
    static char buf[1024];

    memset(&c, 0, sizeof(c));
    d = opendir("/proc");
    if (!d)
        die("/proc");
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        procs++;
        snprintf(path, sizeof(path), "/proc/%s/task", e->d_name);
        td = opendir(path);
        if (!td)
            continue;
        while ((t = readdir(td))) {
            char *p;

            if (t->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/proc/%s/task/%s/stat", e->d_name, t->d_name);
            if (slurp(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')) || p[1] != ' ')
                continue;
            c.tasks++;
            c.state[(unsigned char)p[2] & 127]++;
        }
        closedir(td);
    }
    closedir(d);
    printf("{\"tasks\":%d,\"thread_groups\":%d,\"states\":{", c.tasks, procs);
    for (s = 0; s < 128; s++)
        if (c.state[s]) {
            printf("%s\"%c\":%d", first ? "" : ",", s, c.state[s]);
            first = 0;
        }
    printf("}}\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "bench"))
        return cmd_bench(argv[2], atoi(argv[3]));
    if (argc == 5 && !strcmp(argv[1], "writers"))
        return cmd_writers(argv[2], atoi(argv[3]), argv[4]);
    if (argc == 4 && !strcmp(argv[1], "idle"))
        return cmd_idle(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "census"))
        return cmd_census(argc - 2, argv + 2);
    if (argc == 2 && !strcmp(argv[1], "tasks"))
        return cmd_tasks();
    fprintf(stderr, "usage: big bench INFO N | writers FILE N PIDS | idle NPROC NTHREADS | "
                    "census PID...|-f FILE|-t TGID | tasks\n");
    return 2;
}
