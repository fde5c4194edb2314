// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for the gpumirror instance: init/fini, device attach/detach.
 */

#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>

#include "../internal.h"
#include "test_dev.h"

/*
 * An mm no CPU ever ran on: the test thread's own mm also collects and
 * drops lazy-TLB references (MMU_LAZY_TLB_REFCOUNT) behind the test's
 * back, which made exact counts flaky.
 */
static void gm_init_fini(struct kunit *test)
{
	struct mm_struct *mm = mm_alloc();
	/* Too large for the stack with lockdep. */
	struct gpumirror *mirror = kunit_kzalloc(test, sizeof(*mirror),
						 GFP_KERNEL);
	int count;

	KUNIT_ASSERT_NOT_NULL(test, mm);
	if (!mirror) {
		mmput(mm);
		KUNIT_FAIL(test, "no memory");
		return;
	}
	count = atomic_read(&mm->mm_count);
	if (gpumirror_init(mirror, mm)) {
		mmput(mm);
		KUNIT_FAIL(test, "gpumirror_init() failed");
		return;
	}
	KUNIT_EXPECT_PTR_EQ(test, mirror->mm, mm);
	/* The mm struct is pinned (not its address space). */
	KUNIT_EXPECT_GT(test, atomic_read(&mm->mm_count), count);
	KUNIT_EXPECT_EQ(test, mirror->device_mask, 0UL);
	KUNIT_EXPECT_TRUE(test, list_empty(&mirror->priv->objects));
	gpumirror_fini(mirror);
	KUNIT_EXPECT_EQ(test, atomic_read(&mm->mm_count), count);
	KUNIT_EXPECT_NULL(test, mirror->mm);
	mmput(mm);
}

static void gm_init_bad_args(struct kunit *test)
{
	struct mm_struct *mm = gm_test_mm(test);
	struct gpumirror mirror;

	KUNIT_EXPECT_EQ(test, gpumirror_init(NULL, mm), -EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_init(&mirror, NULL), -EINVAL);
}

static void gm_attach_detach_several(struct kunit *test)
{
	struct mm_struct *mm = gm_test_mm(test);
	struct gm_test_dev *td[4];
	struct gpumirror *mirror = kunit_kzalloc(test, sizeof(*mirror),
						 GFP_KERNEL);
	int i;

	/* Too large for the stack with lockdep. */
	KUNIT_ASSERT_NOT_NULL(test, mirror);
	KUNIT_ASSERT_EQ(test, gpumirror_init(mirror, mm), 0);
	for (i = 0; i < 4; i++) {
		td[i] = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
		KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror,
							      &td[i]->gdev), 0);
		KUNIT_EXPECT_EQ(test, td[i]->gdev.index, i);
		KUNIT_EXPECT_PTR_EQ(test, td[i]->gdev.mirror, mirror);
	}
	KUNIT_EXPECT_EQ(test, mirror->device_mask, 0xfUL);

	gpumirror_device_detach(&td[1]->gdev);
	KUNIT_EXPECT_EQ(test, mirror->device_mask, 0xdUL);
	KUNIT_EXPECT_NULL(test, td[1]->gdev.mirror);
	KUNIT_EXPECT_NULL(test, mirror->devices[1]);
	KUNIT_EXPECT_EQ(test, atomic_read(&td[1]->detaches), 1);
	/* Detaching twice is a no-op. */
	gpumirror_device_detach(&td[1]->gdev);
	KUNIT_EXPECT_EQ(test, atomic_read(&td[1]->detaches), 1);

	/* The freed slot is reused. */
	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror, &td[1]->gdev),
			0);
	KUNIT_EXPECT_EQ(test, td[1]->gdev.index, 1);

	for (i = 0; i < 4; i++)
		gpumirror_device_detach(&td[i]->gdev);
	KUNIT_EXPECT_EQ(test, mirror->device_mask, 0UL);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, atomic_read(&td[i]->detaches),
				i == 1 ? 2 : 1);
	gpumirror_fini(mirror);
}

/* A driver's object: gpumirror's embedded, with state of its own. */
struct gm_drv_object {
	struct gpumirror_object base;
	unsigned long magic;
	atomic_t *frees;
};

#define GM_DRV_MAGIC	0x6770756d69726fUL

static atomic_t gm_drv_allocs, gm_drv_frees;

static struct gpumirror_object *gm_drv_object_alloc(struct gpumirror *mirror)
{
	struct gm_drv_object *o = kzalloc(sizeof(*o), GFP_KERNEL);

	if (!o)
		return NULL;
	o->magic = GM_DRV_MAGIC;
	o->frees = &gm_drv_frees;
	atomic_inc(&gm_drv_allocs);
	return &o->base;
}

static void gm_drv_object_free(struct gpumirror_object *obj)
{
	struct gm_drv_object *o = container_of(obj, struct gm_drv_object, base);

	/* Freed once, and only what this driver allocated. */
	if (o->magic == GM_DRV_MAGIC)
		atomic_inc(o->frees);
	o->magic = 0;
	kfree(o);
}

