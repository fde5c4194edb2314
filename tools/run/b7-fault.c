// SPDX-License-Identifier: GPL-2.0
/*
 * B7: GPU fault service time for 4K and 2M chunks, vgpu through gpumirror
 * (SVM_ACCESS, fault mode) against lib/test_hmm's fault path (READ) in the
 * same boot; and the restore latency of a no-fault vgpu after an
 * invalidation. Each access reads the whole chunk; the fault service time
 * is the first access minus a second one of the same chunk (already
 * mapped), medians over the chunks. Prints "@@RESULT {json}" lines.
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

/* A populated, 2M-aligned region of @n chunks of @chunk bytes. */
static char *region(size_t chunk, int n)
{
	size_t len = chunk * n;
	char *p = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	memset(p, 1, len);
	return p;
}

static int vgpu_read(int fd, char *addr, void *buf, size_t len)
{
	struct vgpu_svm_access a = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.len = len,
	};

	return ioctl(fd, VGPU_IOCTL_SVM_ACCESS, &a) ? -errno : 0;
}

static int hmm_read(int fd, char *addr, void *buf, size_t len)
{
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.npages = len / SZ_4K,
	};

	return ioctl(fd, HMM_DMIRROR_READ, &c) ? -errno : 0;
}

typedef int (*read_fn)(int fd, char *addr, void *buf, size_t len);

/* First and second access of each chunk: fault + copy, then copy. */
static int bench_chunks(const char *impl, const char *node, read_fn rd,
			size_t chunk, unsigned int gran)
{
	double first[NCHUNK], hit[NCHUNK], t;
	int fd = open(node, O_RDWR), i, ret = 0;
	char *p = region(chunk, NCHUNK);
	void *buf = malloc(chunk);

	if (fd < 0 || !p || !buf)
		return -1;
	if (gran < 32) {
		struct vgpu_svm_attr a = {
			.start = (uintptr_t)p,
			.len = chunk * NCHUNK,
			.mask = VGPU_SVM_ATTR_GRANULARITY,
			.granularity = gran,
		};

		if (ioctl(fd, VGPU_IOCTL_SVM_ATTR, &a))
			return -1;
	}
	for (i = 0; i < NCHUNK && !ret; i++) {
		t = now_us();
		ret = rd(fd, p + i * chunk, buf, chunk);
		first[i] = now_us() - t;
		t = now_us();
		ret = ret ?: rd(fd, p + i * chunk, buf, chunk);
		hit[i] = now_us() - t;
	}
	if (ret) {
		fprintf(stderr, "b7: %s %zu failed (%d)\n", impl, chunk, ret);
		return -1;
	}
	t = median(first, NCHUNK);
	printf("@@RESULT {\"bench\": \"B7\", \"impl\": \"%s\", \"chunk\": \"%s\", "
	       "\"first_us\": %.1f, \"hit_us\": %.1f, \"fault_us\": %.1f}\n",
	       impl, chunk == SZ_4K ? "4K" : "2M", t, median(hit, NCHUNK),
	       t - median(hit, NCHUNK));
	close(fd);
	free(buf);
	return 0;
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

	ret |= bench_chunks("vgpu", "/dev/vgpu0", vgpu_read, SZ_4K, 0);
	ret |= bench_chunks("test_hmm", "/dev/hmm_dmirror0", hmm_read, SZ_4K,
			    32);
	ret |= bench_chunks("vgpu", "/dev/vgpu1", vgpu_read, SZ_2M, 9);
	ret |= bench_chunks("test_hmm", "/dev/hmm_dmirror1", hmm_read, SZ_2M,
			    32);
	ret |= bench_restore();
	ret |= bench_partial_munmap();
	return ret ? 1 : 0;
}
