// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for gpumirror objects: creation checks, the single-seq
 * multi-range fault, the notifier filter and per-device page sets.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/anon_inodes.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/hmm.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>

#include "../internal.h"
#include "test_dev.h"

static int gm_obj_init(struct kunit *test)
{
	return gm_fixture_init(test, 0);
}

/* Stamp every page of [addr, addr + len) with (tag, page index). */
static void gm_fill(struct kunit *test, unsigned long addr, unsigned long len,
		    u32 tag)
{
	unsigned long off;

	for (off = 0; off < len; off += PAGE_SIZE) {
		u64 v = ((u64)tag << 32) | (off >> PAGE_SHIFT);

		KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(addr + off),
						   &v, sizeof(v)), 0);
	}
}

/* What a device would read through its page set entry. */
static u64 gm_read(gpumirror_addr_t entry)
{
	return *(u64 *)phys_to_virt(gpumirror_addr(entry));
}

/* Check @obj's page set for device @td against gm_fill(@tag) of @r. */
static void gm_check_set(struct kunit *test, struct gpumirror_object *obj,
			 struct gm_test_dev *td,
			 const struct gpumirror_segment *r, unsigned int nr,
			 const u32 *tags)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long idx = 0, bad = 0, p;
	unsigned int i;

	gpumirror_notifier_lock(mirror);
	KUNIT_ASSERT_TRUE(test, gpumirror_object_valid(obj, &td->gdev));
	for (i = 0; i < nr; i++) {
		for (p = 0; p < r[i].len >> PAGE_SHIFT; p++, idx++) {
			u64 want = ((u64)tags[i] << 32) | p;

			if (gm_read(gpumirror_object_page(obj, &td->gdev,
							  idx)) != want)
				bad++;
		}
	}
	gpumirror_notifier_unlock(mirror);
	KUNIT_EXPECT_EQ(test, idx, obj->npages);
	KUNIT_EXPECT_EQ(test, bad, 0UL);
}

/* ---- creation checks ---------------------------------------------------- */

struct gm_create_case {
	const char *name;
	int err;
};

static const struct gm_create_case gm_create_cases[] = {
	{ "no_segments", -ENOENT },
	{ "zero_length", -ENODATA },
	{ "unaligned_addr", -EINVAL },
	{ "unaligned_len", -EINVAL },
	{ "unaligned_gpu_start", -EINVAL },
	{ "overlap", -EEXIST },
	{ "wrap", -EOVERFLOW },
	{ "beyond_user", -EFAULT },
	{ "beyond_va_limit", -ERANGE },
	{ "gpu_extent_wraps", -ERANGE },
	{ "too_many_segments", -E2BIG },
	{ "too_many_pages", -E2BIG },
	{ "valid", 0 },
};

KUNIT_ARRAY_PARAM_DESC(gm_create, gm_create_cases, name);

static void gm_create_bad_input(struct kunit *test)
{
	const struct gm_create_case *c = test->param_value;
	struct gm_fixture *ctx = test->priv;
	unsigned long base = 1UL << 32, task_size = current->mm->task_size;
	struct gpumirror_segment r[8];
	struct gpumirror_object *obj;
	unsigned int nr = 1, i;
	u64 gpu = 0;

	for (i = 0; i < ARRAY_SIZE(r); i++) {
		r[i].addr = base + 2 * i * PAGE_SIZE;
		r[i].len = PAGE_SIZE;
	}
	ctx->mirror.max_segments = 4;
	if (!strcmp(c->name, "no_segments"))
		nr = 0;
	else if (!strcmp(c->name, "zero_length"))
		r[0].len = 0;
	else if (!strcmp(c->name, "unaligned_addr"))
		r[0].addr += 8;
	else if (!strcmp(c->name, "unaligned_len"))
		r[0].len += 8;
	else if (!strcmp(c->name, "unaligned_gpu_start"))
		gpu = PAGE_SIZE / 2;
	else if (!strcmp(c->name, "overlap"))
		nr = 3, r[2].addr = r[0].addr, r[2].len = PAGE_SIZE;
	else if (!strcmp(c->name, "wrap"))
		r[0].addr = PAGE_MASK, r[0].len = 2 * PAGE_SIZE;
	else if (!strcmp(c->name, "beyond_user"))
		r[0].addr = task_size - PAGE_SIZE, r[0].len = 2 * PAGE_SIZE;
	else if (!strcmp(c->name, "beyond_va_limit"))
		gpu = GM_VA_LIMIT - PAGE_SIZE, nr = 2;
	else if (!strcmp(c->name, "gpu_extent_wraps"))
		gpu = (u64)PAGE_MASK, nr = 2;
	else if (!strcmp(c->name, "too_many_segments"))
		nr = 5;
	else if (!strcmp(c->name, "too_many_pages"))
		/* 2 TiB: its page arrays would pass kvmalloc()'s limit. */
		r[0].len = 1UL << 41;
	else
		nr = 4;

	obj = gpumirror_object_create(&ctx->mirror, r, nr, gpu);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(obj), c->err);
	KUNIT_EXPECT_EQ(test, list_empty(&ctx->mirror.priv->objects), c->err != 0);
	if (!IS_ERR(obj)) {
		KUNIT_EXPECT_EQ(test, obj->npages, 4UL);
		gpumirror_object_destroy(obj);
	}
	KUNIT_EXPECT_PTR_EQ(test,
			    gpumirror_object_create(NULL, r, 1, 0),
			    ERR_PTR(-EINVAL));
	KUNIT_EXPECT_PTR_EQ(test,
			    gpumirror_object_create(&ctx->mirror, NULL, 1, 0),
			    ERR_PTR(-EINVAL));
	gm_fixture_done(test);
}

/* ---- scattered segments ------------------------------------------------- */

static const unsigned int gm_seg_counts[] = { 1, 2, 64, 4096 };

static void gm_seg_desc(const unsigned int *n, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%u_segments", *n);
}

KUNIT_ARRAY_PARAM(gm_segs, gm_seg_counts, gm_seg_desc);

/* Segment i's size: 4K..64K, plus one 2M segment in small objects. */
static unsigned long gm_seg_len(unsigned int n, unsigned int i)
{
	static const unsigned long small[] = { SZ_4K, SZ_8K, SZ_16K, SZ_64K };

	if (n <= 64 && i == n / 2)
		return SZ_2M;
	return small[i % (n > 64 ? 3 : 4)];
}

