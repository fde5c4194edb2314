// SPDX-License-Identifier: GPL-2.0
/*
 * Scenario selftests of vgpu against the rest of memory management: a
 * process that exits or is OOM-killed with valid GPU mappings, a vgpu file
 * that outlives its process, many processes at once, and pages that KSM,
 * NUMA migration, compaction, swap and userfaultfd move, share or keep
 * away under a mirrored object. Each one checks the data the GPU sees and
 * the state left behind (the DMA-API debugging dump, pagemap, vgpu's
 * counters), not just that nothing crashed.
 *
 * Scenarios whose kernel feature is missing skip and say which one.
 * DMA mappings are counted in /sys/kernel/debug/dma-api/dump, whose second
 * field is the device ("vgpu.<N>"). Run as root.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <linux/vgpu.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define GPU_VA		BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)

#define DMA_DUMP	"/sys/kernel/debug/dma-api/dump"
#define DMA_DISABLED	"/sys/kernel/debug/dma-api/disabled"
#define KSM_DIR		"/sys/kernel/mm/ksm/"
#define COMPACT		"/proc/sys/vm/compact_memory"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW	_IO(0xAA, 0x00)
#endif
/* <numaif.h> is libnuma's; the one flag move_pages(2) needs here. */
#define MPOL_MF_MOVE		BIT(1)

/* /proc/<pid>/pagemap, Documentation/admin-guide/mm/pagemap.rst */
#define PM_PFN(e)		((e) & ((1ULL << 55) - 1))
#define PM_SWAP			BIT_ULL(62)
#define PM_PRESENT		BIT_ULL(63)

static long page_size;

/* Word @w of page @page of a buffer filled with @tag (tag < 2^24). */
static uint64_t word(uint32_t tag, size_t page, size_t w)
{
	return ((uint64_t)tag << 40) | ((uint64_t)(page & 0xffffff) << 16) |
	       w;
}

/* Pages [@first, @first + @n) of a buffer, starting at @p, get @tag. */
static void fill_pages(char *p, size_t n, uint32_t tag, size_t first)
{
	size_t i, w;

	for (i = 0; i < n; i++)
		for (w = 0; w < page_size / 8; w++)
			((uint64_t *)(p + i * page_size))[w] =
				word(tag, first + i, w);
}

static bool pages_are(const char *p, size_t n, uint32_t tag, size_t first)
{
	size_t i, w;

	for (i = 0; i < n; i++)
		for (w = 0; w < page_size / 8; w++)
			if (((const uint64_t *)(p + i * page_size))[w] !=
			    word(tag, first + i, w))
				return false;
	return true;
}

static int read_long(const char *path, long *v)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	*v = strtol(buf, NULL, 10);
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int write_long(const char *path, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	return write_str(path, buf);
}

/* A counter of /proc/vmstat, -1 if it has none by that name. */
static long vmstat_get(const char *name)
{
	char key[64];
	long v, ret = -1;
	FILE *f;

	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			ret = v;
	fclose(f);
	return ret;
}

/* The pagemap entry of the page at @addr; 0 if it cannot be read. */
static uint64_t pagemap_entry(const void *addr)
{
	uint64_t e = 0;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e),
		  (uintptr_t)addr / page_size * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

/* PFN of the page at @addr; 0 if absent or hidden (no CAP_SYS_ADMIN). */
static uint64_t pfn_of(const void *addr)
{
	uint64_t e = pagemap_entry(addr);

	return e & PM_PRESENT ? PM_PFN(e) : 0;
}

/* How many of @n pages from @p have the pagemap bit @bit set. */
static size_t pages_with(const char *p, size_t n, uint64_t bit)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += !!(pagemap_entry(p + i * page_size) & bit);
	return c;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * DMA-API debugging entries of vgpu @dev ("vgpu.<dev>"), of every vgpu if
 * @dev < 0; -1 without the dump.
 */
static long dma_count(int dev)
{
	char line[1024], name[64], want[32];
	long n = 0;
	FILE *f;

	f = fopen(DMA_DUMP, "r");
	if (!f)
		return -1;
	snprintf(want, sizeof(want), "vgpu.%d", dev);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %63s", name) != 1)
			continue;
		if (dev < 0 ? !strncmp(name, "vgpu.", 5) : !strcmp(name, want))
			n++;
	}
	fclose(f);
	return n;
}

/* Has DMA-API debugging turned itself off (its counts mean nothing)? */
static bool dma_disabled(void)
{
	char c = 'N';
	int fd;

	fd = open(DMA_DISABLED, O_RDONLY);
	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 'N';
	close(fd);
	return c == 'Y';
}

/* Why the DMA mappings cannot be counted, or NULL. */
static const char *dma_unavailable(void)
{
	if (access(DMA_DUMP, R_OK))
		return "no " DMA_DUMP ": CONFIG_DMA_API_DEBUG and debugfs needed";
	if (dma_disabled())
		return "DMA-API debugging disabled itself";
	return NULL;
}

/*
 * The vgpu entry count once it stops moving: the release worker of an
 * earlier test may still be unmapping, and a baseline taken meanwhile
 * would be too high.
 */
static long dma_settle(void)
{
	double end = now() + 2;
	long last = dma_count(-1), cur;
	int same = 0;

	while (same < 3 && now() < end) {
		usleep(50000);
		cur = dma_count(-1);
		same = cur == last ? same + 1 : 0;
		last = cur;
	}
	return last;
}

/*
 * Wait up to 30 s for vgpu @dev's entries (every vgpu's if @dev < 0) to go
 * back to @base: the release worker unmaps a tick after the invalidation.
 * A bound for a loaded host; it returns as soon as they are back.
 */
static long dma_wait_back(int dev, long base)
{
	double end = now() + 30;
	long cur;

	while ((cur = dma_count(dev)) > base && now() < end)
		usleep(50000);
	return cur;
}

/* A fresh file of vgpu @v: an object over new memory reads and writes. */
static int vgpu_works(int v)
{
	const size_t n = 4, len = n * page_size;
	char *buf = map_anon_rw(len), *out = malloc(len);
	struct vgpu_range r = { (uintptr_t)buf, len };
	int fd = vgpu_dev_open(v), ret = -ENOMEM;
	uint32_t h;

	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (!buf || !out)
		goto out;
	fill_pages(buf, n, 0x600 + v, 0);
	ret = obj_create(fd, &r, 1, GPU_VA, 0, &h);
	if (!ret)
		ret = gpu_rw(fd, false, GPU_VA, out, len, NULL);
	if (!ret && !pages_are(out, n, 0x600 + v, 0))
		ret = -EIO;
	if (!ret) {
		fill_pages(out, n, 0x700 + v, 0);
		ret = gpu_rw(fd, true, GPU_VA, out, len, NULL);
	}
	if (!ret && !pages_are(buf, n, 0x700 + v, 0))
		ret = -EIO;
	if (!ret)
		ret = obj_destroy(fd, h);
out:
	if (fd >= 0)
		close(fd);
	if (buf)
		munmap(buf, len);
	free(out);
	return ret;
}

