/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by vgpu's selftests.
 */
#ifndef _VGPU_SELFTEST_UTIL_H
#define _VGPU_SELFTEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vgpu.h>

/*
 * Open vgpu @id: /dev/vgpu<id> in a kernel with lib/test_hmm (which owns
 * /dev/hmm_dmirror<N> there), else /dev/hmm_dmirror<id>.
 */
static inline int vgpu_dev_open(int id)
{
	char path[64];

	if (access("/sys/module/test_hmm", F_OK))
		snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	else
		snprintf(path, sizeof(path), "/dev/vgpu%d", id);
	return open(path, O_RDWR);
}

/* The kernel's bit and array helpers, which userspace headers lack. */
#ifndef BIT
#define BIT(nr)			(1UL << (nr))
#endif
#ifndef BIT_ULL
#define BIT_ULL(nr)		(1ULL << (nr))
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

/* Flags and words shared between the test's threads. */
#define VGPU_LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define VGPU_STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ioctl() returning 0 or -errno. */
static inline int vgpu_xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* @len bytes of private anonymous read-write memory, or NULL. */
static inline void *map_anon_rw(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The commands, returning 0 or -errno. */
static inline int obj_create(int fd, const struct vgpu_range *r,
			     unsigned int n, uint64_t gpu_va, unsigned int flags,
			     uint32_t *handle)
{
	struct vgpu_obj_create a = {
		.ranges = (uintptr_t)r,
		.nranges = n,
		.gpu_va = gpu_va,
		.flags = flags,
	};
	int ret = vgpu_xioctl(fd, VGPU_IOCTL_OBJ_CREATE, &a);

	if (!ret && handle)
		*handle = a.handle;
	return ret;
}

/*
 * Pages 0-1, 4 and 6-7 of @buf (pages of @psize bytes): an object of five
 * GPU pages at @gpu_va, holes between its blocks.
 */
static inline int make_scattered(int fd, char *buf, size_t psize,
				 uint64_t gpu_va, uint32_t *h)
{
	struct vgpu_range r[3] = {
		{ (uintptr_t)buf, 2 * psize },
		{ (uintptr_t)buf + 4 * psize, psize },
		{ (uintptr_t)buf + 6 * psize, 2 * psize },
	};

	return obj_create(fd, r, 3, gpu_va, 0, h);
}

static inline int obj_destroy(int fd, uint32_t handle)
{
	struct vgpu_obj_destroy a = { .handle = handle };

	return vgpu_xioctl(fd, VGPU_IOCTL_OBJ_DESTROY, &a);
}

static inline int gpu_rw(int fd, bool write, uint64_t gpu_va, void *buf,
			 size_t len, uint64_t *faults)
{
	struct vgpu_access a = {
		.gpu_va = gpu_va,
		.ptr = (uintptr_t)buf,
		.len = len,
	};
	int ret = vgpu_xioctl(fd, write ? VGPU_IOCTL_WRITE : VGPU_IOCTL_READ,
			     &a);

	if (faults)
		*faults = a.faults;
	return ret;
}

static inline int svm_rw(int fd, bool write, void *addr, void *buf, size_t len,
			 uint64_t *faults)
{
	struct vgpu_svm_access a = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.len = len,
		.flags = write ? VGPU_SVM_WRITE : 0,
	};
	int ret = vgpu_xioctl(fd, VGPU_IOCTL_SVM_ACCESS, &a);

	if (faults)
		*faults = a.faults;
	return ret;
}

static inline int svm_attr(int fd, void *p, size_t len, unsigned int mask,
			   unsigned int granularity, unsigned int access,
			   unsigned int preferred)
{
	struct vgpu_svm_attr a = {
		.start = (uintptr_t)p,
		.len = len,
		.mask = mask,
		.granularity = granularity,
		.access = access,
		.preferred = preferred,
	};

	return vgpu_xioctl(fd, VGPU_IOCTL_SVM_ATTR, &a);
}

static inline int stats(int fd, struct vgpu_stats *st)
{
	return vgpu_xioctl(fd, VGPU_IOCTL_STATS, st);
}

static inline int migrate(int fd, void *p, size_t len, unsigned int flags,
			  uint64_t *migrated)
{
	struct vgpu_migrate a = {
		.addr = (uintptr_t)p,
		.len = len,
		.flags = flags,
	};
	int ret = vgpu_xioctl(fd, VGPU_IOCTL_MIGRATE, &a);

	if (migrated)
		*migrated = a.migrated;
	return ret;
}

/*
 * The DMA mappings the kernel's DMA-API debugging counts (its debugfs dump,
 * one line per mapping: the driver's name first, the device's second) for
 * the driver or device named @name, its @field'th field (1 or 2): an
 * oracle independent of vgpu's own statistics.
 * Return: the count, or -1 without DMA-API debugging (or once it turned
 * itself off: its dump no longer follows).
 */
static inline long dma_live_named(const char *name, int field)
{
	char line[512], f1[64], f2[64];
	FILE *f = fopen("/sys/kernel/debug/dma-api/disabled", "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	c = fgetc(f);
	fclose(f);
	if (c != 'N')
		return -1;
	f = fopen("/sys/kernel/debug/dma-api/dump", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %63s", f1, f2) == 2 &&
		    !strcmp(field == 1 ? f1 : f2, name))
			n++;
	fclose(f);
	return n;
}

/* The DMA mappings vgpu @id's own device holds, or -1 (dma_live_named()). */
static inline long dma_live(int id)
{
	char dev[32];

	snprintf(dev, sizeof(dev), "vgpu.%d", id);
	return dma_live_named(dev, 2);
}

/* The first number in file @path, or -1. */
static inline long read_long_file(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Wait up to @ms for vgpu @id's DMA mappings to number @want: stale sets
 * are unmapped by the library's release worker, a little later.
 * Return: the last count seen.
 */
static inline long dma_live_wait(int id, long want, int ms)
{
	long n;

	while ((n = dma_live(id)) != want && ms > 0) {
		usleep(10000);
		ms -= 10;
	}
	return n;
}

#endif /* _VGPU_SELFTEST_UTIL_H */
