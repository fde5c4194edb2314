// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the driver_migrate_lock protocol of gpumirror_migrate_to_devmem(),
 * with the migration attempts scripted through a static stub.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/mman.h>

#include "../internal.h"
#include "test_dev.h"

/* What each scripted attempt reports. */
struct gm_attempt {
	int ret;
	unsigned long missed;
	unsigned long nomem;
	unsigned long moved;
};

struct gm_mig_case {
	const char *name;
	unsigned int flags;
	struct gm_attempt at[2];
	/* expected */
	int ret;
	unsigned int calls;
	int evict[2];
	unsigned long migrated;
	u64 races;
	u64 busy;
};

static const struct gm_mig_case gm_mig_cases[] = {
	{ "clean", 0, { { 0 } }, 0, 1, { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 0 },
	{ "race_then_exclusive_ok", 0, { { 0, 3 }, { 0, 0, 0, 8 } }, 0, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 8, 1, 0 },
	{ "race_twice_busy", 0, { { 0, 3, 0, 5 }, { 0, 2, 0, 6 } }, -EBUSY, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 0, 1, 1 },
	{ "out_of_memory_no_retry", 0, { { 0, 2, 2, 6 } }, -ENOMEM, 1,
	  { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 0 },
	{ "race_in_exclusive_nomem", 0, { { 0, 3 }, { 0, 2, 1, 6 } }, -EBUSY,
	  2, { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 0, 1, 1 },
	{ "mixed_keeps_last_attempt", GPUMIRROR_MIGRATE_MIXED,
	  { { 0, 3, 0, 5 }, { 0, 3, 0, 4 } }, 0, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 4, 1, 1 },
	{ "mixed_nothing_moved", GPUMIRROR_MIGRATE_MIXED,
	  { { 0, 3 }, { 0, 3 } }, -EBUSY, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 0, 1, 1 },
	{ "system_only_one_attempt", GPUMIRROR_MIGRATE_SYSTEM_ONLY,
	  { { 0, 2, 0, 5 } }, 0, 1, { GPUMIRROR_EVICT_NONE }, 5, 0, 0 },
	{ "system_only_nothing_moved", GPUMIRROR_MIGRATE_SYSTEM_ONLY,
	  { { 0, 2 } }, -EBUSY, 1, { GPUMIRROR_EVICT_NONE }, 0, 0, 1 },
	{ "vma_gone_in_attempt", 0, { { -EINVAL } }, -EINVAL, 1,
	  { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 0 },
};

KUNIT_ARRAY_PARAM_DESC(gm_mig, gm_mig_cases, name);

static struct {
	const struct gm_mig_case *mc;
	unsigned int calls;
	int evict[2];
} gm_script;

static int gm_attempt_stub(struct gpumirror_devmem *dm, struct mm_struct *mm,
			   unsigned long start, unsigned long end, int evict,
			   struct gpumirror_mig *m)
{
	const struct gm_attempt *at;

	if (gm_script.calls >= 2)
		return -EIO;
	at = &gm_script.mc->at[gm_script.calls];
	gm_script.evict[gm_script.calls++] = evict;
	m->missed = at->missed;
	m->nomem = at->nomem;
	m->moved += at->moved;
	return at->ret;
}

static struct page *gm_no_page(struct gpumirror_devmem *dm)
{
	return NULL;
}

static int gm_no_copy(struct gpumirror_devmem *dm, struct page **dst,
		      struct page **src, unsigned long n)
{
	return -EIO;
}

static const struct gpumirror_devmem_ops gm_devmem_ops = {
	.page_alloc = gm_no_page,
	.copy = gm_no_copy,
};

/* Device memory that is always full and cannot copy. */
static void gm_devmem_init(struct gpumirror_devmem *dm)
{
	static int owner;

	memset(dm, 0, sizeof(*dm));
	dm->owner = &owner;
	dm->type = MEMORY_DEVICE_PRIVATE;
	dm->ops = &gm_devmem_ops;
}

static void gm_migrate_protocol(struct kunit *test)
{
	const struct gm_mig_case *mc = test->param_value;
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE,
				       PROT_READ | PROT_WRITE);
	struct gpumirror_devmem dm;
	unsigned long migrated = ~0UL;
	unsigned int i;
	int ret;

	gm_devmem_init(&dm);
	memset(&gm_script, 0, sizeof(gm_script));
	gm_script.mc = mc;
	kunit_activate_static_stub(test, gpumirror_migrate_attempt,
				   gm_attempt_stub);
	ret = gpumirror_migrate_to_devmem(&dm, current->mm, a,
					  a + 4 * PAGE_SIZE, mc->flags,
					  &migrated);
	kunit_deactivate_static_stub(test, gpumirror_migrate_attempt);

	KUNIT_EXPECT_EQ(test, ret, mc->ret);
	KUNIT_EXPECT_EQ(test, gm_script.calls, mc->calls);
	for (i = 0; i < mc->calls && i < 2; i++)
		KUNIT_EXPECT_EQ(test, gm_script.evict[i], mc->evict[i]);
	KUNIT_EXPECT_EQ(test, migrated, mc->migrated);
	KUNIT_EXPECT_EQ(test, atomic64_read(&dm.stats.races), mc->races);
	KUNIT_EXPECT_EQ(test, atomic64_read(&dm.stats.busy), mc->busy);
}

static int gm_mig(struct gpumirror_devmem *dm, struct mm_struct *mm,
		  unsigned long start, unsigned long end, unsigned int flags)
{
	return gpumirror_migrate_to_devmem(dm, mm, start, end, flags, NULL);
}

/* Bad arguments fail before any attempt. */
static void gm_migrate_bad_args(struct kunit *test)
{
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE,
				       PROT_READ | PROT_WRITE);
	unsigned long n = gm_test_mmap(test, PAGE_SIZE, PROT_NONE);
	struct gpumirror_devmem dm;
	struct mm_struct *mm = current->mm;

	gm_devmem_init(&dm);
	memset(&gm_script, 0, sizeof(gm_script));
	kunit_activate_static_stub(test, gpumirror_migrate_attempt,
				   gm_attempt_stub);
	KUNIT_EXPECT_EQ(test, gm_mig(NULL, mm, a, a + PAGE_SIZE, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, a + 1, a + PAGE_SIZE, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, a, a, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, a, a + PAGE_SIZE, BIT(7)),
			-EINVAL);
	/* PROT_NONE: no readable VMA. */
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, n, n + PAGE_SIZE, 0), -EINVAL);
	kunit_deactivate_static_stub(test, gpumirror_migrate_attempt);
	KUNIT_EXPECT_EQ(test, gm_script.calls, 0);
}

