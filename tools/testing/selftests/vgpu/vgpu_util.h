/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by vgpu's selftests.
 */
#ifndef _VGPU_SELFTEST_UTIL_H
#define _VGPU_SELFTEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>

/* Open vgpu @id: /dev/hmm_dmirror<id>, or /dev/vgpu<id> beside test_hmm. */
static inline int vgpu_dev_open(int id)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	fd = open(path, O_RDWR);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/dev/vgpu%d", id);
	return open(path, O_RDWR);
}

/* Flags and words shared between the test's threads. */
#define VGPU_LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define VGPU_STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ioctl() returning 0 or -errno. */
static inline int vgpu_xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

#endif /* _VGPU_SELFTEST_UTIL_H */
