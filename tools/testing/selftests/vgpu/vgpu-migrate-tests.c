// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of migration to vgpu memory through gpumirror: data integrity
 * across system -> device -> device -> system moves and CPU faults, a storm
 * of four devices and CPU writers on the same pages, fork, munmap, process
 * exit and an allocation failure in the middle of a migration.
 *
 * Needs vgpus 0, 1, 4 and 5 with device-private memory (the selftest boot
 * has 2 and 3 device-coherent).
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

#define GPU_VA		BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)
#define NPAGES		64

static const int storm_devs[] = { 0, 1, 4, 5 };
static long page_size;

static int dev_stats(int id, struct vgpu_stats *st)
{
	int fd = vgpu_dev_open(id);
	int ret;

	if (fd < 0)
		return -errno;
	ret = vgpu_xioctl(fd, VGPU_IOCTL_STATS, st);
	close(fd);
	return ret;
}

/* Device pages in use on vgpu @id (the whole device). */
static long dev_pages(int id)
{
	struct vgpu_stats st;

	return dev_stats(id, &st) ? -1 : (long)st.dev_pages;
}

static void fill(uint64_t *p, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++)
		p[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
}

static bool check(const uint64_t *p, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++)
		if (p[i] != (seed ^ (i * 0x9e3779b97f4a7c15ULL)))
			return false;
	return true;
}

FIXTURE(mig) {
	int fd0;
	int fd1;
	long base0;
	long base1;
	size_t len;
	uint64_t *buf;
};

FIXTURE_SETUP(mig)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd0 = vgpu_dev_open(0);
	self->fd1 = vgpu_dev_open(1);
	ASSERT_GE(self->fd0, 0);
	ASSERT_GE(self->fd1, 0);
	self->base0 = dev_pages(0);
	self->base1 = dev_pages(1);
	self->len = NPAGES * page_size;
	self->buf = map_anon_rw(self->len);
	ASSERT_NE(self->buf, NULL);
	fill(self->buf, self->len, 1);
}

FIXTURE_TEARDOWN(mig)
{
	struct vgpu_alloc_limit lim = { .budget = -1 };

	vgpu_xioctl(self->fd0, VGPU_IOCTL_ALLOC_LIMIT, &lim);
	close(self->fd0);
	close(self->fd1);
}

/* sys -> dev0 -> dev1 -> sys and CPU faults, the pattern intact. */
TEST_F(mig, integrity)
{
	struct vgpu_range r = { (uintptr_t)self->buf, self->len };
	struct vgpu_obj_create create = {
		.ranges = (uintptr_t)&r,
		.nranges = 1,
		.gpu_va = GPU_VA,
	};
	struct vgpu_access rd = { 0 };
	uint64_t *gbuf = malloc(self->len);
	uint64_t moved;

	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, &moved), 0);
	ASSERT_EQ(moved, NPAGES);
	ASSERT_EQ(dev_pages(0) - self->base0, NPAGES);

	/* Device to device, through system memory. */
	ASSERT_EQ(migrate(self->fd1, self->buf, self->len, 0, &moved), 0);
	ASSERT_EQ(moved, NPAGES);
	ASSERT_EQ(dev_pages(0), self->base0);
	ASSERT_EQ(dev_pages(1) - self->base1, NPAGES);

	/* vgpu 1 reads its own memory natively through its page table. */
	ASSERT_EQ(vgpu_xioctl(self->fd1, VGPU_IOCTL_OBJ_CREATE, &create), 0);
	rd.gpu_va = GPU_VA;
	rd.ptr = (uintptr_t)gbuf;
	rd.len = self->len;
	ASSERT_EQ(vgpu_xioctl(self->fd1, VGPU_IOCTL_READ, &rd), 0);
	ASSERT_TRUE(check(gbuf, self->len, 1));
	ASSERT_EQ(dev_pages(1) - self->base1, NPAGES);

	/* A GPU write lands in device memory; the CPU faults it back. */
	fill(gbuf, page_size, 2);
	rd.len = page_size;
	ASSERT_EQ(vgpu_xioctl(self->fd1, VGPU_IOCTL_WRITE, &rd), 0);
	ASSERT_TRUE(check(self->buf, page_size, 2));
	/* Back to system memory explicitly. */
	ASSERT_EQ(migrate(self->fd1, self->buf, self->len, VGPU_MIGRATE_TO_RAM,
			  &moved), 0);
	/* The CPU fault brought back page 0 and maybe its neighbours. */
	ASSERT_LE(moved, NPAGES - 1);
	ASSERT_EQ(dev_pages(1), self->base1);
	ASSERT_TRUE(check(self->buf, page_size, 2));
	fill(gbuf, self->len, 1);
	ASSERT_EQ(memcmp(self->buf + page_size / 8, gbuf + page_size / 8,
			 self->len - page_size), 0);
	free(gbuf);
}

