// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for vgpu: GPU readers on four vgpus racing munmap, and the
 * check that catches a translation outliving its invalidation.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/uaccess.h>

#include "gpumirror/internal.h"
#include "vgpu.h"

#define VGPU_TEST_NDEV	4
#define VGPU_TEST_SEGS	8
#define VGPU_TEST_MAGIC	0x7667707500000000ULL
#define VGPU_TEST_RW	(PROT_READ | PROT_WRITE)

struct vgpu_test {
	struct gpumirror mirror;
	struct vgpu_as as[VGPU_TEST_NDEV];
	struct gpumirror_object *obj;
	struct task_struct *reader[VGPU_TEST_NDEV];
	unsigned long bad[VGPU_TEST_NDEV];
};

struct vgpu_reader {
	struct vgpu_test *vt;
	unsigned int i;
};

static int vgpu_reader_fn(void *data)
{
	struct vgpu_reader *rd = data;
	struct vgpu_test *vt = rd->vt;
	struct vgpu_as *as = &vt->as[rd->i];
	unsigned int s;
	u64 v;

	while (!kthread_should_stop()) {
		for (s = 0; s < VGPU_TEST_SEGS; s++) {
			if (vgpu_as_read(as, (u64)s * PAGE_SIZE, &v,
					 sizeof(v))) {
				if (!gpumirror_object_map(vt->obj,
							  BIT(as->gdev.index),
							  0))
					vgpu_as_bind(as, vt->obj);
				continue;
			}
			/*
			 * 0: the fresh mapping before the writer fills it
			 * (a read fault maps the zero page).
			 */
			if (v && v != (VGPU_TEST_MAGIC | s))
				vt->bad[rd->i]++;
		}
		cond_resched();
	}
	return 0;
}

/* Leave the checker on any exit; vgpu_as_fini() may have done it first. */
static void vgpu_test_unwatch(void *as)
{
	vgpu_as_unwatch(as);
}

static void vgpu_fill(struct kunit *test, unsigned long addr, u64 v)
{
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)addr, &v, sizeof(v)),
			0);
}

/*
 * Four vgpus read scattered pages through their page tables and TLBs
 * while the pages are unmapped and mapped again: no read may use a
 * translation after its invalidation returned (and none may see a freed
 * page, which KASAN would report), every read sees the right page.
 */