static int join(int fd, int other)
{
	struct vgpu_join j = { .fd = other };

	return vgpu_xioctl(fd, VGPU_IOCTL_JOIN, &j);
}

/*
 * An object at GPU_VA of the two halves of @buf (@len bytes), the second
 * half first: GPU order is not CPU order.
 */
static int make_halves(int fd, char *buf, size_t len, uint32_t *h)
{
	struct vgpu_range r[2] = {
		{ (uintptr_t)buf + len / 2, len / 2 },
		{ (uintptr_t)buf, len / 2 },
	};

	return obj_create(fd, r, 2, GPU_VA, 0, h);
}

/* The pages make_scattered() takes from its buffer, in GPU order. */
static const size_t scattered_src[5] = { 0, 1, 4, 6, 7 };

/* Read the scattered object through @fd: does it hold @tag? */
static bool scattered_is(int fd, uint32_t tag, char *out)
{
	int i;

	if (gpu_rw(fd, false, GPU_VA, out, 5 * page_size, NULL))
		return false;
	for (i = 0; i < 5; i++)
		if (!pages_are(out + i * page_size, 1, tag, scattered_src[i]))
			return false;
	return true;
}

FIXTURE(scn) {
	int ksm_saved;		/* restore the KSM knobs below */
	long ksm_run;
	long ksm_pages;
	long ksm_sleep;
	int zram;		/* zram device made swap here, or -1 */
};

static void ksm_restore(long run, long pages, long sleep)
{
	/* 2: unmerge every KSM page, so no test after this finds one. */
	write_str(KSM_DIR "run", "2");
	write_long(KSM_DIR "pages_to_scan", pages);
	write_long(KSM_DIR "sleep_millisecs", sleep);
	write_long(KSM_DIR "run", run == 1 ? 1 : 0);
}

/* Undo the swap test: swapoff (fails if it never got that far), reset. */
static void swap_down(int dev)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/zram%d", dev);
	swapoff(path);
	snprintf(path, sizeof(path), "/sys/block/zram%d/reset", dev);
	write_str(path, "1");
}

FIXTURE_SETUP(scn)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->ksm_saved = 0;
	self->zram = -1;
}

FIXTURE_TEARDOWN(scn)
{
	if (self->zram >= 0)
		swap_down(self->zram);
	if (self->ksm_saved)
		ksm_restore(self->ksm_run, self->ksm_pages, self->ksm_sleep);
}

/*
 * The child of process_exit_valid_sets: vgpu 0 and vgpu 1 (joined, one
 * mirror with two devices) both map an explicit object and an SVM range,
 * read back right. Return: 0 or the failing step.
 */
static int exit_child_map(char *out)
{
	char *blk = map_anon_rw(8 * page_size), *svm = map_anon_rw(16 * page_size);
	int a = vgpu_dev_open(0), b = vgpu_dev_open(1);
	uint32_t h;

	if (a < 0 || b < 0 || !blk || !svm)
		return 10;
	if (join(b, a))
		return 11;
	fill_pages(blk, 8, 0x101, 0);
	fill_pages(svm, 16, 0x102, 0);
	if (make_scattered(a, blk, page_size, GPU_VA, &h))
		return 12;
	if (!scattered_is(a, 0x101, out) || !scattered_is(b, 0x101, out))
		return 13;
	if (svm_rw(a, false, svm, out, 16 * page_size, NULL) ||
	    !pages_are(out, 16, 0x102, 0))
		return 14;
	if (svm_rw(b, false, svm, out, 16 * page_size, NULL) ||
	    !pages_are(out, 16, 0x102, 0))
		return 15;
	/* Left open and mapped on purpose: exit must clean up. */
	return 0;
}

/*
 * A process exits (_exit, nothing closed or destroyed) with valid GPU
 * mappings on two vgpus: every DMA mapping it had goes, and the vgpus
 * still work for others.
 */
