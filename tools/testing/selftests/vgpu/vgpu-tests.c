// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of vgpu's own commands (<uapi/linux/vgpu.h>): scattered userptr
 * objects mirrored by gpumirror, read and written by the virtual GPU.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vgpu.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define GPU_VA		BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)

static long page_size;

/* The first vgpu that opens. */
static int vgpu_open(void)
{
	int i, fd;

	for (i = 0; i < 4; i++) {
		fd = vgpu_dev_open(i);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

static void fill(void *p, size_t len, unsigned int seed)
{
	unsigned int *w = p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		w[i] = seed * 2654435761u + i;
}

static bool check(const void *p, size_t len, unsigned int seed)
{
	const unsigned int *w = p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		if (w[i] != seed * 2654435761u + i)
			return false;
	return true;
}

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

FIXTURE(vgpu) {
	int fd;
};

FIXTURE_SETUP(vgpu)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = vgpu_open();
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(vgpu)
{
	close(self->fd);
}

/* Scattered malloc() blocks: one object, read back by the GPU. */
FIXTURE(blocks) {
	int fd;
};

FIXTURE_VARIANT(blocks) {
	unsigned int nblocks;
	unsigned int pages;
};

FIXTURE_VARIANT_ADD(blocks, two) { .nblocks = 2, .pages = 3 };
FIXTURE_VARIANT_ADD(blocks, sixty_four) { .nblocks = 64, .pages = 2 };
FIXTURE_VARIANT_ADD(blocks, four_thousand) { .nblocks = 4100, .pages = 1 };

FIXTURE_SETUP(blocks)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = vgpu_open();
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(blocks)
{
	close(self->fd);
}

TEST_F(blocks, scattered_read_write)
{
	unsigned int n = variant->nblocks, i;
	size_t blen = variant->pages * page_size;
	struct vgpu_range *r = calloc(n, sizeof(*r));
	void **blk = calloc(n, sizeof(*blk));
	char *buf = malloc(blen);
	uint64_t faults;
	uint32_t h;

	ASSERT_NE(r, NULL);
	ASSERT_NE(blk, NULL);
	for (i = 0; i < n; i++) {
		blk[i] = aligned_alloc(page_size, blen);
		ASSERT_NE(blk[i], NULL);
		fill(blk[i], blen, i);
		/* Array order need not be CPU order: reverse it. */
		r[n - 1 - i].addr = (uintptr_t)blk[i];
		r[n - 1 - i].len = blen;
	}
	ASSERT_EQ(obj_create(self->fd, r, n, GPU_VA, 0, &h), 0);
	for (i = 0; i < n; i++) {
		uint64_t va = GPU_VA + (uint64_t)(n - 1 - i) * blen;

		ASSERT_EQ(gpu_rw(self->fd, false, va, buf, blen, &faults), 0);
		ASSERT_TRUE(check(buf, blen, i));
		ASSERT_EQ(faults, 0);
	}
	/* A GPU write lands in the CPU's block. */
	fill(buf, blen, 7777);
	ASSERT_EQ(gpu_rw(self->fd, true, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(blk[n - 1], blen, 7777));
	/* A CPU write invalidates; the GPU faults and sees it. */
	fill(blk[0], blen, 4242);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + (uint64_t)(n - 1) * blen,
			 buf, blen, &faults), 0);
	ASSERT_TRUE(check(buf, blen, 4242));
	ASSERT_EQ(obj_destroy(self->fd, h), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), -EFAULT);
	for (i = 0; i < n; i++)
		free(blk[i]);
	free(blk);
	free(r);
	free(buf);
}

/* Three separately mapped blocks; the test takes one away. */
struct three {
	char *b[3];
	struct vgpu_range r[3];
	uint32_t h;
};

