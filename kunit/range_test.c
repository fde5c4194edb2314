// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for fault-mode ranges: chunk sizes, attributes, errors.
 */

#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/mman.h>
#include <linux/sizes.h>

#include "../internal.h"
#include "test_dev.h"

static int gm_range_init(struct kunit *test)
{
	return gm_fixture_init(test, 0);
}

struct gm_chunk_case {
	const char *name;
	unsigned long vma_len;		/* aligned part of the mapping */
	unsigned long fault_off;	/* from the 2M-aligned address */
	unsigned int granularity;	/* 0: default */
	unsigned long chunk;
};

static const struct gm_chunk_case gm_chunk_cases[] = {
	{ "2M_vma", 2 * SZ_2M, SZ_1M + 5 * SZ_4K, 0, SZ_2M },
	{ "64K_vma", SZ_64K, 3 * SZ_4K, 0, SZ_64K },
	{ "4K_vma", SZ_4K, 0, 0, SZ_4K },
	{ "granularity_64K", 2 * SZ_2M, SZ_1M, 4, SZ_64K },
	{ "granularity_8K", 2 * SZ_2M, SZ_1M, 1, SZ_4K },
};

KUNIT_ARRAY_PARAM_DESC(gm_chunk, gm_chunk_cases, name);

/* The largest chunk that fits the VMA and the attributes is made. */
static void gm_fault_chunk(struct kunit *test)
{
	const struct gm_chunk_case *c = test->param_value;
	struct gm_fixture *fx = test->priv;
	unsigned long align = min_t(unsigned long, c->vma_len, SZ_2M);
	unsigned long map_len = c->vma_len + align;
	unsigned long addr = gm_test_mmap(test, map_len, GM_RW);
	unsigned long base = ALIGN(addr, align);
	unsigned long fault = base + c->fault_off;
	struct gpumirror_object *obj, *again;
	struct gpumirror_attrs a;

	if (c->granularity) {
		gpumirror_attr_default(&a);
		a.granularity = c->granularity;
		KUNIT_ASSERT_EQ(test,
				gpumirror_attr_set(&fx->mirror, addr,
						   addr + map_len, &a,
						   GPUMIRROR_ATTR_GRANULARITY),
				0);
	}
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      fault, true), 0);
	obj = fx->td[0]->last_bound;
	KUNIT_ASSERT_NOT_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, obj->npages, c->chunk >> PAGE_SHIFT);
	KUNIT_EXPECT_EQ(test, obj->segs[0].it.start, ALIGN_DOWN(fault, c->chunk));
	/* Identity mapped: GPU VA == CPU VA. */
	KUNIT_EXPECT_EQ(test, obj->gpu_start, (u64)obj->segs[0].it.start);
	gpumirror_notifier_lock(&fx->mirror);
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(obj, &fx->td[0]->gdev));
	KUNIT_EXPECT_TRUE(test, gpumirror_object_page(obj, &fx->td[0]->gdev,
						      0) & GPUMIRROR_ADDR_WRITE);
	gpumirror_notifier_unlock(&fx->mirror);

	/* Another device faulting in the same chunk gets the same range. */
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[1]->gdev,
					      obj->segs[0].it.last, false), 0);
	again = fx->td[1]->last_bound;
	KUNIT_EXPECT_PTR_EQ(test, again, obj);
	gm_fixture_done(test);
}

/* An attribute boundary inside the 2M chunk makes it smaller. */
static void gm_fault_attr_boundary(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	unsigned long base = ALIGN(gm_test_mmap(test, 2 * SZ_2M, GM_RW), SZ_2M);
	struct gpumirror_object *obj;
	struct gpumirror_attrs a;

	gpumirror_attr_default(&a);
	a.preferred_loc = 1;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, base + SZ_1M,
						 base + SZ_2M, &a,
						 GPUMIRROR_ATTR_PREFERRED_LOC),
			0);
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      base + SZ_4K, false), 0);
	obj = fx->td[0]->last_bound;
	KUNIT_EXPECT_EQ(test, obj->npages, (unsigned long)SZ_64K >> PAGE_SHIFT);
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      base + SZ_1M + SZ_4K, false), 0);
	obj = fx->td[0]->last_bound;
	KUNIT_EXPECT_EQ(test, obj->npages, (unsigned long)SZ_64K >> PAGE_SHIFT);
	gm_fixture_done(test);
}

struct gm_denied_case {
	const char *name;
	bool read_only, no_access, unmapped, write;
	int err;
};

static const struct gm_denied_case gm_denied_cases[] = {
	{ "no_access", false, true, false, false, -EPERM },
	{ "write_to_read_only", true, false, false, true, -EPERM },
	{ "read_of_read_only", true, false, false, false, 0 },
	{ "unmapped", false, false, true, false, -EFAULT },
};

KUNIT_ARRAY_PARAM_DESC(gm_denied, gm_denied_cases, name);

/* Forbidden or unmapped addresses give clean errors, and no range. */
static void gm_fault_denied(struct kunit *test)
{
	const struct gm_denied_case *c = test->param_value;
	struct gm_fixture *fx = test->priv;
	unsigned long addr = gm_test_mmap(test, SZ_64K, GM_RW);
	struct gpumirror_attrs a;

	gpumirror_attr_default(&a);
	a.read_only = c->read_only;
	if (c->no_access) {
		a.access_read = ~BIT(0);
		a.access_write = ~BIT(0);
	}
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, addr,
						 addr + SZ_64K, &a,
						 GPUMIRROR_ATTR_ALL), 0);
	if (c->unmapped)
		KUNIT_ASSERT_EQ(test, vm_munmap(addr, SZ_64K), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      addr, c->write), c->err);
	/* -EPERM and an unmapped address make no range at all. */
	KUNIT_EXPECT_EQ(test, RB_EMPTY_ROOT(&fx->mirror.priv->ranges.rb_root),
			c->err != 0);
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, NULL, addr, false),
			-EINVAL);
	gm_fixture_done(test);
}

static struct kunit_case gm_range_cases[] = {
	KUNIT_CASE_PARAM(gm_fault_chunk, gm_chunk_gen_params),
	KUNIT_CASE(gm_fault_attr_boundary),
	KUNIT_CASE_PARAM(gm_fault_denied, gm_denied_gen_params),
	{}
};

static struct kunit_suite gm_range_suite = {
	.name = "gpumirror_fault",
	.init = gm_range_init,
	.exit = gm_fixture_exit,
	.test_cases = gm_range_cases,
};

kunit_test_suite(gm_range_suite);
