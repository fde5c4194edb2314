// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for the gpumirror attribute tree: split, merge, defaults.
 */

#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/mman.h>

#include "../internal.h"
#include "test_dev.h"

#define GM_BASE		BIT(32)
#define P(n)		(GM_BASE + (unsigned long)(n) * PAGE_SIZE)
#define GM_MAX_OPS	3
#define GM_MAX_RUNS	6

struct gm_attr_op {
	unsigned int start, end;	/* pages from GM_BASE */
	unsigned int mask;
	int loc;
	bool ro;
	unsigned long no_write;		/* slots denied write access */
};

struct gm_attr_run {
	unsigned int start, end;
	int loc;
	bool ro;
	unsigned long no_write;
};

struct gm_attr_case {
	const char *name;
	struct gm_attr_op ops[GM_MAX_OPS];
	struct gm_attr_run runs[GM_MAX_RUNS];
};

#define RO	GPUMIRROR_ATTR_READ_ONLY
#define LOC	GPUMIRROR_ATTR_PREFERRED_LOC
#define ACC	GPUMIRROR_ATTR_ACCESS
#define SYS	GPUMIRROR_LOC_SYSTEM

static const struct gm_attr_case gm_attr_cases[] = {
	{ "single",
	  { { 10, 20, RO, 0, true } },
	  { { 10, 20, SYS, true } } },
	{ "overlap_splits",
	  { { 10, 20, RO, 0, true }, { 15, 30, LOC, 1 } },
	  { { 10, 15, SYS, true }, { 15, 20, 1, true }, { 20, 30, 1 } } },
	{ "middle_back_to_default",
	  { { 10, 30, RO, 0, true }, { 15, 20, RO, 0, false } },
	  { { 10, 15, SYS, true }, { 20, 30, SYS, true } } },
	{ "adjacent_merge",
	  { { 10, 20, RO, 0, true }, { 20, 30, RO, 0, true } },
	  { { 10, 30, SYS, true } } },
	{ "bridge_merge",
	  { { 10, 20, RO, 0, true }, { 30, 40, RO, 0, true },
	    { 20, 30, RO, 0, true } },
	  { { 10, 40, SYS, true } } },
	{ "cover_gaps",
	  { { 10, 12, LOC, 1 }, { 14, 16, LOC, 2 }, { 8, 18, RO, 0, true } },
	  { { 8, 10, SYS, true }, { 10, 12, 1, true }, { 12, 14, SYS, true },
	    { 14, 16, 2, true }, { 16, 18, SYS, true } } },
	{ "all_back_to_default",
	  { { 10, 20, RO | LOC, 3, true }, { 5, 25, RO | LOC, SYS, false } },
	  { } },
	{ "per_device_access",
	  { { 10, 20, ACC, 0, false, BIT(1) }, { 15, 25, RO, 0, true } },
	  { { 10, 15, SYS, false, BIT(1) }, { 15, 20, SYS, true, BIT(1) },
	    { 20, 25, SYS, true } } },
};

KUNIT_ARRAY_PARAM_DESC(gm_attr, gm_attr_cases, name);

static int gm_attr_init(struct kunit *test)
{
	return gm_fixture_init(test, 0);
}

static void gm_attr_apply_op(struct kunit *test, struct gpumirror *mirror,
			     const struct gm_attr_op *op)
{
	struct gpumirror_attrs a;

	gpumirror_attr_default(&a);
	a.preferred_loc = op->loc;
	a.read_only = op->ro;
	a.access_write &= ~op->no_write;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(mirror, P(op->start),
						 P(op->end), &a, op->mask), 0);
}

/* The tree holds exactly the expected runs, and get() agrees. */
static void gm_attr_split_merge(struct kunit *test)
{
	const struct gm_attr_case *c = test->param_value;
	struct gm_fixture *fx = test->priv;
	struct gpumirror *mirror = &fx->mirror;
	struct interval_tree_node *it;
	struct gpumirror_attrs a;
	unsigned long end;
	int i, n = 0;

	for (i = 0; i < GM_MAX_OPS && c->ops[i].end; i++)
		gm_attr_apply_op(test, mirror, &c->ops[i]);

	for (it = interval_tree_iter_first(&mirror->priv->attrs, 0, ULONG_MAX); it;
	     it = interval_tree_iter_next(it, 0, ULONG_MAX), n++) {
		const struct gm_attr_run *r = &c->runs[n];

		KUNIT_ASSERT_LT(test, n, GM_MAX_RUNS);
		KUNIT_EXPECT_EQ(test, it->start, P(r->start));
		KUNIT_EXPECT_EQ(test, it->last + 1, P(r->end));
		gpumirror_attr_get(mirror, it->start, &a, &end);
		KUNIT_EXPECT_EQ(test, end, P(r->end));
		KUNIT_EXPECT_EQ(test, a.preferred_loc, r->loc);
		KUNIT_EXPECT_EQ(test, a.read_only, r->ro);
		KUNIT_EXPECT_EQ(test, a.access_write, ~r->no_write);
		KUNIT_EXPECT_EQ(test, a.access_read, ~0UL);
	}
	for (i = n; i < GM_MAX_RUNS; i++)
		KUNIT_EXPECT_EQ(test, c->runs[i].end, 0U);
	gm_fixture_done(test);
}