/* The real attempt: device memory that is always full. */
static void gm_migrate_no_memory(struct kunit *test)
{
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE,
				       PROT_READ | PROT_WRITE);
	struct gpumirror_devmem dm;
	unsigned long migrated = ~0UL;
	u64 v = 42;

	gm_devmem_init(&dm);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)a, &v, sizeof(v)),
			0);
	KUNIT_EXPECT_EQ(test,
			gpumirror_migrate_to_devmem(&dm, current->mm, a,
						    a + 4 * PAGE_SIZE, 0,
						    &migrated),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, migrated, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&dm.stats.races), 0);
	v = 0;
	KUNIT_ASSERT_EQ(test, copy_from_user(&v, (void __user *)a, sizeof(v)),
			0);
	KUNIT_EXPECT_EQ(test, v, 42);
}

static struct kunit_case gm_migrate_cases[] = {
	KUNIT_CASE_PARAM(gm_migrate_protocol, gm_mig_gen_params),
	KUNIT_CASE(gm_migrate_bad_args),
	KUNIT_CASE(gm_migrate_no_memory),
	{}
};

static struct kunit_suite gm_migrate_suite = {
	.name = "gpumirror_migrate",
	.test_cases = gm_migrate_cases,
};

kunit_test_suite(gm_migrate_suite);
