// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of several vgpus in one GPU address space (VGPU_IOCTL_JOIN):
 * one gpumirror mirror with several devices, so the per-device page sets,
 * the invalidation of every device by one CPU page table change, the one
 * attribute tree and peer placement are reached from userspace.
 *
 * The selftest boot makes vgpus 0 and 4 peers (one pagemap owner), 1 and 5
 * peers, 2 and 3 device-coherent and 6 a no-fault vgpu.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vgpu.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define GPU_VA		BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)
#define SZ_2M		(2UL << 20)

static long page_size;

static int join(int fd, int other)
{
	struct vgpu_join j = { .fd = other };

	return vgpu_xioctl(fd, VGPU_IOCTL_JOIN, &j);
}

/* Word w of page p of a buffer filled by fill(), with a generation. */
static uint64_t word(unsigned int gen, size_t p, size_t w)
{
	return ((uint64_t)gen << 48) | (p << 16) | w;
}

/* Pages [first, first + n) of @buf get generation @gen. */
static void fill(char *buf, size_t first, size_t n, unsigned int gen)
{
	size_t p, w;

	for (p = first; p < first + n; p++)
		for (w = 0; w < page_size / 8; w++)
			((uint64_t *)(buf + p * page_size))[w] = word(gen, p, w);
}

/* Page @p of a buffer holds generation @gen of page @src? */
static bool page_is(const char *page, unsigned int gen, size_t src)
{
	size_t w;

	for (w = 0; w < page_size / 8; w++)
		if (((const uint64_t *)page)[w] != word(gen, src, w))
			return false;
	return true;
}