static int three_make(int fd, struct three *t, size_t blen)
{
	int i;

	for (i = 0; i < 3; i++) {
		t->b[i] = map_anon(blen, PROT_READ | PROT_WRITE);
		if (!t->b[i])
			return -ENOMEM;
		fill(t->b[i], blen, 100 + i);
		t->r[i].addr = (uintptr_t)t->b[i];
		t->r[i].len = blen;
	}
	return obj_create(fd, t->r, 3, GPU_VA, 0, &t->h);
}

/* Blocks 0 and 2 must still read correctly, block 1 not at all. */
static bool three_others_ok(int fd, size_t blen, char *buf)
{
	return !gpu_rw(fd, false, GPU_VA, buf, blen, NULL) &&
	       check(buf, blen, 100) &&
	       !gpu_rw(fd, false, GPU_VA + 2 * blen, buf, blen, NULL) &&
	       check(buf, blen, 102) &&
	       gpu_rw(fd, false, GPU_VA + blen, buf, blen, NULL) == -EFAULT;
}

TEST_F(vgpu, munmap_one_block)
{
	size_t blen = 4 * page_size;
	char *buf = malloc(blen);
	struct three t;

	ASSERT_EQ(three_make(self->fd, &t, blen), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + blen, buf, blen, NULL), 0);
	ASSERT_EQ(munmap(t.b[1], blen), 0);
	ASSERT_TRUE(three_others_ok(self->fd, blen, buf));
	free(buf);
}

TEST_F(vgpu, protnone_one_block)
{
	size_t blen = 4 * page_size;
	char *buf = malloc(blen);
	struct three t;

	ASSERT_EQ(three_make(self->fd, &t, blen), 0);
	ASSERT_EQ(mprotect(t.b[1], blen, PROT_NONE), 0);
	ASSERT_TRUE(three_others_ok(self->fd, blen, buf));
	free(buf);
}

/*
 * One block made read-only after the object was made: the GPU still writes
 * the other blocks, reads that one, and its writes to it fail with EPERM
 * (not the whole object, and not EFAULT).
 */
TEST_F(vgpu, read_only_one_block)
{
	size_t blen = 4 * page_size;
	char *buf = malloc(blen);
	uint64_t v = 0xab;
	struct three t;

	ASSERT_NE(buf, NULL);
	ASSERT_EQ(three_make(self->fd, &t, blen), 0);
	ASSERT_EQ(mprotect(t.b[1], blen, PROT_READ), 0);
	EXPECT_EQ(gpu_rw(self->fd, true, GPU_VA + 2 * blen + 8, &v, sizeof(v),
			 NULL), 0);
	EXPECT_EQ(((uint64_t *)t.b[2])[1], v);
	EXPECT_EQ(gpu_rw(self->fd, true, GPU_VA + blen, &v, sizeof(v), NULL),
		  -EPERM);
	EXPECT_EQ(gpu_rw(self->fd, false, GPU_VA + blen, buf, blen, NULL), 0);
	EXPECT_TRUE(check(buf, blen, 101));
	EXPECT_EQ(gpu_rw(self->fd, true, GPU_VA, &v, sizeof(v), NULL), 0);
	EXPECT_EQ(((uint64_t *)t.b[0])[0], v);
	/* Writable again: the GPU writes it again. */
	ASSERT_EQ(mprotect(t.b[1], blen, PROT_READ | PROT_WRITE), 0);
	EXPECT_EQ(gpu_rw(self->fd, true, GPU_VA + blen, &v, sizeof(v), NULL),
		  0);
	EXPECT_EQ(((uint64_t *)t.b[1])[0], v);
	free(buf);
}

