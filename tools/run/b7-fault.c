// SPDX-License-Identifier: GPL-2.0
/*
 * B7: GPU fault service time for 4K and 2M chunks, vgpu through gpumirror
 * (SVM_ACCESS, fault mode) against lib/test_hmm's fault path (READ) in the
 * same boot; and the restore latency of a no-fault vgpu after an
 * invalidation. Each access reads the whole chunk; the fault service time
 * of a chunk is its first access minus a second one (already mapped), and
 * each arm prints its min / median / max over the chunks, the two arms
 * interleaved chunk by chunk. Prints "@@RESULT {json}" lines.
 */

#include <errno.h>
#include <fcntl.h>
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

#define SZ_4K		4096UL
#define SZ_1M		(1UL << 20)
#define SZ_2M		(2UL << 20)
#define NCHUNK		64
#define NRESTORE	50
#define NOFAULT_VGPU	"/dev/vgpu7"
/* region() fills every byte with 1 */
#define FILL		0x0101010101010101ULL

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[n / 2];
}

/*
 * A populated, 2M-aligned region of @n chunks of @chunk bytes; *@map and
 * *@maplen, if given, get the whole mapping around it.
 */
static char *region_map(size_t chunk, int n, char **map, size_t *maplen)
{
	size_t len = chunk * n;
	char *m = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (m == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)m + SZ_2M - 1) & ~(SZ_2M - 1));
	memset(p, 1, len);
	if (map) {
		*map = m;
		*maplen = len + SZ_2M;
	}
	return p;
}

static char *region(size_t chunk, int n)
{
	return region_map(chunk, n, NULL, NULL);
}

/* A GPU read of [@addr, @addr + @len); *@faults: device faults it took */
static int vgpu_read_faults(int fd, char *addr, void *buf, size_t len,
			    uint64_t *faults)
{
	struct vgpu_svm_access a = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.len = len,
	};

	if (ioctl(fd, VGPU_IOCTL_SVM_ACCESS, &a))
		return -errno;
	*faults = a.faults;
	return 0;
}

static int vgpu_read(int fd, char *addr, void *buf, size_t len)
{
	uint64_t faults;

	return vgpu_read_faults(fd, addr, buf, len, &faults);
}

static int hmm_read_faults(int fd, char *addr, void *buf, size_t len,
			   uint64_t *faults)
{
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.npages = len / SZ_4K,
	};

	if (ioctl(fd, HMM_DMIRROR_READ, &c))
		return -errno;
	*faults = c.faults;
	return 0;
}

typedef int (*read_fn)(int fd, char *addr, void *buf, size_t len,
		       uint64_t *faults);

/* One side of the comparison: a device node and how to read through it. */
struct arm {
	const char *impl;
	const char *node;
	read_fn rd;
	unsigned int gran;	/* vgpu migration granularity; 32: none */
	int fd;
	char *p, *map;
	size_t maplen;
	double first[NCHUNK], hit[NCHUNK], fault[NCHUNK], refault[NCHUNK];
};

static int arm_open(struct arm *a, size_t chunk)
{
	a->fd = open(a->node, O_RDWR);
	a->p = region_map(chunk, NCHUNK, &a->map, &a->maplen);
	if (a->fd < 0 || !a->p)
		return -1;
	if (a->gran < 32) {
		struct vgpu_svm_attr attr = {
			.start = (uintptr_t)a->p,
			.len = chunk * NCHUNK,
			.mask = VGPU_SVM_ATTR_GRANULARITY,
			.granularity = a->gran,
		};

		if (ioctl(a->fd, VGPU_IOCTL_SVM_ATTR, &attr))
			return -1;
	}
	return 0;
}

/* Let the device's deferred work (vgpu: the release of stale sets) run. */
static void settle(void)
{
	usleep(20000);
}

/* Chunk @i of @a: the first access (fault + copy), then the second (copy). */
static int arm_fault(struct arm *a, int i, size_t chunk, void *buf)
{
	uint64_t f1, f2;
	double t;
	int ret;

	t = now_us();
	ret = a->rd(a->fd, a->p + i * chunk, buf, chunk, &f1);
	a->first[i] = now_us() - t;
	if (ret)
		return ret;
	t = now_us();
	ret = a->rd(a->fd, a->p + i * chunk, buf, chunk, &f2);
	a->hit[i] = now_us() - t;
	a->fault[i] = a->first[i] - a->hit[i];
	if (ret)
		return ret;
	/* Each access must take the device faults it is timed for. */
	if (!f1 || f2) {
		fprintf(stderr, "b7: %s chunk %d: %llu/%llu faults on the "
			"first/second access, want >0/0\n", a->impl, i,
			(unsigned long long)f1, (unsigned long long)f2);
		return -EPROTO;
	}
	return 0;
}

