// SPDX-License-Identifier: GPL-2.0
/*
 * B6: migration throughput of 64 MiB, in one boot:
 *   vgpu through gpumirror (its MIGRATE command: sys->dev, dev->peer in one
 *   copy, dev->dev through system memory, dev->sys; and the lib/test_hmm
 *   command on a vgpu node, which reads the migrated pages back like
 *   lib/test_hmm does),
 *   lib/test_hmm (MIGRATE_TO_DEV with that readback, MIGRATE_TO_SYS),
 *   memcpy of the same bytes (the physical limit);
 *   and two threads migrating the same 64 MiB to two vgpus at once, of
 *   two owners (vgpu0 and vgpu1) and peers (vgpu0 and vgpu3): the race
 *   between devices, its time, and the races, busy pages and pages from
 *   the peer the vgpus counted; the data checked after.
 * Prints "@@RESULT {json}" lines: the median of REPS runs each, with their
 * min / median / max.
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
#include <time.h>
#include <unistd.h>

#include <lib/test_hmm_uapi.h>
#include <linux/vgpu.h>

#define SIZE	(64UL << 20)
#define REPS	5

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The times of one operation's runs, in ms. */
struct samples {
	double ms[REPS];
	int n;
};

static void sample(struct samples *s, double t)
{
	if (s->n < REPS)
		s->ms[s->n++] = now_ms() - t;
}

static int cmp_double(const void *a, const void *b);

/* The median of @s, and its min / median / max. */
static void result(const char *impl, const char *op, struct samples *s)
{
	double med;

	qsort(s->ms, s->n, sizeof(s->ms[0]), cmp_double);
	med = s->ms[s->n / 2];
	printf("@@RESULT {\"bench\": \"B6\", \"impl\": \"%s\", ", impl);
	printf("\"op\": \"%s\", \"mib\": %lu, \"ms\": %.3f, ", op,
	       SIZE >> 20, med);
	printf("\"ms_spread\": [%.3f, %.3f, %.3f], ", s->ms[0], med,
	       s->ms[s->n - 1]);
	printf("\"gib_s\": %.3f}\n", (SIZE / (double)(1UL << 30)) / (med / 1e3));
}

static void *map_filled(void)
{
	uint64_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < SIZE / 8; i++)
		p[i] = i * 0x9e3779b97f4a7c15ULL;
	return p;
}

static int check(const uint64_t *p)
{
	size_t i;

	for (i = 0; i < SIZE / 8; i++)
		if (p[i] != i * 0x9e3779b97f4a7c15ULL)
			return -1;
	return 0;
}

static int vgpu_migrate(int fd, void *p, unsigned int flags)
{
	struct vgpu_migrate a = {
		.addr = (uintptr_t)p,
		.len = SIZE,
		.flags = flags,
	};

	if (ioctl(fd, VGPU_IOCTL_MIGRATE, &a))
		return -errno;
	return a.migrated == SIZE / 4096 ? 0 : -EAGAIN;
}

static int hmm_cmd(int fd, unsigned long req, void *p, void *mirror)
{
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)p,
		.ptr = (uintptr_t)mirror,
		.npages = SIZE / 4096,
	};

	return ioctl(fd, req, &c) ? -errno : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int bench_memcpy(void)
{
	void *src = map_filled(), *dst = map_filled();
	struct samples ms = { 0 };
	double t;
	int i;

	if (!src || !dst)
		return -1;
	for (i = 0; i < REPS; i++) {
		t = now_ms();
		memcpy(dst, src, SIZE);
		sample(&ms, t);
	}
	result("memcpy", "copy", &ms);
	munmap(src, SIZE);
	munmap(dst, SIZE);
	return 0;
}

/* Pages vgpu @fd copied straight from a peer's memory, or -1. */
static long long from_peer(int fd)
{
	struct vgpu_stats st;

	if (ioctl(fd, VGPU_IOCTL_STATS, &st))
		return -1;
	return st.migrations_from_peer;
}

/*
 * vgpu's own command: sys -> vgpu0 -> vgpu3 -> vgpu1 -> sys. vgpu0 and
 * vgpu3 are peers (the run's vgpu.peer), so that step is one copy; vgpu1
 * is not, so the next one goes through system memory.
 */
