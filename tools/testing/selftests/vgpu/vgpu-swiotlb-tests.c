// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu under swiotlb=force, with a virtual IOMMU. Going direct, every DMA
 * mapping of a vgpu (a platform device) would bounce: the device would
 * see a copy of a page taken when it was mapped and its writes would land
 * in that copy. A mirror is memory the CPU and the device share, so
 * gpumirror refuses such a device when it is attached: opening the vgpu
 * fails with EOPNOTSUPP. vgpu 0 (vgpu.iommu_vgpu=0) makes its mappings on
 * an emulated PCI function behind the virtual IOMMU instead, which
 * translates them without bouncing: it must mirror as usual, its GPU
 * reaching every page through an IOVA; an IOVA the library unmapped too
 * early translates to nothing until it is reused, which vgpu reports as an
 * IOMMU fault (EIO and a warning).
 *
 * Checked: the refusal comes before any mapping (no user page was copied
 * into the bounce pool: swiotlb's own high-water mark stays 0); a thousand
 * refusals leave nothing behind (the kmemleak scan at the end of the
 * boot); behind the IOMMU, data both ways, coherent with the CPU, across
 * invalidations, and no mapping left once the file is closed
 * (DMA-API debugging's dump).
 * The refusal of a single mapping that bounces is KUnit's
 * gm_map_incoherent. Run as root, in the boot scripts/selftest.sh makes.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define SWIOTLB		"/sys/kernel/debug/swiotlb/"
#define GPU_VA		BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)
/* The PCI driver of the vgpu behind the IOMMU. */
#define IOMMU_DRIVER	"vgpu-dma"
#define NPAGES		16

static long page_size;
/* vgpu.ndevs and vgpu.iommu_vgpu, as the boot set them. */
static long nvgpus, iommu_vgpu;

static long read_param(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/vgpu/parameters/%s", name);
	return read_long_file(path);
}

/* Word @w of page @pg, with @tag. */
static uint64_t word(uint32_t tag, size_t pg, size_t w)
{
	return ((uint64_t)tag << 40) | ((uint64_t)pg << 20) | w;
}

static void fill(char *p, size_t npages, uint32_t tag)
{
	size_t pg, w;

	for (pg = 0; pg < npages; pg++)
		for (w = 0; w < page_size / 8; w++)
			((uint64_t *)(p + pg * page_size))[w] = word(tag, pg, w);
}

/* The first page of @p not filled with @tag, or -1. */
static long differs(const char *p, size_t npages, uint32_t tag)
{
	size_t pg, w;

	for (pg = 0; pg < npages; pg++)
		for (w = 0; w < page_size / 8; w++)
			if (((const uint64_t *)(p + pg * page_size))[w] !=
			    word(tag, pg, w))
				return pg;
	return -1;
}

/* A number from one of swiotlb's debugfs files, or -1. */
static long swiotlb_read(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), SWIOTLB "%s", name);
	return read_long_file(path);
}

static int swiotlb_reset_hiwater(void)
{
	FILE *f = fopen(SWIOTLB "io_tlb_used_hiwater", "w");

	if (!f)
		return -1;
	fputs("0\n", f);
	return fclose(f) ? -1 : 0;
}

FIXTURE(swiotlb)
{
};

FIXTURE_SETUP(swiotlb)
{
	char cmdline[1024] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	page_size = sysconf(_SC_PAGESIZE);
	ASSERT_NE(f, NULL);
	ASSERT_NE(fgets(cmdline, sizeof(cmdline), f), NULL);
	fclose(f);
	/* Not a test of anything unless every mapping would bounce. */
	ASSERT_NE(strstr(cmdline, "swiotlb=force"), NULL);
	ASSERT_GT(swiotlb_read("io_tlb_nslabs"), 0);
	ASSERT_EQ(swiotlb_reset_hiwater(), 0);
	nvgpus = read_param("ndevs");
	iommu_vgpu = read_param("iommu_vgpu");
	ASSERT_GT(nvgpus, 1);
	ASSERT_GE(iommu_vgpu, 0);
}

FIXTURE_TEARDOWN(swiotlb)
{
}