TEST_F_TIMEOUT(scn, process_exit_valid_sets, 60)
{
	int ready[2], go[2], status;
	long base, base0, base1;
	const char *why;
	char c;
	pid_t pid;

	why = dma_unavailable();
	if (why)
		SKIP(return, "%s", why);
	base = dma_settle();
	base0 = dma_count(0);
	base1 = dma_count(1);
	ASSERT_EQ(pipe(ready), 0);
	ASSERT_EQ(pipe(go), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		char *out = malloc(16 * page_size);
		int ret = out ? exit_child_map(out) : 9;

		if (ret)
			_exit(ret);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(16);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) == 1) {
		/* The child's mappings are there: the check below means it. */
		EXPECT_GT(dma_count(0), base0);
		EXPECT_GT(dma_count(1), base1);
		ASSERT_EQ(write(go[1], "g", 1), 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	close(ready[0]);
	close(go[1]);

	EXPECT_LE(dma_wait_back(-1, base), base);
	EXPECT_LE(dma_count(0), base0);
	EXPECT_LE(dma_count(1), base1);
	EXPECT_FALSE(dma_disabled());
	EXPECT_EQ(vgpu_works(0), 0);
	EXPECT_EQ(vgpu_works(1), 0);
	EXPECT_LE(dma_wait_back(-1, base), base);
}

static int send_fd(int sock, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char c = 'f';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;

	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * The child of fd_outlives_process: a vgpu 0 file with a valid object,
 * handed to the parent through @sock (SCM_RIGHTS), or, with @sock < 0,
 * through @num_pipe as a number for pidfd_getfd() while @go_pipe keeps
 * the child alive. Exits without closing or destroying anything.
 */
static void outlive_child(int sock, int num_pipe, int go_pipe)
{
	char *buf = map_anon_rw(4 * page_size), *out = malloc(4 * page_size);
	struct vgpu_range r = { (uintptr_t)buf, 4 * page_size };
	int fd = vgpu_dev_open(0);
	uint32_t h;
	char c;

	if (fd < 0 || !buf || !out)
		_exit(10);
	fill_pages(buf, 4, 0x201, 0);
	if (obj_create(fd, &r, 1, GPU_VA, 0, &h))
		_exit(11);
	if (gpu_rw(fd, false, GPU_VA, out, 4 * page_size, NULL) ||
	    !pages_are(out, 4, 0x201, 0))
		_exit(12);
	if (sock >= 0)
		_exit(send_fd(sock, fd) ? 13 : 0);
	if (write(num_pipe, &fd, sizeof(fd)) != sizeof(fd) ||
	    read(go_pipe, &c, 1) != 1)
		_exit(14);
	_exit(0);
}

/*
 * A vgpu file passed to another process outlives its opener: once the
 * opener's mm is gone every command on it fails with EPERM (the header:
 * commands from another process), the dead mm's DMA mappings go while the
 * file is still open, and closing it last is clean.
 */
TEST_F_TIMEOUT(scn, fd_outlives_process, 60)
{
	int sv[2] = { -1, -1 }, num[2], go[2], theirs, mine, pidfd = -1;
	struct vgpu_stats st;
	struct vgpu_range r;
	int fd_num, status;
	bool scm = true;
	long base;
	const char *why;
	uint64_t v = 0;
	char *buf;
	uint32_t h;
	pid_t pid;

	why = dma_unavailable();
	if (why)
		SKIP(return, "%s", why);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		/*
		 * No AF_UNIX (CONFIG_NET or CONFIG_UNIX off: ENOSYS or
		 * EAFNOSUPPORT): take the file with pidfd_getfd() instead,
		 * as join_other_process does. Same file, same checks.
		 */
		ASSERT_TRUE(errno == EAFNOSUPPORT || errno == ENOSYS);
		TH_LOG("no AF_UNIX sockets (%s): the file is passed with pidfd_getfd()",
		       strerror(errno));
		scm = false;
	}
	base = dma_settle();
	ASSERT_EQ(pipe(num), 0);
	ASSERT_EQ(pipe(go), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		outlive_child(scm ? sv[1] : -1, num[1], go[0]);
	close(num[1]);
	close(go[0]);
	if (scm) {
		close(sv[1]);
		theirs = recv_fd(sv[0]);
		close(sv[0]);
	} else {
		theirs = -1;
		/* EOF: the child failed before; waitpid() below says how. */
		if (read(num[0], &fd_num, sizeof(fd_num)) == sizeof(fd_num)) {
			pidfd = syscall(SYS_pidfd_open, pid, 0);
			if (pidfd >= 0)
				theirs = syscall(SYS_pidfd_getfd, pidfd,
						 fd_num, 0);
			/* Let it exit, with or without its file taken. */
			ASSERT_EQ(write(go[1], "g", 1), 1);
		}
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_GE(theirs, 0);
	close(num[0]);
	close(go[1]);
	if (pidfd >= 0)
		close(pidfd);

	/* Its mm is gone; this process may not drive the file anyway. */
	buf = map_anon_rw(page_size);
	ASSERT_NE(buf, NULL);
	r.addr = (uintptr_t)buf;
	r.len = page_size;
	EXPECT_EQ(gpu_rw(theirs, false, GPU_VA, &v, sizeof(v), NULL), -EPERM);
	EXPECT_EQ(gpu_rw(theirs, true, GPU_VA, &v, sizeof(v), NULL), -EPERM);
	EXPECT_EQ(obj_create(theirs, &r, 1, GPU_VA + (1ULL << 30), 0, &h),
		  -EPERM);
	EXPECT_EQ(obj_destroy(theirs, 1), -EPERM);
	EXPECT_EQ(stats(theirs, &st), -EPERM);
	EXPECT_EQ(svm_rw(theirs, false, buf, &v, sizeof(v), NULL), -EPERM);
	EXPECT_EQ(migrate(theirs, buf, page_size, 0, NULL), -EPERM);
	mine = vgpu_dev_open(1);
	ASSERT_GE(mine, 0);
	EXPECT_EQ(join(mine, theirs), -EPERM);
	EXPECT_EQ(join(theirs, mine), -EPERM);

	/*
	 * The mirror pins the mm_struct, not the address space: the exit
	 * invalidated every set, and the release worker unmapped them
	 * while the file is still open here.
	 */
	EXPECT_LE(dma_wait_back(-1, base), base);
	close(theirs);
	close(mine);
	EXPECT_LE(dma_wait_back(-1, base), base);
	EXPECT_FALSE(dma_disabled());
	EXPECT_EQ(vgpu_works(0), 0);
	munmap(buf, page_size);
}

/*
 * One process of many_processes: two vgpu files (not joined), each with
 * the same object over W_BLOCKS separately mapped blocks; the CPU, one
 * vgpu and the other write in turn and each checks what the others wrote,
 * while blocks are munmap()ed and mapped again under the objects.
 */
#define W_BLOCKS	4
#define W_PAGES		2
#define W_PROCS		8

struct worker {
	uint32_t id;
	int fd[2];
	size_t blen;
	char *blk[W_BLOCKS];
	uint32_t tag[W_BLOCKS];	/* what each block holds */
	uint32_t h[2];
	char *buf;
};

static uint32_t wtag(const struct worker *w, unsigned int gen)
{
	return (w->id + 1) << 16 | (gen & 0xffff);
}

static int worker_objects(struct worker *w)
{
	struct vgpu_range r[W_BLOCKS];
	unsigned int b;

	for (b = 0; b < W_BLOCKS; b++) {
		r[b].addr = (uintptr_t)w->blk[b];
		r[b].len = w->blen;
	}
	if (obj_create(w->fd[0], r, W_BLOCKS, GPU_VA, 0, &w->h[0]))
		return -1;
	return obj_create(w->fd[1], r, W_BLOCKS, GPU_VA, 0, &w->h[1]);
}

/* Block @b read through file @k holds @tag? */
static bool worker_gpu_is(struct worker *w, int k, unsigned int b,
			  uint32_t tag)
{
	if (gpu_rw(w->fd[k], false, GPU_VA + b * w->blen, w->buf, w->blen,
		   NULL))
		return false;
	return pages_are(w->buf, W_PAGES, tag, b * W_PAGES);
}

/* munmap() block @b under both objects, then map a new one and remake. */
static int worker_churn(struct worker *w, unsigned int b, unsigned int i)
{
	unsigned int o = (b + 1) % W_BLOCKS;

	if (munmap(w->blk[b], w->blen))
		return 5;
	w->blk[b] = NULL;
	/* The header: that block is unreachable now, the others are not. */
	if (gpu_rw(w->fd[0], false, GPU_VA + b * w->blen, w->buf, w->blen,
		   NULL) != -EFAULT)
		return 6;
	if (!worker_gpu_is(w, 1, o, w->tag[o]))
		return 7;
	if (obj_destroy(w->fd[0], w->h[0]) || obj_destroy(w->fd[1], w->h[1]))
		return 8;
	w->blk[b] = map_anon_rw(w->blen);
	if (!w->blk[b])
		return 9;
	w->tag[b] = wtag(w, 2 * i + 3);
	fill_pages(w->blk[b], W_PAGES, w->tag[b], b * W_PAGES);
	return worker_objects(w) ? 10 : 0;
}

static int worker_step(struct worker *w, unsigned int i)
{
	unsigned int b = i % W_BLOCKS, k = i & 1;
	uint32_t tag = wtag(w, 2 * i + 1);

	/* The CPU writes, one vgpu reads. */
	fill_pages(w->blk[b], W_PAGES, tag, b * W_PAGES);
	w->tag[b] = tag;
	if (!worker_gpu_is(w, k, b, tag))
		return 1;
	/* The other vgpu writes: the CPU and the first vgpu see it. */
	tag = wtag(w, 2 * i + 2);
	fill_pages(w->buf, W_PAGES, tag, b * W_PAGES);
	if (gpu_rw(w->fd[!k], true, GPU_VA + b * w->blen, w->buf, w->blen,
		   NULL))
		return 2;
	w->tag[b] = tag;
	if (!pages_are(w->blk[b], W_PAGES, tag, b * W_PAGES))
		return 3;
	if (!worker_gpu_is(w, k, b, tag))
		return 4;
	/* Every fourth step, the next block in turn is churned. */
	return i % 4 == 3 ? worker_churn(w, i / 4 % W_BLOCKS, i) : 0;
}

/*
 * Run worker @id on vgpus @va and @vb for @secs, and at least @min steps
 * (16: every block churned once). Return: 0 or the failing step's code.
 */
static int worker_run(uint32_t id, int va, int vb, double secs,
		      unsigned int min)
{
	struct worker w = { .id = id };
	double end = now() + secs;
	unsigned int i, b;
	int ret = 0, k;

	w.blen = W_PAGES * page_size;
	w.fd[0] = vgpu_dev_open(va);
	w.fd[1] = vgpu_dev_open(vb);
	w.buf = malloc(w.blen);
	if (w.fd[0] < 0 || w.fd[1] < 0 || !w.buf)
		return 20;
	for (b = 0; b < W_BLOCKS; b++) {
		w.blk[b] = map_anon_rw(w.blen);
		if (!w.blk[b])
			return 21;
		w.tag[b] = wtag(&w, 0);
		fill_pages(w.blk[b], W_PAGES, w.tag[b], b * W_PAGES);
	}
	if (worker_objects(&w))
		return 22;
	for (i = 0; !ret && i < 4000 && (i < min || now() < end); i++)
		ret = worker_step(&w, i);
	/* Last, everything both vgpus see is what the CPU holds. */
	for (b = 0; !ret && b < W_BLOCKS; b++)
		for (k = 0; k < 2; k++)
			if (!worker_gpu_is(&w, k, b, w.tag[b]))
				ret = 23;
	close(w.fd[0]);
	close(w.fd[1]);
	for (b = 0; b < W_BLOCKS; b++)
		if (w.blk[b])
			munmap(w.blk[b], w.blen);
	free(w.buf);
	return ret;
}

/*
 * Eight processes and this one, each on two vgpus at once over its own
 * memory with its own contents, with munmap()/mmap() churn: every one
 * reads exactly what it wrote, and none sees another's data.
 */
TEST_F_TIMEOUT(scn, many_processes, 90)
{
	pid_t pid[W_PROCS];
	int start[2], i, status, ret;
	long base = -1;
	char c;

	if (!dma_unavailable())
		base = dma_settle();
	ASSERT_EQ(pipe(start), 0);
	for (i = 0; i < W_PROCS; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (!pid[i]) {
			close(start[1]);
			/* All start together, when the parent closes it. */
			if (read(start[0], &c, 1))
				_exit(30);
			_exit(worker_run(i, i % 6, (i + 1) % 6, 2, 16));
		}
	}
	close(start[0]);
	close(start[1]);
	ret = worker_run(W_PROCS, 3, 4, 2, 16);
	EXPECT_EQ(ret, 0);
	for (i = 0; i < W_PROCS; i++) {
		ASSERT_EQ(waitpid(pid[i], &status, 0), pid[i]);
		EXPECT_TRUE(WIFEXITED(status));
		if (WIFEXITED(status) && WEXITSTATUS(status))
			TH_LOG("process %d failed at step code %d", i,
			       WEXITSTATUS(status));
		EXPECT_EQ(WEXITSTATUS(status), 0);
	}
	if (base < 0) {
		TH_LOG("DMA-API dump unavailable: mapping leak check not done");
		return;
	}
	EXPECT_LE(dma_wait_back(-1, base), base);
}

/* Are pages i of @a and @b one page for all i < @n (KSM merged)? */
static bool ksm_merged(const char *a, const char *b, size_t n)
{
	uint64_t pa, pb;
	size_t i;

	for (i = 0; i < n; i++) {
		pa = pfn_of(a + i * page_size);
		pb = pfn_of(b + i * page_size);
		if (!pa || pa != pb)
			return false;
	}
	return true;
}

/*
 * KSM merges two mirrored ranges of identical pages: the GPU reads the
 * shared pages (a read fault keeps them shared); then a CPU write and a
 * GPU write each break copy-on-write, and each side keeps its own
 * content, for the CPU and the GPU alike.
 */
TEST_F_TIMEOUT(scn, ksm_merge, 150)
{
	const size_t n = 8, len = n * page_size;
	long sharing0 = 0, sharing = 0, scans = 0;
	struct vgpu_range r[2];
	bool pfns, merged = false;
	char *a, *b, *out;
	double end;
	uint32_t h;
	int fd;

	if (access(KSM_DIR "run", F_OK))
		SKIP(return, "no " KSM_DIR "run: CONFIG_KSM is off");
	a = map_anon_rw(len);
	b = map_anon_rw(len);
	out = malloc(2 * len);
	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	ASSERT_NE(out, NULL);
	/* Page i of a and page i of b: same content, pages differ by i. */
	fill_pages(a, n, 0x4b, 0);
	fill_pages(b, n, 0x4b, 0);
	ASSERT_EQ(madvise(a, len, MADV_MERGEABLE), 0);
	ASSERT_EQ(madvise(b, len, MADV_MERGEABLE), 0);
	fd = vgpu_dev_open(0);
	ASSERT_GE(fd, 0);
	r[0].addr = (uintptr_t)a;
	r[0].len = len;
	r[1].addr = (uintptr_t)b;
	r[1].len = len;
	ASSERT_EQ(obj_create(fd, r, 2, GPU_VA, 0, &h), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, 2 * len, NULL), 0);
	ASSERT_TRUE(pages_are(out, n, 0x4b, 0));
	ASSERT_TRUE(pages_are(out + len, n, 0x4b, 0));
	pfns = pfn_of(a) != 0;

	ASSERT_EQ(read_long(KSM_DIR "run", &self->ksm_run), 0);
	ASSERT_EQ(read_long(KSM_DIR "pages_to_scan", &self->ksm_pages), 0);
	ASSERT_EQ(read_long(KSM_DIR "sleep_millisecs", &self->ksm_sleep), 0);
	self->ksm_saved = 1;
	ASSERT_EQ(read_long(KSM_DIR "pages_sharing", &sharing0), 0);
	ASSERT_EQ(write_long(KSM_DIR "pages_to_scan", 10000), 0);
	ASSERT_EQ(write_long(KSM_DIR "sleep_millisecs", 0), 0);
	ASSERT_EQ(write_str(KSM_DIR "run", "1"), 0);
	for (end = now() + 90; !merged && now() < end; usleep(100000)) {
		read_long(KSM_DIR "pages_sharing", &sharing);
		merged = pfns ? ksm_merged(a, b, n) :
				sharing >= sharing0 + (long)n;
	}
	read_long(KSM_DIR "full_scans", &scans);
	/* Stop scanning; what is merged stays merged. */
	write_str(KSM_DIR "run", "0");
	if (!merged)
		SKIP(return, "KSM did not merge in 90 s: pages_sharing %ld -> %ld, full_scans %ld",
		     sharing0, sharing, scans);

	/* The merge invalidated the set; the GPU faults the KSM pages. */
	memset(out, 0, 2 * len);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, 2 * len, NULL), 0);
	EXPECT_TRUE(pages_are(out, n, 0x4b, 0));
	EXPECT_TRUE(pages_are(out + len, n, 0x4b, 0));
	/* A read fault maps the shared page; it does not break COW. */
	if (pfns)
		EXPECT_TRUE(ksm_merged(a, b, n));

	/* A CPU write to a[0] breaks COW: the GPU sees new a[0], old b[0]. */
	fill_pages(a, 1, 0x66, 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, page_size, NULL), 0);
	EXPECT_TRUE(pages_are(out, 1, 0x66, 0));
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA + len, out, page_size, NULL), 0);
	EXPECT_TRUE(pages_are(out, 1, 0x4b, 0));
	if (pfns) {
		EXPECT_NE(pfn_of(a), pfn_of(b));
		EXPECT_TRUE(ksm_merged(a + page_size, b + page_size, n - 1));
	}

	/*
	 * A GPU write to b[1], still shared with a[1], lands in b[1] only.
	 * (The write fault maps the whole object for write, which breaks
	 * COW for every shared page of it, as a CPU write to each would.)
	 */
	fill_pages(out, 1, 0x77, 1);
	ASSERT_EQ(gpu_rw(fd, true, GPU_VA + len + page_size, out, page_size,
			 NULL), 0);
	EXPECT_TRUE(pages_are(b + page_size, 1, 0x77, 1));
	EXPECT_TRUE(pages_are(a + page_size, 1, 0x4b, 1));
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, 2 * len, NULL), 0);
	EXPECT_TRUE(pages_are(out, 1, 0x66, 0));
	EXPECT_TRUE(pages_are(out + page_size, n - 1, 0x4b, 1));
	EXPECT_TRUE(pages_are(out + len, 1, 0x4b, 0));
	EXPECT_TRUE(pages_are(out + len + page_size, 1, 0x77, 1));
	EXPECT_TRUE(pages_are(out + len + 2 * page_size, n - 2, 0x4b, 2));
	if (pfns)
		EXPECT_NE(pfn_of(a + page_size), pfn_of(b + page_size));
	close(fd);
	munmap(a, len);
	munmap(b, len);
	free(out);
}

