// SPDX-License-Identifier: GPL-2.0
/*
 * The 4K first-fault workload of `make profile`: B7's 4K arm, many times.
 * Each round opens the device anew (a fresh mirror), maps a populated
 * 2M-aligned region and reads each of its 4K pages once through the device,
 * so that every access takes one device fault of one 4K chunk (the vgpu's
 * migration granularity is set to 4K, as in B7).
 *
 * Usage: fault4k vgpu|test_hmm [rounds]
 */

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

#define SZ_4K	4096UL
#define SZ_2M	(2UL << 20)
#define NPAGES	2048

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int read_page(int fd, int vgpu, char *addr, char *buf)
{
	struct vgpu_svm_access a = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.len = SZ_4K,
	};
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.npages = 1,
	};

	return vgpu ? ioctl(fd, VGPU_IOCTL_SVM_ACCESS, &a) :
		      ioctl(fd, HMM_DMIRROR_READ, &c);
}

static int round_trip(int vgpu, double *us)
{
	const char *node = vgpu ? "/dev/vgpu0" : "/dev/hmm_dmirror0";
	size_t len = NPAGES * SZ_4K + SZ_2M;
	static char buf[SZ_4K];
	int fd, i, ret = -1;
	char *m, *p;
	double t;

	fd = open(node, O_RDWR);
	if (fd < 0) {
		perror(node);
		return -1;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		goto out_close;
	}
	p = (char *)(((uintptr_t)m + SZ_2M - 1) & ~(SZ_2M - 1));
	memset(p, 1, NPAGES * SZ_4K);
	if (vgpu) {
		struct vgpu_svm_attr attr = {
			.start = (uintptr_t)p,
			.len = NPAGES * SZ_4K,
			.mask = VGPU_SVM_ATTR_GRANULARITY,
			.granularity = 0,
		};

		if (ioctl(fd, VGPU_IOCTL_SVM_ATTR, &attr)) {
			perror("SVM_ATTR");
			goto out_unmap;
		}
	}
	t = now_us();
	for (i = 0; i < NPAGES; i++)
		if (read_page(fd, vgpu, p + i * SZ_4K, buf)) {
			perror("read");
			goto out_unmap;
		}
	*us += now_us() - t;
	ret = 0;
out_unmap:
	munmap(m, len);
out_close:
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	int vgpu, rounds, r;
	double us = 0;

	if (argc < 2)
		return 2;
	vgpu = !strcmp(argv[1], "vgpu");
	rounds = argc > 2 ? atoi(argv[2]) : 16;
	for (r = 0; r < rounds; r++)
		if (round_trip(vgpu, &us))
			return 1;
	printf("fault4k %s: %d first accesses, %.2f us each\n", argv[1],
	       rounds * NPAGES, us / rounds / NPAGES);
	return 0;
}
