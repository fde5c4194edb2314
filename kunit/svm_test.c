// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: no-fault devices (prefetch, suspend, restore worker), partial
 * munmap and garbage collection of ranges, attributes across munmap.
 */

#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "../internal.h"
#include "test_dev.h"

static int gm_svm_init(struct kunit *test)
{
	/* Device 2 invalidates in two passes. */
	return gm_fixture_init(test, BIT(2));
}

/* A no-fault test device attached to the fixture's mirror (slot 4). */
static struct gm_test_dev *gm_nofault_dev(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_test_dev_create(test, GM_VA_LIMIT, NULL);

	td->gdev.ops = &gm_test_ops_nofault;
	td->gdev.flags = GPUMIRROR_DEVICE_NOFAULT;
	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(&fx->mirror, &td->gdev),
			0);
	return td;
}

/* A 2 MiB-aligned, populated region of @len bytes (a multiple of 2M). */
static unsigned long gm_region(struct kunit *test, unsigned long len)
{
	unsigned long a = ALIGN(gm_test_mmap(test, len + SZ_2M, GM_RW), SZ_2M);
	unsigned long off;
	u64 v;

	for (off = 0; off < len; off += PAGE_SIZE) {
		v = off;
		KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(a + off), &v,
						   sizeof(v)), 0);
	}
	return a;
}

/* Let the restore worker finish, including the runs it queues itself. */
static void gm_restore_flush(struct gpumirror *mirror)
{
	int i;

	for (i = 0; i < 1000 && delayed_work_pending(&mirror->priv->restore_work);
	     i++)
		flush_delayed_work(&mirror->priv->restore_work);
	flush_delayed_work(&mirror->priv->restore_work);
}

static void gm_event(unsigned long start, unsigned long end,
		     enum mmu_notifier_event event)
{
	struct mmu_notifier_range range;

	mmu_notifier_range_init(&range, event, 0, current->mm, start, end);
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
}

/* Ranges of the mirror and whether each is valid for @td, start order. */
static unsigned int gm_ranges(struct gm_fixture *fx, struct gm_test_dev *td,
			      unsigned long *start, unsigned long *end,
			      bool *valid, unsigned int max)
{
	struct interval_tree_node *it;
	struct gpumirror_object *obj;
	unsigned int n = 0;

	mutex_lock(&fx->mirror.priv->lock);
	gpumirror_notifier_lock(&fx->mirror);
	for (it = interval_tree_iter_first(&fx->mirror.priv->ranges, 0, ULONG_MAX);
	     it && n < max; it = interval_tree_iter_next(it, 0, ULONG_MAX)) {
		obj = container_of(it, struct gpumirror_object, range_it);
		start[n] = it->start;
		end[n] = it->last + 1;
		valid[n++] = gpumirror_object_valid(obj, &td->gdev);
	}
	gpumirror_notifier_unlock(&fx->mirror);
	mutex_unlock(&fx->mirror.priv->lock);
	return n;
}