/* CPU faults bring every page back: the full pattern survives. */
TEST_F(mig, cpu_fault_back)
{
	uint64_t moved;

	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, &moved), 0);
	ASSERT_EQ(moved, NPAGES);
	ASSERT_TRUE(check(self->buf, self->len, 1));
	ASSERT_EQ(dev_pages(0), self->base0);
	/* Migrating what is already there moves nothing and succeeds. */
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, &moved), 0);
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, &moved), 0);
	ASSERT_EQ(moved, 0);
	ASSERT_EQ(dev_pages(0) - self->base0, NPAGES);
}

TEST_F(mig, fork_cow)
{
	int status;
	pid_t pid;

	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, NULL), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		bool ok = check(self->buf, self->len, 1);

		fill(self->buf, self->len, 3);
		_exit(ok && check(self->buf, self->len, 3) ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_TRUE(check(self->buf, self->len, 1));
	ASSERT_EQ(dev_pages(0), self->base0);
}

TEST_F(mig, munmap_frees_device_pages)
{
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, NULL), 0);
	ASSERT_EQ(dev_pages(0) - self->base0, NPAGES);
	ASSERT_EQ(munmap(self->buf, self->len), 0);
	ASSERT_EQ(dev_pages(0), self->base0);
}

TEST_F(mig, exit_frees_device_pages)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd = vgpu_dev_open(0);
		uint64_t *p = map_anon_rw(self->len);

		fill(p, self->len, 4);
		_exit(migrate(fd, p, self->len, 0, NULL) ? 1 :
		      dev_pages(0) - self->base0 == NPAGES ? 0 : 2);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(dev_pages(0), self->base0);
}

/* Memory runs out half way: all or nothing, no page lost or leaked. */
TEST_F(mig, alloc_failure)
{
	struct vgpu_alloc_limit lim = { .budget = NPAGES / 2 };
	uint64_t moved;

	ASSERT_EQ(vgpu_xioctl(self->fd0, VGPU_IOCTL_ALLOC_LIMIT, &lim), 0);
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, &moved), -ENOMEM);
	ASSERT_EQ(moved, 0);
	ASSERT_EQ(dev_pages(0), self->base0);
	ASSERT_TRUE(check(self->buf, self->len, 1));

	/* Mixed: what fits moves and stays. */
	lim.budget = NPAGES / 2;
	ASSERT_EQ(vgpu_xioctl(self->fd0, VGPU_IOCTL_ALLOC_LIMIT, &lim), 0);
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, VGPU_MIGRATE_MIXED,
			  &moved), 0);
	ASSERT_GT(moved, 0);
	ASSERT_LE(moved, NPAGES / 2);
	ASSERT_EQ(dev_pages(0) - self->base0, (long)moved);
	ASSERT_TRUE(check(self->buf, self->len, 1));
	ASSERT_EQ(dev_pages(0), self->base0);
}

TEST_F(mig, bad_arguments)
{
	ASSERT_EQ(migrate(self->fd0, self->buf, 0, 0, NULL), -EINVAL);
	ASSERT_EQ(migrate(self->fd0, (char *)self->buf + 1, page_size, 0,
			  NULL), -EINVAL);
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 1 << 7, NULL),
		  -EINVAL);
	ASSERT_EQ(munmap((char *)self->buf + page_size, page_size), 0);
	ASSERT_EQ(migrate(self->fd0, self->buf, self->len, 0, NULL), -EINVAL);
	ASSERT_EQ(dev_pages(0), self->base0);
}

/*
 * The storm: four vgpus migrate the same pages to their memory and back
 * while CPU threads write them, for a bounded time.
 */
#define STORM_WRITERS	2
#define STORM_SECONDS	3

struct storm {
	uint64_t *buf;
	size_t len;
	int stop;
	long ok[4];
	long busy[4];
	long other[4];
	int last_err[4];
	long writes[STORM_WRITERS];
	long bad[STORM_WRITERS];
};

struct storm_arg {
	struct storm *s;
	int idx;
};