/*
 * Chunk @i of @a once more, after an invalidation that frees no page: an
 * mprotect() round trip of the whole mapping (its one VMA never splits,
 * so the vgpu's range stays) and a pause for deferred work (vgpu: the
 * release of the stale sets). The device's mapping is rebuilt, not the
 * range nor its page tables. A pass of its own after every first access:
 * the round trip's TLB flush would make the next chunk's first access cold.
 */
static int arm_refault(struct arm *a, int i, size_t chunk, void *buf)
{
	uint64_t f;
	double t;
	int ret;

	if (mprotect(a->map, a->maplen, PROT_READ) ||
	    mprotect(a->map, a->maplen, PROT_READ | PROT_WRITE))
		return -errno;
	settle();
	t = now_us();
	ret = a->rd(a->fd, a->p + i * chunk, buf, chunk, &f);
	a->refault[i] = now_us() - t - a->hit[i];
	if (ret)
		return ret;
	if (!f) {
		fprintf(stderr, "b7: %s chunk %d: no fault after the "
			"invalidation\n", a->impl, i);
		return -EPROTO;
	}
	return 0;
}

/* min / median / max of @v (sorted in place) */
static void spread(char *out, size_t len, double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	snprintf(out, len, "[%.1f, %.1f, %.1f]", v[0], v[n / 2], v[n - 1]);
}

static void arm_print(struct arm *a, size_t chunk)
{
	char first[64], hit[64], fault[64], refault[64];

	spread(first, sizeof(first), a->first, NCHUNK);
	spread(hit, sizeof(hit), a->hit, NCHUNK);
	spread(fault, sizeof(fault), a->fault, NCHUNK);
	spread(refault, sizeof(refault), a->refault, NCHUNK);
	printf("@@RESULT {\"bench\": \"B7\", \"impl\": \"%s\", \"chunk\": \"%s\", "
	       "\"first_us\": %s, \"hit_us\": %s, \"fault_us\": %s, "
	       "\"refault_us\": %s}\n",
	       a->impl, chunk == SZ_4K ? "4K" : "2M", first, hit, fault,
	       refault);
}

/*
 * The vgpu and lib/test_hmm, chunk by chunk: chunk i of one arm, then
 * chunk i of the other, the arm that goes first alternating, so that
 * neither sees a quieter machine. Each arm reports the same statistic: the
 * per-chunk fault time (first access - second access of that chunk), its
 * min / median / max over the chunks.
 */
static int bench_chunks(struct arm *x, struct arm *y, size_t chunk)
{
	struct arm *arms[2] = { x, y };
	void *buf = malloc(chunk);
	int i, k, ret = 0;

	x->fd = y->fd = -1;
	x->map = y->map = NULL;
	if (!buf || arm_open(x, chunk) || arm_open(y, chunk)) {
		fprintf(stderr, "b7: cannot set up %s / %s\n", x->node,
			y->node);
		ret = -1;
		goto out;
	}
	for (i = 0; i < NCHUNK && !ret; i++)
		for (k = 0; k < 2 && !ret; k++) {
			struct arm *a = arms[(i + k) & 1];

			ret = arm_fault(a, i, chunk, buf);
			if (ret)
				fprintf(stderr, "b7: %s %zu fault failed (%d)\n",
					a->impl, chunk, ret);
		}
	for (i = 0; i < NCHUNK && !ret; i++)
		for (k = 0; k < 2 && !ret; k++) {
			struct arm *a = arms[(i + k) & 1];

			ret = arm_refault(a, i, chunk, buf);
			if (ret)
				fprintf(stderr, "b7: %s %zu refault failed "
					"(%d)\n", a->impl, chunk, ret);
		}
	if (!ret) {
		arm_print(x, chunk);
		arm_print(y, chunk);
	}
out:
	for (k = 0; k < 2; k++) {
		if (arms[k]->fd >= 0)
			close(arms[k]->fd);
		if (arms[k]->map)
			munmap(arms[k]->map, arms[k]->maplen);
	}
	free(buf);
	return ret ? -1 : 0;
}