/* Prefetch, invalidate: suspend, restore, resume; the data is reachable. */
static void gm_nofault_restore(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_nofault_dev(test);
	unsigned long a = gm_region(test, 2 * SZ_2M);
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj;
	unsigned long s[4], e[4];
	gpumirror_addr_t e1;
	bool v[4], valid;

	KUNIT_ASSERT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + 2 * SZ_2M), 0);
	KUNIT_EXPECT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 2);
	KUNIT_EXPECT_TRUE(test, v[0] && v[1]);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->binds), 2);

	gm_event(a + SZ_2M + SZ_4K, a + SZ_2M + 2 * SZ_4K, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->suspends), 1);
	gm_restore_flush(&fx->mirror);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(td->suspended));
	KUNIT_EXPECT_EQ(test, atomic_read(&td->resumes), 1);
	KUNIT_EXPECT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 2);
	KUNIT_EXPECT_TRUE(test, v[0] && v[1]);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->binds), 3);
	/* The data is reachable through the restored set. */
	obj = READ_ONCE(td->last_bound);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, obj->segs[0].it.start, a + SZ_2M);
	gpumirror_notifier_lock(&fx->mirror);
	valid = gpumirror_object_valid(obj, &td->gdev);
	e1 = gpumirror_object_page(obj, &td->gdev, 1);
	gpumirror_notifier_unlock(&fx->mirror);
	KUNIT_EXPECT_TRUE(test, valid);
	KUNIT_EXPECT_EQ(test, *(u64 *)phys_to_virt(gpumirror_addr(e1)),
			(u64)(SZ_2M + SZ_4K));
	gpumirror_device_stats_read(&td->gdev, &c);
	KUNIT_EXPECT_EQ(test, c.suspends, 1);
	KUNIT_EXPECT_EQ(test, c.resumes, 1);
	KUNIT_EXPECT_GT(test, c.restore_ns, 0);
	KUNIT_EXPECT_EQ(test, c.restore_failed, 0);
	/* A fault-mode device of the same mirror was never suspended. */
	KUNIT_EXPECT_EQ(test, atomic_read(&fx->td[0]->suspends), 0);
	/* The worker bound and resumed with no lock the ops exclude. */
	KUNIT_EXPECT_EQ(test, atomic_read(&td->lock_violations), 0);
	gm_fixture_done(test);
}

/* munmap() in the middle of a 2M range keeps the rest mapped. */
static void gm_partial_munmap(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_nofault_dev(test);
	unsigned long a = gm_region(test, SZ_2M);
	unsigned long hole = a + SZ_1M, s[64], e[64], covered = 0;
	unsigned int n, i;
	bool v[64];

	KUNIT_ASSERT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + SZ_2M), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      hole, false), 0);
	KUNIT_ASSERT_EQ(test, vm_munmap(hole, SZ_64K), 0);
	gm_restore_flush(&fx->mirror);

	/* New ranges cover exactly what is still mapped, all valid. */
	n = gm_ranges(fx, td, s, e, v, 64);
	KUNIT_EXPECT_GT(test, n, 1);
	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_TRUE(test, v[i]);
		KUNIT_EXPECT_TRUE(test, e[i] <= hole || s[i] >= hole + SZ_64K);
		covered += e[i] - s[i];
	}
	KUNIT_EXPECT_EQ(test, covered, SZ_2M - SZ_64K);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(td->suspended));
	/* The fault-mode device faults the rest lazily, not the hole. */
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      hole + SZ_64K, false), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      hole, false), -EFAULT);
	gm_fixture_done(test);
}

/* All of it unmapped: the worker gives up and resumes the device. */
static void gm_restore_memory_gone(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_nofault_dev(test);
	unsigned long a = gm_region(test, SZ_2M);
	unsigned long s[4], e[4];
	bool v[4];

	KUNIT_ASSERT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + SZ_2M), 0);
	KUNIT_ASSERT_EQ(test, vm_munmap(a, SZ_2M), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->suspends), 1);
	gm_restore_flush(&fx->mirror);
	KUNIT_EXPECT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 0);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(td->suspended));
	KUNIT_EXPECT_EQ(test, atomic_read(&td->resumes), 1);
	gm_fixture_done(test);
}

