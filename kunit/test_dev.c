// SPDX-License-Identifier: GPL-2.0
/*
 * The KUnit suites' test device and user-memory helpers.
 */

#include <kunit/device.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/mman.h>
#include <linux/mutex.h>

#include "../internal.h"
#include "test_dev.h"

atomic_t gm_test_clock = ATOMIC_INIT(0);

static struct gm_test_dev *to_test_dev(struct gpumirror_device *gdev)
{
	return container_of(gdev, struct gm_test_dev, gdev);
}

/* Zap the bound object's PTEs in [gpu_start, gpu_end). */
static void gm_test_zap(struct gm_test_dev *td, struct gpumirror_object *obj,
			u64 gpu_start, u64 gpu_end)
{
	unsigned long i;

	if (obj != td->bound)
		return;
	for (i = (gpu_start - obj->gpu_start) >> PAGE_SHIFT;
	     i < (gpu_end - obj->gpu_start) >> PAGE_SHIFT; i++)
		WRITE_ONCE(td->pte[i], 0);
}

/*
 * A TLB flush: forget every cached translation and wait for the accesses
 * in flight, which may still use one. Accesses that start later find the
 * PTEs zapped by pass 1.
 */
static void gm_test_tlb_flush(struct gm_test_dev *td)
{
	unsigned long i, n = td->bound ? td->bound->npages : 0;

	for (i = 0; i < n; i++)
		WRITE_ONCE(td->tlb[i], 0);
	/* Pairs with smp_mb__after_atomic() in gm_test_dev_read(). */
	smp_mb();
	while (atomic_read(&td->inflight))
		cpu_relax();
	/* An access drained above may have refilled an entry. */
	for (i = 0; i < n; i++)
		WRITE_ONCE(td->tlb[i], 0);
}

static void gm_test_invalidate_start(struct gpumirror_device *gdev,
				     struct gpumirror_object *obj,
				     u64 gpu_start, u64 gpu_end,
				     const struct mmu_notifier_range *event)
{
	struct gm_test_dev *td = to_test_dev(gdev);

	WRITE_ONCE(td->last_start, gpu_start);
	WRITE_ONCE(td->last_end, gpu_end);
	WRITE_ONCE(td->last_event, event ? (int)event->event : -1);
	gm_test_zap(td, obj, gpu_start, gpu_end);
	WRITE_ONCE(td->start_clock, atomic_inc_return(&gm_test_clock));
	atomic_inc(&td->invalidates);
}

static void gm_test_invalidate_finish(struct gpumirror_device *gdev)
{
	struct gm_test_dev *td = to_test_dev(gdev);
	int now = atomic_inc_return(&gm_test_clock);

	gm_test_tlb_flush(td);
	if (!td->finish_clock)
		WRITE_ONCE(td->finish_clock, now);
	atomic_inc(&td->finishes);
}

static void gm_test_invalidate(struct gpumirror_device *gdev,
			       struct gpumirror_object *obj,
			       u64 gpu_start, u64 gpu_end,
			       const struct mmu_notifier_range *event)
{
	struct gm_test_dev *td = to_test_dev(gdev);

	gm_test_invalidate_start(gdev, obj, gpu_start, gpu_end, event);
	gm_test_tlb_flush(td);
}

static void gm_test_detach(struct gpumirror_device *gdev)
{
	atomic_inc(&to_test_dev(gdev)->detaches);
}

/* Records the object; "programs" nothing but checks validity as a GPU must. */
static int gm_test_bind(struct gpumirror_device *gdev,
			struct gpumirror_object *obj)
{
	struct gm_test_dev *td = to_test_dev(gdev);
	int ret;

	/* The contract: range_lock held for read, no other gpumirror lock. */
	if (IS_ENABLED(CONFIG_LOCKDEP) &&
	    (lockdep_is_held(&obj->mirror->priv->lock) ||
	     lockdep_is_held(&obj->mirror->priv->attr_lock) ||
	     lockdep_is_held(&obj->lock)))
		atomic_inc(&td->lock_violations);
	ret = xchg(&td->bind_err, 0);
	if (ret)
		return ret;
	gpumirror_notifier_lock(obj->mirror);
	if (gpumirror_object_valid(obj, gdev)) {
		WRITE_ONCE(td->last_bound, obj);
		atomic_inc(&td->binds);
	} else {
		ret = -EAGAIN;
	}
	gpumirror_notifier_unlock(obj->mirror);
	return ret;
}