static const struct gpumirror_ops gm_drv_ops = {
	.object_alloc = gm_drv_object_alloc,
	.object_free = gm_drv_object_free,
};

/*
 * Objects embedded in the driver's structure: every object comes from the
 * driver's alloc and goes back to its free, on success and on every error
 * after the allocation; half a pair of ops is refused.
 */
static void gm_embedded_objects(struct kunit *test)
{
	static const struct gpumirror_ops half[] = {
		{ .object_alloc = gm_drv_object_alloc },
		{ .object_free = gm_drv_object_free },
	};
	struct mm_struct *mm = gm_test_mm(test);
	struct gpumirror *mirror = kunit_kzalloc(test, sizeof(*mirror),
						 GFP_KERNEL);
	unsigned long addr = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r[2] = {
		{ addr, 2 * PAGE_SIZE }, { addr + PAGE_SIZE, PAGE_SIZE },
	};
	struct gm_test_dev *td;
	struct gpumirror_object *obj;

	KUNIT_ASSERT_NOT_NULL(test, mirror);
	KUNIT_EXPECT_EQ(test, gpumirror_init_ops(mirror, mm, &half[0]),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_init_ops(mirror, mm, &half[1]),
			-EINVAL);
	atomic_set(&gm_drv_allocs, 0);
	atomic_set(&gm_drv_frees, 0);
	KUNIT_ASSERT_EQ(test, gpumirror_init_ops(mirror, mm, &gm_drv_ops), 0);
	td = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror, &td->gdev), 0);

	/* overlapping segments: refused after the allocation */
	obj = gpumirror_object_create(mirror, r, 2, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(obj), -EEXIST);
	KUNIT_EXPECT_EQ(test, atomic_read(&gm_drv_allocs), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&gm_drv_frees), 1);

	obj = gpumirror_object_create(mirror, r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, container_of(obj, struct gm_drv_object,
					   base)->magic, GM_DRV_MAGIC);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	gpumirror_object_destroy(obj);
	KUNIT_EXPECT_EQ(test, atomic_read(&gm_drv_frees), 2);

	/* left behind: gpumirror_fini() frees it through the driver too */
	obj = gpumirror_object_create(mirror, r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	gpumirror_fini(mirror);
	KUNIT_EXPECT_EQ(test, atomic_read(&gm_drv_allocs), 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&gm_drv_frees), 3);
}

struct gm_attach_case {
	const char *name;
	bool no_dev;
	bool no_ops;
	bool no_invalidate;
	bool nofault;
	const struct gpumirror_device_ops *ops;
	u64 va_limit;
	int err;
};

static const struct gpumirror_device_ops gm_no_invalidate_ops = { };

static const struct gm_attach_case gm_attach_cases[] = {
	{ .name = "no_dev", .no_dev = true, .va_limit = GM_VA_LIMIT,
	  .err = -EINVAL },
	{ .name = "no_ops", .no_ops = true, .va_limit = GM_VA_LIMIT,
	  .err = -EINVAL },
	{ .name = "no_invalidate", .no_invalidate = true,
	  .va_limit = GM_VA_LIMIT, .err = -EINVAL },
	{ .name = "zero_va_limit", .va_limit = 0, .err = -EINVAL },
	{ .name = "unaligned_va_limit", .va_limit = GM_VA_LIMIT - 1,
	  .err = -EINVAL },
	{ .name = "good", .va_limit = GM_VA_LIMIT, .err = 0 },
	/* no-fault without suspend and resume: refused either way */
	{ .name = "nofault_no_resume", .nofault = true, .va_limit = GM_VA_LIMIT,
	  .err = -EINVAL },
	/* a known flag only with the SVM part's restore worker */
	{ .name = "nofault", .nofault = true, .ops = &gm_test_ops_nofault,
	  .va_limit = GM_VA_LIMIT,
	  .err = GPUMIRROR_DEVICE_FLAGS & GPUMIRROR_DEVICE_NOFAULT ? 0 : -EINVAL },
};

KUNIT_ARRAY_PARAM_DESC(gm_attach, gm_attach_cases, name);

static void gm_attach_bad_args(struct kunit *test)
{
	const struct gm_attach_case *c = test->param_value;
	struct mm_struct *mm = gm_test_mm(test);
	struct gm_test_dev *td;
	struct gpumirror mirror;

	KUNIT_ASSERT_EQ(test, gpumirror_init(&mirror, mm), 0);
	td = gm_test_dev_create(test, c->va_limit, NULL);
	if (c->no_dev)
		td->gdev.dev = NULL;
	if (c->no_ops)
		td->gdev.ops = NULL;
	if (c->no_invalidate)
		td->gdev.ops = &gm_no_invalidate_ops;
	if (c->ops)
		td->gdev.ops = c->ops;
	if (c->nofault)
		td->gdev.flags |= GPUMIRROR_DEVICE_NOFAULT;
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(&mirror, &td->gdev),
			c->err);
	KUNIT_EXPECT_EQ(test, mirror.device_mask, c->err ? 0UL : 1UL);
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(NULL, &td->gdev),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(&mirror, NULL), -EINVAL);
	gpumirror_fini(&mirror);
}