/* free() of a large malloc() block unmaps it: same as munmap. */
TEST_F(vgpu, free_one_block)
{
	size_t blen = 1 << 20;
	char *buf = malloc(blen);
	struct vgpu_range r[2];
	char *a, *b, *raw;

	a = map_anon(blen, PROT_READ | PROT_WRITE);
	ASSERT_NE(a, NULL);
	/* Above glibc's mmap threshold: mapped alone, unmapped by free(). */
	raw = malloc(8 << 20);
	ASSERT_NE(raw, NULL);
	b = (char *)(((uintptr_t)raw + page_size - 1) & ~(page_size - 1));
	fill(a, blen, 1);
	fill(b, blen, 2);
	r[0] = (struct vgpu_range){ (uintptr_t)a, blen };
	r[1] = (struct vgpu_range){ (uintptr_t)b, blen };
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + blen, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 2));
	free(raw);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + blen, buf, blen, NULL),
		  -EFAULT);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 1));
	free(buf);
}

/*
 * fork() with the child alive: the parent's write breaks copy-on-write
 * while the child still shares the pages, and the GPU must follow the
 * parent's new pages; neither the parent's nor the GPU's writes may reach
 * the child's copy, which the child checks before it exits.
 */
TEST_F(vgpu, fork_cow)
{
	size_t blen = 4 * page_size;
	char *buf = malloc(blen);
	int go[2], status;
	struct vgpu_range r;
	pid_t pid;
	char *a, c;

	a = map_anon(blen, PROT_READ | PROT_WRITE);
	ASSERT_NE(a, NULL);
	fill(a, blen, 5);
	r = (struct vgpu_range){ (uintptr_t)a, blen };
	ASSERT_EQ(obj_create(self->fd, &r, 1, GPU_VA, 0, NULL), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_EQ(pipe(go), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* Wait until the parent and the GPU wrote theirs. */
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		if (!check(a, blen, 5))
			_exit(3);
		fill(a, blen, 6);
		_exit(check(a, blen, 6) ? 0 : 1);
	}
	/* Shared with the child, write-protected: the GPU reads them. */
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 5));
	/* The parent's write breaks COW: new pages the GPU must follow. */
	fill(a, blen, 7);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 7));
	/* And a GPU write goes to the parent's pages. */
	fill(buf, blen, 8);
	ASSERT_EQ(gpu_rw(self->fd, true, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(a, blen, 8));
	/* The child's copy still holds what was there at fork(). */
	ASSERT_EQ(write(go[1], "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_TRUE(check(a, blen, 8));
	close(go[0]);
	close(go[1]);
	free(buf);
}

TEST_F(vgpu, mremap_block)
{
	size_t blen = 4 * page_size;
	char *buf = malloc(blen);
	struct vgpu_range r[2];
	char *a, *b, *moved;

	a = map_anon(blen, PROT_READ | PROT_WRITE);
	b = map_anon(blen, PROT_READ | PROT_WRITE);
	ASSERT_NE(a, NULL);
	ASSERT_NE(b, NULL);
	fill(a, blen, 1);
	fill(b, blen, 2);
	r[0] = (struct vgpu_range){ (uintptr_t)a, blen };
	r[1] = (struct vgpu_range){ (uintptr_t)b, blen };
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), 0);
	moved = mremap(b, blen, blen, MREMAP_MAYMOVE | MREMAP_FIXED,
		       a + 64 * blen);
	ASSERT_NE(moved, MAP_FAILED);
	/* The object mirrors addresses: b's old range is gone. */
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + blen, buf, blen, NULL),
		  -EFAULT);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 1));
	/* A new object at the new address has the moved data. */
	r[0] = (struct vgpu_range){ (uintptr_t)moved, blen };
	ASSERT_EQ(obj_create(self->fd, r, 1, GPU_VA + (1 << 30), 0, NULL), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + (1 << 30), buf, blen,
			 NULL), 0);
	ASSERT_TRUE(check(buf, blen, 2));
	free(buf);
}

