// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * stock: the user-space side of the stock captures' hangs (guest/init-stock.sh), static.
 *
 *   stock COMM freeze DIR     FIFREEZE the filesystem of DIR, then exit (nobody thaws it)
 *   stock COMM creat FILE     open(FILE, O_CREAT|O_WRONLY): mnt_want_write() on a frozen fs
 *   stock COMM write FILE     open(FILE, O_WRONLY|O_APPEND) now, write(2) one line on SIGUSR1
 *   stock COMM append FILE    open(FILE, O_WRONLY|O_APPEND), write(2) one line at once
 *   stock COMM fsync FILE     open(FILE, O_WRONLY) now; on SIGUSR1 write 4 KiB at offset 0,
 *                             then fsync(2)
 *   stock COMM read FILE      open(FILE) now and drop its clean page cache (fadvise
 *                             DONTNEED); on SIGUSR1 read 4 KiB at offset 0
 *   stock COMM dread DEV [OFFSET]
 *                             read 4 KiB at OFFSET (default 0) of block device DEV with
 *                             O_DIRECT (the wait for a direct read bio is uninterruptible)
 *   stock COMM syncfs PATH    open(PATH) now, then syncfs(2) its filesystem
 *
 * COMM is the name the process takes (prctl PR_SET_NAME), so the hung tasks are told apart.
 * Each prints "stock: COMM PID ready" once it is ready for the signal or about to block, and
 * exits 0 if the call ever returns (it should not), 1 on an error before it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "stock: %s %s: %s\n", what, arg, strerror(errno));
	exit(1);
}

/* Blocks SIGUSR1, says ready, and waits for it. */
static void ready_then_wait(const char *comm)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("stock: %s %d ready\n", comm, getpid());
	fflush(stdout);
	sigwait(&set, &sig);
}

static void ready(const char *comm)
{
	printf("stock: %s %d ready\n", comm, getpid());
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static char page[4096];
	const char *comm, *cmd, *path;
	int fd;

	if (argc != 4 && !(argc == 5 && !strcmp(argv[2], "dread"))) {
		fprintf(stderr, "usage: stock COMM freeze|creat|write|append|fsync|read|dread|syncfs "
			"PATH (dread: [OFFSET])\n");
		return 2;
	}
	comm = argv[1];
	cmd = argv[2];
	path = argv[3];
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	memset(page, 'h', sizeof(page));
	if (!strcmp(cmd, "freeze")) {
		fd = open(path, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			die("open", path);
		if (ioctl(fd, FIFREEZE, 0))
			die("FIFREEZE", path);
		printf("stock: %s %d froze %s\n", comm, getpid(), path);
		return 0;
	}
	if (!strcmp(cmd, "creat")) {
		ready(comm);
		fd = open(path, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die("open", path);
		return 0;
	}
	if (!strcmp(cmd, "write")) {
		fd = open(path, O_WRONLY | O_APPEND);
		if (fd < 0)
			die("open", path);
		ready_then_wait(comm);
		if (write(fd, "stock\n", 6) != 6)
			die("write", path);
		return 0;
	}
	if (!strcmp(cmd, "append")) {
		fd = open(path, O_WRONLY | O_APPEND);
		if (fd < 0)
			die("open", path);
		ready(comm);
		if (write(fd, "stock\n", 6) != 6)
			die("write", path);
		return 0;
	}
	if (!strcmp(cmd, "fsync")) {
		fd = open(path, O_WRONLY);
		if (fd < 0)
			die("open", path);
		ready_then_wait(comm);
		if (pwrite(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
			die("pwrite", path);
		if (fsync(fd))
			die("fsync", path);
		return 0;
	}
	if (!strcmp(cmd, "read")) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", path);
		errno = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (errno)
			die("posix_fadvise", path);
		ready_then_wait(comm);
		if (pread(fd, page, sizeof(page), 0) < 0)
			die("pread", path);
		return 0;
	}
	if (!strcmp(cmd, "dread")) {
		void *buf;

		if (posix_memalign(&buf, 4096, 4096))
			die("posix_memalign", path);
		off_t off = argc == 5 ? strtoll(argv[4], NULL, 0) : 0;

		fd = open(path, O_RDONLY | O_DIRECT);
		if (fd < 0)
			die("open", path);
		ready(comm);
		if (pread(fd, buf, 4096, off) < 0)
			die("pread", path);
		return 0;
	}
	if (!strcmp(cmd, "syncfs")) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", path);
		ready(comm);
		if (syncfs(fd))
			die("syncfs", path);
		return 0;
	}
	fprintf(stderr, "stock: unknown command %s\n", cmd);
	return 2;
}