/* A 2M-aligned private anonymous region of 2M, filled. */
static char *region(unsigned int gen)
{
	char *p = mmap(NULL, 2 * SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	fill(p, 0, SZ_2M / page_size, gen);
	return p;
}

static int st(int fd, struct vgpu_stats *s)
{
	memset(s, 0, sizeof(*s));
	return stats(fd, s);
}

/* Bad joins fail with the documented errno and change nothing. */
TEST(join_errors)
{
	int a = vgpu_dev_open(0), b = vgpu_dev_open(1);
	int a2 = vgpu_dev_open(0), c = vgpu_dev_open(4);
	int null = open("/dev/null", O_RDWR);
	struct vgpu_join j = { .fd = a, .pad = 1 };
	uint64_t v;
	char *buf;

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	ASSERT_GE(a2, 0);
	ASSERT_GE(c, 0);
	ASSERT_GE(null, 0);
	EXPECT_EQ(join(b, -1), -EBADF);
	EXPECT_EQ(join(b, null), -EBADF);
	EXPECT_EQ(join(b, 1 << 20), -EBADF);
	EXPECT_EQ(join(b, b), -EEXIST);
	EXPECT_EQ(vgpu_xioctl(b, VGPU_IOCTL_JOIN, &j), -EINVAL);
	ASSERT_EQ(join(b, a), 0);
	/* vgpu 0 is in a's space already; so is b. */
	buf = region(1);
	ASSERT_NE(buf, NULL);
	ASSERT_EQ(svm_attr(a2, buf, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_NONE, 0), 0);
	EXPECT_EQ(join(a2, a), -EEXIST);
	/* The refused join left a2's own space as it was. */
	EXPECT_EQ(svm_rw(a2, false, buf, &v, sizeof(v), NULL), -EPERM);
	munmap(buf, SZ_2M);
	EXPECT_EQ(join(b, a), -EEXIST);
	EXPECT_EQ(join(a2, b), -EEXIST);
	/* b joined a: a's space is shared, a cannot leave it. */
	EXPECT_EQ(join(a, c), -EBUSY);
	EXPECT_EQ(join(c, b), 0);
	close(null);
	close(c);
	close(a2);
	close(b);
	close(a);
}

/*
 * A vgpu file of another process, taken with pidfd_getfd(): it cannot be
 * joined nor driven (EPERM), and it is closed last here, after its opener
 * was killed with an object mapped in it.
 */
TEST(join_other_process)
{
	int pipe_fd[2], a, pidfd, theirs, fd, status;
	char *buf;
	pid_t pid;

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(pipe(pipe_fd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct vgpu_range r;
		uint32_t h;

		fd = vgpu_dev_open(4);
		buf = region(1);
		if (fd < 0 || !buf)
			_exit(1);
		r.addr = (uintptr_t)buf;
		r.len = 4 * page_size;
		if (obj_create(fd, &r, 1, GPU_VA, 0, &h))
			_exit(2);
		if (write(pipe_fd[1], &fd, sizeof(fd)) != sizeof(fd))
			_exit(3);
		/* Until the parent has the file and kills it. */
		for (;;)
			pause();
	}
	close(pipe_fd[1]);
	ASSERT_EQ(read(pipe_fd[0], &fd, sizeof(fd)), sizeof(fd));
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	ASSERT_GE(pidfd, 0);
	theirs = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	ASSERT_GE(theirs, 0);
	close(pipe_fd[0]);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	a = vgpu_dev_open(5);
	ASSERT_GE(a, 0);
	EXPECT_EQ(join(a, theirs), -EPERM);
	EXPECT_EQ(join(theirs, a), -EPERM);
	buf = malloc(page_size);
	ASSERT_NE(buf, NULL);
	EXPECT_EQ(gpu_rw(theirs, false, GPU_VA, buf, page_size, NULL), -EPERM);
	free(buf);
	close(a);
	close(theirs);
	close(pidfd);
}

FIXTURE(two) {
	int a;		/* vgpu 0, the space's creator */
	int b;		/* vgpu 1, joined to it */
	char *buf;
};

FIXTURE_SETUP(two)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->a = vgpu_dev_open(0);
	self->b = vgpu_dev_open(1);
	ASSERT_GE(self->a, 0);
	ASSERT_GE(self->b, 0);
	ASSERT_EQ(join(self->b, self->a), 0);
	self->buf = region(1);
	ASSERT_NE(self->buf, NULL);
}

FIXTURE_TEARDOWN(two)
{
	if (self->a >= 0)
		close(self->a);
	close(self->b);
	munmap(self->buf, SZ_2M);
}

/* Pages 0-1, 4 and 6-7 of the buffer: five GPU pages, holes between. */
static const size_t scattered_src[5] = { 0, 1, 4, 6, 7 };

static int scattered(int fd, char *buf, uint32_t *h)
{
	return make_scattered(fd, buf, page_size, GPU_VA, h);
}

/* Read the five pages through @fd: each holds generation @gen? */
static bool scattered_is(int fd, unsigned int gen, int *err)
{
	char *out = malloc(5 * page_size);
	bool ok = true;
	int i;

	*err = out ? gpu_rw(fd, false, GPU_VA, out, 5 * page_size, NULL) :
		     -ENOMEM;
	for (i = 0; !*err && i < 5; i++)
		ok &= page_is(out + i * page_size, gen, scattered_src[i]);
	free(out);
	return !*err && ok;
}

/*
 * An object made through one vgpu is the other's too (same handle, same
 * GPU VA): each maps its own page set (its own DMA mappings) of the same
 * pages, and the CPU's and each GPU's writes are seen by all.
 */
TEST_F(two, shared_object)
{
	long dma0 = dma_live(0), dma1 = dma_live(1);
	struct vgpu_stats b0, b1;
	uint64_t v = 0x5eed;
	uint32_t h, h2;
	int err;

	ASSERT_EQ(scattered(self->a, self->buf, &h), 0);
	ASSERT_EQ(st(self->b, &b0), 0);
	EXPECT_TRUE(scattered_is(self->b, 1, &err));
	EXPECT_EQ(err, 0);
	ASSERT_EQ(st(self->b, &b1), 0);
	/* b faulted it for itself: five pages mapped for vgpu 1. */
	EXPECT_GE(b1.faults, b0.faults + 1);
	EXPECT_EQ(b1.dma_maps - b0.dma_maps, 5);
	/*
	 * The DMA-API's own bookkeeping agrees: five mappings each, vgpu 0's
	 * made by the create, vgpu 1's by its fault.
	 */
	if (dma1 >= 0) {
		EXPECT_EQ(dma_live(0) - dma0, 5);
		EXPECT_EQ(dma_live(1) - dma1, 5);
	}
	/* The GPU VA is taken in the space, whoever asks. */
	EXPECT_EQ(scattered(self->b, self->buf, &h2), -EEXIST);

	/* Both map the process's pages: a CPU write is seen by both. */
	fill(self->buf, 4, 1, 2);
	EXPECT_FALSE(scattered_is(self->a, 1, &err));
	EXPECT_FALSE(scattered_is(self->b, 1, &err));
	fill(self->buf, 4, 1, 1);
	EXPECT_TRUE(scattered_is(self->a, 1, &err));
	EXPECT_TRUE(scattered_is(self->b, 1, &err));
	EXPECT_EQ(err, 0);

	/* A GPU write through b is seen by the CPU and by a. */
	ASSERT_EQ(gpu_rw(self->b, true, GPU_VA + 3 * page_size + 8, &v,
			 sizeof(v), NULL), 0);
	EXPECT_EQ(((uint64_t *)(self->buf + 6 * page_size))[1], v);
	v = 0;
	ASSERT_EQ(gpu_rw(self->a, false, GPU_VA + 3 * page_size + 8, &v,
			 sizeof(v), NULL), 0);
	EXPECT_EQ(v, 0x5eed);

	/* Destroyed through b: gone for a as well, mappings and all. */
	EXPECT_EQ(obj_destroy(self->b, h), 0);
	if (dma1 >= 0) {
		EXPECT_EQ(dma_live_wait(0, dma0, 20000), dma0);
		EXPECT_EQ(dma_live_wait(1, dma1, 20000), dma1);
	}
	EXPECT_EQ(gpu_rw(self->a, false, GPU_VA, &v, sizeof(v), NULL),
		  -EFAULT);
	EXPECT_EQ(obj_destroy(self->a, h), -ENOENT);
}

/*
 * One invalidation of a page both vgpus map: each vgpu gets exactly one
 * invalidation and one TLB flush, and both drop their DMA mapping of the
 * page only (the other pages stay mapped).
 */
TEST_F(two, one_event_each_device)
{
	struct vgpu_stats a0, b0, a1, b1;
	uint32_t h;
	int err;

	ASSERT_EQ(scattered(self->a, self->buf, &h), 0);
	ASSERT_TRUE(scattered_is(self->a, 1, &err));
	ASSERT_TRUE(scattered_is(self->b, 1, &err));
	ASSERT_EQ(st(self->a, &a0), 0);
	ASSERT_EQ(st(self->b, &b0), 0);
	ASSERT_EQ(madvise(self->buf + 6 * page_size, page_size,
			  MADV_DONTNEED), 0);
	ASSERT_EQ(st(self->a, &a1), 0);
	ASSERT_EQ(st(self->b, &b1), 0);
	EXPECT_EQ(a1.invalidations - a0.invalidations, 1);
	EXPECT_EQ(b1.invalidations - b0.invalidations, 1);
	EXPECT_EQ(a1.tlb_flushes - a0.tlb_flushes, 1);
	EXPECT_EQ(b1.tlb_flushes - b0.tlb_flushes, 1);
	/* The page reads as zero now, through either vgpu. */
	fill(self->buf, 6, 1, 1);
	EXPECT_TRUE(scattered_is(self->b, 1, &err));
	EXPECT_EQ(err, 0);
	EXPECT_TRUE(scattered_is(self->a, 1, &err));
	EXPECT_EQ(err, 0);
}

/* The space outlives its creator's file. */
TEST_F(two, creator_closes_first)
{
	uint32_t h;
	int err;

	ASSERT_EQ(scattered(self->a, self->buf, &h), 0);
	close(self->a);
	self->a = -1;
	EXPECT_TRUE(scattered_is(self->b, 1, &err));
	EXPECT_EQ(err, 0);
	EXPECT_EQ(obj_destroy(self->b, h), 0);
}

static int svm_read_page(int fd, char *addr, char *out)
{
	return svm_rw(fd, false, addr, out, page_size, NULL);
}

/*
 * One attribute tree: read-only set through a is enforced on b; access
 * is per vgpu, and setting b's leaves a's as a set it.
 */
TEST_F(two, one_attribute_view)
{
	struct vgpu_svm_attr ro = {
		.start = (uintptr_t)self->buf, .len = SZ_2M,
		.mask = VGPU_SVM_ATTR_READ_ONLY, .read_only = 1,
	};
	char *out = malloc(page_size);
	struct vgpu_stats b0, b1;
	uint64_t v = 7;

	ASSERT_NE(out, NULL);
	ASSERT_EQ(svm_read_page(self->a, self->buf, out), 0);
	ASSERT_EQ(svm_read_page(self->b, self->buf, out), 0);
	EXPECT_TRUE(page_is(out, 1, 0));

	ASSERT_EQ(vgpu_xioctl(self->a, VGPU_IOCTL_SVM_ATTR, &ro), 0);
	EXPECT_EQ(svm_rw(self->b, true, self->buf, &v, sizeof(v), NULL),
		  -EPERM);
	EXPECT_EQ(svm_rw(self->a, true, self->buf, &v, sizeof(v), NULL),
		  -EPERM);
	ro.read_only = 0;
	ASSERT_EQ(vgpu_xioctl(self->b, VGPU_IOCTL_SVM_ATTR, &ro), 0);
	EXPECT_EQ(svm_rw(self->a, true, self->buf, &v, sizeof(v), NULL), 0);

	/* a loses access; b keeps its mapping and its access. */
	ASSERT_EQ(svm_read_page(self->b, self->buf, out), 0);
	ASSERT_EQ(st(self->b, &b0), 0);
	ASSERT_EQ(svm_attr(self->a, self->buf, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_NONE, 0), 0);
	ASSERT_EQ(st(self->b, &b1), 0);
	EXPECT_EQ(b1.invalidations, b0.invalidations);
	EXPECT_EQ(svm_read_page(self->a, self->buf, out), -EPERM);
	EXPECT_EQ(svm_read_page(self->b, self->buf, out), 0);
	EXPECT_EQ(((uint64_t *)out)[0], v);

	/* b sets its own access: a's stays none. */
	ASSERT_EQ(svm_attr(self->b, self->buf, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_READ, 0), 0);
	EXPECT_EQ(svm_read_page(self->a, self->buf, out), -EPERM);
	EXPECT_EQ(svm_read_page(self->b, self->buf + page_size, out), 0);
	EXPECT_TRUE(page_is(out, 1, 1));
	EXPECT_EQ(svm_rw(self->b, true, self->buf, &v, sizeof(v), NULL),
		  -EPERM);

	ASSERT_EQ(svm_attr(self->a, self->buf, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	EXPECT_EQ(svm_read_page(self->a, self->buf + page_size, out), 0);
	EXPECT_TRUE(page_is(out, 1, 1));
	free(out);
}

/*
 * Memory on vgpu 0: its peer vgpu 4 maps it where it is, a foreign vgpu
 * (1) gets it back in system memory first; both read what the CPU wrote.
 */
TEST(peer_placement)
{
	int a = vgpu_dev_open(0), p = vgpu_dev_open(4), f = vgpu_dev_open(1);
	struct vgpu_stats s0, s1, s2;
	uint64_t moved = 0;
	size_t i, n = 16;
	char *buf, *out;

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_GE(a, 0);
	ASSERT_GE(p, 0);
	ASSERT_GE(f, 0);
	ASSERT_EQ(join(p, a), 0);
	ASSERT_EQ(join(f, a), 0);
	buf = region(3);
	out = malloc(n * page_size);
	ASSERT_NE(buf, NULL);
	ASSERT_NE(out, NULL);
	ASSERT_EQ(migrate(a, buf, n * page_size, 0, &moved), 0);
	ASSERT_EQ(moved, n);
	ASSERT_EQ(st(a, &s0), 0);

	ASSERT_EQ(svm_rw(p, false, buf, out, n * page_size, NULL), 0);
	for (i = 0; i < n; i++)
		EXPECT_TRUE(page_is(out + i * page_size, 3, i));
	ASSERT_EQ(st(a, &s1), 0);
	EXPECT_EQ(s1.migrations_to_ram, s0.migrations_to_ram);
	EXPECT_GE(s1.dev_pages, n);

	memset(out, 0, n * page_size);
	ASSERT_EQ(svm_rw(f, false, buf, out, n * page_size, NULL), 0);
	for (i = 0; i < n; i++)
		EXPECT_TRUE(page_is(out + i * page_size, 3, i));
	ASSERT_EQ(st(a, &s2), 0);
	EXPECT_GE(s2.migrations_to_ram, s1.migrations_to_ram + n);
	free(out);
	close(f);
	close(p);
	close(a);
	munmap(buf, SZ_2M);
}

/*
 * Memory on vgpu 0 migrated to its peer vgpu 4 moves in one copy: vgpu 4
 * reads it straight from vgpu 0's memory (from_peer), vgpu 0 never copies
 * it out (to_ram unchanged), counts it gone to a peer and holds none of it
 * after. Migrated on to a foreign vgpu (1), it goes through system
 * memory: vgpu 4 copies it out. The CPU reads what it wrote at the end.
 */
TEST(peer_migration)
{
	int a = vgpu_dev_open(0), p = vgpu_dev_open(4), f = vgpu_dev_open(1);
	struct vgpu_stats a0, a1, p0, p1, p2, f0, f1;
	uint64_t moved = 0;
	size_t i, n = 16;
	char *buf;

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_GE(a, 0);
	ASSERT_GE(p, 0);
	ASSERT_GE(f, 0);
	buf = region(5);
	ASSERT_NE(buf, NULL);
	ASSERT_EQ(migrate(a, buf, n * page_size, 0, &moved), 0);
	ASSERT_EQ(moved, n);
	ASSERT_EQ(st(a, &a0), 0);
	ASSERT_EQ(st(p, &p0), 0);
	ASSERT_EQ(st(f, &f0), 0);

	ASSERT_EQ(migrate(p, buf, n * page_size, 0, &moved), 0);
	EXPECT_EQ(moved, n);
	ASSERT_EQ(st(a, &a1), 0);
	ASSERT_EQ(st(p, &p1), 0);
	EXPECT_EQ(p1.migrations_from_peer, p0.migrations_from_peer + n);
	EXPECT_EQ(p1.migrations_to_dev, p0.migrations_to_dev + n);
	EXPECT_EQ(a1.migrations_to_ram, a0.migrations_to_ram);
	EXPECT_EQ(a1.migrations_to_peer, a0.migrations_to_peer + n);
	EXPECT_EQ(a1.dev_pages + n, a0.dev_pages);
	EXPECT_EQ(p1.dev_pages, p0.dev_pages + n);

	ASSERT_EQ(migrate(f, buf, n * page_size, 0, &moved), 0);
	EXPECT_EQ(moved, n);
	ASSERT_EQ(st(p, &p2), 0);
	ASSERT_EQ(st(f, &f1), 0);
	EXPECT_EQ(p2.migrations_to_ram, p1.migrations_to_ram + n);
	EXPECT_EQ(f1.migrations_from_peer, f0.migrations_from_peer);
	for (i = 0; i < n; i++)
		EXPECT_TRUE(page_is(buf + i * page_size, 5, i));
	close(f);
	close(p);
	close(a);
	munmap(buf, SZ_2M);
}

/*
 * A no-fault vgpu beside a fault-mode one: dropping a page suspends the
 * no-fault queues, its restore maps the page back, and both read what the
 * CPU wrote to the new page.
 */
TEST(nofault_beside_fault)
{
	int a = vgpu_dev_open(0), nf = vgpu_dev_open(6);
	struct vgpu_stats s0, s1;
	size_t n = 16;
	char *buf, *out;

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_GE(a, 0);
	ASSERT_GE(nf, 0);
	ASSERT_EQ(join(nf, a), 0);
	buf = region(4);
	out = malloc(page_size);
	ASSERT_NE(buf, NULL);
	ASSERT_NE(out, NULL);
	ASSERT_EQ(svm_attr(nf, buf, n * page_size, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	ASSERT_EQ(svm_read_page(nf, buf + 3 * page_size, out), 0);
	EXPECT_TRUE(page_is(out, 4, 3));
	ASSERT_EQ(svm_read_page(a, buf + 3 * page_size, out), 0);
	ASSERT_EQ(st(nf, &s0), 0);

	/* The page goes (an invalidation), the CPU writes a new one. */
	ASSERT_EQ(madvise(buf + 3 * page_size, page_size, MADV_DONTNEED), 0);
	fill(buf, 3, 1, 5);
	ASSERT_EQ(svm_read_page(nf, buf + 3 * page_size, out), 0);
	EXPECT_TRUE(page_is(out, 5, 3));
	ASSERT_EQ(svm_read_page(a, buf + 3 * page_size, out), 0);
	EXPECT_TRUE(page_is(out, 5, 3));
	ASSERT_EQ(st(nf, &s1), 0);
	EXPECT_GE(s1.suspends, s0.suspends + 1);
	EXPECT_GE(s1.resumes, s0.resumes + 1);
	free(out);
	close(nf);
	close(a);
	munmap(buf, SZ_2M);
}

struct racer {
	int fd;
	unsigned int slot;
	unsigned int rounds;
	unsigned int bad;
	int err;
};

/* Write then read back this racer's own word of every page, many times. */
static void *racer_fn(void *arg)
{
	struct racer *r = arg;
	uint64_t v, got;
	unsigned int i, page;
	int ret;

	for (i = 0; i < r->rounds; i++) {
		page = i % 5;
		v = ((uint64_t)r->slot << 32) | i;
		ret = gpu_rw(r->fd, true, GPU_VA + page * page_size +
			     r->slot * 8, &v, sizeof(v), NULL);
		if (!ret)
			ret = gpu_rw(r->fd, false, GPU_VA + page * page_size +
				     r->slot * 8, &got, sizeof(got), NULL);
		if (ret) {
			r->err = ret;
			return NULL;
		}
		r->bad += got != v;
	}
	return NULL;
}

/*
 * Two vgpus write and read their own words of one object from two
 * threads while the CPU writes a third word and the pages move to vgpu 0's
 * memory and back: every access succeeds and reads back its own value;
 * the CPU sees the GPUs' last ones.
 */
TEST_F(two, concurrent_devices)
{
	struct racer ra = { .fd = self->a, .slot = 1, .rounds = 400 };
	struct racer rb = { .fd = self->b, .slot = 2, .rounds = 400 };
	pthread_t ta, tb;
	unsigned int i;
	uint32_t h;

	ASSERT_EQ(scattered(self->a, self->buf, &h), 0);
	ASSERT_EQ(pthread_create(&ta, NULL, racer_fn, &ra), 0);
	ASSERT_EQ(pthread_create(&tb, NULL, racer_fn, &rb), 0);
	for (i = 0; i < 200; i++) {
		VGPU_STORE(((uint64_t *)self->buf)[3], i);
		/* Pages move under the GPUs; EBUSY is allowed. */
		if (i % 20 == 0)
			migrate(self->a, self->buf, 8 * page_size,
				(i / 20) % 2 ? VGPU_MIGRATE_TO_RAM :
				VGPU_MIGRATE_MIXED, NULL);
		usleep(100);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	EXPECT_EQ(ra.err, 0);
	EXPECT_EQ(rb.err, 0);
	EXPECT_EQ(ra.bad, 0);
	EXPECT_EQ(rb.bad, 0);
	/* Round 399 wrote GPU page 4: CPU page 7. */
	EXPECT_EQ(((uint64_t *)(self->buf + 7 * page_size))[1],
		  (1ULL << 32) | 399);
	EXPECT_EQ(((uint64_t *)(self->buf + 7 * page_size))[2],
		  (2ULL << 32) | 399);
}

TEST_HARNESS_MAIN