static void gm_map_segments(struct kunit *test)
{
	unsigned int n = *(const unsigned int *)test->param_value;
	struct gm_fixture *ctx = test->priv;
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj;
	struct gpumirror_segment *r;
	unsigned long total = 0, addr;
	unsigned int i;
	u32 *tags;

	r = kunit_kcalloc(test, n, sizeof(*r), GFP_KERNEL);
	tags = kunit_kcalloc(test, n, sizeof(*tags), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, r);
	KUNIT_ASSERT_NOT_NULL(test, tags);
	for (i = 0; i < n; i++)
		total += gm_seg_len(n, i) + PAGE_SIZE;
	addr = gm_test_mmap(test, total, GM_RW);

	/* Segments in reverse CPU order, a one-page hole after each. */
	for (i = 0; i < n; i++) {
		r[n - 1 - i].addr = addr;
		r[n - 1 - i].len = gm_seg_len(n, n - 1 - i);
		tags[n - 1 - i] = n - 1 - i;
		gm_fill(test, addr, r[n - 1 - i].len, n - 1 - i);
		addr += r[n - 1 - i].len + PAGE_SIZE;
	}

	obj = gpumirror_object_create(&ctx->mirror, r, n, SZ_1G);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 1LL);
	gm_check_set(test, obj, ctx->td[0], r, n, tags);
	gpumirror_device_stats_read(&ctx->td[0]->gdev, &c);
	KUNIT_EXPECT_EQ(test, c.faults, 1ULL);
	KUNIT_EXPECT_EQ(test, c.retries, 0ULL);
	KUNIT_EXPECT_EQ(test, c.dma_maps, (u64)obj->npages);

	/* Mapping again while valid walks again but maps nothing new. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	gpumirror_device_stats_read(&ctx->td[0]->gdev, &c);
	KUNIT_EXPECT_EQ(test, c.dma_maps, (u64)obj->npages);
	gm_fixture_done(test);
}

/*
 * A 2M-aligned region tagged @tag, one object over it mapped for write on
 * device 1, its set checked; *@e0 and *@e511 are its first and last
 * entries.
 */
static struct gpumirror_object *gm_map_2m(struct kunit *test, u32 tag,
					  gpumirror_addr_t *e0,
					  gpumirror_addr_t *e511)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = ALIGN(gm_test_mmap(test, 2 * SZ_2M, GM_RW), SZ_2M);
	struct gpumirror_segment r = { addr, SZ_2M };
	struct gpumirror_object *obj;

	/* THP may be "madvise" only (the selftest kernel runs these too). */
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, addr, SZ_2M,
					 MADV_HUGEPAGE), 0);
	gm_fill(test, addr, SZ_2M, tag);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(1),
						   GPUMIRROR_MAP_WRITE), 0);
	gm_check_set(test, obj, ctx->td[1], &r, 1, &tag);
	gpumirror_notifier_lock(&ctx->mirror);
	*e0 = gpumirror_object_page(obj, &ctx->td[1]->gdev, 0);
	*e511 = gpumirror_object_page(obj, &ctx->td[1]->gdev, 511);
	gpumirror_notifier_unlock(&ctx->mirror);
	return obj;
}

static void gm_map_thp(struct kunit *test)
{
	struct gpumirror_object *obj;
	gpumirror_addr_t e0, e511;

	obj = gm_map_2m(test, 7, &e0, &e511);
	/* A huge page (MADV_HUGEPAGE): the walk must see a PMD mapping. */
	KUNIT_EXPECT_EQ(test, hmm_pfn_to_map_order(obj->pfns[0]),
			(unsigned int)(PMD_SHIFT - PAGE_SHIFT));
	/* One DMA mapping for the whole huge page, every page addressable. */
	KUNIT_EXPECT_EQ(test, gpumirror_addr_order(e0),
			(unsigned int)(PMD_SHIFT - PAGE_SHIFT));
	KUNIT_EXPECT_FALSE(test, e0 & GPUMIRROR_ADDR_TAIL);
	KUNIT_EXPECT_TRUE(test, e511 & GPUMIRROR_ADDR_TAIL);
	KUNIT_EXPECT_TRUE(test, e511 & GPUMIRROR_ADDR_WRITE);
	KUNIT_EXPECT_EQ(test, gpumirror_addr(e511),
			gpumirror_addr(e0) + 511 * PAGE_SIZE);
	gm_fixture_done(test);
}

/* ---- backings ------------------------------------------------------------ */

static int gm_pfnmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct page *page = file->private_data;

	return remap_pfn_range(vma, vma->vm_start, page_to_pfn(page),
			       PAGE_SIZE, vma->vm_page_prot);
}

static const struct file_operations gm_pfnmap_fops = {
	.owner = THIS_MODULE,
	.mmap = gm_pfnmap_mmap,
};

enum gm_backing { GM_PRIVATE, GM_SHARED, GM_SHMEM_FILE, GM_PFNMAP };

struct gm_backing_case {
	const char *name;
	enum gm_backing backing;
	int err;
};

static const struct gm_backing_case gm_backing_cases[] = {
	{ "private_anonymous", GM_PRIVATE, 0 },
	{ "shared_anonymous", GM_SHARED, 0 },
	{ "shmem_file", GM_SHMEM_FILE, 0 },
	{ "vm_pfnmap", GM_PFNMAP, -EFAULT },
};

KUNIT_ARRAY_PARAM_DESC(gm_backing, gm_backing_cases, name);

static void gm_map_backings(struct kunit *test)
{
	const struct gm_backing_case *bc = test->param_value;
	struct gm_fixture *ctx = test->priv;
	unsigned long len = 4 * PAGE_SIZE, flags = MAP_SHARED, addr;
	struct gpumirror_object *obj;
	struct gpumirror_segment r;
	struct file *file = NULL;
	struct page *page = NULL;
	u32 tag = 9;

	switch (bc->backing) {
	case GM_PRIVATE:
		flags = MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case GM_SHARED:
		flags = MAP_SHARED | MAP_ANONYMOUS;
		break;
	case GM_SHMEM_FILE:
		file = shmem_file_setup("gm-shmem", len, 0);
		break;
	case GM_PFNMAP:
		len = PAGE_SIZE;
		page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		KUNIT_ASSERT_NOT_NULL(test, page);
		file = anon_inode_getfile("gm-pfnmap", &gm_pfnmap_fops, page,
					  O_RDWR);
		break;
	}
	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	addr = vm_mmap(file, 0, len, GM_RW, flags, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	r.addr = addr;
	r.len = len;
	if (!bc->err)
		gm_fill(test, addr, len, tag);

	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE),
			bc->err);
	if (!bc->err)
		gm_check_set(test, obj, ctx->td[0], &r, 1, &tag);
	else
		KUNIT_EXPECT_EQ(test, obj->mapped, 0UL);
	gpumirror_object_destroy(obj);
	KUNIT_EXPECT_EQ(test, vm_munmap(addr, len), 0);
	if (file)
		fput(file);
	if (page)
		__free_page(page);
	gm_fixture_done(test);
}

/* ---- the notifier filter and the single sequence number ----------------- */

static void gm_hole_invalidation(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 3 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r[2] = {
		{ addr, PAGE_SIZE },
		{ addr + 2 * PAGE_SIZE, PAGE_SIZE },
	};
	struct gm_test_dev *td = ctx->td[0];
	struct gpumirror_object *obj;
	unsigned long seq;

	gm_fill(test, addr, 3 * PAGE_SIZE, 1);
	obj = gpumirror_object_create(&ctx->mirror, r, 2, SZ_1M);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	seq = READ_ONCE(obj->notifier.invalidate_seq);

	/* The hole between the segments: nothing changes. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr + PAGE_SIZE, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(obj->notifier.invalidate_seq), seq);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), 0);
	gpumirror_notifier_lock(&ctx->mirror);
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(obj, &td->gdev));
	gpumirror_notifier_unlock(&ctx->mirror);

	/* The second segment: seq moves, the object's GPU extent is zapped. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr + 2 * PAGE_SIZE, PAGE_SIZE), 0);
	KUNIT_EXPECT_NE(test, READ_ONCE(obj->notifier.invalidate_seq), seq);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), 1);
	KUNIT_EXPECT_EQ(test, td->last_start, (u64)SZ_1M);
	KUNIT_EXPECT_EQ(test, td->last_end, (u64)SZ_1M + 2 * PAGE_SIZE);
	gpumirror_notifier_lock(&ctx->mirror);
	KUNIT_EXPECT_FALSE(test, gpumirror_object_valid(obj, &td->gdev));
	gpumirror_notifier_unlock(&ctx->mirror);

	/* The segment is gone: a clean error, and still nothing valid. */
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), -EFAULT);
	KUNIT_EXPECT_EQ(test, obj->valid, 0UL);
	KUNIT_EXPECT_EQ(test, obj->mapped, 0UL);
	gm_fixture_done(test);
}

