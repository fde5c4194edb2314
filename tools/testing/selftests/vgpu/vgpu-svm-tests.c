// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of vgpu's shared virtual memory through gpumirror: fault mode
 * (chunk sizes, partial munmap, preferred location) on vgpu 0, no-fault
 * mode (prefetch, restore after mprotect, fork and munmap while the queue
 * runs) on vgpu 6, which the selftest boot makes a no-fault vgpu.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vgpu.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define SZ_2M		(2UL << 20)
#define FAULT_DEV	0
#define NOFAULT_DEV	6

static long page_size;

/* A 2M-aligned private anonymous region of @len, word i of page p = p. */
static char *region(size_t len)
{
	char *p = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t off;

	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	for (off = 0; off < len; off += page_size)
		*(uint64_t *)(p + off) = off / page_size;
	return p;
}

static uint64_t gpu_word(int fd, char *addr, int *err)
{
	uint64_t v = ~0ULL;

	*err = svm_rw(fd, false, addr, &v, sizeof(v), NULL);
	return v;
}

FIXTURE(svm) {
	int fd;
	int nf;
};

FIXTURE_SETUP(svm)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = vgpu_dev_open(FAULT_DEV);
	self->nf = vgpu_dev_open(NOFAULT_DEV);
	ASSERT_GE(self->fd, 0);
	ASSERT_GE(self->nf, 0);
}

FIXTURE_TEARDOWN(svm)
{
	close(self->fd);
	close(self->nf);
}

/* Fault mode: the chunk a fault makes follows the granularity. */
TEST_F(svm, fault_chunk_sizes)
{
	static const struct { unsigned int gran; size_t chunk; } c[] = {
		{ 9, 2UL << 20 }, { 4, 64UL << 10 }, { 0, 4UL << 10 },
	};
	size_t len = 2 * SZ_2M;
	uint64_t faults;
	unsigned int i;
	char *buf;

	buf = malloc(len);
	ASSERT_NE(buf, NULL);
	for (i = 0; i < 3; i++) {
		char *p = region(len);

		ASSERT_NE(p, NULL);
		ASSERT_EQ(svm_attr(self->fd, p, len, VGPU_SVM_ATTR_GRANULARITY,
				   c[i].gran, 0, 0), 0);
		/* One fault serves the chunk, the next chunk needs another. */
		ASSERT_EQ(svm_rw(self->fd, false, p, buf, c[i].chunk, &faults),
			  0);
		ASSERT_EQ(faults, 1);
		ASSERT_EQ(svm_rw(self->fd, false, p, buf, 2 * c[i].chunk,
				 &faults), 0);
		ASSERT_EQ(faults, 1);
		ASSERT_EQ(*(uint64_t *)(buf + c[i].chunk),
			  c[i].chunk / page_size);
		/* A GPU write reaches the CPU. */
		*(uint64_t *)buf = 4242;
		ASSERT_EQ(svm_rw(self->fd, true, p, buf, 8, NULL), 0);
		ASSERT_EQ(*(uint64_t *)p, 4242);
	}
	free(buf);
}

/* Fault mode: munmap in the middle of a 2M range; the rest refaults. */
TEST_F(svm, fault_partial_munmap)
{
	char *p = region(SZ_2M), *hole;
	uint64_t faults;
	int err;

	ASSERT_NE(p, NULL);
	hole = p + SZ_2M / 2;
	ASSERT_EQ(gpu_word(self->fd, hole, &err), SZ_2M / 2 / page_size);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(munmap(hole, 16 * page_size), 0);
	ASSERT_EQ(gpu_word(self->fd, hole, &err), ~0ULL);
	ASSERT_EQ(err, -EFAULT);
	ASSERT_EQ(svm_rw(self->fd, false, p, &faults, 8, NULL), 0);
	ASSERT_EQ(gpu_word(self->fd, hole + 16 * page_size, &err),
		  SZ_2M / 2 / page_size + 16);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(gpu_word(self->fd, p + SZ_2M - page_size, &err),
		  SZ_2M / page_size - 1);
	ASSERT_EQ(err, 0);
}