static void *storm_migrator(void *p)
{
	struct storm_arg *a = p;
	struct storm *s = a->s;
	int fd = vgpu_dev_open(storm_devs[a->idx]);
	unsigned int n = 0;
	int ret;

	if (fd < 0) {
		s->other[a->idx]++;
		return NULL;
	}
	while (!VGPU_LOAD(s->stop)) {
		ret = migrate(fd, s->buf, s->len,
			      n++ % 4 == 3 ? VGPU_MIGRATE_TO_RAM : 0, NULL);
		if (!ret) {
			s->ok[a->idx]++;
		} else if (ret == -EBUSY) {
			s->busy[a->idx]++;
		} else {
			s->other[a->idx]++;
			s->last_err[a->idx] = ret;
		}
	}
	close(fd);
	return NULL;
}

/*
 * Writer @w owns words 2w and 2w + 1 of every page: (n, ~n). Each pass
 * checks the pair it wrote last is still there and whole, then writes n+1.
 */
static void *storm_writer(void *p)
{
	struct storm_arg *a = p;
	struct storm *s = a->s;
	size_t words = page_size / sizeof(uint64_t), pg;
	uint64_t n = 0;

	while (!VGPU_LOAD(s->stop)) {
		for (pg = 0; pg < s->len / page_size; pg++) {
			uint64_t *w = s->buf + pg * words + 2 * a->idx;

			if (VGPU_LOAD(w[0]) != n || VGPU_LOAD(w[1]) != ~n)
				s->bad[a->idx]++;
			VGPU_STORE(w[0], n + 1);
			VGPU_STORE(w[1], ~(n + 1));
		}
		n++;
		s->writes[a->idx]++;
	}
	return NULL;
}

TEST(storm)
{
	pthread_t mt[4], wt[STORM_WRITERS];
	struct storm_arg ma[4], wa[STORM_WRITERS];
	struct vgpu_stats st0[4], st1[4];
	unsigned long long retried;
	struct storm s = { 0 };
	long base[4];
	int i;

	page_size = sysconf(_SC_PAGESIZE);
	s.len = NPAGES * page_size;
	s.buf = map_anon_rw(s.len);
	ASSERT_NE(s.buf, NULL);
	for (i = 0; i < STORM_WRITERS; i++) {
		size_t pg;

		for (pg = 0; pg < NPAGES; pg++) {
			s.buf[pg * page_size / 8 + 2 * i] = 0;
			s.buf[pg * page_size / 8 + 2 * i + 1] = ~0ULL;
		}
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(dev_stats(storm_devs[i], &st0[i]), 0);
		base[i] = st0[i].dev_pages;
	}
	for (i = 0; i < 4; i++) {
		ma[i] = (struct storm_arg){ &s, i };
		ASSERT_EQ(pthread_create(&mt[i], NULL, storm_migrator, &ma[i]), 0);
	}
	for (i = 0; i < STORM_WRITERS; i++) {
		wa[i] = (struct storm_arg){ &s, i };
		ASSERT_EQ(pthread_create(&wt[i], NULL, storm_writer, &wa[i]), 0);
	}
	sleep(STORM_SECONDS);
	VGPU_STORE(s.stop, 1);
	for (i = 0; i < 4; i++)
		pthread_join(mt[i], NULL);
	for (i = 0; i < STORM_WRITERS; i++)
		pthread_join(wt[i], NULL);

	for (i = 0; i < 4; i++) {
		ASSERT_EQ(dev_stats(storm_devs[i], &st1[i]), 0);
		printf("# storm: vgpu%d ok=%ld busy=%ld other=%ld (last %d) retried=%llu\n",
		       storm_devs[i], s.ok[i], s.busy[i], s.other[i],
		       s.last_err[i], (unsigned long long)
		       (st1[i].migrate_races - st0[i].migrate_races));
	}
	for (i = 0; i < STORM_WRITERS; i++)
		printf("# storm: writer%d passes=%ld lost_or_torn=%ld\n", i,
		       s.writes[i], s.bad[i]);
	/*
	 * Every vgpu migrated some (not just -EBUSY each time), and the
	 * writers made some migration miss busy pages and take the
	 * write-locked retry: the path the storm is here for ran.
	 */
	for (i = 0, retried = 0; i < 4; i++) {
		ASSERT_EQ(s.other[i], 0);
		ASSERT_GT(s.ok[i], 0);
		retried += st1[i].migrate_races - st0[i].migrate_races;
	}
	ASSERT_GT(retried, 0);
	for (i = 0; i < STORM_WRITERS; i++) {
		ASSERT_EQ(s.bad[i], 0);
		ASSERT_GT(s.writes[i], 0);
	}
	ASSERT_EQ(munmap(s.buf, s.len), 0);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(dev_pages(storm_devs[i]), base[i]);
}

TEST_HARNESS_MAIN