struct gm_race {
	unsigned long a;	/* segment A, replaced while B is faulted */
	unsigned long b;	/* segment B */
	int replaced;
};

/*
 * Replace the page at @addr by a new one holding @tag, from inside a walk
 * (mmap_lock held for read, dropped meanwhile).
 */
static void gm_replace_page(struct kunit *test, struct mm_struct *mm,
			    unsigned long addr, u32 tag)
{
	mmap_read_unlock(mm);
	KUNIT_EXPECT_EQ(test, vm_munmap(addr, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, vm_mmap(NULL, addr, PAGE_SIZE, GM_RW,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      0), addr);
	gm_fill(test, addr, PAGE_SIZE, tag);
	mmap_read_lock(mm);
}

/* Replace A's page by a new one holding tag 2. */
static void gm_race_replace_a(struct kunit *test, struct gm_race *race,
			      struct mm_struct *mm)
{
	gm_replace_page(test, mm, race->a, 2);
}

/* Inject between segments A and B, where the walk lets waiters in. */
static void gm_race_yield(struct gpumirror_object *obj, unsigned int seg)
{
	struct kunit *test = kunit_get_current_test();
	struct gm_race *race = test->priv;

	if (seg == 1 && !race->replaced++)
		gm_race_replace_a(test, race, obj->mirror->mm);
}

/* Inject after B, the last segment, was faulted: the commit must see it. */
static int gm_race_fault(struct gpumirror_object *obj, struct hmm_range *range,
			 const struct hmm_range_slice *slices, unsigned int nr,
			 unsigned int *done)
{
	struct kunit *test = kunit_get_current_test();
	struct gm_race *race = test->priv;
	int ret = hmm_range_fault_slices(range, slices, nr, done);

	if (!ret && slices[0].start == race->b && !race->replaced++)
		gm_race_replace_a(test, race, obj->mirror->mm);
	return ret;
}

/*
 * Segments A (one page) and B (two pages), far enough apart to be walked
 * as two hmm ranges and filled with tag 1, in an object; @r gets them.
 */
static struct gpumirror_object *gm_race_object(struct kunit *test,
					       struct gpumirror_segment r[2])
{
	struct gm_fixture *ctx = test->priv;
	const unsigned long gap = (GPUMIRROR_WALK_GAP + 1) * PAGE_SIZE;
	unsigned long addr = gm_test_mmap(test, 3 * PAGE_SIZE + gap, GM_RW);
	struct gpumirror_object *obj;

	r[0] = (struct gpumirror_segment){ addr, PAGE_SIZE };
	r[1] = (struct gpumirror_segment){ addr + PAGE_SIZE + gap,
					   2 * PAGE_SIZE };
	gm_fill(test, r[0].addr, r[0].len, 1);
	gm_fill(test, r[1].addr, r[1].len, 1);
	obj = gpumirror_object_create(&ctx->mirror, r, 2, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	return obj;
}

struct gm_race_case {
	const char *name;
	bool at_commit;
	u64 dma_maps;	/* per device */
	int hooks;	/* calls of the injection hook that saw B */
};

static const struct gm_race_case gm_race_cases[] = {
	/*
	 * hmm_range_fault() of B sees the moved seq: no DMA mapping yet;
	 * the retry walks A (stale) and B (not walked yet), maps 3 pages.
	 */
	{ "between_segments", false, 3, 2 },
	/*
	 * The walk and the DMA mapping complete, the commit refuses them;
	 * the retry walks A alone and maps its one page again.
	 */
	{ "before_commit", true, 4, 1 },
};

KUNIT_ARRAY_PARAM_DESC(gm_race, gm_race_cases, name);

/*
 * An invalidation of segment A while segment B is being faulted never
 * commits A's old page; the retry walks again only what it must (A, and
 * B if the first walk did not get to it), one sequence for both.
 */
static void gm_retry_whole_set(struct kunit *test)
{
	const struct gm_race_case *rc = test->param_value;
	struct gm_fixture *ctx = test->priv;
	struct gpumirror_segment r[2];
	struct gpumirror_object *obj = gm_race_object(test, r);
	struct gm_race race = { .a = r[0].addr, .b = r[1].addr };
	const u32 tags[2] = { 2, 1 };
	struct gpumirror_device_counters c;
	int i;

	test->priv = &race;
	if (rc->at_commit)
		kunit_activate_static_stub(test, gpumirror_hmm_fault,
					   gm_race_fault);
	else
		kunit_activate_static_stub(test, gpumirror_walk_yield,
					   gm_race_yield);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0) | BIT(3), 0),
			0);
	test->priv = ctx;
	if (rc->at_commit)
		kunit_deactivate_static_stub(test, gpumirror_hmm_fault);
	else
		kunit_deactivate_static_stub(test, gpumirror_walk_yield);

	/* The first attempt saw A's old page; B was faulted again or not. */
	KUNIT_EXPECT_EQ(test, race.replaced, rc->hooks);
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 2LL);
	for (i = 0; i < 4; i += 3) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.retries, 1ULL);
		KUNIT_EXPECT_EQ(test, c.faults, 1ULL);
		KUNIT_EXPECT_EQ(test, c.dma_maps, rc->dma_maps);
		/* a refused page is unmapped when the next attempt maps */
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, rc->dma_maps - 3);
		gm_check_set(test, obj, ctx->td[i], r, 2, tags);
	}
	gm_fixture_done(test);
}

/*
 * gm_remap_fails(): the race of gm_race_fault() (test->priv points at
 * @race), and device @gdev refuses the pages of @obj's retry.
 */
struct gm_refuse {
	struct gm_race race;
	struct gpumirror_object *obj;
	struct gpumirror_device *gdev;
	int refused;
};

static bool gm_refuse_retry(struct gpumirror_device *gdev, struct page *page,
			    dma_addr_t dma)
{
	struct gm_refuse *rf = container_of(kunit_get_current_test()->priv,
					    struct gm_refuse, race);

	if (gdev != rf->gdev || atomic64_read(&rf->obj->walks) < 2)
		return true;
	rf->refused++;
	return false;
}

/*
 * A retry's re-map of the one segment it walked fails (device 0 refuses
 * A's new page): the map fails with that error and leaves nothing mapped,
 * neither the rest of device 0's set nor device 3's, built by the first
 * try and never committed (every DMA mapping made is unmapped once). The
 * next map builds both sets from scratch and commits them.
 */
