// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the gpumirror_object_map() variants: partial, devmem, exclusive.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/hmm.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/uaccess.h>

#include "../internal.h"
#include "test_dev.h"

static int gm_flags_init(struct kunit *test)
{
	return gm_fixture_init(test, 0);
}

static gpumirror_addr_t gm_entry(struct gpumirror_object *obj,
				 struct gm_test_dev *td, unsigned long idx)
{
	gpumirror_addr_t e;

	gpumirror_notifier_lock(obj->mirror);
	e = gpumirror_object_page(obj, &td->gdev, idx);
	gpumirror_notifier_unlock(obj->mirror);
	return e;
}

/* What the device reads through a (DMA-direct) page set entry. */
static u64 gm_value(gpumirror_addr_t e)
{
	return *(u64 *)phys_to_virt(gpumirror_addr(e));
}

static void gm_touch(struct kunit *test, unsigned long addr, u64 v)
{
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)addr, &v, sizeof(v)),
			0);
}

/*
 * Is a page present in the CPU page table? Asked of the page table itself
 * (GUP's lockless walk, which never faults), not of the library.
 */
static bool gm_present(unsigned long addr)
{
	struct page *page;

	if (get_user_pages_fast_only(addr, 1, 0, &page) != 1)
		return false;
	put_page(page);
	return true;
}

/* An unmapped segment fails the map, or maps nothing with PARTIAL. */
static void gm_map_partial(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gm_test_dev *td = ctx->td[0];
	unsigned long a = gm_test_mmap(test, 8 * PAGE_SIZE, GM_RW);
	/* Segments 0 and 1 close enough to be walked as one batch. */
	struct gpumirror_segment r[3] = {
		{ a, PAGE_SIZE }, { a + 2 * PAGE_SIZE, 2 * PAGE_SIZE },
		{ a + 6 * PAGE_SIZE, PAGE_SIZE },
	};
	struct gpumirror_object *obj;
	unsigned long i;

	for (i = 0; i < 8; i++)
		gm_touch(test, a + i * PAGE_SIZE, i);
	obj = gpumirror_object_create(&ctx->mirror, r, 3, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, vm_munmap(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), -EFAULT);
	KUNIT_EXPECT_EQ(test, obj->valid, 0UL);

	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_PARTIAL), 0);
	KUNIT_EXPECT_NE(test, gm_entry(obj, td, 0), 0);
	KUNIT_EXPECT_EQ(test, gm_entry(obj, td, 1), 0);
	KUNIT_EXPECT_EQ(test, gm_entry(obj, td, 2), 0);
	KUNIT_EXPECT_NE(test, gm_entry(obj, td, 3), 0);
	KUNIT_EXPECT_EQ(test, gm_value(gm_entry(obj, td, 3)), 6);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * Close segments that all lack their pages are faulted with one
 * hmm_range_fault_slices() call; the middle one, unmapped, fails it there:
 * a partial map leaves that one empty and goes on with the one after it.
 */
static void gm_map_partial_slices(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gm_test_dev *td = ctx->td[0];
	unsigned long a = gm_test_mmap(test, 6 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r[3] = {
		{ a, PAGE_SIZE }, { a + 2 * PAGE_SIZE, PAGE_SIZE },
		{ a + 4 * PAGE_SIZE, PAGE_SIZE },
	};
	struct gpumirror_object *obj;

	obj = gpumirror_object_create(&ctx->mirror, r, 3, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, vm_munmap(r[1].addr, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE),
			-EFAULT);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE |
						   GPUMIRROR_MAP_PARTIAL), 0);
	KUNIT_EXPECT_NE(test, gm_entry(obj, td, 0), 0);
	KUNIT_EXPECT_EQ(test, gm_entry(obj, td, 1), 0);
	KUNIT_EXPECT_NE(test, gm_entry(obj, td, 2), 0);
	/* faulted for write: the CPU sees what the device would write */
	gm_touch(test, r[2].addr, 5);
	KUNIT_EXPECT_EQ(test, gm_value(gm_entry(obj, td, 2)), 5);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * A segment unmapped when a partial write map ran has empty entries. Memory
 * mapped there again and touched raises no invalidation, so only the next
 * map can see it: a partial read map refills the set (one revoke, both
 * passes), which stays a write set; a map that finds nothing new keeps it.
 */