/* Prefetch skips holes and what the attributes forbid. */
static void gm_prefetch_skips(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_nofault_dev(test);
	unsigned long a = gm_region(test, SZ_2M);
	struct gpumirror_attrs attrs;
	unsigned long s[64], e[64], covered = 0;
	unsigned int n, i;
	bool v[64];

	gpumirror_attr_default(&attrs);
	attrs.access_read &= ~BIT(td->gdev.index);
	attrs.access_write &= ~BIT(td->gdev.index);
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + SZ_64K,
						 &attrs, GPUMIRROR_ATTR_ACCESS),
			0);
	KUNIT_ASSERT_EQ(test, vm_munmap(a + SZ_1M, SZ_64K), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + SZ_2M), 0);
	n = gm_ranges(fx, td, s, e, v, 64);
	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_TRUE(test, v[i]);
		KUNIT_EXPECT_GE(test, s[i], a + SZ_64K);
		KUNIT_EXPECT_TRUE(test, e[i] <= a + SZ_1M ||
				  s[i] >= a + SZ_1M + SZ_64K);
		covered += e[i] - s[i];
	}
	KUNIT_EXPECT_EQ(test, covered, SZ_2M - 2 * SZ_64K);
	KUNIT_EXPECT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a + 1,
						 a + SZ_2M), -EINVAL);
	gm_fixture_done(test);
}

/* Attributes describe addresses: munmap and re-chunking keep them. */
static void gm_attrs_survive_munmap(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	unsigned long a = gm_region(test, SZ_2M);
	struct gpumirror_attrs attrs, got;
	unsigned long end;

	gpumirror_attr_default(&attrs);
	attrs.granularity = 4;
	attrs.read_only = true;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + SZ_2M,
						 &attrs, GPUMIRROR_ATTR_ALL), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      a, false), 0);
	KUNIT_EXPECT_EQ(test, fx->td[0]->last_bound->npages,
			(unsigned long)SZ_64K >> PAGE_SHIFT);
	KUNIT_ASSERT_EQ(test, vm_munmap(a, SZ_2M), 0);
	gm_restore_flush(&fx->mirror);
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&fx->mirror.priv->ranges.rb_root));
	gpumirror_attr_get(&fx->mirror, a + SZ_1M, &got, &end);
	KUNIT_EXPECT_EQ(test, got.granularity, 4);
	KUNIT_EXPECT_TRUE(test, got.read_only);
	KUNIT_EXPECT_EQ(test, end, a + SZ_2M);
	gm_fixture_done(test);
}

/*
 * Two devices ask for different placements of overlapping ranges: the one
 * tree keeps the last word per address, and both devices see it.
 */
static void gm_attr_conflict_one_view(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	unsigned long a = gm_region(test, SZ_2M);
	struct gpumirror_attrs attrs, got0, got1;
	struct gpumirror_object *o0, *o1;

	gpumirror_attr_default(&attrs);
	attrs.preferred_loc = fx->td[0]->gdev.index;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + SZ_1M,
						 &attrs,
						 GPUMIRROR_ATTR_PREFERRED_LOC),
			0);
	attrs.preferred_loc = fx->td[1]->gdev.index;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a + SZ_1M / 2,
						 a + SZ_2M, &attrs,
						 GPUMIRROR_ATTR_PREFERRED_LOC),
			0);
	gpumirror_attr_get(&fx->mirror, a + SZ_64K, &got0, NULL);
	gpumirror_attr_get(&fx->mirror, a + SZ_1M - SZ_64K, &got1, NULL);
	KUNIT_EXPECT_EQ(test, got0.preferred_loc, (int)fx->td[0]->gdev.index);
	KUNIT_EXPECT_EQ(test, got1.preferred_loc, (int)fx->td[1]->gdev.index);

	/* Both devices fault at the same address: the same range. */
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[0]->gdev,
					      a + SZ_1M - SZ_64K, false), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &fx->td[1]->gdev,
					      a + SZ_1M - SZ_64K, false), 0);
	o0 = fx->td[0]->last_bound;
	o1 = fx->td[1]->last_bound;
	KUNIT_EXPECT_PTR_EQ(test, o0, o1);
	/* The attribute boundary inside the 2M chunk makes it smaller. */
	KUNIT_EXPECT_EQ(test, o0->npages, (unsigned long)SZ_64K >> PAGE_SHIFT);
	gm_fixture_done(test);
}