static long move_pages(size_t n, void **pages, const int *nodes,
		       int *status, int flags)
{
	return syscall(__NR_move_pages, 0, n, pages, nodes, status, flags);
}

/*
 * move_pages(2) moves mirrored pages to the other NUMA node: each lands
 * where it was sent, the GPU reads the same data from the new pages (and
 * does not move them back), and CPU and GPU writes after the move are
 * seen by the other side.
 */
TEST_F_TIMEOUT(scn, move_pages_numa, 60)
{
	enum { N = 16 };
	int status[N], target[N], fd;
	const size_t len = N * page_size;
	uint64_t faults = 0;
	void *pages[N];
	char *buf, *out;
	uint32_t h;
	size_t i;

	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "no /sys/devices/system/node/node1: CONFIG_NUMA, 2 nodes");
	buf = map_anon_rw(len);
	out = malloc(len);
	ASSERT_NE(buf, NULL);
	ASSERT_NE(out, NULL);
	fill_pages(buf, N, 0x2e, 0);
	fd = vgpu_dev_open(0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(make_halves(fd, buf, len, &h), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, len, NULL), 0);
	ASSERT_TRUE(pages_are(out, N / 2, 0x2e, N / 2));
	ASSERT_TRUE(pages_are(out + len / 2, N / 2, 0x2e, 0));

	for (i = 0; i < N; i++)
		pages[i] = buf + i * page_size;
	ASSERT_EQ(move_pages(N, pages, NULL, status, 0), 0);
	for (i = 0; i < N; i++) {
		ASSERT_GE(status[i], 0);
		target[i] = status[i] == 0 ? 1 : 0;
	}
	ASSERT_EQ(move_pages(N, pages, target, status, MPOL_MF_MOVE), 0);
	for (i = 0; i < N; i++)
		EXPECT_EQ(status[i], target[i]);

	/* The move invalidated the set: the GPU faults the new pages. */
	memset(out, 0, len);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, len, &faults), 0);
	EXPECT_TRUE(pages_are(out, N / 2, 0x2e, N / 2));
	EXPECT_TRUE(pages_are(out + len / 2, N / 2, 0x2e, 0));
	EXPECT_GE(faults, 1);
	ASSERT_EQ(move_pages(N, pages, NULL, status, 0), 0);
	for (i = 0; i < N; i++)
		EXPECT_EQ(status[i], target[i]);

	fill_pages(buf, N, 0x2f, 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA + len / 2, out, len / 2, NULL), 0);
	EXPECT_TRUE(pages_are(out, N / 2, 0x2f, 0));
	fill_pages(out, N / 2, 0x30, N / 2);
	ASSERT_EQ(gpu_rw(fd, true, GPU_VA, out, len / 2, NULL), 0);
	EXPECT_TRUE(pages_are(buf + len / 2, N / 2, 0x30, N / 2));
	close(fd);
	munmap(buf, len);
	free(out);
}

