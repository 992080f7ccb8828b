// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * bench: the user process of scenario a (see dumps/hangmod/README.md).
 *
 *   bench INFO_FILE
 *
 * Maps an anonymous region and populates it, writes "PID ADDR\n" (decimal pid, hex address of
 * the region's first page) to INFO_FILE, then waits for SIGUSR1 and calls mincore() on the
 * region. mincore() takes the mmap_lock for read, uninterruptibly, on 6.1 and 6.12: when a
 * writer is queued on that lock, bench sleeps in state D for good. Built static.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 16

int main(int argc, char **argv)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)PAGES * (size_t)page;
    unsigned char vec[PAGES];
    sigset_t set;
    int sig = 0;
    char *region;
    char tmp[4096];
    FILE *f;

    if (argc != 2) {
        fprintf(stderr, "usage: bench INFO_FILE\n");
        return 2;
    }
    /* Block SIGUSR1 before anyone can learn our pid, then wait for it with sigwait(). */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        perror("bench: sigprocmask");
        return 1;
    }
    region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
        perror("bench: mmap");
        return 1;
    }
    memset(region, 0x5a, len); /* populate: every page is present and anonymous */
    if (mlock(region, len) != 0)
        perror("bench: mlock (continuing)");
    memset(vec, 0, sizeof(vec));

    /* Write the info file under a temporary name and rename it: /init never sees half of it. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    f = fopen(tmp, "w");
    if (!f) {
        perror("bench: fopen");
        return 1;
    }
    fprintf(f, "%d 0x%lx\n", (int)getpid(), (unsigned long)region);
    if (fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
        perror("bench: writing the info file");
        return 1;
    }
    printf("bench: pid %d region %p (%d pages), waiting for SIGUSR1\n", (int)getpid(),
           (void *)region, PAGES);
    fflush(stdout);

    if (sigwait(&set, &sig) != 0) {
        perror("bench: sigwait");
        return 1;
    }
    printf("bench: got signal %d, calling mincore()\n", sig);
    fflush(stdout);
    if (mincore(region, len, vec) != 0) {
        perror("bench: mincore");
        return 1;
    }
    printf("bench: mincore() returned: the mmap_lock was not contended (no hang)\n");
    return 1;
}