static void gm_remap_fails(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gpumirror_segment r[2];
	struct gpumirror_object *obj = gm_race_object(test, r);
	struct gm_refuse rf = {
		.race = { .a = r[0].addr, .b = r[1].addr },
		.obj = obj,
		.gdev = &ctx->td[0]->gdev,
	};
	const u32 tags[2] = { 2, 1 };
	struct gpumirror_device_counters c;
	int i;

	test->priv = &rf.race;
	kunit_activate_static_stub(test, gpumirror_hmm_fault, gm_race_fault);
	kunit_activate_static_stub(test, gpumirror_dma_shared,
				   gm_refuse_retry);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0) | BIT(3), 0),
			-EOPNOTSUPP);
	kunit_deactivate_static_stub(test, gpumirror_dma_shared);
	kunit_deactivate_static_stub(test, gpumirror_hmm_fault);
	test->priv = ctx;

	/* The retry walked A alone and refused its one new page. */
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 2LL);
	KUNIT_EXPECT_EQ(test, rf.refused, 1);
	KUNIT_EXPECT_EQ(test, obj->valid, 0UL);
	KUNIT_EXPECT_EQ(test, obj->mapped, 0UL);
	for (i = 0; i < 4; i += 3) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.faults, 0ULL);
		KUNIT_EXPECT_EQ(test, c.dma_maps, 3ULL);
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, 3ULL);
		KUNIT_EXPECT_EQ(test, c.dma_refused, i ? 0ULL : 1ULL);
	}

	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0) | BIT(3), 0),
			0);
	for (i = 0; i < 4; i += 3) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.faults, 1ULL);
		KUNIT_EXPECT_EQ(test, c.dma_maps - c.dma_unmaps, 3ULL);
		gm_check_set(test, obj, ctx->td[i], r, 2, tags);
	}
	gm_fixture_done(test);
}

/*
 * A chain of races for gm_rewalk_chain(): when the walk reaches segment
 * @at[i] for the first time in try i, segment @victim[i] is replaced by a
 * page holding tag @tag[i].
 */
struct gm_chain {
	unsigned long at[2];
	unsigned long victim[2];
	u32 tag[2];
	unsigned int step;
	unsigned int calls[3];	/* faults of each segment, A B C */
	unsigned long seg[3];
};

static int gm_chain_fault(struct gpumirror_object *obj, struct hmm_range *range,
			  const struct hmm_range_slice *slices, unsigned int nr,
			  unsigned int *done)
{
	struct kunit *test = kunit_get_current_test();
	struct gm_chain *ch = test->priv;
	int ret = hmm_range_fault_slices(range, slices, nr, done);
	unsigned int i;

	for (i = 0; i < 3; i++)
		if (slices[0].start == ch->seg[i])
			ch->calls[i]++;
	if (!ret && ch->step < 2 && slices[0].start == ch->at[ch->step]) {
		gm_replace_page(test, obj->mirror->mm, ch->victim[ch->step],
				ch->tag[ch->step]);
		ch->step++;
	}
	return ret;
}

/*
 * Retries walk only what went stale, also when an event comes during a
 * retry: C's fault in try 1 replaces A; try 2 walks A alone and its fault
 * replaces B; try 3 walks B alone and commits. Every device reads the
 * three new pages; each retry DMA-mapped one page again.
 */
static void gm_rewalk_chain(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	const unsigned long gap = (GPUMIRROR_WALK_GAP + 1) * PAGE_SIZE;
	unsigned long addr = gm_test_mmap(test, 3 * PAGE_SIZE + 2 * gap, GM_RW);
	struct gpumirror_segment r[3] = {
		{ addr, PAGE_SIZE },
		{ addr + PAGE_SIZE + gap, PAGE_SIZE },
		{ addr + 2 * (PAGE_SIZE + gap), PAGE_SIZE },
	};
	struct gm_chain ch = {
		.at = { r[2].addr, r[0].addr },
		.victim = { r[0].addr, r[1].addr },
		.tag = { 2, 3 },
		.seg = { r[0].addr, r[1].addr, r[2].addr },
	};
	const u32 tags[3] = { 2, 3, 1 };
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj;
	int i;

	for (i = 0; i < 3; i++)
		gm_fill(test, r[i].addr, r[i].len, 1);
	obj = gpumirror_object_create(&ctx->mirror, r, 3, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);

	test->priv = &ch;
	kunit_activate_static_stub(test, gpumirror_hmm_fault, gm_chain_fault);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0) | BIT(2), 0),
			0);
	kunit_deactivate_static_stub(test, gpumirror_hmm_fault);
	test->priv = ctx;

	KUNIT_EXPECT_EQ(test, ch.step, 2U);
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 3LL);
	/* A: tries 1 and 2; B: tries 1 and 3; C: try 1 only. */
	KUNIT_EXPECT_EQ(test, ch.calls[0], 2U);
	KUNIT_EXPECT_EQ(test, ch.calls[1], 2U);
	KUNIT_EXPECT_EQ(test, ch.calls[2], 1U);
	for (i = 0; i < 3; i += 2) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.retries, 2ULL);
		KUNIT_EXPECT_EQ(test, c.dma_maps, 5ULL);
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, 2ULL);
		gm_check_set(test, obj, ctx->td[i], r, 3, tags);
	}
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * gm_rewalk_sorted(): after the walk of segment @c in try 1, segments @a
 * and @b (in CPU VA order) get new pages; then the hmm calls of try 2 are
 * counted, and those that read @a and @b together.
 */
struct gm_sorted {
	unsigned long a, b, c;
	bool replaced;
	unsigned int after;
	unsigned int joined;
};

static int gm_sorted_fault(struct gpumirror_object *obj,
			   struct hmm_range *range,
			   const struct hmm_range_slice *slices,
			   unsigned int nr, unsigned int *done)
{
	struct kunit *test = kunit_get_current_test();
	struct gm_sorted *st = test->priv;
	int ret = hmm_range_fault_slices(range, slices, nr, done);

	if (st->replaced) {
		st->after++;
		/* One range over both, the hole between them included. */
		st->joined += nr == 1 && slices[0].start == st->a &&
			      slices[0].end == st->b + PAGE_SIZE;
	} else if (!ret && slices[0].start == st->c) {
		gm_replace_page(test, obj->mirror->mm, st->a, 2);
		gm_replace_page(test, obj->mirror->mm, st->b, 3);
		st->replaced = true;
	}
	return ret;
}

/*
 * gm_rewalk_sorted() with @extra more segments, below A and B in CPU VA
 * and after C in GPU VA, walked by the first try only: none makes the
 * stale segments few enough to be sorted, three make them few enough.
 */