/*
 * Memory is filled, mirrored in a few places, fragmented (every other
 * page freed) and compacted: the GPU reads and writes the mirrored pages
 * correctly, whether compaction moved them or not; pages that moved must
 * have invalidated the set. Freeing pages between the object's blocks
 * (holes) invalidates nothing.
 */
TEST_F_TIMEOUT(scn, compaction, 120)
{
	enum { NPAGES = 16384, NM = 64, STRIDE = NPAGES / NM };
	const size_t len = (size_t)NPAGES * page_size;
	uint64_t pfn0[NM], pfn1[NM], pfn2, faults = 0;
	struct vgpu_stats s0, s1, s2;
	struct vgpu_range r[NM];
	size_t i, moved = 0;
	bool pfns, same = true;
	char *buf, *out;
	uint32_t h;
	int fd;

	if (access(COMPACT, W_OK))
		SKIP(return, "no writable " COMPACT ": CONFIG_COMPACTION off or not root");
	buf = map_anon_rw(len);
	out = malloc(NM * page_size);
	ASSERT_NE(buf, NULL);
	ASSERT_NE(out, NULL);
	/* Base pages: compaction moves them one by one. */
	madvise(buf, len, MADV_NOHUGEPAGE);
	fill_pages(buf, NPAGES, 0x3c, 0);
	/* Mirrored: page 1 of every STRIDE pages, which stay mapped. */
	for (i = 0; i < NM; i++) {
		r[i].addr = (uintptr_t)buf + (i * STRIDE + 1) * page_size;
		r[i].len = page_size;
	}
	fd = vgpu_dev_open(0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(obj_create(fd, r, NM, GPU_VA, 0, &h), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, NM * page_size, NULL), 0);
	for (i = 0; i < NM; i++)
		ASSERT_TRUE(pages_are(out + i * page_size, 1, 0x3c,
				      i * STRIDE + 1));
	for (i = 0; i < NM; i++)
		pfn0[i] = pfn_of((char *)r[i].addr);
	pfns = pfn0[0] != 0;
	if (!pfns)
		TH_LOG("pagemap hides PFNs (not CAP_SYS_ADMIN): no move count");
	ASSERT_EQ(stats(fd, &s0), 0);

	/* Fragment: every even page goes, the mirrored odd ones stay. */
	for (i = 0; i < NPAGES; i += 2)
		ASSERT_EQ(madvise(buf + i * page_size, page_size,
				  MADV_DONTNEED), 0);
	ASSERT_EQ(stats(fd, &s1), 0);
	for (i = 0; i < NM; i++) {
		pfn1[i] = pfn_of((char *)r[i].addr);
		same &= pfn1[i] == pfn0[i];
	}
	/* Unless kcompactd moved one meanwhile, holes changed nothing. */
	if (pfns && same)
		EXPECT_EQ(s1.invalidations, s0.invalidations);

	ASSERT_EQ(write_str(COMPACT, "1"), 0);
	for (i = 0; pfns && i < NM; i++) {
		pfn2 = pfn_of((char *)r[i].addr);
		moved += pfn2 != pfn1[i];
	}
	if (pfns)
		TH_LOG("compaction moved %zu of %d mirrored pages", moved, NM);
	ASSERT_EQ(stats(fd, &s2), 0);
	memset(out, 0, NM * page_size);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, NM * page_size, &faults), 0);
	for (i = 0; i < NM; i++)
		EXPECT_TRUE(pages_are(out + i * page_size, 1, 0x3c,
				      i * STRIDE + 1));
	if (moved) {
		/* A page moved under a valid set: it was invalidated. */
		EXPECT_GT(s2.invalidations, s1.invalidations);
		EXPECT_GE(faults, 1);
	}

	for (i = 0; i < NM; i++)
		fill_pages(out + i * page_size, 1, 0x3d, i * STRIDE + 1);
	ASSERT_EQ(gpu_rw(fd, true, GPU_VA, out, NM * page_size, NULL), 0);
	for (i = 0; i < NM; i++)
		EXPECT_TRUE(pages_are((char *)r[i].addr, 1, 0x3d,
				      i * STRIDE + 1));
	for (i = 0; i < NM; i++)
		fill_pages((char *)r[i].addr, 1, 0x3e, i * STRIDE + 1);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, NM * page_size, NULL), 0);
	for (i = 0; i < NM; i++)
		EXPECT_TRUE(pages_are(out + i * page_size, 1, 0x3e,
				      i * STRIDE + 1));
	close(fd);
	munmap(buf, len);
	free(out);
}