TEST_F(vgpu, read_only_memory)
{
	size_t blen = 2 * page_size;
	char *buf = malloc(blen);
	struct vgpu_range r;
	char *a;

	a = map_anon(blen, PROT_READ | PROT_WRITE);
	ASSERT_NE(a, NULL);
	fill(a, blen, 3);
	ASSERT_EQ(mprotect(a, blen, PROT_READ), 0);
	r = (struct vgpu_range){ (uintptr_t)a, blen };
	ASSERT_EQ(obj_create(self->fd, &r, 1, GPU_VA, 0, NULL), -EPERM);
	ASSERT_EQ(obj_create(self->fd, &r, 1, GPU_VA, VGPU_OBJ_READ_ONLY,
			     NULL), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 3));
	ASSERT_EQ(gpu_rw(self->fd, true, GPU_VA, buf, blen, NULL), -EPERM);
	ASSERT_TRUE(check(a, blen, 3));
	free(buf);
}

/*
 * The same with the pages in the vgpu's own memory: the walk reports them
 * without faulting, read-only as they are, and a writable object must
 * still be refused.
 */
TEST_F(vgpu, read_only_device_memory)
{
	size_t blen = 4 * page_size;
	char *buf = malloc(blen);
	int fd = vgpu_dev_open(0);
	struct vgpu_migrate m;
	struct vgpu_range r;
	char *a;

	ASSERT_GE(fd, 0);
	ASSERT_NE(buf, NULL);
	a = map_anon(blen, PROT_READ | PROT_WRITE);
	ASSERT_NE(a, NULL);
	fill(a, blen, 4);
	m = (struct vgpu_migrate){ .addr = (uintptr_t)a, .len = blen };
	ASSERT_EQ(vgpu_xioctl(fd, VGPU_IOCTL_MIGRATE, &m), 0);
	ASSERT_EQ(m.migrated, blen / page_size);
	ASSERT_EQ(mprotect(a, blen, PROT_READ), 0);
	r = (struct vgpu_range){ (uintptr_t)a, blen };
	ASSERT_EQ(obj_create(fd, &r, 1, GPU_VA, 0, NULL), -EPERM);
	ASSERT_EQ(obj_create(fd, &r, 1, GPU_VA, VGPU_OBJ_READ_ONLY, NULL), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, buf, blen, NULL), 0);
	ASSERT_TRUE(check(buf, blen, 4));
	ASSERT_EQ(gpu_rw(fd, true, GPU_VA, buf, blen, NULL), -EPERM);
	ASSERT_TRUE(check(a, blen, 4));
	close(fd);
	free(buf);
}