static void gm_rewalk_sorted_case(struct kunit *test, unsigned int extra)
{
	struct gm_fixture *ctx = test->priv;
	/* A hole too wide to walk across, and a segment with one. */
	const unsigned long far = (GPUMIRROR_WALK_GAP + 1) * PAGE_SIZE;
	const unsigned long step = PAGE_SIZE + far;
	unsigned long base = gm_test_mmap(test, extra * step +
					  4 * PAGE_SIZE + far, GM_RW);
	unsigned long a = base + extra * step;
	struct gm_sorted st = {
		.a = a,
		.b = a + 2 * PAGE_SIZE,
		.c = a + 3 * PAGE_SIZE + far,
	};
	struct gpumirror_segment r[6] = {
		{ st.b, PAGE_SIZE }, { st.a, PAGE_SIZE }, { st.c, PAGE_SIZE },
	};
	const u32 tags[6] = { 3, 2, 1, 1, 1, 1 };
	struct gpumirror_object *obj;
	unsigned int i;

	for (i = 0; i < extra; i++)
		r[3 + i] = (struct gpumirror_segment){ base + i * step,
						       PAGE_SIZE };
	for (i = 0; i < 3 + extra; i++)
		gm_fill(test, r[i].addr, r[i].len, 1);
	obj = gpumirror_object_create(&ctx->mirror, r, 3 + extra, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);

	test->priv = &st;
	kunit_activate_static_stub(test, gpumirror_hmm_fault, gm_sorted_fault);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	kunit_deactivate_static_stub(test, gpumirror_hmm_fault);
	test->priv = ctx;

	KUNIT_EXPECT_TRUE_MSG(test, st.replaced, "extra %u", extra);
	KUNIT_EXPECT_EQ_MSG(test, atomic64_read(&obj->walks), 2LL,
			    "extra %u", extra);
	KUNIT_EXPECT_EQ_MSG(test, st.after, 1U, "extra %u", extra);
	KUNIT_EXPECT_EQ_MSG(test, st.joined, 1U, "extra %u", extra);
	gm_check_set(test, obj, ctx->td[0], r, 3 + extra, tags);
	gpumirror_object_destroy(obj);
}

/*
 * A retry walks its stale segments in CPU VA order whatever their order in
 * GPU VA: segments B, A, C (GPU order) with A and B close in CPU VA; when
 * A and B go stale together, try 2 reads them with one walk, as the first
 * try did, and every page is the new one. Both ways of ordering them are
 * taken: a scan of the object (many stale segments for its size) and a
 * sort of the stale ones (few).
 */
static void gm_rewalk_sorted(struct kunit *test)
{
	/* A and B, one page apart, are walked together. */
	BUILD_BUG_ON(GPUMIRROR_WALK_GAP < 1);
	gm_rewalk_sorted_case(test, 0);
	gm_rewalk_sorted_case(test, 3);
	gm_fixture_done(test);
}

/* ---- several devices ---------------------------------------------------- */

/*
 * An object of two segments out of address order, pages 8-15 then 0-3 of
 * fresh memory filled with @tag; @r gets the segments.
 */
static struct gpumirror_object *gm_two_segments(struct kunit *test,
						struct gpumirror_segment r[2],
						u32 tag)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 16 * PAGE_SIZE, GM_RW);
	struct gpumirror_object *obj;

	r[0] = (struct gpumirror_segment){ addr + 8 * PAGE_SIZE, 8 * PAGE_SIZE };
	r[1] = (struct gpumirror_segment){ addr, 4 * PAGE_SIZE };
	gm_fill(test, r[0].addr, r[0].len, tag);
	gm_fill(test, r[1].addr, r[1].len, tag);
	obj = gpumirror_object_create(&ctx->mirror, r, 2, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	return obj;
}

static void gm_four_devices(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	const u32 tags[2] = { 5, 5 };
	struct gpumirror_device_counters c;
	struct gpumirror_segment r[2];
	struct gpumirror_object *obj;
	int i;

	obj = gm_two_segments(test, r, 5);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0xf,
						   GPUMIRROR_MAP_WRITE), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 1LL);
	for (i = 0; i < 4; i++) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.dma_maps, 12ULL);
		KUNIT_EXPECT_EQ(test, c.faults, 1ULL);
		gm_check_set(test, obj, ctx->td[i], r, 2, tags);
	}

	gpumirror_object_unmap(obj, &ctx->td[2]->gdev);
	for (i = 0; i < 4; i++) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, i == 2 ? 12ULL : 0ULL);
		KUNIT_EXPECT_EQ(test, atomic_read(&ctx->td[i]->invalidates),
				i == 2 ? 1 : 0);
		if (i != 2)
			gm_check_set(test, obj, ctx->td[i], r, 2, tags);
	}
	gpumirror_notifier_lock(&ctx->mirror);
	KUNIT_EXPECT_FALSE(test, gpumirror_object_valid(obj,
							&ctx->td[2]->gdev));
	gpumirror_notifier_unlock(&ctx->mirror);

	/* Mapping device 2 again walks once and maps only device 2. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(2), 0), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 2LL);
	gpumirror_device_stats_read(&ctx->td[0]->gdev, &c);
	KUNIT_EXPECT_EQ(test, c.dma_maps, 12ULL);
	gm_check_set(test, obj, ctx->td[2], r, 2, tags);

	/* A mask naming a free slot is refused. */
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(9), 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, 0, 0), -EINVAL);
	gm_fixture_done(test);
}

/* ---- fault errors ------------------------------------------------------- */

struct gm_fault_case {
	const char *name;
	unsigned long prot;
	bool hole;
	unsigned int flags;
	int err;
};

static const struct gm_fault_case gm_fault_cases[] = {
	{ "prot_none", PROT_NONE, false, 0, -EFAULT },
	{ "hole", GM_RW, true, 0, -EFAULT },
	{ "write_to_read_only", PROT_READ, false, GPUMIRROR_MAP_WRITE, -EPERM },
	{ "read_of_read_only", PROT_READ, false, 0, 0 },
};

KUNIT_ARRAY_PARAM_DESC(gm_fault, gm_fault_cases, name);

static void gm_fault_errors(struct kunit *test)
{
	const struct gm_fault_case *fc = test->param_value;
	struct gm_fixture *ctx = test->priv;
	unsigned long good = gm_test_mmap(test, 2 * PAGE_SIZE, GM_RW);
	unsigned long bad = gm_test_mmap(test, 2 * PAGE_SIZE, fc->prot);
	struct gpumirror_segment r[2] = {
		{ good, 2 * PAGE_SIZE },
		{ bad, 2 * PAGE_SIZE },
	};
	struct gpumirror_object *obj;

	if (fc->hole)
		KUNIT_ASSERT_EQ(test, vm_munmap(bad + PAGE_SIZE, PAGE_SIZE), 0);
	obj = gpumirror_object_create(&ctx->mirror, r, 2, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, 0x3, fc->flags),
			fc->err);
	KUNIT_EXPECT_EQ(test, obj->valid, fc->err ? 0UL : 0x3UL);
	KUNIT_EXPECT_EQ(test, obj->mapped, fc->err ? 0UL : 0x3UL);
	if (!fc->err) {
		gpumirror_notifier_lock(&ctx->mirror);
		KUNIT_EXPECT_FALSE(test,
				   gpumirror_object_page(obj, &ctx->td[0]->gdev,
							 3) &
				   GPUMIRROR_ADDR_WRITE);
		gpumirror_notifier_unlock(&ctx->mirror);
	}
	gm_fixture_done(test);
}

/* An object cannot be made once the process has exited. */
static void gm_create_exited_mm(struct kunit *test)
{
	struct gpumirror_segment r = { 1UL << 32, PAGE_SIZE };
	struct gpumirror *mirror;
	struct mm_struct *mm;

	mirror = kunit_kzalloc(test, sizeof(*mirror), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, mirror);
	mm = mm_alloc();
	KUNIT_ASSERT_NOT_NULL(test, mm);
	mm->task_size = current->mm->task_size;
	KUNIT_ASSERT_EQ(test, gpumirror_init(mirror, mm), 0);
	/* The last user goes: exit_mmap(), the mirror's release. */
	mmput(mm);
	KUNIT_EXPECT_PTR_EQ(test, gpumirror_object_create(mirror, &r, 1, 0),
			    ERR_PTR(-ESRCH));
	KUNIT_EXPECT_TRUE(test, list_empty(&mirror->priv->objects));
	gpumirror_fini(mirror);
	gm_fixture_done(test);
}