/* No-fault vgpu: mprotect twice, then an access that waits for resume. */
static int bench_restore(void)
{
	struct vgpu_svm_attr attr = { .mask = VGPU_SVM_ATTR_ACCESS,
				      .access = VGPU_SVM_ACCESS_RW };
	double user[NRESTORE], t;
	struct vgpu_stats a, b;
	int fd = open(NOFAULT_VGPU, O_RDWR), i;
	char *p = region(SZ_2M, 1);
	uint64_t v;

	if (fd < 0 || !p)
		return -1;
	attr.start = (uintptr_t)p;
	attr.len = SZ_2M;
	if (ioctl(fd, VGPU_IOCTL_SVM_ATTR, &attr) ||
	    ioctl(fd, VGPU_IOCTL_STATS, &a))
		return -1;
	for (i = 0; i < NRESTORE; i++) {
		if (mprotect(p, SZ_2M, PROT_READ) ||
		    mprotect(p, SZ_2M, PROT_READ | PROT_WRITE))
			return -1;
		t = now_us();
		if (vgpu_read(fd, p + 4 * SZ_4K, &v, sizeof(v)))
			return -1;
		user[i] = now_us() - t;
	}
	if (ioctl(fd, VGPU_IOCTL_STATS, &b) || b.resumes == a.resumes)
		return -1;
	printf("@@RESULT {\"bench\": \"B7\", \"impl\": \"vgpu_nofault\", "
	       "\"op\": \"restore\", \"restores\": %llu, \"kernel_us\": %.1f, "
	       "\"user_wait_us\": %.1f}\n",
	       (unsigned long long)(b.resumes - a.resumes),
	       (b.restore_ns - a.restore_ns) / 1e3 / (b.resumes - a.resumes),
	       median(user, NRESTORE));
	close(fd);
	return 0;
}

/*
 * No-fault vgpu, partial munmap: one 4K page in the middle of a mapped
 * 2 MiB range goes away; the rest must be mapped back (an access waits for
 * the resume), and the GPU must no longer reach the unmapped page.
 */
static int bench_partial_munmap(void)
{
	struct vgpu_svm_attr attr = { .mask = VGPU_SVM_ATTR_ACCESS,
				      .access = VGPU_SVM_ACCESS_RW };
	int fd = open(NOFAULT_VGPU, O_RDWR), i, refused = 0;
	double user[NRESTORE], t;
	struct vgpu_stats a, b;
	uint64_t v;
	char *p;

	if (fd < 0 || ioctl(fd, VGPU_IOCTL_STATS, &a))
		return -1;
	for (i = 0; i < NRESTORE; i++) {
		p = region(SZ_2M, 1);
		if (!p)
			return -1;
		attr.start = (uintptr_t)p;
		attr.len = SZ_2M;
		if (ioctl(fd, VGPU_IOCTL_SVM_ATTR, &attr) ||
		    vgpu_read(fd, p + 4 * SZ_4K, &v, sizeof(v)) ||
		    munmap(p + SZ_1M, SZ_4K))
			return -1;
		t = now_us();
		if (vgpu_read(fd, p + 4 * SZ_4K, &v, sizeof(v)) || v != FILL)
			return -1;
		user[i] = now_us() - t;
		/* Both sides of the hole are back, with the right data. */
		if (vgpu_read(fd, p + SZ_1M + SZ_4K, &v, sizeof(v)) ||
		    v != FILL ||
		    vgpu_read(fd, p + SZ_2M - sizeof(v), &v, sizeof(v)) ||
		    v != FILL)
			return -1;
		/* The hole itself: nothing left to reach. */
		refused += vgpu_read(fd, p + SZ_1M, &v, sizeof(v)) == -EFAULT;
		munmap(p, SZ_2M);
	}
	if (ioctl(fd, VGPU_IOCTL_STATS, &b) ||
	    b.resumes - a.resumes < NRESTORE || refused != NRESTORE) {
		fprintf(stderr, "b7: partial munmap: %d/%d hole reads refused, "
			"%llu resumes\n", refused, NRESTORE,
			(unsigned long long)(b.resumes - a.resumes));
		return -1;
	}
	printf("@@RESULT {\"bench\": \"B7\", \"impl\": \"vgpu_nofault\", "
	       "\"op\": \"partial_munmap\", \"rounds\": %d, "
	       "\"restores\": %llu, \"kernel_us\": %.1f, "
	       "\"user_wait_us\": %.1f, \"hole_reads_refused\": %d}\n",
	       NRESTORE, (unsigned long long)(b.resumes - a.resumes),
	       (b.restore_ns - a.restore_ns) / 1e3 / (b.resumes - a.resumes),
	       median(user, NRESTORE), refused);
	close(fd);
	return 0;
}

int main(void)
{
	int ret = 0;

	struct arm vgpu4k = { "vgpu", "/dev/vgpu0", vgpu_read_faults, 0 };
	struct arm hmm4k = { "test_hmm", "/dev/hmm_dmirror0", hmm_read_faults,
			       32 };
	struct arm vgpu2m = { "vgpu", "/dev/vgpu1", vgpu_read_faults, 9 };
	struct arm hmm2m = { "test_hmm", "/dev/hmm_dmirror1", hmm_read_faults,
			       32 };

	ret |= bench_chunks(&vgpu4k, &hmm4k, SZ_4K);
	ret |= bench_chunks(&vgpu2m, &hmm2m, SZ_2M);
	ret |= bench_restore();
	ret |= bench_partial_munmap();
	return ret ? 1 : 0;
}