static int bench_vgpu(void)
{
	int fd0 = open("/dev/vgpu0", O_RDWR), fd1 = open("/dev/vgpu1", O_RDWR);
	int fd3 = open("/dev/vgpu3", O_RDWR);
	struct samples to_dev = { 0 }, dev_peer = { 0 }, dev_dev = { 0 };
	struct samples to_ram = { 0 };
	long long peer0 = from_peer(fd3);
	double t;
	void *p = map_filled();
	int i, ret = 0;

	if (fd0 < 0 || fd1 < 0 || fd3 < 0 || !p) {
		fprintf(stderr, "b6: cannot open vgpu0, vgpu1 and vgpu3\n");
		ret = -1;
		goto out;
	}
	for (i = 0; i < REPS && !ret; i++) {
		t = now_ms();
		ret = vgpu_migrate(fd0, p, 0);
		sample(&to_dev, t);
		t = now_ms();
		ret = ret ?: vgpu_migrate(fd3, p, 0);
		sample(&dev_peer, t);
		t = now_ms();
		ret = ret ?: vgpu_migrate(fd1, p, 0);
		sample(&dev_dev, t);
		t = now_ms();
		ret = ret ?: vgpu_migrate(fd1, p, VGPU_MIGRATE_TO_RAM);
		sample(&to_ram, t);
	}
	if (ret || check(p)) {
		fprintf(stderr, "b6: vgpu migration failed (%d)\n", ret);
		ret = -1;
		goto out;
	}
	/*
	 * A peer step that lost a race retries through system memory: say
	 * so, as the row then mixes one copy and two.
	 */
	if (peer0 < 0 ||
	    from_peer(fd3) - peer0 != (long long)REPS * (SIZE / 4096))
		printf("b6: of %lu pages, vgpu3 copied %lld from its peer\n",
		       REPS * (SIZE / 4096), from_peer(fd3) - peer0);
	result("vgpu", "sys_to_dev", &to_dev);
	result("vgpu", "dev_to_peer", &dev_peer);
	result("vgpu", "dev_to_dev", &dev_dev);
	result("vgpu", "dev_to_sys", &to_ram);
out:
	if (p)
		munmap(p, SIZE);
	if (fd0 >= 0)
		close(fd0);
	if (fd1 >= 0)
		close(fd1);
	if (fd3 >= 0)
		close(fd3);
	return ret;
}

/* The lib/test_hmm commands on one node: state of one implementation. */
struct hmm_impl {
	const char *node;
	const char *name;
	int fd;
	void *p;
	void *mirror;
	struct samples to_dev;
	struct samples to_ram;
};

static int hmm_impl_rep(struct hmm_impl *h)
{
	double t;
	int ret;

	t = now_ms();
	ret = hmm_cmd(h->fd, HMM_DMIRROR_MIGRATE_TO_DEV, h->p, h->mirror);
	sample(&h->to_dev, t);
	t = now_ms();
	ret = ret ?: hmm_cmd(h->fd, HMM_DMIRROR_MIGRATE_TO_SYS, h->p,
			     h->mirror);
	sample(&h->to_ram, t);
	return ret;
}

/*
 * MIGRATE_TO_DEV (which reads the pages back into a mirror buffer) and
 * MIGRATE_TO_SYS, answered by a vgpu node and by lib/test_hmm, the runs of
 * the two interleaved so that neither gets the quieter moments.
 */
static int bench_hmm_cmds(void)
{
	struct hmm_impl h[2] = {
		{ .node = "/dev/vgpu2", .name = "vgpu_hmm_cmd" },
		{ .node = "/dev/hmm_dmirror0", .name = "test_hmm" },
	};
	int i, j, ret = 0;

	for (j = 0; j < 2; j++) {
		h[j].fd = open(h[j].node, O_RDWR);
		h[j].p = map_filled();
		h[j].mirror = malloc(SIZE);
		if (h[j].fd < 0 || !h[j].p || !h[j].mirror)
			return -1;
		memset(h[j].mirror, 0, SIZE);
	}
	for (i = 0; i < REPS && !ret; i++)
		for (j = 0; j < 2 && !ret; j++)
			ret = hmm_impl_rep(&h[j]);
	for (j = 0; j < 2; j++) {
		if (ret || check(h[j].p) || check(h[j].mirror)) {
			fprintf(stderr, "b6: %s migration failed (%d)\n",
				h[j].name, ret);
			return -1;
		}
		result(h[j].name, "sys_to_dev_readback", &h[j].to_dev);
		result(h[j].name, "dev_to_sys", &h[j].to_ram);
		munmap(h[j].p, SIZE);
		free(h[j].mirror);
		close(h[j].fd);
	}
	return 0;
}

/* One side of the race: migrate the buffer to one vgpu, pages may split. */
struct race_arm {
	int fd;
	void *p;
	int ret;
	unsigned long long migrated;
	pthread_barrier_t *go;
};