/*
 * A walk batch spans at most GPUMIRROR_MAX_OBJECT_PAGES pages, holes
 * included: the scratch buffer covers one, and kvmalloc() refuses more.
 */
static void gm_walk_batch_bound(struct kunit *test)
{
	const unsigned long s = SZ_4G;
	const unsigned long max = GPUMIRROR_MAX_OBJECT_PAGES << PAGE_SHIFT;
	unsigned long gap;

	KUNIT_EXPECT_TRUE(test, gpumirror_walk_joins(s, s + max - 2 * PAGE_SIZE,
						     s + max - PAGE_SIZE,
						     s + max));
	KUNIT_EXPECT_FALSE(test, gpumirror_walk_joins(s, s + max - PAGE_SIZE,
						      s + max,
						      s + max + PAGE_SIZE));
	/* Nor across a gap wider than GPUMIRROR_WALK_GAP pages. */
	gap = (GPUMIRROR_WALK_GAP + 1) * PAGE_SIZE;
	KUNIT_EXPECT_FALSE(test, gpumirror_walk_joins(s, s + PAGE_SIZE,
						      s + PAGE_SIZE + gap,
						      s + 2 * PAGE_SIZE + gap));
}

/*
 * Segments close enough to be walked together: the pages between them are
 * never faulted (a hole the application did not register stays empty).
 */
static void gm_holes_untouched(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long a = gm_test_mmap(test, 32 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r[2] = {
		{ a, 2 * PAGE_SIZE },
		{ a + 10 * PAGE_SIZE, 2 * PAGE_SIZE },
	};
	unsigned long pfns[8], i, present = 0;
	struct hmm_range range = {
		.start = a + 2 * PAGE_SIZE,
		.end = a + 10 * PAGE_SIZE,
		.hmm_pfns = pfns,
	};
	struct gpumirror_object *obj;
	int ret;

	KUNIT_ASSERT_TRUE(test, gpumirror_walk_joins(a, a + 2 * PAGE_SIZE,
						     a + 10 * PAGE_SIZE,
						     a + 12 * PAGE_SIZE));
	obj = gpumirror_object_create(&ctx->mirror, r, 2, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&obj->walks), 1LL);
	for (i = 0; i < obj->npages; i++)
		KUNIT_EXPECT_TRUE(test, obj->pfns[i] & HMM_PFN_WRITE);

	/* Read the hole as it is now, faulting nothing. */
	range.notifier = &obj->notifier;
	range.notifier_seq = mmu_interval_read_begin(&obj->notifier);
	mmap_read_lock(current->mm);
	ret = hmm_range_fault(&range);
	mmap_read_unlock(current->mm);
	KUNIT_ASSERT_EQ(test, ret, 0);
	for (i = 0; i < ARRAY_SIZE(pfns); i++)
		present += !!(pfns[i] & HMM_PFN_VALID);
	KUNIT_EXPECT_EQ(test, present, 0UL);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

static size_t gm_dma_max_page(struct device *dev)
{
	return PAGE_SIZE;
}

/* A device that cannot map 2M at once gets a huge page in 4K pieces. */
static void gm_map_dma_max(struct kunit *test)
{
	struct gpumirror_object *obj;
	gpumirror_addr_t e0, e511;

	kunit_activate_static_stub(test, gpumirror_dma_max, gm_dma_max_page);
	obj = gm_map_2m(test, 9, &e0, &e511);
	KUNIT_ASSERT_EQ(test, hmm_pfn_to_map_order(obj->pfns[0]),
			(unsigned int)(PMD_SHIFT - PAGE_SHIFT));
	KUNIT_EXPECT_EQ(test, gpumirror_addr_order(e0), 0U);
	KUNIT_EXPECT_FALSE(test, e511 & GPUMIRROR_ADDR_TAIL);
	KUNIT_EXPECT_EQ(test, gpumirror_addr_order(e511), 0U);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

static size_t gm_dma_max_16k(struct device *dev)
{
	return SZ_16K;
}

/*
 * The set of @obj for @gdev is made of mappings of the @n @orders, in this
 * order: the first entry of each carries its order, the others are tails.
 */
static void gm_expect_orders(struct kunit *test, struct gpumirror_object *obj,
			     struct gpumirror_device *gdev, const u8 *orders,
			     unsigned int n)
{
	unsigned long p = 0, t;
	gpumirror_addr_t e;
	unsigned int i;

	gpumirror_notifier_lock(obj->mirror);
	for (i = 0; i < n && p < obj->npages; i++) {
		e = gpumirror_object_page(obj, gdev, p);
		KUNIT_EXPECT_FALSE_MSG(test, e & GPUMIRROR_ADDR_TAIL,
				       "page %lu", p);
		KUNIT_EXPECT_EQ_MSG(test, gpumirror_addr_order(e),
				    (unsigned int)orders[i], "page %lu", p);
		for (t = 1; t < BIT(orders[i]) && p + t < obj->npages; t++)
			KUNIT_EXPECT_TRUE_MSG(test,
					      gpumirror_object_page(obj, gdev,
								    p + t) &
					      GPUMIRROR_ADDR_TAIL,
					      "page %lu", p + t);
		p += BIT(orders[i]);
	}
	gpumirror_notifier_unlock(obj->mirror);
	KUNIT_EXPECT_EQ(test, i, n);
	KUNIT_EXPECT_EQ(test, p, obj->npages);
}

/*
 * Segments inside a THP: each is DMA-mapped in the largest naturally
 * aligned blocks of the huge page it holds. [64K, 128K) is one order-4
 * mapping; [4K, 64K) is 1 + 2 + 4 + 8 pages; with a device that takes
 * 16K at most, [128K, 192K) is four order-2 mappings. Every entry holds
 * its own page (its data is read through it).
 */
static void gm_map_thp_blocks(struct kunit *test)
{
	static const struct {
		unsigned long off, len;
		bool max16k;
		unsigned int n;
		u8 orders[4];
	} cases[] = {
		{ SZ_64K, SZ_64K, false, 1, { 4 } },
		{ SZ_4K, SZ_64K - SZ_4K, false, 4, { 0, 1, 2, 3 } },
		{ SZ_128K, SZ_64K, true, 4, { 2, 2, 2, 2 } },
	};
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = ALIGN(gm_test_mmap(test, 2 * SZ_2M, GM_RW), SZ_2M);
	struct gpumirror_device *gdev = &ctx->td[1]->gdev;
	struct gpumirror_device_counters c0, c1;
	struct gpumirror_object *obj;
	const u32 tag = 11;
	gpumirror_addr_t e;
	unsigned int i, p;

	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, addr, SZ_2M,
					 MADV_HUGEPAGE), 0);
	gm_fill(test, addr, SZ_2M, tag);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct gpumirror_segment r = { addr + cases[i].off,
					       cases[i].len };

		if (cases[i].max16k)
			kunit_activate_static_stub(test, gpumirror_dma_max,
						   gm_dma_max_16k);
		obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
		gpumirror_device_stats_read(gdev, &c0);
		KUNIT_ASSERT_EQ(test,
				gpumirror_object_map(obj, BIT(1),
						     GPUMIRROR_MAP_WRITE), 0);
		gpumirror_device_stats_read(gdev, &c1);
		KUNIT_ASSERT_EQ(test, hmm_pfn_to_map_order(obj->pfns[0]),
				(unsigned int)(PMD_SHIFT - PAGE_SHIFT));
		KUNIT_EXPECT_EQ(test, c1.dma_maps - c0.dma_maps,
				(u64)obj->npages);
		gm_expect_orders(test, obj, gdev, cases[i].orders, cases[i].n);
		/* The data, read shifted: page p of the segment is page off + p. */
		gpumirror_notifier_lock(&ctx->mirror);
		for (p = 0; p < obj->npages; p++) {
			e = gpumirror_object_page(obj, gdev, p);
			KUNIT_EXPECT_EQ(test, gm_read(e),
					((u64)tag << 32) |
					((cases[i].off >> PAGE_SHIFT) + p));
		}
		gpumirror_notifier_unlock(&ctx->mirror);
		gpumirror_object_destroy(obj);
		gpumirror_device_stats_read(gdev, &c0);
		KUNIT_EXPECT_EQ(test, c0.dma_unmaps - c1.dma_unmaps,
				(u64)cases[i].len >> PAGE_SHIFT);
	}
	gm_fixture_done(test);
}