static void gm_map_partial_refill(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gm_test_dev *td = ctx->td[0];
	unsigned long a = gm_test_mmap(test, 8 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r[2] = {
		{ a, PAGE_SIZE }, { a + 4 * PAGE_SIZE, PAGE_SIZE },
	};
	struct gpumirror_object *obj;
	int inv;

	gm_touch(test, a, 1);
	gm_touch(test, a + 4 * PAGE_SIZE, 2);
	obj = gpumirror_object_create(&ctx->mirror, r, 2, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, vm_munmap(a + 4 * PAGE_SIZE, PAGE_SIZE), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_PARTIAL |
						   GPUMIRROR_MAP_WRITE), 0);
	KUNIT_EXPECT_EQ(test, gm_entry(obj, td, 1), 0);
	KUNIT_EXPECT_EQ(test, obj->sparse, BIT(0));

	/* Nothing new: the set is kept, nobody is invalidated. */
	inv = atomic_read(&td->invalidates);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_PARTIAL), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv);
	KUNIT_EXPECT_EQ(test, gm_entry(obj, td, 1), 0);

	/* Memory again where the hole was: the next map refills it. */
	KUNIT_ASSERT_EQ(test, vm_mmap(NULL, a + 4 * PAGE_SIZE, PAGE_SIZE,
				      GM_RW, MAP_PRIVATE | MAP_ANONYMOUS |
				      MAP_FIXED, 0), a + 4 * PAGE_SIZE);
	gm_touch(test, a + 4 * PAGE_SIZE, 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_PARTIAL), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv + 1);
	KUNIT_EXPECT_NE(test, gm_entry(obj, td, 1), 0);
	KUNIT_EXPECT_EQ(test, gm_value(gm_entry(obj, td, 1)), 3);
	KUNIT_EXPECT_TRUE(test, gm_entry(obj, td, 1) & GPUMIRROR_ADDR_WRITE);
	KUNIT_EXPECT_EQ(test, obj->write_sets, BIT(0));
	KUNIT_EXPECT_EQ(test, obj->sparse, 0UL);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/* DEVMEM faults nothing and keeps only device memory: here, none. */
static void gm_map_devmem_system(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { a, 4 * PAGE_SIZE };
	struct gpumirror_object *obj;
	static int owner;
	unsigned long i;

	ctx->td[0]->gdev.pagemap_owner = &owner;
	gm_touch(test, a, 1);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_DEVMEM), 0);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, gm_entry(obj, ctx->td[0], i), 0);
	/* Nothing was faulted in: the CPU page table still lacks 1-3. */
	KUNIT_EXPECT_TRUE(test, gm_present(a));
	for (i = 1; i < 4; i++)
		KUNIT_EXPECT_FALSE(test, gm_present(a + i * PAGE_SIZE));
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/* Exclusive access: flagged entries, revoked by the next CPU access. */
static void gm_map_exclusive(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gm_test_dev *td = ctx->td[0];
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { a, 4 * PAGE_SIZE };
	struct gpumirror_object *obj;
	static int owner;
	gpumirror_addr_t e;
	unsigned long i;
	u64 v;

	for (i = 0; i < 4; i++)
		gm_touch(test, a + i * PAGE_SIZE, 10 + i);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	/* The device needs a pagemap owner to take exclusive access. */
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_EXCLUSIVE),
			-EINVAL);
	td->gdev.pagemap_owner = &owner;
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_EXCLUSIVE), 0);
	for (i = 0; i < 4; i++) {
		e = gm_entry(obj, td, i);
		KUNIT_EXPECT_TRUE(test, e & GPUMIRROR_ADDR_EXCLUSIVE);
		KUNIT_EXPECT_EQ(test, gm_value(e), 10 + i);
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), 0);
	/* The CPU reads page 2: exclusive access ends, the set is stale. */
	KUNIT_ASSERT_EQ(test, copy_from_user(&v, (void __user *)(a +
			2 * PAGE_SIZE), sizeof(v)), 0);
	KUNIT_EXPECT_EQ(test, v, 12);
	KUNIT_EXPECT_EQ(test, obj->valid, 0UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), 1);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

static struct gpumirror_object *gm_locked_obj;
static unsigned long gm_locked_max;
static unsigned long gm_locked_cpu_read;

/*
 * Stands in for gpumirror_dma_shared(), so it runs after every DMA mapping
 * of a system page, between the walk and the commit: counts the object's
 * locked pages, and once, reads a page from the CPU, which takes its
 * exclusive entry back (and waits for its page lock). The test device is
 * direct and coherent: every mapping reaches its page.
 */
static bool gm_shared_count_locked(struct gpumirror_device *gdev,
				   struct page *page, dma_addr_t dma)
{
	unsigned long i, locked = 0;
	u64 v;

	for (i = 0; i < gm_locked_obj->npages; i++) {
		unsigned long pfn = gm_locked_obj->pfns[i];

		if ((pfn & HMM_PFN_VALID) &&
		    PageLocked(hmm_pfn_to_page(pfn)))
			locked++;
	}
	gm_locked_max = max(gm_locked_max, locked);
	/* Not with a page still locked: the read would wait for it forever. */
	if (gm_locked_cpu_read && !locked) {
		unsigned long addr = gm_locked_cpu_read;

		gm_locked_cpu_read = 0;
		if (copy_from_user(&v, (void __user *)addr, sizeof(v)))
			gm_locked_max = ULONG_MAX;
	}
	return true;
}

/*
 * Exclusive access to more pages than one batch: no page stays locked
 * past its batch (a CPU fault on it would wait for the whole object),
 * a CPU access before the commit makes the map try again, and the
 * entries are exclusive all the same.
 */