/* Every direct vgpu, whatever its memory and mode, is refused at open. */
TEST_F(swiotlb, open_refused)
{
	int id, fd;

	for (id = 0; id < nvgpus; id++) {
		if (id == iommu_vgpu)
			continue;
		errno = 0;
		fd = vgpu_dev_open(id);
		EXPECT_EQ(fd, -1) {
			TH_LOG("vgpu %d opened", id);
			close(fd);
		}
		EXPECT_EQ(errno, EOPNOTSUPP)
			TH_LOG("vgpu %d: %s", id, strerror(errno));
	}
	/* Refused before anything was mapped: no page reached the pool. */
	EXPECT_EQ(swiotlb_read("io_tlb_used_hiwater"), 0);
	EXPECT_EQ(swiotlb_read("io_tlb_used"), 0);
}

/*
 * A thousand refusals: no bounce slot is ever taken, and what each open
 * allocated before the refusal is freed (the kmemleak scan at the end of
 * the boot reports otherwise).
 */
TEST_F(swiotlb, refusals_leave_nothing)
{
	int i, id;

	for (i = 0; i < 1000; i++) {
		id = i % nvgpus;
		if (id == iommu_vgpu)
			continue;
		ASSERT_EQ(vgpu_dev_open(id), -1);
		ASSERT_EQ(errno, EOPNOTSUPP);
	}
	EXPECT_EQ(swiotlb_read("io_tlb_used_hiwater"), 0);
}

/*
 * The vgpu behind the IOMMU mirrors: an explicit object and SVM, data both
 * ways and coherent with the CPU (a bounced copy would miss the CPU's
 * later writes), across an invalidation (MADV_DONTNEED) after which the
 * library unmaps the old IOVAs and the GPU refaults new ones.
 */
TEST_F(swiotlb, iommu_vgpu_mirrors)
{
	size_t len = NPAGES * page_size;
	char *buf = map_anon_rw(len), *tmp = malloc(len), *svm;
	struct vgpu_range r;
	uint32_t h;
	int fd;

	ASSERT_NE(buf, NULL);
	ASSERT_NE(tmp, NULL);
	ASSERT_EQ(access("/sys/bus/pci/drivers/" IOMMU_DRIVER, F_OK), 0);
	fd = vgpu_dev_open(iommu_vgpu);
	ASSERT_GE(fd, 0) TH_LOG("vgpu %ld: %s", iommu_vgpu, strerror(errno));

	fill(buf, NPAGES, 1);
	r.addr = (uintptr_t)buf;
	r.len = len;
	ASSERT_EQ(obj_create(fd, &r, 1, GPU_VA, 0, &h), 0);
	EXPECT_GT(dma_live_named(IOMMU_DRIVER, 1), 0);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, tmp, len, NULL), 0);
	EXPECT_EQ(differs(tmp, NPAGES, 1), -1);
	/* The CPU writes after the mapping: the GPU sees the page itself. */
	fill(buf, NPAGES, 2);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, tmp, len, NULL), 0);
	EXPECT_EQ(differs(tmp, NPAGES, 2), -1);
	fill(tmp, NPAGES, 3);
	ASSERT_EQ(gpu_rw(fd, true, GPU_VA, tmp, len, NULL), 0);
	EXPECT_EQ(differs(buf, NPAGES, 3), -1);
	/* Invalidate half, refill by the CPU, read again by the GPU. */
	ASSERT_EQ(madvise(buf, len / 2, MADV_DONTNEED), 0);
	fill(buf, NPAGES / 2, 4);
	ASSERT_EQ(gpu_rw(fd, false, GPU_VA, tmp, len / 2, NULL), 0);
	EXPECT_EQ(differs(tmp, NPAGES / 2, 4), -1);
	ASSERT_EQ(obj_destroy(fd, h), 0);

	/* SVM, GPU VA == CPU VA. */
	svm = map_anon_rw(len);
	ASSERT_NE(svm, NULL);
	fill(svm, NPAGES, 5);
	ASSERT_EQ(svm_rw(fd, false, svm, tmp, len, NULL), 0);
	EXPECT_EQ(differs(tmp, NPAGES, 5), -1);
	fill(tmp, NPAGES, 6);
	ASSERT_EQ(svm_rw(fd, true, svm, tmp, len, NULL), 0);
	EXPECT_EQ(differs(svm, NPAGES, 6), -1);
	munmap(svm, len);

	/* The last close tears the mirror down, synchronously. */
	close(fd);
	EXPECT_EQ(dma_live_named(IOMMU_DRIVER, 1), 0);
	munmap(buf, len);
	free(tmp);
}

TEST_HARNESS_MAIN