/* A zram device to use: zram0, or one zram-control adds; -1 if none. */
static int zram_get(void)
{
	long id;

	if (!access("/sys/block/zram0", F_OK))
		return 0;
	if (access("/sys/class/zram-control/hot_add", R_OK))
		return -1;
	/* Reading hot_add makes a device and returns its number. */
	if (read_long("/sys/class/zram-control/hot_add", &id))
		return -1;
	return id;
}

/* Does /proc/swaps list /dev/zram<dev>? */
static bool swap_listed(int dev)
{
	char line[256], want[32];
	bool found = false;
	FILE *f;

	f = fopen("/proc/swaps", "r");
	if (!f)
		return false;
	snprintf(want, sizeof(want), "/dev/zram%d ", dev);
	while (fgets(line, sizeof(line), f))
		found |= !strncmp(line, want, strlen(want));
	fclose(f);
	return found;
}

/* MADV_PAGEOUT @n pages, a few times for stragglers: how many swapped. */
/*
 * MADV_PAGEOUT drains only this CPU's LRU batches: a page the GPU fault
 * brought in on another CPU may still sit in one there and be skipped.
 * Try from each CPU in turn.
 */
static size_t page_out(char *p, size_t n)
{
	int i, ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t swapped = 0;
	cpu_set_t all, one;

	sched_getaffinity(0, sizeof(all), &all);
	for (i = 0; i < 2 * ncpus + 2 && swapped < n; i++) {
		CPU_ZERO(&one);
		CPU_SET(i % ncpus, &one);
		sched_setaffinity(0, sizeof(one), &one);
		if (madvise(p, n * page_size, MADV_PAGEOUT))
			break;
		swapped = pages_with(p, n, PM_SWAP);
	}
	sched_setaffinity(0, sizeof(all), &all);
	return swapped;
}

/*
 * Mirrored pages are swapped out to zram: pagemap shows swap entries, and
 * a GPU read (or write) swaps them back in through the fault, with the
 * data they had.
 */