/* Outside every run: the defaults, up to the next run. */
static void gm_attr_get_defaults(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gpumirror_attrs a, def;
	unsigned long end;

	gpumirror_attr_default(&def);
	gpumirror_attr_default(&a);
	a.always_mapped = true;
	a.granularity = 4;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, P(10), P(20), &a,
						 GPUMIRROR_ATTR_ALL), 0);
	gpumirror_attr_get(&fx->mirror, P(3), &a, &end);
	KUNIT_EXPECT_EQ(test, end, P(10));
	KUNIT_EXPECT_EQ(test, memcmp(&a, &def, sizeof(a)), 0);
	gpumirror_attr_get(&fx->mirror, P(25), &a, &end);
	KUNIT_EXPECT_EQ(test, end, fx->mirror.mm->task_size);
	gpumirror_attr_get(&fx->mirror, P(19), &a, &end);
	KUNIT_EXPECT_TRUE(test, a.always_mapped);
	KUNIT_EXPECT_EQ(test, a.granularity, 4U);
	KUNIT_EXPECT_EQ(test, end, P(20));
	gm_fixture_done(test);
}

struct gm_attr_bad {
	const char *name;
	unsigned long start, end;
	unsigned int mask;
	int loc;
	unsigned int granularity;
	bool write_without_read;
	int err;
};

static const struct gm_attr_bad gm_attr_bads[] = {
	{ "empty", P(10), P(10), RO, SYS, 9, false, -EINVAL },
	{ "reversed", P(10), P(5), RO, SYS, 9, false, -EINVAL },
	{ "unaligned", P(10) + 1, P(20), RO, SYS, 9, false, -EINVAL },
	{ "no_mask", P(10), P(20), 0, SYS, 9, false, -EINVAL },
	{ "unknown_mask", P(10), P(20), BIT(7), SYS, 9, false, -EINVAL },
	{ "bad_location", P(10), P(20), LOC, GPUMIRROR_MAX_DEVICES, 9, false,
	  -EINVAL },
	{ "granularity", P(10), P(20), GPUMIRROR_ATTR_GRANULARITY, SYS,
	  GPUMIRROR_MAX_GRANULARITY + 1, false, -EINVAL },
	{ "write_without_read", P(10), P(20), ACC, SYS, 9, true, -EINVAL },
	{ "beyond_user", 0, 0, RO, SYS, 9, false, -EFAULT },
};

KUNIT_ARRAY_PARAM_DESC(gm_attr_bad, gm_attr_bads, name);

/* Bad input fails with its errno and leaves the tree as it was. */
static void gm_attr_bad_input(struct kunit *test)
{
	const struct gm_attr_bad *b = test->param_value;
	struct gm_fixture *fx = test->priv;
	unsigned long start = b->start, end = b->end;
	struct gpumirror_attrs a;

	if (!end) {
		start = fx->mirror.mm->task_size - PAGE_SIZE;
		end = start + 2 * PAGE_SIZE;
	}
	gpumirror_attr_default(&a);
	a.preferred_loc = b->loc;
	a.granularity = b->granularity;
	a.read_only = true;
	if (b->write_without_read)
		a.access_read &= ~BIT(2);
	KUNIT_EXPECT_EQ(test, gpumirror_attr_set(&fx->mirror, start, end, &a,
						 b->mask), b->err);
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&fx->mirror.priv->attrs.rb_root));
	KUNIT_EXPECT_EQ(test, gpumirror_attr_set(NULL, P(1), P(2), &a, RO),
			-EINVAL);
	gm_fixture_done(test);
}