static void gm_attach_conflicts(struct kunit *test)
{
	struct mm_struct *mm = gm_test_mm(test);
	struct gm_test_dev *td, *twin, *spare;
	struct gpumirror *mirrors, *mirror, *other;
	struct gm_test_dev **many;
	int i;

	/* Two mirrors are too big for the stack. */
	mirrors = kunit_kcalloc(test, 2, sizeof(*mirrors), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, mirrors);
	mirror = &mirrors[0];
	other = &mirrors[1];
	KUNIT_ASSERT_EQ(test, gpumirror_init(mirror, mm), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_init(other, mm), 0);
	td = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror, &td->gdev), 0);
	/* Already attached, here or elsewhere. */
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(mirror, &td->gdev),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(other, &td->gdev),
			-EBUSY);
	/* Another gpumirror_device for the same struct device. */
	twin = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
	twin->gdev.dev = td->gdev.dev;
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(mirror, &twin->gdev),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(other, &twin->gdev), 0);

	/* Fill every slot, then one more. */
	many = kunit_kcalloc(test, GPUMIRROR_MAX_DEVICES, sizeof(*many),
			     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, many);
	for (i = 1; i < GPUMIRROR_MAX_DEVICES; i++) {
		many[i] = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
		KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror,
							      &many[i]->gdev),
				0);
	}
	KUNIT_EXPECT_EQ(test, mirror->device_mask, ~0UL);
	spare = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(mirror, &spare->gdev),
			-ENOSPC);
	KUNIT_EXPECT_NULL(test, spare->gdev.mirror);

	gpumirror_fini(mirror);
	gpumirror_fini(other);
	for (i = 1; i < GPUMIRROR_MAX_DEVICES; i++)
		KUNIT_EXPECT_EQ(test, atomic_read(&many[i]->detaches), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&twin->detaches), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&spare->detaches), 0);
}

/* fini with devices attached and objects mapped tears all of it down. */
static void gm_fini_with_leftovers(struct kunit *test)
{
	struct mm_struct *mm = gm_test_mm(test);
	unsigned long addr = gm_test_mmap(test, 8 * PAGE_SIZE,
					  GM_RW);
	struct gpumirror_segment r[2] = {
		{ addr, 2 * PAGE_SIZE },
		{ addr + 4 * PAGE_SIZE, 3 * PAGE_SIZE },
	};
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj[2];
	struct gm_test_dev *td[2];
	struct gpumirror *mirror = kunit_kzalloc(test, sizeof(*mirror),
						 GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, mirror);
	KUNIT_ASSERT_EQ(test, gpumirror_init(mirror, mm), 0);
	for (i = 0; i < 2; i++) {
		td[i] = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
		KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror,
							      &td[i]->gdev), 0);
	}
	obj[0] = gpumirror_object_create(mirror, r, 2, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj[0]);
	obj[1] = gpumirror_object_create(mirror, r, 1, 1ULL << 30);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj[1]);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj[0], 0x3, 0), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj[1], 0x1, 0), 0);

	gpumirror_fini(mirror);

	/* Every mapped set was zapped once and all DMA mappings released. */
	KUNIT_EXPECT_EQ(test, atomic_read(&td[0]->invalidates), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&td[1]->invalidates), 1);
	for (i = 0; i < 2; i++) {
		gpumirror_device_stats_read(&td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.dma_maps, i ? 5ULL : 7ULL);
		KUNIT_EXPECT_EQ(test, c.dma_unmaps, c.dma_maps);
		KUNIT_EXPECT_EQ(test, atomic_read(&td[i]->detaches), 1);
		KUNIT_EXPECT_NULL(test, td[i]->gdev.mirror);
	}
}

static struct kunit_case gm_mirror_cases[] = {
	KUNIT_CASE(gm_init_fini),
	KUNIT_CASE(gm_init_bad_args),
	KUNIT_CASE(gm_attach_detach_several),
	KUNIT_CASE(gm_embedded_objects),
	KUNIT_CASE_PARAM(gm_attach_bad_args, gm_attach_gen_params),
	KUNIT_CASE(gm_attach_conflicts),
	KUNIT_CASE(gm_fini_with_leftovers),
	{}
};

static struct kunit_suite gm_mirror_suite = {
	.name = "gpumirror_mirror",
	.test_cases = gm_mirror_cases,
};

kunit_test_suite(gm_mirror_suite);

MODULE_DESCRIPTION("KUnit tests for gpumirror");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