TEST_F(vgpu, bad_inputs)
{
	struct vgpu_obj_create c = { 0 };
	struct vgpu_range r[2];
	char buf[64];
	uint32_t h;
	char *a;

	a = map_anon(4 * page_size, PROT_READ | PROT_WRITE);
	ASSERT_NE(a, NULL);
	memset(a, 1, 4 * page_size);
	r[0] = (struct vgpu_range){ (uintptr_t)a, page_size };
	r[1] = (struct vgpu_range){ (uintptr_t)a + 2 * page_size, page_size };

	ASSERT_EQ(obj_create(self->fd, r, 0, GPU_VA, 0, NULL), -ENOENT);
	ASSERT_EQ(obj_create(self->fd, r, 1, GPU_VA - page_size, 0, NULL),
		  -EINVAL);
	ASSERT_EQ(obj_create(self->fd, r, 1, GPU_VA + 1, 0, NULL), -EINVAL);
	ASSERT_EQ(obj_create(self->fd, r, 1, GPU_VA, 1 << 5, NULL), -EINVAL);
	c.ranges = (uintptr_t)r;
	c.nranges = 1;
	c.gpu_va = GPU_VA;
	c.pad = 1;
	ASSERT_EQ(vgpu_xioctl(self->fd, VGPU_IOCTL_OBJ_CREATE, &c), -EINVAL);
	ASSERT_EQ(obj_create(self->fd, (void *)8, 1, GPU_VA, 0, NULL), -EFAULT);

	r[1].addr = (uintptr_t)a + 1;
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -EINVAL);
	r[1].addr = (uintptr_t)a + 2 * page_size;
	r[1].len = 100;
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -EINVAL);
	r[1].len = 0;
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -ENODATA);
	r[1].addr = (uintptr_t)a;
	r[1].len = page_size;
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -EEXIST);
	r[1].addr = -(uint64_t)page_size;
	r[1].len = 2 * page_size;
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -EOVERFLOW);
	r[1].addr = 1ULL << 56;
	r[1].len = page_size;
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -EFAULT);
	ASSERT_EQ(obj_create(self->fd, r, 1, (1ULL << 48) - page_size / 2,
			     0, NULL), -EINVAL);
	r[1] = (struct vgpu_range){ (uintptr_t)a + page_size, 2 * page_size };
	ASSERT_EQ(obj_create(self->fd, r, 2, (1ULL << 48) - 2 * page_size,
			     0, NULL), -ERANGE);
	ASSERT_EQ(obj_create(self->fd, r, 1 << 20, GPU_VA, 0, NULL), -E2BIG);
	/* A block with nothing mapped behind it. */
	ASSERT_EQ(munmap(a + 3 * page_size, page_size), 0);
	r[1] = (struct vgpu_range){ (uintptr_t)a + 3 * page_size, page_size };
	ASSERT_EQ(obj_create(self->fd, r, 2, GPU_VA, 0, NULL), -EFAULT);

	/* GPU VAs already taken. */
	ASSERT_EQ(obj_create(self->fd, r, 1, GPU_VA, 0, &h), 0);
	ASSERT_EQ(obj_create(self->fd, r, 1, GPU_VA, 0, NULL), -EEXIST);
	ASSERT_EQ(obj_destroy(self->fd, h + 1), -ENOENT);
	ASSERT_EQ(obj_destroy(self->fd, 0), -ENOENT);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, 0, NULL), -EINVAL);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA + (1 << 30), buf, 8, NULL),
		  -EFAULT);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, (void *)8, 8, NULL),
		  -EFAULT);
	ASSERT_EQ(obj_destroy(self->fd, h), 0);
	ASSERT_EQ(obj_destroy(self->fd, h), -ENOENT);
	ASSERT_EQ(vgpu_xioctl(self->fd, _IOR(VGPU_IOCTL_BASE, 0x4f, int), buf),
		  -ENOTTY);
}

TEST_F(vgpu, other_process_refused)
{
	struct vgpu_stats st;
	int status;
	pid_t pid;

	ASSERT_EQ(vgpu_xioctl(self->fd, VGPU_IOCTL_STATS, &st), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(vgpu_xioctl(self->fd, VGPU_IOCTL_STATS, &st) == -EPERM ?
		      0 : 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(vgpu, stats_count)
{
	size_t blen = 8 * page_size;
	struct vgpu_stats a, b;
	char *buf = malloc(blen);
	struct vgpu_range r;
	uint64_t faults;
	char *p;

	p = map_anon(blen, PROT_READ | PROT_WRITE);
	ASSERT_NE(p, NULL);
	fill(p, blen, 9);
	r = (struct vgpu_range){ (uintptr_t)p, blen };
	ASSERT_EQ(vgpu_xioctl(self->fd, VGPU_IOCTL_STATS, &a), 0);
	ASSERT_EQ(obj_create(self->fd, &r, 1, GPU_VA, 0, NULL), 0);
	ASSERT_EQ(madvise(p, page_size, MADV_DONTNEED), 0);
	ASSERT_EQ(gpu_rw(self->fd, false, GPU_VA, buf, blen, &faults), 0);
	ASSERT_EQ(faults, 1);
	ASSERT_EQ(vgpu_xioctl(self->fd, VGPU_IOCTL_STATS, &b), 0);
	ASSERT_EQ(b.faults - a.faults, 2);
	ASSERT_GE(b.invalidations - a.invalidations, 1);
	ASSERT_GE(b.tlb_flushes - a.tlb_flushes, 1);
	ASSERT_GE(b.dma_maps - a.dma_maps, 2 * blen / page_size);
	free(buf);
}

TEST_HARNESS_MAIN