static void gm_test_suspend(struct gpumirror_device *gdev)
{
	struct gm_test_dev *td = to_test_dev(gdev);

	WRITE_ONCE(td->suspended, true);
	atomic_inc(&td->suspends);
}

static void gm_test_resume(struct gpumirror_device *gdev)
{
	struct gm_test_dev *td = to_test_dev(gdev);

	lockdep_assert_held_read(&gdev->mirror->notifier_lock);
	if (IS_ENABLED(CONFIG_LOCKDEP) &&
	    (lockdep_is_held(&gdev->mirror->priv->lock) ||
	     lockdep_is_held(&gdev->mirror->priv->attr_lock)))
		atomic_inc(&td->lock_violations);
	WRITE_ONCE(td->suspended, false);
	atomic_inc(&td->resumes);
}

static void gm_test_restore_failed(struct gpumirror_device *gdev,
				   unsigned long start, unsigned long end)
{
	struct gm_test_dev *td = to_test_dev(gdev);

	if (IS_ENABLED(CONFIG_LOCKDEP) && lockdep_is_held(&gdev->mirror->priv->lock))
		atomic_inc(&td->lock_violations);
	WRITE_ONCE(td->failed_start, start);
	WRITE_ONCE(td->failed_end, end);
	atomic_inc(&td->restore_failed);
}

const struct gpumirror_device_ops gm_test_ops = {
	.invalidate = gm_test_invalidate,
	.detach = gm_test_detach,
	.bind = gm_test_bind,
};

const struct gpumirror_device_ops gm_test_ops_two_pass = {
	.invalidate_start = gm_test_invalidate_start,
	.invalidate_finish = gm_test_invalidate_finish,
	.detach = gm_test_detach,
	.bind = gm_test_bind,
};

const struct gpumirror_device_ops gm_test_ops_nofault = {
	.invalidate_start = gm_test_invalidate_start,
	.invalidate_finish = gm_test_invalidate_finish,
	.detach = gm_test_detach,
	.bind = gm_test_bind,
	.suspend = gm_test_suspend,
	.resume = gm_test_resume,
	.restore_failed = gm_test_restore_failed,
};

/*
 * DMA-API debugging checks that a device holds no DMA mapping when its
 * driver lets go of it, on the buses it was told about (only PCI's by
 * default). The KUnit bus is told once, by the first test device (it stays
 * told: later suites of any subsystem get the check too). The bus matches
 * any driver, so registering a test device bound it already; a test ends
 * with the device unregistered after the fixture's gpumirror_fini(), and a
 * mapping the library left behind is a DMA-API report, which fails the
 * kernel log scan: an oracle that does not rely on the library's own
 * counters. dma_debug_add_bus() is not exported: the suites are built in.
 */
static void gm_test_dev_watch_dma(struct kunit *test, struct device *dev)
{
	static DEFINE_MUTEX(lock);
	static bool watching;

	mutex_lock(&lock);
	if (!watching)
		dma_debug_add_bus(dev->bus);
	watching = true;
	mutex_unlock(&lock);
	KUNIT_ASSERT_NOT_NULL(test, READ_ONCE(dev->driver));
}

/* A device on the KUnit bus, released when the test ends. */
struct gm_test_dev *gm_test_dev_create(struct kunit *test, u64 va_limit,
				       void *owner)
{
	static atomic_t seq = ATOMIC_INIT(0);
	struct gm_test_dev *td;
	struct device *dev;
	char name[32];

	snprintf(name, sizeof(name), "gm-test-%d", atomic_inc_return(&seq));
	dev = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	gm_test_dev_watch_dma(test, dev);
	dev->dma_mask = &dev->coherent_dma_mask;
	KUNIT_ASSERT_EQ(test, dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)),
			0);

	td = kunit_kzalloc(test, sizeof(*td), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, td);
	td->gdev.dev = dev;
	td->gdev.ops = &gm_test_ops;
	td->gdev.va_limit = va_limit;
	td->gdev.pagemap_owner = owner;
	return td;
}