TEST_F_TIMEOUT(scn, swap, 90)
{
	enum { N = 32 };
	const size_t len = N * page_size;
	char path[64], cmd[160];
	uint64_t faults = 0;
	char *buf, *out;
	long size = 0;
	uint32_t h;
	int dev, fd;

	if (access("/proc/swaps", F_OK))
		SKIP(return, "no /proc/swaps: CONFIG_SWAP is off");
	dev = zram_get();
	if (dev < 0)
		SKIP(return, "no /sys/block/zram0 nor /sys/class/zram-control: CONFIG_ZRAM is off");
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", dev);
	ASSERT_EQ(read_long(path, &size), 0);
	if (size)
		SKIP(return, "zram%d is in use (disksize %ld)", dev, size);
	self->zram = dev;
	ASSERT_EQ(write_long(path, 32L << 20), 0);
	snprintf(cmd, sizeof(cmd),
		 "mkswap /dev/zram%d >/dev/null && swapon /dev/zram%d",
		 dev, dev);
	ASSERT_EQ(system(cmd), 0);
	ASSERT_TRUE(swap_listed(dev));

	buf = map_anon_rw(len);
	out = malloc(len);
	ASSERT_NE(buf, NULL);
	ASSERT_NE(out, NULL);
	madvise(buf, len, MADV_NOHUGEPAGE);
	fill_pages(buf, N, 0x5e, 0);
	fd = vgpu_dev_open(1);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(make_halves(fd, buf, len, &h), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, len, NULL), 0);
	ASSERT_TRUE(pages_are(out, N / 2, 0x5e, N / 2));

	EXPECT_EQ(page_out(buf, N), N);
	memset(out, 0, len);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, len, &faults), 0);
	EXPECT_TRUE(pages_are(out, N / 2, 0x5e, N / 2));
	EXPECT_TRUE(pages_are(out + len / 2, N / 2, 0x5e, 0));
	EXPECT_GE(faults, 1);
	/* The GPU fault swapped every page in. */
	EXPECT_EQ(pages_with(buf, N, PM_PRESENT), N);

	/* Out again; a GPU write swaps them in and lands in them. */
	EXPECT_EQ(page_out(buf, N), N);
	fill_pages(out, N / 2, 0x5f, N / 2);
	fill_pages(out + len / 2, N / 2, 0x5f, 0);
	ASSERT_EQ(gpu_rw(fd, true, GPU_VA, out, len, NULL), 0);
	EXPECT_EQ(pages_with(buf, N, PM_PRESENT), N);
	EXPECT_TRUE(pages_are(buf, N, 0x5f, 0));
	close(fd);
	munmap(buf, len);
	free(out);
}

struct uffd_handler {
	int uffd;
	size_t page;		/* page index the pattern is made for */
	unsigned int faults;	/* faults resolved */
	int stop;
	int err;
};

/* Resolve every missing-page fault with page @page of tag 0x7a. */
static void *uffd_handler_fn(void *arg)
{
	struct uffd_handler *u = arg;
	struct pollfd pfd = { .fd = u->uffd, .events = POLLIN };
	struct uffdio_copy copy;
	struct uffd_msg msg;
	char *src;

	src = aligned_alloc(page_size, page_size);
	if (!src) {
		u->err = ENOMEM;
		return NULL;
	}
	fill_pages(src, 1, 0x7a, u->page);
	while (!VGPU_LOAD(u->stop)) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (read(u->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy.dst = msg.arg.pagefault.address & ~(page_size - 1);
		copy.src = (uintptr_t)src;
		copy.len = page_size;
		copy.mode = 0;
		copy.copy = 0;
		/* Counted first: the copy wakes the faulting thread. */
		__atomic_add_fetch(&u->faults, 1, __ATOMIC_RELAXED);
		if (ioctl(u->uffd, UFFDIO_COPY, &copy))
			u->err = errno;
	}
	free(src);
	return NULL;
}

/* A userfaultfd with @flags, or -errno; /dev/userfaultfd if not allowed. */
static int uffd_open(int flags)
{
	int fd, dev;

	fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);
	if (fd >= 0 || errno != EPERM)
		return fd >= 0 ? fd : -errno;
	/* The syscall is refused to this user; the node's mode may allow. */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -EPERM;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK | flags);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

/*
 * A block of an object is registered with userfaultfd (missing mode) and
 * its page is gone. A GPU fault cannot be served by the handler: the
 * descriptor only handles user-mode faults, and hmm_range_fault() faults
 * without FAULT_FLAG_ALLOW_RETRY (handle_userfault() cannot wait either
 * way), so the fault gets VM_FAULT_SIGBUS and the block is unreachable:
 * EFAULT, the header's errno for that, and the handler never hears of
 * it. The object's other block stays readable. Once the CPU faults the
 * page in through the handler, the GPU reads the handler's data and writes
 * to the same page.
 */
