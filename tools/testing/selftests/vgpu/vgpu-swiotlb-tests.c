// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu under swiotlb=force: every DMA mapping bounces, so the device would
 * see a copy of the page taken when it was mapped and its writes would
 * land in that copy. A mirror is memory the CPU and the device share;
 * gpumirror refuses such a mapping (EOPNOTSUPP) instead of mirroring a
 * copy. These tests run in a boot of their own with swiotlb=force and
 * check that every path that DMA-maps system memory is refused with the
 * CPU's data untouched, that the refused mappings went through a bounce
 * buffer and were all released (swiotlb's and DMA-API debugging's own
 * counts), and that vgpu memory, which needs no DMA mapping, is still
 * mirrored. Run as root.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lib/test_hmm_uapi.h>
#include <linux/vgpu.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define GPU_VA		(1ULL << VGPU_GPU_VA_EXPLICIT_SHIFT)
#define NPAGES		8
#define SWIOTLB		"/sys/kernel/debug/swiotlb/"
/* vgpu 0 maps system memory; vgpu 4 has device-private memory. */
#define SYS_VGPU	0
#define PRIV_VGPU	4

static long page_size;

/* A number from one of swiotlb's debugfs files, or -1. */
static long swiotlb_read(const char *name)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), SWIOTLB "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int swiotlb_reset_hiwater(void)
{
	FILE *f = fopen(SWIOTLB "io_tlb_used_hiwater", "w");

	if (!f)
		return -1;
	fputs("0\n", f);
	return fclose(f) ? -1 : 0;
}

static void fill(char *p, size_t len, unsigned char tag)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (char)(tag + i / page_size);
}

static int same(const char *p, size_t len, unsigned char tag)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (char)(tag + i / page_size))
			return 0;
	return 1;
}

FIXTURE(swiotlb)
{
	int fd;
	char *buf;
	size_t len;
};

FIXTURE_SETUP(swiotlb)
{
	char cmdline[1024] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_NE(f, NULL);
	ASSERT_NE(fgets(cmdline, sizeof(cmdline), f), NULL);
	fclose(f);
	/* Not a test of anything unless every mapping bounces. */
	ASSERT_NE(strstr(cmdline, "swiotlb=force"), NULL);
	self->len = NPAGES * page_size;
	self->buf = map_anon_rw(self->len);
	ASSERT_NE(self->buf, NULL);
	fill(self->buf, self->len, 0x30);
	self->fd = vgpu_dev_open(SYS_VGPU);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(swiotlb_reset_hiwater(), 0);
}

FIXTURE_TEARDOWN(swiotlb)
{
	close(self->fd);
	munmap(self->buf, self->len);
	/* Every refused mapping was released: no bounce slot, no entry. */
	EXPECT_EQ(swiotlb_read("io_tlb_used"), 0);
	EXPECT_EQ(dma_live_wait(SYS_VGPU, 0, 20000), 0);
}

/*
 * An explicit object maps its blocks strictly at creation: refused, and no
 * object is left behind (a retry at the same GPU VA is refused the same
 * way, not with EEXIST).
 */
TEST_F(swiotlb, object_refused)
{
	struct vgpu_range r = { (uintptr_t)self->buf, self->len };
	uint32_t h;

	ASSERT_EQ(obj_create(self->fd, &r, 1, GPU_VA, 0, &h), -EOPNOTSUPP);
	/* The refusal came from a bounced mapping. */
	EXPECT_GT(swiotlb_read("io_tlb_used_hiwater"), 0);
	EXPECT_EQ(obj_create(self->fd, &r, 1, GPU_VA, 0, &h), -EOPNOTSUPP);
	ASSERT_EQ(obj_destroy(self->fd, 0), -ENOENT);
	EXPECT_TRUE(same(self->buf, self->len, 0x30));
}

/* SVM: reads, writes and prefetches are refused; the CPU data stays. */
TEST_F(swiotlb, svm_refused)
{
	struct vgpu_svm_prefetch pf = { (uintptr_t)self->buf, self->len };
	char *tmp = malloc(self->len);

	ASSERT_NE(tmp, NULL);
	ASSERT_EQ(svm_rw(self->fd, false, self->buf, tmp, self->len, NULL),
		  -EOPNOTSUPP);
	EXPECT_GT(swiotlb_read("io_tlb_used_hiwater"), 0);
	fill(tmp, self->len, 0x50);
	ASSERT_EQ(svm_rw(self->fd, true, self->buf, tmp, self->len, NULL),
		  -EOPNOTSUPP);
	EXPECT_EQ(vgpu_xioctl(self->fd, VGPU_IOCTL_SVM_PREFETCH, &pf),
		  -EOPNOTSUPP);
	EXPECT_TRUE(same(self->buf, self->len, 0x30));
	free(tmp);
}

/* lib/test_hmm's commands, on the same vgpu: refused likewise. */
TEST_F(swiotlb, hmm_read_refused)
{
	char *tmp = malloc(self->len);
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)self->buf,
		.ptr = (uintptr_t)tmp,
		.npages = NPAGES,
	};

	ASSERT_NE(tmp, NULL);
	EXPECT_EQ(vgpu_xioctl(self->fd, HMM_DMIRROR_READ, &c), -EOPNOTSUPP);
	EXPECT_TRUE(same(self->buf, self->len, 0x30));
	free(tmp);
}

/*
 * vgpu memory is reached without a DMA mapping: migrated there, the range
 * is mirrored as before, GPU writes included, and the CPU reads them back
 * once the pages return to system memory.
 */
TEST_F(swiotlb, device_memory_mirrored)
{
	char *tmp = malloc(self->len);
	uint64_t migrated = 0;
	int fd = vgpu_dev_open(PRIV_VGPU);

	ASSERT_NE(tmp, NULL);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(migrate(fd, self->buf, self->len, 0, &migrated), 0);
	ASSERT_EQ(migrated, NPAGES);
	ASSERT_EQ(svm_rw(fd, false, self->buf, tmp, self->len, NULL), 0);
	EXPECT_TRUE(same(tmp, self->len, 0x30));
	fill(tmp, self->len, 0x70);
	ASSERT_EQ(svm_rw(fd, true, self->buf, tmp, self->len, NULL), 0);
	/* The CPU faults the pages back: a copy by the CPU, no DMA. */
	EXPECT_TRUE(same(self->buf, self->len, 0x70));
	EXPECT_EQ(swiotlb_read("io_tlb_used_hiwater"), 0);
	close(fd);
	EXPECT_EQ(dma_live_wait(PRIV_VGPU, 0, 20000), 0);
	free(tmp);
}

TEST_HARNESS_MAIN