/* Give @td a page table and TLB for @obj (before it is mapped). */
void gm_test_dev_bind_alloc(struct kunit *test, struct gm_test_dev *td,
			    struct gpumirror_object *obj)
{
	td->pte = kunit_kcalloc(test, obj->npages, sizeof(u64), GFP_KERNEL);
	td->tlb = kunit_kcalloc(test, obj->npages, sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, td->pte);
	KUNIT_ASSERT_NOT_NULL(test, td->tlb);
	td->bound = obj;
}

/*
 * Program the PTEs from the device's page set, as a driver does after
 * gpumirror_object_map(): under the notifier lock, only if still valid.
 */
int gm_test_dev_bind(struct gm_test_dev *td)
{
	struct gpumirror_object *obj = td->bound;
	struct gpumirror *mirror = obj->mirror;
	unsigned long i;
	int ret = -EAGAIN;

	gpumirror_notifier_lock(mirror);
	if (gpumirror_object_valid(obj, &td->gdev)) {
		for (i = 0; i < obj->npages; i++)
			WRITE_ONCE(td->pte[i],
				   gpumirror_object_page(obj, &td->gdev, i));
		ret = 0;
	}
	gpumirror_notifier_unlock(mirror);
	return ret;
}

/*
 * A GPU read of the first word of object page @idx through the TLB and
 * the page table. Return: 0, or -EFAULT if the PTE is not present.
 */
int gm_test_dev_read(struct gm_test_dev *td, unsigned long idx, u64 *val)
{
	u64 e;

	atomic_inc(&td->inflight);
	/* Pairs with smp_mb() in gm_test_tlb_flush(). */
	smp_mb__after_atomic();
	e = READ_ONCE(td->tlb[idx]);
	if (!e) {
		e = READ_ONCE(td->pte[idx]);
		if (e)
			WRITE_ONCE(td->tlb[idx], e);
	}
	if (e)
		*val = READ_ONCE(*(u64 *)phys_to_virt(gpumirror_addr(e)));
	/* Pairs with atomic_read() in gm_test_tlb_flush(). */
	smp_mb__before_atomic();
	atomic_dec(&td->inflight);
	return e ? 0 : -EFAULT;
}

/* Anonymous user memory in the test's own mm. */
unsigned long gm_test_mmap(struct kunit *test, unsigned long len,
			   unsigned long prot)
{
	unsigned long addr;

	addr = kunit_vm_mmap(test, NULL, 0, len, prot,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_NE(test, addr, 0);
	return addr;
}

/* The test thread's user mm, created on first use. */
struct mm_struct *gm_test_mm(struct kunit *test)
{
	gm_test_mmap(test, PAGE_SIZE, PROT_READ | PROT_WRITE);
	KUNIT_ASSERT_NOT_NULL(test, current->mm);
	return current->mm;
}

/*
 * test->priv = a mirror of the test's mm with GM_FIXTURE_NDEV devices;
 * those in the @two_pass mask offer the two-pass invalidation.
 */
int gm_fixture_init(struct kunit *test, unsigned long two_pass)
{
	struct gm_fixture *fx;
	int i;

	fx = kunit_kzalloc(test, sizeof(*fx), GFP_KERNEL);
	if (!fx)
		return -ENOMEM;
	test->priv = fx;
	KUNIT_ASSERT_EQ(test, gpumirror_init(&fx->mirror, gm_test_mm(test)),
			0);
	for (i = 0; i < GM_FIXTURE_NDEV; i++) {
		fx->td[i] = gm_test_dev_create(test, GM_VA_LIMIT, NULL);
		if (two_pass & BIT(i))
			fx->td[i]->gdev.ops = &gm_test_ops_two_pass;
		KUNIT_ASSERT_EQ(test,
				gpumirror_device_attach(&fx->mirror,
							&fx->td[i]->gdev), 0);
	}
	return 0;
}

/* The user mm dies with the test thread: tear the mirror down before. */
void gm_fixture_done(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;

	gpumirror_fini(&fx->mirror);
	fx->done = true;
}

/* A case that stopped on a failed assertion still releases its mirror. */
void gm_fixture_exit(struct kunit *test)
{
	struct gm_fixture *fx = test->priv;

	if (fx && !fx->done)
		gpumirror_fini(&fx->mirror);
}