static void vgpu_reader_race(struct kunit *test)
{
	struct vgpu_reader rd[VGPU_TEST_NDEV];
	struct gpumirror_segment r[VGPU_TEST_SEGS];
	struct vgpu_test *vt;
	unsigned long addr;
	unsigned int i, n;
	u64 reads = 0;

	KUNIT_ASSERT_GE(test, vgpu_count(), VGPU_TEST_NDEV);
	vt = kunit_kzalloc(test, sizeof(*vt), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, vt);
	addr = kunit_vm_mmap(test, NULL, 0, 2 * VGPU_TEST_SEGS * PAGE_SIZE,
			     VGPU_TEST_RW, MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_NE(test, addr, 0);
	for (i = 0; i < VGPU_TEST_SEGS; i++) {
		r[i].addr = addr + 2 * i * PAGE_SIZE;
		r[i].len = PAGE_SIZE;
		vgpu_fill(test, r[i].addr, VGPU_TEST_MAGIC | i);
	}

	/* The checkers first: they must follow the mirror's notifier. */
	for (i = 0; i < VGPU_TEST_NDEV; i++) {
		vgpu_as_init(&vt->as[i], vgpu_get(i), false);
		KUNIT_ASSERT_EQ(test, vgpu_as_watch(&vt->as[i], current->mm),
				0);
		KUNIT_ASSERT_EQ(test,
				kunit_add_action_or_reset(test,
							  vgpu_test_unwatch,
							  &vt->as[i]), 0);
	}
	KUNIT_ASSERT_EQ(test, gpumirror_init(&vt->mirror, current->mm), 0);
	for (i = 0; i < VGPU_TEST_NDEV; i++) {
		KUNIT_ASSERT_EQ(test, gpumirror_device_attach(&vt->mirror,
							      &vt->as[i].gdev),
				0);
	}
	vt->obj = gpumirror_object_create(&vt->mirror, r, VGPU_TEST_SEGS, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, vt->obj);
	for (i = 0; i < VGPU_TEST_NDEV; i++) {
		rd[i].vt = vt;
		rd[i].i = i;
		vt->reader[i] = kthread_run(vgpu_reader_fn, &rd[i],
					    "vgpu-reader%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(vt->reader[i]));
	}

	for (n = 0; n < 200; n++) {
		unsigned long a = r[n % VGPU_TEST_SEGS].addr;

		KUNIT_EXPECT_EQ(test, vm_munmap(a, PAGE_SIZE), 0);
		KUNIT_EXPECT_EQ(test, vm_mmap(NULL, a, PAGE_SIZE, VGPU_TEST_RW,
					      MAP_PRIVATE | MAP_ANONYMOUS |
					      MAP_FIXED, 0), a);
		vgpu_fill(test, a, VGPU_TEST_MAGIC | (n % VGPU_TEST_SEGS));
		if (n % 16 == 0)
			usleep_range(1000, 2000);
	}
	for (i = 0; i < VGPU_TEST_NDEV; i++)
		kthread_stop(vt->reader[i]);

	gpumirror_fini(&vt->mirror);
	for (i = 0; i < VGPU_TEST_NDEV; i++) {
		struct vgpu_as *as = &vt->as[i];

		KUNIT_EXPECT_EQ(test, atomic64_read(&as->stale_translations),
				0LL);
		KUNIT_EXPECT_EQ(test, atomic64_read(&as->stale_uses), 0LL);
		KUNIT_EXPECT_EQ(test, vt->bad[i], 0UL);
		KUNIT_EXPECT_GT(test, atomic64_read(&as->tlb_flushes), 0LL);
		reads += atomic64_read(&as->reads);
		vgpu_as_fini(as);
	}
	KUNIT_EXPECT_GT(test, reads, 0ULL);
	kunit_info(test, "%llu GPU reads on %d vgpus, 200 munmaps\n", reads,
		   VGPU_TEST_NDEV);
}

/* Pass 2 deferred past the return of the invalidation: a broken library. */
static void vgpu_no_pass2(struct gpumirror *mirror)
{
}

static void vgpu_unpin(void *page)
{
	unpin_user_page(page);
}

/*
 * One page mapped and read through the TLB, then unmapped. With the passes
 * in order, the invalidation flushes the TLB before it returns and the
 * next GPU read finds nothing. With pass 2 skipped (@broken), the checker
 * must report the cached translation when the munmap() returns, and count
 * the read that still goes through it. The page is pinned so that the
 * stale read finds the old contents rather than a freed page.
 */
static void vgpu_stale_case(struct kunit *test, bool broken)
{
	struct gpumirror_segment r = { .len = PAGE_SIZE };
	struct gpumirror_object *obj;
	struct gpumirror *mirror;
	struct vgpu_as *as;
	struct page *page;
	u64 v = 0;

	mirror = kunit_kzalloc(test, sizeof(*mirror), GFP_KERNEL);
	as = kunit_kzalloc(test, sizeof(*as), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, mirror);
	KUNIT_ASSERT_NOT_NULL(test, as);
	r.addr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, VGPU_TEST_RW,
			       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(r.addr));
	vgpu_fill(test, r.addr, VGPU_TEST_MAGIC);
	KUNIT_ASSERT_EQ(test, pin_user_pages_fast(r.addr, 1, 0, &page), 1);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, vgpu_unpin,
							page), 0);

	KUNIT_ASSERT_GE(test, vgpu_count(), 1);
	vgpu_as_init(as, vgpu_get(0), false);
	as->expect_stale = broken;
	/* The checker first: it must follow the mirror's notifier. */
	KUNIT_ASSERT_EQ(test, vgpu_as_watch(as, current->mm), 0);
	KUNIT_ASSERT_EQ(test,
			kunit_add_action_or_reset(test, vgpu_test_unwatch, as),
			0);
	KUNIT_ASSERT_EQ(test, gpumirror_init(mirror, current->mm), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_device_attach(mirror, &as->gdev), 0);
	obj = gpumirror_object_create(mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, BIT(as->gdev.index),
						   0), 0);
	KUNIT_ASSERT_EQ(test, vgpu_as_bind(as, obj), 0);
	KUNIT_EXPECT_EQ(test, vgpu_as_read(as, 0, &v, sizeof(v)), 0);
	KUNIT_EXPECT_EQ(test, v, VGPU_TEST_MAGIC);

	if (broken)
		kunit_activate_static_stub(test, gpumirror_finish_pending,
					   vgpu_no_pass2);
	KUNIT_EXPECT_EQ(test, vm_munmap(r.addr, PAGE_SIZE), 0);
	if (broken)
		kunit_deactivate_static_stub(test, gpumirror_finish_pending);

	KUNIT_EXPECT_EQ(test, atomic64_read(&as->stale_translations),
			broken ? 1LL : 0LL);
	v = 0;
	KUNIT_EXPECT_EQ(test, vgpu_as_read(as, 0, &v, sizeof(v)),
			broken ? 0 : -ENOENT);
	KUNIT_EXPECT_EQ(test, v, broken ? VGPU_TEST_MAGIC : 0ULL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&as->stale_uses),
			broken ? 1LL : 0LL);

	/* The late pass 2: the translation goes, the read faults. */
	down_write(&mirror->notifier_lock);
	gpumirror_finish_pending(mirror);
	up_write(&mirror->notifier_lock);
	KUNIT_EXPECT_EQ(test, vgpu_as_read(as, 0, &v, sizeof(v)), -ENOENT);

	gpumirror_object_destroy(obj);
	gpumirror_fini(mirror);
	vgpu_as_fini(as);
}

static void vgpu_stale_in_order(struct kunit *test)
{
	vgpu_stale_case(test, false);
}

static void vgpu_stale_pass2_skipped(struct kunit *test)
{
	vgpu_stale_case(test, true);
}

static struct kunit_case vgpu_cases[] = {
	KUNIT_CASE_SLOW(vgpu_reader_race),
	KUNIT_CASE(vgpu_stale_in_order),
	KUNIT_CASE(vgpu_stale_pass2_skipped),
	{}
};

static struct kunit_suite vgpu_suite = {
	.name = "vgpu",
	.test_cases = vgpu_cases,
};

kunit_test_suite(vgpu_suite);