/* Device 1 takes 16K at most, the others what their DMA ops say. */
static size_t gm_dma_max_16k_dev1(struct device *dev)
{
	struct gm_fixture *ctx = kunit_get_current_test()->priv;

	return dev == ctx->td[1]->gdev.dev ? SZ_16K : dma_max_mapping_size(dev);
}

/*
 * One pass over the pfns for two devices that take a huge page in blocks
 * of different sizes: in a 64K segment of a THP, device 0 maps one order-4
 * block while device 1 maps four order-2 blocks, so that the two stand at
 * different places in the same huge page; every entry of both sets holds
 * its own page.
 */
static void gm_map_pass_two_limits(struct kunit *test)
{
	static const u8 orders0[] = { 4 }, orders1[] = { 2, 2, 2, 2 };
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = ALIGN(gm_test_mmap(test, 2 * SZ_2M, GM_RW), SZ_2M);
	struct gpumirror_segment r = { addr + SZ_64K, SZ_64K };
	struct gpumirror_object *obj;
	const u32 tag = 12;
	unsigned int d, p;
	gpumirror_addr_t e;

	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, addr, SZ_2M,
					 MADV_HUGEPAGE), 0);
	gm_fill(test, addr, SZ_2M, tag);
	kunit_activate_static_stub(test, gpumirror_dma_max,
				   gm_dma_max_16k_dev1);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0) | BIT(1),
						   GPUMIRROR_MAP_WRITE), 0);
	KUNIT_ASSERT_EQ(test, hmm_pfn_to_map_order(obj->pfns[0]),
			(unsigned int)(PMD_SHIFT - PAGE_SHIFT));
	gm_expect_orders(test, obj, &ctx->td[0]->gdev, orders0,
			 ARRAY_SIZE(orders0));
	gm_expect_orders(test, obj, &ctx->td[1]->gdev, orders1,
			 ARRAY_SIZE(orders1));
	gpumirror_notifier_lock(&ctx->mirror);
	for (d = 0; d < 2; d++)
		for (p = 0; p < obj->npages; p++) {
			e = gpumirror_object_page(obj, &ctx->td[d]->gdev, p);
			KUNIT_EXPECT_EQ_MSG(test, gm_read(e),
					    ((u64)tag << 32) |
					    ((SZ_64K >> PAGE_SHIFT) + p),
					    "device %u page %u", d, p);
		}
	gpumirror_notifier_unlock(&ctx->mirror);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

static struct gpumirror_device *gm_bounce_dev;
static unsigned int gm_bounce_after;

/*
 * Stands in for gpumirror_dma_shared(): @gm_bounce_dev's mappings bounce
 * (are not shared) from its @gm_bounce_after'th on.
 */
static bool gm_dma_shared_until(struct gpumirror_device *gdev,
				struct page *page, dma_addr_t dma)
{
	if (gdev != gm_bounce_dev)
		return true;
	if (gm_bounce_after) {
		gm_bounce_after--;
		return true;
	}
	return false;
}

/*
 * Map @obj for write on devices 0 and 1 with device 1's mappings bouncing
 * from its @n'th on: the map must fail with -EOPNOTSUPP. The stub stays
 * active for the caller's further maps.
 */
static void gm_map_refused_after(struct kunit *test,
				 struct gpumirror_object *obj, unsigned int n)
{
	struct gm_fixture *ctx = test->priv;

	gm_bounce_dev = &ctx->td[1]->gdev;
	gm_bounce_after = n;
	kunit_activate_static_stub(test, gpumirror_dma_shared,
				   gm_dma_shared_until);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, 0x3,
						   GPUMIRROR_MAP_WRITE),
			-EOPNOTSUPP);
}

/*
 * A mapping that would need syncing is refused: the map fails with
 * -EOPNOTSUPP for every device and no set keeps a mapping, made before
 * the refusal or by another device.
 */
static void gm_map_incoherent(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	const u32 tags[2] = { 7, 7 };
	struct gpumirror_device_counters c;
	struct gpumirror_segment r[2];
	struct gpumirror_object *obj;
	int i;

	obj = gm_two_segments(test, r, 7);
	gm_map_refused_after(test, obj, 10);
	gpumirror_notifier_lock(&ctx->mirror);
	for (i = 0; i < 2; i++) {
		struct gpumirror_device *gdev = &ctx->td[i]->gdev;

		KUNIT_EXPECT_FALSE(test, gpumirror_object_valid(obj, gdev));
	}
	gpumirror_notifier_unlock(&ctx->mirror);
	for (i = 0; i < 2; i++) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		/*
		 * One pass over the pfns maps each page for both devices:
		 * device 1's 11th mapping was made, refused and released
		 * after device 0's 11th. The test device's DMA-API
		 * debugging check on unbind sees any mapping left.
		 */
		KUNIT_EXPECT_EQ(test, c.dma_maps, i ? 10ULL : 11ULL);
		KUNIT_EXPECT_EQ(test, c.dma_refused, i ? 1ULL : 0ULL);
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, c.dma_maps);
	}

	/* Device 0 alone still maps; device 1 keeps being refused. */
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	gm_check_set(test, obj, ctx->td[0], r, 2, tags);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(1), 0),
			-EOPNOTSUPP);
	kunit_deactivate_static_stub(test, gpumirror_dma_shared);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(1), 0), 0);
	gm_check_set(test, obj, ctx->td[1], r, 2, tags);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * The sets of both devices are built in one pass over the pfns. Rebuilt
 * for write access with device 1 refused midway, each set is unmapped up
 * to where the pass got and no further: past it the sets still hold the
 * entries of the read build, whose mappings went before the pass.
 */