/* Objects come and go over a range: its attributes stay. */
static void gm_attr_survive_rechunk(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	unsigned long addr = gm_test_mmap(test, 16 * PAGE_SIZE,
					  GM_RW);
	struct gpumirror_segment whole = { addr, 16 * PAGE_SIZE };
	struct gpumirror_segment half = { addr + 8 * PAGE_SIZE, 8 * PAGE_SIZE };
	struct gpumirror_object *obj;
	struct gpumirror_attrs a;
	unsigned long end;

	gpumirror_attr_default(&a);
	a.preferred_loc = 2;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, addr,
						 addr + 16 * PAGE_SIZE, &a,
						 LOC), 0);
	obj = gpumirror_object_create(&fx->mirror, &whole, 1, addr);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x3, 0), 0);
	gpumirror_object_destroy(obj);
	/* Re-chunked: half the range, then the other half. */
	obj = gpumirror_object_create(&fx->mirror, &half, 1, addr);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x1, 0), 0);
	gpumirror_object_destroy(obj);

	gpumirror_attr_get(&fx->mirror, addr + 9 * PAGE_SIZE, &a, &end);
	KUNIT_EXPECT_EQ(test, a.preferred_loc, 2);
	KUNIT_EXPECT_EQ(test, end, addr + 16 * PAGE_SIZE);
	gpumirror_attr_get(&fx->mirror, addr, &a, &end);
	KUNIT_EXPECT_EQ(test, a.preferred_loc, 2);
	gm_fixture_done(test);
}

/*
 * Access set for some devices only: the other slots keep theirs, node by
 * node (one run denies slot 0, the next slot 1, over the same span).
 */
static void gm_attr_set_devices(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gpumirror_attrs a;

	gpumirror_attr_default(&a);
	a.access_read &= ~BIT(0);
	a.access_write &= ~BIT(0);
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set_devices(&fx->mirror, P(10),
							 P(20), &a, ACC,
							 BIT(0)), 0);
	/* Slot 1 read-only over [15, 30): slot 0 keeps none in [15, 20). */
	gpumirror_attr_default(&a);
	a.access_write &= ~BIT(1);
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set_devices(&fx->mirror, P(15),
							 P(30), &a, ACC,
							 BIT(1)), 0);
	gpumirror_attr_get(&fx->mirror, P(12), &a, NULL);
	KUNIT_EXPECT_EQ(test, a.access_read & 3, 0x2UL);
	KUNIT_EXPECT_EQ(test, a.access_write & 3, 0x2UL);
	gpumirror_attr_get(&fx->mirror, P(17), &a, NULL);
	KUNIT_EXPECT_EQ(test, a.access_read & 3, 0x2UL);
	KUNIT_EXPECT_EQ(test, a.access_write & 3, 0x0UL);
	gpumirror_attr_get(&fx->mirror, P(25), &a, NULL);
	KUNIT_EXPECT_EQ(test, a.access_read & 3, 0x3UL);
	KUNIT_EXPECT_EQ(test, a.access_write & 3, 0x1UL);

	/* Write without read is checked for the slots set only. */
	gpumirror_attr_default(&a);
	a.access_read &= ~BIT(3);
	KUNIT_EXPECT_EQ(test, gpumirror_attr_set_devices(&fx->mirror, P(40),
							 P(41), &a, ACC,
							 BIT(2)), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_attr_set_devices(&fx->mirror, P(40),
							 P(41), &a, ACC,
							 BIT(3)), -EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_attr_set_devices(&fx->mirror, P(40),
							 P(41), &a, ACC, 0),
			-EINVAL);
	/* Back to the defaults for both: the tree is empty again. */
	gpumirror_attr_default(&a);
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set_devices(&fx->mirror, P(0),
							 P(50), &a, ACC,
							 0x3), 0);
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&fx->mirror.priv->attrs.rb_root));
	gm_fixture_done(test);
}

static struct kunit_case gm_attr_test_cases[] = {
	KUNIT_CASE(gm_attr_set_devices),
	KUNIT_CASE_PARAM(gm_attr_split_merge, gm_attr_gen_params),
	KUNIT_CASE(gm_attr_get_defaults),
	KUNIT_CASE_PARAM(gm_attr_bad_input, gm_attr_bad_gen_params),
	KUNIT_CASE(gm_attr_survive_rechunk),
	{}
};

static struct kunit_suite gm_attr_suite = {
	.name = "gpumirror_attr",
	.init = gm_attr_init,
	.exit = gm_fixture_exit,
	.test_cases = gm_attr_test_cases,
};

kunit_test_suite(gm_attr_suite);