/* Attributes that take write access away zap the writable PTEs. */
static void gm_attr_revokes_write(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = fx->td[0];
	unsigned long a = gm_region(test, SZ_2M);
	struct gpumirror_attrs attrs;
	unsigned long s[4], e[4];
	bool v[4];
	int inv;

	KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &td->gdev, a, true),
			0);
	KUNIT_ASSERT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 1);
	KUNIT_ASSERT_TRUE(test, v[0]);
	inv = atomic_read(&td->invalidates);
	gpumirror_attr_default(&attrs);
	attrs.read_only = true;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + SZ_4K,
						 &attrs,
						 GPUMIRROR_ATTR_READ_ONLY), 0);
	/* Zapped, and gone: its attributes are no longer uniform. */
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv + 1);
	KUNIT_EXPECT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, &td->gdev, a, true),
			-EPERM);
	/* A write next to it gets a range that leaves the page out. */
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, &td->gdev,
					      a + 2 * SZ_4K, true), 0);
	KUNIT_ASSERT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 1);
	KUNIT_EXPECT_GE(test, s[0], a + SZ_4K);
	KUNIT_EXPECT_TRUE(test, v[0]);
	gm_fixture_done(test);
}

/*
 * Attributes changed over several ranges: each is zapped (pass 1) and a
 * two-pass device waits for its TLB once, not once per range.
 */
static void gm_attr_revoke_one_wait(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = fx->td[2];
	unsigned long a = gm_region(test, 3 * SZ_2M);
	struct gpumirror_attrs attrs;
	unsigned long s[4], e[4];
	int inv, fin, i;
	bool v[4];

	for (i = 0; i < 3; i++)
		KUNIT_ASSERT_EQ(test, gpumirror_fault(&fx->mirror, &td->gdev,
						      a + i * SZ_2M, true), 0);
	KUNIT_ASSERT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 3);
	inv = atomic_read(&td->invalidates);
	fin = atomic_read(&td->finishes);
	gpumirror_attr_default(&attrs);
	attrs.read_only = true;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + 3 * SZ_2M,
						 &attrs,
						 GPUMIRROR_ATTR_READ_ONLY), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), inv + 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->finishes), fin + 1);
	/* Whole ranges inside the span stay, invalid until faulted again. */
	KUNIT_EXPECT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 3);
	KUNIT_EXPECT_FALSE(test, v[0] || v[1] || v[2]);
	gm_fixture_done(test);
}

/*
 * Access revoked from a no-fault device: suspended, its PTEs zapped, the
 * restore worker gives the range up, tells the driver, and resumes it.
 */
static void gm_nofault_access_revoked(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_nofault_dev(test);
	unsigned long a = gm_region(test, SZ_2M);
	struct gpumirror_attrs attrs;
	unsigned long s[4], e[4];
	bool v[4];

	KUNIT_ASSERT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + SZ_2M), 0);
	gpumirror_attr_default(&attrs);
	attrs.access_read &= ~BIT(td->gdev.index);
	attrs.access_write &= ~BIT(td->gdev.index);
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + SZ_2M,
						 &attrs, GPUMIRROR_ATTR_ACCESS),
			0);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->suspends), 1);
	gm_restore_flush(&fx->mirror);
	KUNIT_EXPECT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 1);
	KUNIT_EXPECT_FALSE(test, v[0]);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->restore_failed), 1);
	KUNIT_EXPECT_EQ(test, td->failed_start, a);
	KUNIT_EXPECT_EQ(test, td->failed_end, a + SZ_2M);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(td->suspended));
	KUNIT_EXPECT_EQ(test, atomic_read(&td->resumes), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->lock_violations), 0);
	gm_fixture_done(test);
}

/*
 * A bind that fails on a no-fault device suspends it before the zap, and
 * a range it kept stays kept: the restore worker maps it back.
 */