static void gm_map_pass_fails_midway(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	const u32 tags[2] = { 7, 7 };
	struct gpumirror_device_counters c;
	struct gpumirror_segment r[2];
	struct gpumirror_object *obj;
	int i;

	obj = gm_two_segments(test, r, 7);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x3, 0), 0);
	gm_map_refused_after(test, obj, 10);
	kunit_deactivate_static_stub(test, gpumirror_dma_shared);
	KUNIT_EXPECT_EQ(test, obj->valid, 0UL);
	KUNIT_EXPECT_EQ(test, obj->mapped, 0UL);
	for (i = 0; i < 2; i++) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		/* 12 read mappings, then 11 and 10 for write. */
		KUNIT_EXPECT_EQ(test, c.dma_maps, i ? 22ULL : 23ULL);
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, c.dma_maps);
		KUNIT_EXPECT_EQ(test, c.dma_refused, i ? 1ULL : 0ULL);
	}

	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, 0x3,
						   GPUMIRROR_MAP_WRITE), 0);
	for (i = 0; i < 2; i++)
		gm_check_set(test, obj, ctx->td[i], r, 2, tags);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * gpumirror_object_pages() hands out the set itself: entries as
 * gpumirror_object_page() reads them (so the pages' own contents), cut at
 * the end of the object, and nothing once the set is stale.
 */
static void gm_pages_run(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, 4 * PAGE_SIZE };
	struct gpumirror_device *gdev = &ctx->td[1]->gdev;
	const gpumirror_addr_t *set;
	struct gpumirror_object *obj;
	unsigned long n, i;

	gm_fill(test, addr, r.len, 7);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(1), 0), 0);

	gpumirror_notifier_lock(&ctx->mirror);
	n = 10;
	set = gpumirror_object_pages(obj, gdev, 1, &n);
	KUNIT_EXPECT_EQ(test, n, 3UL);
	for (i = 0; set && i < n; i++) {
		KUNIT_EXPECT_EQ(test, set[i],
				gpumirror_object_page(obj, gdev, 1 + i));
		KUNIT_EXPECT_EQ(test, gm_read(set[i]), (7ULL << 32) | (1 + i));
	}
	n = 1;
	KUNIT_EXPECT_NOT_NULL(test, gpumirror_object_pages(obj, gdev, 1, &n));
	KUNIT_EXPECT_EQ(test, n, 1UL);
	n = 1;
	KUNIT_EXPECT_NULL(test, gpumirror_object_pages(obj, gdev, 4, &n));
	KUNIT_EXPECT_EQ(test, n, 0UL);
	n = 1;
	KUNIT_EXPECT_NULL(test, gpumirror_object_pages(obj, &ctx->td[0]->gdev,
						       0, &n));
	KUNIT_EXPECT_EQ(test, n, 0UL);
	gpumirror_notifier_unlock(&ctx->mirror);

	/* Stale after an munmap() of one page: the array is still there. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr + 3 * PAGE_SIZE, PAGE_SIZE), 0);
	gpumirror_notifier_lock(&ctx->mirror);
	n = 4;
	KUNIT_EXPECT_NULL(test, gpumirror_object_pages(obj, gdev, 0, &n));
	KUNIT_EXPECT_EQ(test, n, 0UL);
	gpumirror_notifier_unlock(&ctx->mirror);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * A one-page object keeps slot 0's set inline and grows its array of sets
 * when a higher slot maps it: every device still gets a set of its own,
 * which reads the page and survives the others being dropped and rebuilt
 * (a shared or lost set, or the inline one freed, fails the reads or
 * KASAN).
 */
static void gm_one_page_sets(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, PAGE_SIZE };
	const gpumirror_addr_t *set[GM_FIXTURE_NDEV];
	const u32 tag = 9;
	struct gpumirror_object *obj;
	unsigned long n;
	int i, j;

	gm_fill(test, addr, r.len, tag);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	/*
	 * Slot 0 first (inline set, inline array), then slot 3: the array
	 * grows and must carry slot 0's inline set over; then the slots
	 * between.
	 */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(3), 0), 0);
	KUNIT_EXPECT_GE(test, obj->nr_sets, 4U);
	KUNIT_EXPECT_PTR_NE(test, obj->sets, &obj->inline_sets[0]);
	gm_check_set(test, obj, ctx->td[0], &r, 1, &tag);
	gpumirror_notifier_lock(&ctx->mirror);
	n = 1;
	KUNIT_EXPECT_PTR_EQ(test, gpumirror_object_pages(obj, &ctx->td[0]->gdev,
							 0, &n),
			    (const gpumirror_addr_t *)&obj->inline_set);
	gpumirror_notifier_unlock(&ctx->mirror);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(1) | BIT(2), 0), 0);
	gpumirror_notifier_lock(&ctx->mirror);
	for (i = 0; i < GM_FIXTURE_NDEV; i++) {
		n = 1;
		set[i] = gpumirror_object_pages(obj, &ctx->td[i]->gdev, 0, &n);
		KUNIT_EXPECT_EQ(test, n, 1UL);
		KUNIT_ASSERT_NOT_NULL(test, set[i]);
		KUNIT_EXPECT_EQ(test, gm_read(set[i][0]), (u64)tag << 32);
		for (j = 0; j < i; j++)
			KUNIT_EXPECT_PTR_NE(test, set[i], set[j]);
	}
	gpumirror_notifier_unlock(&ctx->mirror);

	/* Slot 0's set dropped and rebuilt; slot 3's set untouched. */
	gpumirror_object_unmap(obj, &ctx->td[0]->gdev);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	gpumirror_object_unmap(obj, &ctx->td[3]->gdev);
	gm_check_set(test, obj, ctx->td[0], &r, 1, &tag);
	gm_check_set(test, obj, ctx->td[2], &r, 1, &tag);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(3), 0), 0);
	gm_check_set(test, obj, ctx->td[3], &r, 1, &tag);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

static struct kunit_case gm_object_cases[] = {
	KUNIT_CASE_PARAM(gm_create_bad_input, gm_create_gen_params),
	KUNIT_CASE_PARAM(gm_map_segments, gm_segs_gen_params),
	KUNIT_CASE(gm_map_thp),
	KUNIT_CASE(gm_map_thp_blocks),
	KUNIT_CASE(gm_map_pass_two_limits),
	KUNIT_CASE_PARAM(gm_map_backings, gm_backing_gen_params),
	KUNIT_CASE(gm_hole_invalidation),
	KUNIT_CASE_PARAM(gm_retry_whole_set, gm_race_gen_params),
	KUNIT_CASE(gm_rewalk_chain),
	KUNIT_CASE(gm_rewalk_sorted),
	KUNIT_CASE(gm_remap_fails),
	KUNIT_CASE(gm_four_devices),
	KUNIT_CASE(gm_pages_run),
	KUNIT_CASE(gm_one_page_sets),
	KUNIT_CASE_PARAM(gm_fault_errors, gm_fault_gen_params),
	KUNIT_CASE(gm_create_exited_mm),
	KUNIT_CASE(gm_holes_untouched),
	KUNIT_CASE(gm_map_dma_max),
	KUNIT_CASE(gm_map_incoherent),
	KUNIT_CASE(gm_map_pass_fails_midway),
	KUNIT_CASE(gm_walk_batch_bound),
	{}
};

static struct kunit_suite gm_object_suite = {
	.name = "gpumirror_object",
	.init = gm_obj_init,
	.exit = gm_fixture_exit,
	.test_cases = gm_object_cases,
};

kunit_test_suite(gm_object_suite);