static void *race_fn(void *data)
{
	struct race_arm *r = data;
	struct vgpu_migrate a = {
		.addr = (uintptr_t)r->p,
		.len = SIZE,
		.flags = VGPU_MIGRATE_MIXED,
	};

	pthread_barrier_wait(r->go);
	r->ret = ioctl(r->fd, VGPU_IOCTL_MIGRATE, &a) ? -errno : 0;
	r->migrated = r->ret ? 0 : a.migrated;
	return NULL;
}

/*
 * Two threads migrate the same buffer to vgpu @d0 and to vgpu @d1 at once,
 * REPS rounds; the CPU checks the data after each.
 */
static int bench_race(int d0, int d1)
{
	struct vgpu_stats a[2], b[2];
	struct race_arm arm[2];
	pthread_barrier_t go;
	pthread_t th[2];
	double t, ms[REPS];
	void *p = map_filled();
	int i, j, ret = 0, ebusy = 0;
	unsigned long long moved;
	char node[32];

	if (!p || pthread_barrier_init(&go, NULL, 3))
		return -1;
	for (j = 0; j < 2; j++) {
		snprintf(node, sizeof(node), "/dev/vgpu%d", j ? d1 : d0);
		arm[j].fd = open(node, O_RDWR);
		arm[j].p = p;
		arm[j].go = &go;
		if (arm[j].fd < 0 || ioctl(arm[j].fd, VGPU_IOCTL_STATS, &a[j]))
			return -1;
	}
	for (i = 0; i < REPS && !ret; i++) {
		for (j = 0; j < 2; j++)
			if (pthread_create(&th[j], NULL, race_fn, &arm[j]))
				return -1;
		pthread_barrier_wait(&go);
		t = now_ms();
		for (j = 0, moved = 0; j < 2; j++) {
			pthread_join(th[j], NULL);
			/* Losing to the other device is an answer, not an error. */
			if (arm[j].ret == -EBUSY)
				ebusy++;
			else
				ret = ret ?: arm[j].ret;
			moved += arm[j].migrated;
		}
		ms[i] = now_ms() - t;
		/* Both cannot have lost, and pages must have moved. */
		if (!ret && arm[0].ret && arm[1].ret)
			ret = -EIO;
		if (!ret && !moved)
			ret = -ENODATA;
		/* The CPU reads every page back: the data must be intact. */
		ret = ret ?: check(p);
	}
	qsort(ms, REPS, sizeof(ms[0]), cmp_double);
	for (j = 0; j < 2; j++)
		if (ioctl(arm[j].fd, VGPU_IOCTL_STATS, &b[j]))
			ret = -1;
	if (ret) {
		fprintf(stderr, "b6: migration race failed (%d)\n", ret);
		return -1;
	}
	printf("@@RESULT {\"bench\": \"B6race\", \"vgpus\": [%d, %d], ", d0, d1);
	printf("\"mib\": %lu, \"reps\": %d, ", SIZE >> 20, REPS);
	printf("\"ms\": [%.3f, %.3f, %.3f], \"ebusy\": %d, ", ms[0],
	       ms[REPS / 2], ms[REPS - 1], ebusy);
	printf("\"races\": %llu, \"busy\": %llu, ",
	       (unsigned long long)(b[0].migrate_races - a[0].migrate_races +
				    b[1].migrate_races - a[1].migrate_races),
	       (unsigned long long)(b[0].migrate_busy - a[0].migrate_busy +
				    b[1].migrate_busy - a[1].migrate_busy));
	printf("\"to_dev\": [%llu, %llu], ",
	       (unsigned long long)(b[0].migrations_to_dev -
				    a[0].migrations_to_dev),
	       (unsigned long long)(b[1].migrations_to_dev -
				    a[1].migrations_to_dev));
	printf("\"from_peer\": [%llu, %llu]}\n",
	       (unsigned long long)(b[0].migrations_from_peer -
				    a[0].migrations_from_peer),
	       (unsigned long long)(b[1].migrations_from_peer -
				    a[1].migrations_from_peer));
	pthread_barrier_destroy(&go);
	munmap(p, SIZE);
	close(arm[0].fd);
	close(arm[1].fd);
	return 0;
}

int main(void)
{
	int ret = 0;

	ret |= bench_memcpy();
	ret |= bench_vgpu();
	ret |= bench_hmm_cmds();
	/* Two owners, then two peers (vgpu.peer in scripts/run.sh). */
	ret |= bench_race(0, 1);
	ret |= bench_race(0, 3);
	return ret ? 1 : 0;
}