TEST_F_TIMEOUT(scn, userfaultfd_segment, 60)
{
	struct uffd_handler u = { .page = 1 };
	struct uffdio_register reg;
	struct uffdio_api api;
	struct vgpu_range r[2];
	pthread_t thread;
	char *buf, *out;
	uint32_t h;
	int fd, ret;

	u.uffd = uffd_open(UFFD_USER_MODE_ONLY);
	if (u.uffd == -ENOSYS)
		SKIP(return, "userfaultfd(2): ENOSYS, CONFIG_USERFAULTFD is off");
	if (u.uffd == -EPERM)
		SKIP(return, "userfaultfd(2) not permitted, nor /dev/userfaultfd");
	ASSERT_GE(u.uffd, 0);
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	ASSERT_EQ(ioctl(u.uffd, UFFDIO_API, &api), 0);

	buf = map_anon_rw(2 * page_size);
	out = malloc(2 * page_size);
	ASSERT_NE(buf, NULL);
	ASSERT_NE(out, NULL);
	fill_pages(buf, 2, 0x79, 0);
	fd = vgpu_dev_open(0);
	ASSERT_GE(fd, 0);
	r[0].addr = (uintptr_t)buf;
	r[0].len = page_size;
	r[1].addr = (uintptr_t)buf + page_size;
	r[1].len = page_size;
	ASSERT_EQ(obj_create(fd, r, 2, GPU_VA, 0, &h), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, out, 2 * page_size, NULL), 0);
	ASSERT_TRUE(pages_are(out, 2, 0x79, 0));

	/* Page 1 goes, and missing-page faults on it go to the handler. */
	ASSERT_EQ(madvise(buf + page_size, page_size, MADV_DONTNEED), 0);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)buf + page_size;
	reg.range.len = page_size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	ASSERT_EQ(ioctl(u.uffd, UFFDIO_REGISTER, &reg), 0);
	ASSERT_EQ(pthread_create(&thread, NULL, uffd_handler_fn, &u), 0);

	EXPECT_EQ(gpu_rw(fd, false, GPU_VA, out, page_size, NULL), 0);
	EXPECT_TRUE(pages_are(out, 1, 0x79, 0));
	EXPECT_EQ(gpu_rw(fd, false, GPU_VA + page_size, out, page_size, NULL),
		  -EFAULT);
	EXPECT_EQ(gpu_rw(fd, true, GPU_VA + page_size, out, page_size, NULL),
		  -EFAULT);
	EXPECT_EQ(VGPU_LOAD(u.faults), 0);

	/* A CPU (user-mode) fault: the handler fills the page. */
	EXPECT_TRUE(pages_are(buf + page_size, 1, 0x7a, 1));
	EXPECT_EQ(VGPU_LOAD(u.faults), 1);
	/*
	 * The block is reachable again, so a GPU access faults it in. No
	 * invalidation came with it (UFFDIO_COPY fills an empty PTE), so
	 * this is what shows whether a fault re-walks a hole of a set that
	 * is still valid.
	 */
	memset(out, 0, 2 * page_size);
	ret = gpu_rw(fd, false, GPU_VA, out, 2 * page_size, NULL);
	if (ret == -EFAULT)
		TH_LOG("page 1 is filled but still unreachable: the set kept its hole");
	EXPECT_EQ(ret, 0);
	EXPECT_TRUE(pages_are(out, 1, 0x79, 0));
	EXPECT_TRUE(pages_are(out + page_size, 1, 0x7a, 1));
	fill_pages(out, 1, 0x7b, 1);
	EXPECT_EQ(gpu_rw(fd, true, GPU_VA + page_size, out, page_size, NULL),
		  0);
	EXPECT_TRUE(pages_are(buf + page_size, 1, 0x7b, 1));

	VGPU_STORE(u.stop, 1);
	pthread_join(thread, NULL);
	EXPECT_EQ(u.err, 0);
	close(fd);
	close(u.uffd);
	munmap(buf, 2 * page_size);
	free(out);
}

/*
 * The OOM victim: valid GPU mappings (an explicit object and an SVM range
 * on vgpu 0), then memory until the OOM killer comes; at most 4 GiB, twice
 * the VM's memory. Exits only if it was not killed.
 */
static void oom_child(int ready)
{
	const size_t chunk = 64UL << 20, len = 4 * page_size;
	char *buf = map_anon_rw(len), *out = malloc(len), *p;
	struct vgpu_range r = { (uintptr_t)buf, len };
	unsigned int i;
	uint32_t h;
	size_t off;
	int fd;

	if (write_str("/proc/self/oom_score_adj", "1000"))
		_exit(10);
	fd = vgpu_dev_open(0);
	if (fd < 0 || !buf || !out)
		_exit(11);
	fill_pages(buf, 4, 0x901, 0);
	if (obj_create(fd, &r, 1, GPU_VA, 0, &h) ||
	    gpu_rw(fd, false, GPU_VA, out, len, NULL) ||
	    !pages_are(out, 4, 0x901, 0))
		_exit(12);
	if (svm_rw(fd, false, buf, out, len, NULL) ||
	    !pages_are(out, 4, 0x901, 0))
		_exit(13);
	if (write(ready, "r", 1) != 1)
		_exit(14);
	for (i = 0; i < 64; i++) {
		p = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			_exit(15);
		/* One call faults the chunk in; touch it where it cannot. */
		if (madvise(p, chunk, MADV_POPULATE_WRITE))
			for (off = 0; off < chunk; off += page_size)
				p[off] = 1;
	}
	_exit(16);
}

/* MemFree of /proc/meminfo in bytes; 0 if unknown. */
static size_t mem_free(void)
{
	char line[128];
	long kb = 0;
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemFree: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return (size_t)kb << 10;
}

/*
 * Most of the free memory, held by the test itself (never the victim,
 * and not inherited by the child): the victim then needs little memory
 * to run out and its exit is short. That matters: its valid sets make
 * the OOM reaper's non-blocking invalidation of their VMA fail, and if
 * the victim has not unmapped its memory itself when the reaper gives up
 * (2 s + 1 s), the reaper dumps every held lock to the log.
 */
static char *oom_hold(size_t *len)
{
	size_t keep = 256UL << 20, avail = mem_free(), off;
	char *p;

	*len = avail > keep ? (avail - keep) & ~((size_t)page_size - 1) : 0;
	if (!*len)
		return NULL;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, *len, MADV_DONTFORK);
	/* Touched by hand only on kernels without MADV_POPULATE_WRITE. */
	if (madvise(p, *len, MADV_POPULATE_WRITE) && errno == EINVAL)
		for (off = 0; off < *len; off += page_size)
			p[off] = 1;
	return p;
}

/*
 * A process with valid GPU mappings is OOM-killed (the OOM reaper meets
 * its notifiers): it dies by SIGKILL from the OOM killer, its DMA
 * mappings go, and the vgpu works for others. The OOM report in the
 * kernel log is expected; no WARN may come with it.
 */
TEST_F_TIMEOUT(scn, oom_kill_valid_sets, 180)
{
	long base, kills;
	int ready[2], status;
	size_t hold_len = 0;
	const char *why;
	char c, *hold;
	ssize_t got;
	pid_t pid;

	why = dma_unavailable();
	if (why)
		SKIP(return, "%s", why);
	base = dma_settle();
	kills = vmstat_get("oom_kill");
	/* Never this process: the child is the one with 1000. */
	ASSERT_EQ(write_str("/proc/self/oom_score_adj", "-1000"), 0);
	hold = oom_hold(&hold_len);
	TH_LOG("holding %zu MiB; the child takes the rest", hold_len >> 20);
	ASSERT_EQ(pipe(ready), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(ready[0]);
		oom_child(ready[1]);
	}
	close(ready[1]);
	got = read(ready[0], &c, 1);
	close(ready[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (hold)
		munmap(hold, hold_len);
	if (WIFEXITED(status))
		TH_LOG("the child exited with %d instead of being killed",
		       WEXITSTATUS(status));
	ASSERT_EQ(got, 1);
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(WTERMSIG(status), SIGKILL);
	if (kills >= 0)
		EXPECT_GT(vmstat_get("oom_kill"), kills);

	EXPECT_LE(dma_wait_back(-1, base), base);
	EXPECT_FALSE(dma_disabled());
	EXPECT_EQ(vgpu_works(0), 0);
	EXPECT_LE(dma_wait_back(-1, base), base);
}

TEST_HARNESS_MAIN