/* Fault mode: a range preferring the vgpu's memory is migrated. */
TEST_F(svm, fault_preferred_location)
{
	struct vgpu_stats a, b;
	char *p = region(SZ_2M);
	int err;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(svm_attr(self->fd, p, SZ_2M, VGPU_SVM_ATTR_PREFERRED |
			   VGPU_SVM_ATTR_GRANULARITY, 4, 0, 1), 0);
	ASSERT_EQ(stats(self->fd, &a), 0);
	ASSERT_EQ(gpu_word(self->fd, p + 3 * page_size, &err), 3);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(stats(self->fd, &b), 0);
	ASSERT_EQ(b.dev_pages - a.dev_pages, 16);
	ASSERT_EQ(b.migrations_to_dev - a.migrations_to_dev, 16);
	/* The CPU gets it back, data intact. */
	ASSERT_EQ(*(uint64_t *)(p + 5 * page_size), 5);
	ASSERT_EQ(stats(self->fd, &b), 0);
	ASSERT_EQ(b.dev_pages, a.dev_pages);
}

/* No-fault mode: nothing works before the prefetch; attributes grant it. */
TEST_F(svm, nofault_prefetch)
{
	char *p = region(SZ_2M);
	uint64_t faults, buf[4];
	struct vgpu_stats a, b;
	int err;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(gpu_word(self->nf, p, &err), ~0ULL);
	ASSERT_EQ(err, -EFAULT);
	ASSERT_EQ(svm_attr(self->nf, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	ASSERT_EQ(svm_rw(self->nf, false, p + page_size, buf, 8, &faults), 0);
	ASSERT_EQ(faults, 0);
	ASSERT_EQ(buf[0], 1);
	/*
	 * Access none: revoked at once, and the restore gives the range up
	 * (the device is told); the memory itself is untouched.
	 */
	ASSERT_EQ(stats(self->nf, &a), 0);
	ASSERT_EQ(svm_attr(self->nf, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_NONE, 0), 0);
	ASSERT_EQ(gpu_word(self->nf, p + page_size, &err), ~0ULL);
	ASSERT_EQ(err, -EFAULT);
	ASSERT_EQ(stats(self->nf, &b), 0);
	ASSERT_GE(b.restore_failed - a.restore_failed, 1);
	ASSERT_EQ(*(uint64_t *)(p + page_size), 1);
}

/*
 * Fault mode: mprotect() of a neighbouring page splits the VMA under a 2M
 * range. A GPU write to the page that stayed writable must succeed, and a
 * read next to a PROT_NONE page too; only the protected page refuses.
 */
TEST_F(svm, fault_neighbour_mprotect)
{
	char *p = region(SZ_2M);
	uint64_t v = 0x5eed0001, got;
	int err;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(svm_rw(self->fd, true, p, &v, sizeof(v), NULL), 0);
	ASSERT_EQ(mprotect(p + page_size, page_size, PROT_READ), 0);
	v = 0x5eed0002;
	ASSERT_EQ(svm_rw(self->fd, true, p, &v, sizeof(v), NULL), 0);
	ASSERT_EQ(*(uint64_t *)p, v);
	ASSERT_EQ(svm_rw(self->fd, true, p + page_size, &v, sizeof(v), NULL),
		  -EPERM);
	ASSERT_EQ(gpu_word(self->fd, p + page_size, &err), 1);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(mprotect(p + 3 * page_size, page_size, PROT_NONE), 0);
	got = gpu_word(self->fd, p + 2 * page_size, &err);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(got, 2);
	v = 0x5eed0003;
	ASSERT_EQ(svm_rw(self->fd, true, p + 4 * page_size, &v, sizeof(v),
			 NULL), 0);
	ASSERT_EQ(*(uint64_t *)(p + 4 * page_size), v);
	ASSERT_EQ(svm_rw(self->fd, false, p + 3 * page_size, &v, sizeof(v),
			 NULL), -EFAULT);
	munmap(p, SZ_2M);
}

struct mig_storm {
	char *p;
	size_t len;
	int fds[3];
	int stop;
	unsigned long migrations;
};

/* Move the pages between two vgpus' memories and system memory. */
static void *mig_storm_fn(void *arg)
{
	struct mig_storm *m = arg;
	unsigned int i = 0;

	while (!VGPU_LOAD(m->stop)) {
		struct vgpu_migrate a = {
			.addr = (uintptr_t)m->p,
			.len = m->len,
			.flags = VGPU_MIGRATE_MIXED,
		};
		unsigned int k = i++ % 3;

		if (k == 2)
			a.flags |= VGPU_MIGRATE_TO_RAM;
		if (!vgpu_xioctl(m->fds[k], VGPU_IOCTL_MIGRATE, &a))
			VGPU_STORE(m->migrations, m->migrations + 1);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Fault mode: GPU writes and reads while another thread keeps migrating
 * the same pages (to a peer vgpu, to a foreign one, back): every access
 * succeeds and reads what was written last, by the GPU or the CPU. The
 * loop runs until both sides have done their share, at least
 * STORM_ACCESSES accesses and as many migrations, however long that takes
 * up to a bound of 180 s that only starvation reaches: an access that the
 * migrations starve for good fails the test, not a rate (under TCG with
 * DMA-API debugging an access takes from 10 ms to 2 s). The rate and the
 * slowest access are printed.
 */
#define STORM_ACCESSES	32
TEST_F_TIMEOUT(svm, fault_access_during_migration, 240)
{
	struct mig_storm m = { .len = 64 * page_size };
	unsigned int i, page, errors = 0, wrong = 0;
	double start, t0, slowest = 0;
	uint64_t v, got, faults = 0, f;
	pthread_t t;
	int err;

	m.p = region(m.len);
	ASSERT_NE(m.p, NULL);
	m.fds[0] = vgpu_dev_open(4);	/* a peer of vgpu 0 */
	m.fds[1] = vgpu_dev_open(5);	/* a peer of vgpu 1 */
	m.fds[2] = m.fds[0];
	ASSERT_GE(m.fds[0], 0);
	ASSERT_GE(m.fds[1], 0);
	ASSERT_EQ(pthread_create(&t, NULL, mig_storm_fn, &m), 0);
	start = now_s();
	for (i = 0; (i < STORM_ACCESSES ||
		     VGPU_LOAD(m.migrations) < STORM_ACCESSES) &&
		    now_s() - start < 180; i++) {
		page = (i * 7919) % 64;
		v = ((uint64_t)i << 16) | page;
		t0 = now_s();
		f = 0;
		if (i % 3 == 2) {
			*(uint64_t *)(m.p + page * page_size) = v;
		} else if (svm_rw(self->fd, true, m.p + page * page_size, &v,
				  sizeof(v), &f)) {
			errors++;
			continue;
		}
		faults += f;
		got = gpu_word(self->fd, m.p + page * page_size, &err);
		errors += !!err;
		wrong += !err && got != v;
		wrong += *(uint64_t *)(m.p + page * page_size) != v;
		t0 = now_s() - t0;
		if (t0 > slowest)
			slowest = t0;
	}
	VGPU_STORE(m.stop, 1);
	pthread_join(t, NULL);
	printf("# %u accesses (%llu write faults), %lu migrations in %.1f s, ",
	       i, (unsigned long long)faults, m.migrations, now_s() - start);
	printf("slowest access %.3f s\n", slowest);
	EXPECT_EQ(errors, 0);
	EXPECT_EQ(wrong, 0);
	EXPECT_GE(m.migrations, STORM_ACCESSES);
	EXPECT_GE(i, STORM_ACCESSES);
	close(m.fds[0]);
	close(m.fds[1]);
	munmap(m.p, m.len);
}

/* No-fault mode: mprotect suspends; the restore maps it back. */
TEST_F(svm, nofault_restore_mprotect)
{
	struct vgpu_stats a, b;
	char *p = region(SZ_2M);
	int err;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(svm_attr(self->nf, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	ASSERT_EQ(stats(self->nf, &a), 0);
	ASSERT_EQ(mprotect(p, SZ_2M, PROT_READ), 0);
	ASSERT_EQ(gpu_word(self->nf, p + 7 * page_size, &err), 7);
	ASSERT_EQ(err, 0);
	/* Read-only now: the restore mapped it read-only. */
	ASSERT_EQ(svm_rw(self->nf, true, p, &a, 8, NULL), -EFAULT);
	ASSERT_EQ(stats(self->nf, &b), 0);
	ASSERT_GE(b.suspends - a.suspends, 1);
	ASSERT_EQ(b.resumes - a.resumes, b.suspends - a.suspends);
	ASSERT_EQ(b.restore_failed, a.restore_failed);
	ASSERT_GT(b.restore_ns, a.restore_ns);
}

/*
 * No-fault mode: mprotect() of one page splits the VMA under a kept 2M
 * range. The restore maps the pages around it writable again (the range is
 * remade to fit the VMAs), and only that page read-only.
 */
TEST_F(svm, nofault_restore_neighbour_mprotect)
{
	char *p = region(SZ_2M);
	uint64_t v = 0x5eed0101;
	int err;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(svm_attr(self->nf, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	ASSERT_EQ(mprotect(p + page_size, page_size, PROT_READ), 0);
	ASSERT_EQ(svm_rw(self->nf, true, p, &v, sizeof(v), NULL), 0);
	ASSERT_EQ(*(uint64_t *)p, v);
	v++;
	ASSERT_EQ(svm_rw(self->nf, true, p + 2 * page_size, &v, sizeof(v),
			 NULL), 0);
	ASSERT_EQ(*(uint64_t *)(p + 2 * page_size), v);
	ASSERT_EQ(gpu_word(self->nf, p + page_size, &err), 1);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(svm_rw(self->nf, true, p + page_size, &v, sizeof(v), NULL),
		  -EFAULT);
	ASSERT_EQ(*(uint64_t *)(p + page_size), 1);
	munmap(p, SZ_2M);
}

/* No-fault mode: partial munmap keeps the rest mapped. */
TEST_F(svm, nofault_partial_munmap)
{
	char *p = region(SZ_2M), *hole;
	int err;

	ASSERT_NE(p, NULL);
	hole = p + SZ_2M / 2;
	ASSERT_EQ(svm_attr(self->nf, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	ASSERT_EQ(munmap(hole, 16 * page_size), 0);
	ASSERT_EQ(gpu_word(self->nf, hole - page_size, &err),
		  SZ_2M / 2 / page_size - 1);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(gpu_word(self->nf, hole + 16 * page_size, &err),
		  SZ_2M / 2 / page_size + 16);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(gpu_word(self->nf, hole, &err), ~0ULL);
	ASSERT_EQ(err, -EFAULT);
	ASSERT_EQ(gpu_word(self->nf, p, &err), 0);
	ASSERT_EQ(err, 0);
}

/*
 * No-fault mode, the queue running: a GPU reader thread reads one word
 * while the CPU forks (write-protecting the page) and writes it (breaking
 * copy-on-write: a new page each time). The GPU must never go backwards
 * and must end on the last value.
 */
struct reader {
	int fd;
	uint64_t *word;
	int stop;
	long reads;
	long backwards;
	long errors;
	uint64_t last;
};

static void *gpu_reader(void *arg)
{
	struct reader *r = arg;
	uint64_t v;
	int err;

	while (!VGPU_LOAD(r->stop)) {
		v = gpu_word(r->fd, (char *)r->word, &err);
		if (err) {
			r->errors++;
			continue;
		}
		if (v < r->last)
			r->backwards++;
		r->last = v;
		r->reads++;
	}
	return NULL;
}

TEST_F(svm, nofault_fork_while_running)
{
	struct reader r = { .fd = self->nf };
	struct vgpu_stats a, b;
	pthread_t t;
	int i, err, status;
	char *p = region(SZ_2M);
	pid_t pid;

	ASSERT_NE(p, NULL);
	r.word = (uint64_t *)(p + 9 * page_size);
	*r.word = 0;
	ASSERT_EQ(svm_attr(self->nf, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_RW, 0), 0);
	ASSERT_EQ(stats(self->nf, &a), 0);
	ASSERT_EQ(pthread_create(&t, NULL, gpu_reader, &r), 0);
	for (i = 1; i <= 20; i++) {
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid)
			_exit(0);
		/* Copy-on-write broken: the word moves to a new page. */
		VGPU_STORE(*r.word, i);
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		usleep(2000);
	}
	usleep(20000);
	VGPU_STORE(r.stop, 1);
	pthread_join(t, NULL);
	/* The last suspend's restore may still be on its way: up to 30 s. */
	for (i = 0; i < 3000; i++) {
		ASSERT_EQ(stats(self->nf, &b), 0);
		if (b.resumes - a.resumes == b.suspends - a.suspends)
			break;
		usleep(10000);
	}
	printf("# reads=%ld backwards=%ld errors=%ld suspends=%llu resumes=%llu\n",
	       r.reads, r.backwards, r.errors,
	       (unsigned long long)(b.suspends - a.suspends),
	       (unsigned long long)(b.resumes - a.resumes));
	ASSERT_GT(r.reads, 0);
	ASSERT_EQ(r.backwards, 0);
	ASSERT_EQ(r.errors, 0);
	ASSERT_GE(b.suspends - a.suspends, 1);
	ASSERT_EQ(b.resumes - a.resumes, b.suspends - a.suspends);
	ASSERT_EQ(gpu_word(self->nf, (char *)r.word, &err), 20);
	ASSERT_EQ(err, 0);
}

/* Bad SVM arguments. */
TEST_F(svm, bad_arguments)
{
	char *p = region(SZ_2M);
	uint64_t v;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(svm_rw(self->fd, false, p, &v, 0, NULL), -EINVAL);
	ASSERT_EQ(svm_rw(self->fd, false, (void *)(1UL << 47), &v, 8, NULL),
		  -EINVAL);
	ASSERT_EQ(svm_attr(self->fd, p + 1, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0, 1,
			   0), -EINVAL);
	ASSERT_EQ(svm_attr(self->fd, p, SZ_2M, 1 << 9, 0, 1, 0), -EINVAL);
	ASSERT_EQ(svm_attr(self->fd, p, SZ_2M, VGPU_SVM_ATTR_GRANULARITY, 19,
			   0, 0), -EINVAL);
	ASSERT_EQ(svm_attr(self->fd, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0, 3, 0),
		  -EINVAL);
	/* Access none: the GPU may not touch it. */
	ASSERT_EQ(svm_attr(self->fd, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_NONE, 0), 0);
	ASSERT_EQ(svm_rw(self->fd, false, p, &v, 8, NULL), -EPERM);
	ASSERT_EQ(svm_attr(self->fd, p, SZ_2M, VGPU_SVM_ATTR_ACCESS, 0,
			   VGPU_SVM_ACCESS_READ, 0), 0);
	ASSERT_EQ(svm_rw(self->fd, false, p, &v, 8, NULL), 0);
	ASSERT_EQ(svm_rw(self->fd, true, p, &v, 8, NULL), -EPERM);
}

TEST_HARNESS_MAIN