static void gm_map_exclusive_batches(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gm_test_dev *td = ctx->td[0];
	const unsigned long n = 200;
	unsigned long a = gm_test_mmap(test, n * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { a, n * PAGE_SIZE };
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj;
	static int owner;
	unsigned long i;
	u64 retries;

	for (i = 0; i < n; i++)
		gm_touch(test, a + i * PAGE_SIZE, i);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	td->gdev.pagemap_owner = &owner;
	gm_locked_obj = obj;
	gm_locked_max = 0;
	gm_locked_cpu_read = a + 150 * PAGE_SIZE;
	gpumirror_device_stats_read(&td->gdev, &c);
	retries = c.retries;
	kunit_activate_static_stub(test, gpumirror_dma_shared,
				   gm_shared_count_locked);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_EXCLUSIVE), 0);
	kunit_deactivate_static_stub(test, gpumirror_dma_shared);
	KUNIT_EXPECT_EQ(test, gm_locked_max, 0UL);
	KUNIT_EXPECT_EQ(test, gm_locked_cpu_read, 0UL);
	gpumirror_device_stats_read(&td->gdev, &c);
	KUNIT_EXPECT_GE(test, c.retries, retries + 1);
	for (i = 0; i < n; i += 25) {
		gpumirror_addr_t e = gm_entry(obj, td, i);

		KUNIT_EXPECT_TRUE(test, e & GPUMIRROR_ADDR_EXCLUSIVE);
		KUNIT_EXPECT_EQ(test, gm_value(e), (u64)i);
	}
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/* Flags that make no sense together are refused. */
static void gm_map_bad_flags(struct kunit *test)
{
	const unsigned int both = GPUMIRROR_MAP_DEVMEM | GPUMIRROR_MAP_EXCLUSIVE;
	struct gm_fixture *ctx = test->priv;
	unsigned long a = gm_test_mmap(test, PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { a, PAGE_SIZE };
	struct gpumirror_object *obj;

	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), both), -EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE |
						   GPUMIRROR_MAP_READ_ONLY),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gpumirror_object_map(obj, BIT(0), BIT(20)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, obj->valid, 0UL);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/* A read fault of writable memory is writable, unless READ_ONLY. */
static void gm_map_read_only(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long a = gm_test_mmap(test, PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { a, PAGE_SIZE };
	struct gpumirror_object *obj;

	gm_touch(test, a, 1);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0), 0), 0);
	KUNIT_EXPECT_TRUE(test, gm_entry(obj, ctx->td[0], 0) &
			  GPUMIRROR_ADDR_WRITE);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(1),
						   GPUMIRROR_MAP_READ_ONLY), 0);
	KUNIT_EXPECT_FALSE(test, gm_entry(obj, ctx->td[1], 0) &
			   GPUMIRROR_ADDR_WRITE);
	KUNIT_EXPECT_EQ(test, gm_value(gm_entry(obj, ctx->td[1], 0)), 1);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

/*
 * A write map of a set that is valid but was built read-only remaps it
 * writable, after taking the read-only one away from the device.
 */
static void gm_map_write_upgrade(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	struct gm_test_dev *td = ctx->td[0];
	unsigned long a = gm_test_mmap(test, PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { a, PAGE_SIZE };
	struct gpumirror_object *obj;
	int inv;

	gm_touch(test, a, 5);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_READ_ONLY), 0);
	KUNIT_ASSERT_FALSE(test, gm_entry(obj, td, 0) & GPUMIRROR_ADDR_WRITE);
	inv = atomic_read(&td->invalidates);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE), 0);
	KUNIT_EXPECT_TRUE(test, gm_entry(obj, td, 0) & GPUMIRROR_ADDR_WRITE);
	KUNIT_EXPECT_EQ(test, gm_value(gm_entry(obj, td, 0)), 5);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv + 1);
	/* A write set serves the next write as it is. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(0),
						   GPUMIRROR_MAP_WRITE), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv + 1);
	gpumirror_object_destroy(obj);
	gm_fixture_done(test);
}

static struct kunit_case gm_map_flags_cases[] = {
	KUNIT_CASE(gm_map_read_only),
	KUNIT_CASE(gm_map_write_upgrade),
	KUNIT_CASE(gm_map_partial),
	KUNIT_CASE(gm_map_partial_slices),
	KUNIT_CASE(gm_map_partial_refill),
	KUNIT_CASE(gm_map_devmem_system),
	KUNIT_CASE(gm_map_exclusive),
	KUNIT_CASE(gm_map_exclusive_batches),
	KUNIT_CASE(gm_map_bad_flags),
	{}
};

static struct kunit_suite gm_map_flags_suite = {
	.name = "gpumirror_map_flags",
	.init = gm_flags_init,
	.exit = gm_fixture_exit,
	.test_cases = gm_map_flags_cases,
};

kunit_test_suite(gm_map_flags_suite);