static void gm_nofault_bind_fails(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_nofault_dev(test);
	unsigned long a = gm_region(test, SZ_2M);
	unsigned long s[4], e[4];
	bool v[4];

	KUNIT_ASSERT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + SZ_2M), 0);
	td->bind_err = -ENOMEM;
	KUNIT_EXPECT_EQ(test, gpumirror_prefetch(&fx->mirror, &td->gdev, a,
						 a + SZ_2M), -ENOMEM);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->suspends), 1);
	gm_restore_flush(&fx->mirror);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(td->suspended));
	KUNIT_EXPECT_EQ(test, atomic_read(&td->resumes), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&td->restore_failed), 0);
	KUNIT_ASSERT_EQ(test, gm_ranges(fx, td, s, e, v, 4), 1);
	KUNIT_EXPECT_TRUE(test, v[0]);
	gm_fixture_done(test);
}

/* A device attached into a freed slot inherits nothing of the old one. */
static void gm_attr_slot_reuse(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
	struct gm_test_dev *td2 = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
	unsigned long a = gm_region(test, SZ_2M);
	struct gpumirror_attrs attrs, got;
	unsigned int slot;

	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(&fx->mirror, &td->gdev),
			0);
	slot = td->gdev.index;
	gpumirror_attr_default(&attrs);
	attrs.access_read &= ~BIT(slot);
	attrs.access_write &= ~BIT(slot);
	attrs.preferred_loc = slot;
	KUNIT_ASSERT_EQ(test, gpumirror_attr_set(&fx->mirror, a, a + SZ_2M,
						 &attrs,
						 GPUMIRROR_ATTR_ACCESS |
						 GPUMIRROR_ATTR_PREFERRED_LOC),
			0);
	gpumirror_device_detach(&td->gdev);
	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(&fx->mirror, &td2->gdev),
			0);
	KUNIT_ASSERT_EQ(test, td2->gdev.index, slot);
	gpumirror_attr_get(&fx->mirror, a, &got, NULL);
	KUNIT_EXPECT_TRUE(test, got.access_read & BIT(slot));
	KUNIT_EXPECT_TRUE(test, got.access_write & BIT(slot));
	KUNIT_EXPECT_EQ(test, got.preferred_loc, GPUMIRROR_LOC_SYSTEM);
	/* Nothing else was set there: the tree is empty again. */
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&fx->mirror.priv->attrs.rb_root));
	KUNIT_EXPECT_EQ(test, gpumirror_fault(&fx->mirror, &td2->gdev, a,
					      true), 0);
	gm_fixture_done(test);
}

/* A no-fault device needs bind, suspend and resume. */
static void gm_nofault_needs_ops(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;
	struct gm_test_dev *td = gm_test_dev_create(test, GM_VA_LIMIT, NULL);

	td->gdev.flags = GPUMIRROR_DEVICE_NOFAULT;
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(&fx->mirror, &td->gdev),
			-EINVAL);
	td->gdev.flags = BIT(7);
	KUNIT_EXPECT_EQ(test, gpumirror_device_attach(&fx->mirror, &td->gdev),
			-EINVAL);
	gm_fixture_done(test);
}

static struct kunit_case gm_svm_cases[] = {
	KUNIT_CASE(gm_nofault_restore),
	KUNIT_CASE(gm_partial_munmap),
	KUNIT_CASE(gm_restore_memory_gone),
	KUNIT_CASE(gm_prefetch_skips),
	KUNIT_CASE(gm_attrs_survive_munmap),
	KUNIT_CASE(gm_attr_conflict_one_view),
	KUNIT_CASE(gm_nofault_needs_ops),
	KUNIT_CASE(gm_attr_revokes_write),
	KUNIT_CASE(gm_attr_revoke_one_wait),
	KUNIT_CASE(gm_nofault_access_revoked),
	KUNIT_CASE(gm_nofault_bind_fails),
	KUNIT_CASE(gm_attr_slot_reuse),
	{}
};

static struct kunit_suite gm_svm_suite = {
	.name = "gpumirror_svm",
	.init = gm_svm_init,
	.exit = gm_fixture_exit,
	.test_cases = gm_svm_cases,
};

kunit_test_suite(gm_svm_suite);
