// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the mirror instance and its attached devices.
 */

#include <linux/cc_platform.h>
#include <linux/device.h>
#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/iommu.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/swiotlb.h>

#include "internal.h"

/**
 * DOC: Mirror and devices
 *
 * A &struct gpumirror mirrors one CPU address space (an mm) into one GPU
 * address space that any number of devices share (up to
 * %GPUMIRROR_MAX_DEVICES). Each device joins with gpumirror_device_attach()
 * and gets a slot index; every mirrored object keeps one DMA mapping set per
 * slot, so one CPU page walk serves all devices.
 *
 * The mirror pins the &struct mm_struct (mmgrab()), not the address space:
 * when the process exits the mm's notifiers fire and every page set is
 * invalidated, and the mirror stays usable for teardown only.
 */

/*
 * Teach lockdep the documented order once per mirror, so that a violation
 * is reported the first time any path could deadlock, not when it does:
 *
 *   gpumirror_private.range_lock -> gpumirror_private.lock ->
 *   gpumirror_object.lock -> mmap_lock -> gpumirror.notifier_lock
 *   gpumirror_private.range_lock -> gpumirror_private.attr_lock (a leaf)
 *
 * and the notifier lock can be taken under reclaim (the mmu notifier runs
 * from reclaim), so nothing may allocate while holding it.
 */
static void gpumirror_prime_lockdep(struct gpumirror *mirror)
{
	if (!IS_ENABLED(CONFIG_LOCKDEP))
		return;

	fs_reclaim_acquire(GFP_KERNEL);
	might_lock(&mirror->notifier_lock);
	fs_reclaim_release(GFP_KERNEL);

	down_read(&mirror->priv->range_lock);
	might_lock(&mirror->priv->attr_lock);
	mutex_lock(&mirror->priv->lock);
	mmap_read_lock(mirror->mm);
	might_lock(&mirror->notifier_lock);
	mmap_read_unlock(mirror->mm);
	mutex_unlock(&mirror->priv->lock);
	up_read(&mirror->priv->range_lock);
}

/**
 * gpumirror_init_ops() - set up a mirror whose objects the driver embeds
 * @mirror: the mirror, embedded in the caller's structure
 * @mm: the address space to mirror; it must have users
 * @ops: how objects are allocated and freed (see &struct gpumirror_ops),
 *	or NULL; it must outlive the mirror
 *
 * Registers the mm's interval-notifier tree up front, so that creating
 * objects later never needs mmap_lock for write.
 *
 * Context: process context, no locks held (takes mmap_lock).
 * Return: 0, -EINVAL on a NULL @mirror or @mm or with only one of
 * &gpumirror_ops.object_alloc and &gpumirror_ops.object_free, -ESRCH if
 * @mm has no users left, -ENOMEM, or the error of mmu_notifier_register().
 * Nothing is left allocated on error.
 */
int gpumirror_init_ops(struct gpumirror *mirror, struct mm_struct *mm,
		       const struct gpumirror_ops *ops)
{
	unsigned int i;
	int ret;

	if (!mirror || !mm)
		return -EINVAL;
	if (ops && !ops->object_alloc != !ops->object_free)
		return -EINVAL;
	if (!mmget_not_zero(mm))
		return -ESRCH;
	memset(mirror, 0, sizeof(*mirror));
	/* Freed by gpumirror_fini(), or below if registration fails. */
	mirror->priv = kzalloc(sizeof(*mirror->priv), GFP_KERNEL_ACCOUNT);
	if (!mirror->priv) {
		ret = -ENOMEM;
		goto out_mmput;
	}
	mirror->priv->mirror = mirror;
	mirror->mm = mm;
	mirror->ops = ops;
	mutex_init(&mirror->priv->lock);
	init_rwsem(&mirror->notifier_lock);
	INIT_LIST_HEAD(&mirror->priv->objects);
	mirror->priv->ranges = RB_ROOT_CACHED;
	init_rwsem(&mirror->priv->range_lock);
	mutex_init(&mirror->priv->attr_lock);
	mirror->priv->attrs = RB_ROOT_CACHED;
	mirror->max_segments = GPUMIRROR_DEFAULT_MAX_SEGMENTS;
	for (i = 0; i < ARRAY_SIZE(mirror->priv->finish); i++)
		mirror->priv->finish[i].mirror = mirror;
	gpumirror_release_init(mirror);
	gpumirror_restore_init(mirror);
	gpumirror_prime_lockdep(mirror);

	/*
	 * Set up the mm's interval tree now, so that inserting an object's
	 * notifier later never needs mmap_lock for write: with a NULL
	 * subscription, mmu_notifier_register() only allocates the mm's
	 * notifier state (what mmu_interval_notifier_insert() does itself
	 * the first time), and nothing needs unregistering.
	 */
	ret = mmu_notifier_register(NULL, mm);
	if (ret)
		goto out_free_priv;
	/* Pairs with the mmdrop() in gpumirror_fini(). */
	mmgrab(mm);
	mmput(mm);
	return 0;

out_free_priv:
	mutex_destroy(&mirror->priv->attr_lock);
	mutex_destroy(&mirror->priv->lock);
	kfree(mirror->priv);
	mirror->priv = NULL;
	mirror->mm = NULL;
out_mmput:
	mmput(mm);
	return ret;
}
EXPORT_SYMBOL_GPL(gpumirror_init_ops);

/**
 * gpumirror_init() - set up a mirror of an address space
 * @mirror: the mirror, embedded in the caller's structure
 * @mm: the address space to mirror; it must have users
 *
 * gpumirror_init_ops() without ops: gpumirror allocates the objects.
 *
 * Context: process context, no locks held (takes mmap_lock).
 * Return: see gpumirror_init_ops().
 */
int gpumirror_init(struct gpumirror *mirror, struct mm_struct *mm)
{
	return gpumirror_init_ops(mirror, mm, NULL);
}
EXPORT_SYMBOL_GPL(gpumirror_init);

/**
 * gpumirror_fini() - tear a mirror down
 * @mirror: a mirror set up with gpumirror_init() or gpumirror_init_ops()
 *
 * Destroys the objects the driver left behind and detaches the devices
 * still attached (calling their &gpumirror_device_ops.detach), so a driver
 * may call it from any state. Leftovers are a normal teardown path, for
 * instance after a process was killed, and do not warn.
 *
 * Context: process context, no locks held.
 */
void gpumirror_fini(struct gpumirror *mirror)
{
	struct gpumirror_object *obj;
	struct gpumirror_device *gdev;

	/* Never set up, or torn down already: nothing to do. */
	if (WARN_ON_ONCE(!mirror->priv))
		return;
	gpumirror_restore_stop(mirror);
	for (;;) {
		mutex_lock(&mirror->priv->lock);
		obj = list_first_entry_or_null(&mirror->priv->objects,
					       struct gpumirror_object, link);
		mutex_unlock(&mirror->priv->lock);
		if (!obj)
			break;
		gpumirror_object_teardown(obj);
	}

	for (;;) {
		mutex_lock(&mirror->priv->lock);
		gdev = mirror->device_mask ?
			mirror->devices[__ffs(mirror->device_mask)] : NULL;
		mutex_unlock(&mirror->priv->lock);
		if (!gdev)
			break;
		gpumirror_device_detach(gdev);
	}

	/* Every object is gone, so nothing can queue release work. */
	cancel_delayed_work_sync(&mirror->priv->release_work);
	gpumirror_attr_fini(mirror);
	mutex_destroy(&mirror->priv->attr_lock);
	mutex_destroy(&mirror->priv->lock);
	kfree(mirror->priv);
	mirror->priv = NULL;
	/* Pairs with the mmgrab() in gpumirror_init(). */
	mmdrop(mirror->mm);
	mirror->mm = NULL;
}
EXPORT_SYMBOL_GPL(gpumirror_fini);

static bool gpumirror_ops_valid(const struct gpumirror_device_ops *ops)
{
	if (!ops)
		return false;
	if (!ops->invalidate_start != !ops->invalidate_finish)
		return false;
	return ops->invalidate || ops->invalidate_start;
}

static int gpumirror_device_check(const struct gpumirror_device *gdev)
{
	const struct gpumirror_device_ops *ops = gdev->ops;

	if (!gdev->dev || !gpumirror_ops_valid(ops))
		return -EINVAL;
	if (gdev->flags & ~GPUMIRROR_DEVICE_FLAGS)
		return -EINVAL;
	if ((gdev->flags & GPUMIRROR_DEVICE_NOFAULT) &&
	    (!ops->bind || !ops->suspend || !ops->resume))
		return -EINVAL;
	if (!gdev->va_limit || !PAGE_ALIGNED(gdev->va_limit))
		return -EINVAL;
	if (gdev->mirror)
		return -EBUSY;
	return 0;
}

/*
 * The IOMMU domain the DMA API translates @dev's mappings with, or NULL if
 * they go direct (no IOMMU, an identity domain, or one a driver attached
 * for itself, which the DMA API does not map into).
 */
static struct iommu_domain *gpumirror_dma_domain(struct device *dev)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);

	return domain && iommu_is_dma_domain(domain) ? domain : NULL;
}

/*
 * Can @gdev's DMA reach system memory as the CPU sees it? Not if every
 * direct mapping bounces (swiotlb=force), nor in a guest whose memory is
 * encrypted (SEV, TDX): an emulated device reaches private memory only
 * through shared bounce buffers, whether or not an IOMMU translates.
 */
static bool gpumirror_dma_shareable(struct gpumirror_device *gdev)
{
	if (cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT))
		return false;
	return gdev->dma_domain || !is_swiotlb_force_bounce(gdev->dev);
}

static bool gpumirror_dev_attached(struct gpumirror *mirror,
				   struct device *dev)
{
	unsigned int i;

	lockdep_assert_held(&mirror->priv->lock);
	for_each_set_bit(i, &mirror->device_mask, GPUMIRROR_MAX_DEVICES)
		if (mirror->devices[i]->dev == dev)
			return true;
	return false;
}

static bool gpumirror_objects_fit(struct gpumirror *mirror, u64 va_limit)
{
	struct gpumirror_object *obj;

	lockdep_assert_held(&mirror->priv->lock);
	list_for_each_entry(obj, &mirror->priv->objects, link)
		if (obj->gpu_start + ((u64)obj->npages << PAGE_SHIFT) > va_limit)
			return false;
	return true;
}

/**
 * gpumirror_device_attach() - attach a device's address space to a mirror
 * @mirror: the mirror
 * @gdev: the device, with @dev, @ops and @va_limit filled in
 *
 * From now on objects of @mirror can be mapped for @gdev and invalidations
 * of their pages reach @gdev->ops. The stats of @gdev start from zero.
 *
 * Context: process context, no gpumirror lock held.
 * Return: 0; -EINVAL on a NULL argument, ops without @invalidate nor the
 * @invalidate_start and @invalidate_finish pair (or with only one of the
 * pair), unknown @flags (%GPUMIRROR_DEVICE_NOFAULT too, in a kernel without
 * gpumirror's SVM part), a %GPUMIRROR_DEVICE_NOFAULT device without @bind,
 * @suspend and @resume, or a zero or unaligned @va_limit; -EBUSY if @gdev
 * is already attached; -EEXIST if @gdev->dev is already attached to
 * @mirror; -ERANGE if an existing object lies beyond @va_limit; -ENOSPC if
 * @mirror has %GPUMIRROR_MAX_DEVICES devices; -EOPNOTSUPP if @gdev->dev
 * could reach system memory only through bounce buffers (see the "Page
 * sets" DOC).
 *
 * A driver must stay bound to @gdev->dev, and must not change the IOMMU
 * domain the DMA API uses for it, while @gdev is attached: the domain is
 * looked up here, once.
 */
int gpumirror_device_attach(struct gpumirror *mirror,
			    struct gpumirror_device *gdev)
{
	unsigned int index;
	int ret;

	if (!mirror || !gdev)
		return -EINVAL;
	ret = gpumirror_device_check(gdev);
	if (ret)
		return ret;
	gdev->dma_domain = gpumirror_dma_domain(gdev->dev);
	if (!gpumirror_dma_shareable(gdev))
		return -EOPNOTSUPP;

	mutex_lock(&mirror->priv->lock);
	if (gpumirror_dev_attached(mirror, gdev->dev)) {
		ret = -EEXIST;
		goto out_unlock;
	}
	if (!gpumirror_objects_fit(mirror, gdev->va_limit)) {
		ret = -ERANGE;
		goto out_unlock;
	}
	if (mirror->device_mask == ~0UL) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	index = ffz(mirror->device_mask);

	memset(&gdev->stats, 0, sizeof(gdev->stats));
	gdev->index = index;
	gdev->mirror = mirror;
	down_write(&mirror->notifier_lock);
	mirror->devices[index] = gdev;
	__set_bit(index, &mirror->device_mask);
	if (gdev->flags & GPUMIRROR_DEVICE_NOFAULT)
		__set_bit(index, &mirror->priv->nofault_mask);
	up_write(&mirror->notifier_lock);
out_unlock:
	mutex_unlock(&mirror->priv->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(gpumirror_device_attach);

/**
 * gpumirror_device_detach() - detach a device from its mirror
 * @gdev: an attached device
 *
 * Zaps the device's PTEs of every object through
 * &gpumirror_device_ops.invalidate, removes the device from the mirror,
 * DMA-unmaps its page sets (other devices' sets are untouched) and then
 * calls &gpumirror_device_ops.detach. Detaching a device that is not
 * attached is a no-op.
 *
 * Context: process context, no gpumirror lock held.
 */
void gpumirror_device_detach(struct gpumirror_device *gdev)
{
	struct gpumirror *mirror = gdev ? gdev->mirror : NULL;
	struct gpumirror_object *obj;

	if (!mirror)
		return;

	/* No fault, prefetch or restore run may use the slot meanwhile. */
	down_write(&mirror->priv->range_lock);
	/* Before the slot can be reused: its next device inherits nothing. */
	gpumirror_attr_forget(mirror, gdev->index);
	mutex_lock(&mirror->priv->lock);
	down_write(&mirror->notifier_lock);
	list_for_each_entry(obj, &mirror->priv->objects, link)
		gpumirror_object_zap(obj, BIT(gdev->index), NULL);
	gpumirror_finish_pending(mirror);
	__clear_bit(gdev->index, &mirror->device_mask);
	__clear_bit(gdev->index, &mirror->priv->nofault_mask);
	__clear_bit(gdev->index, &mirror->priv->suspended);
	list_for_each_entry(obj, &mirror->priv->objects, link)
		clear_bit(gdev->index, &obj->keep);
	up_write(&mirror->notifier_lock);

	/*
	 * A fault that saw @gdev before it left the mask holds obj->lock and
	 * may still use mirror->devices[]: wait for it, then drop the slot.
	 * Holding mirror->priv->lock throughout keeps the slot from being reused.
	 */
	list_for_each_entry(obj, &mirror->priv->objects, link)
		gpumirror_object_release_device(obj, gdev);
	down_write(&mirror->notifier_lock);
	mirror->devices[gdev->index] = NULL;
	up_write(&mirror->notifier_lock);
	gdev->mirror = NULL;
	mutex_unlock(&mirror->priv->lock);
	up_write(&mirror->priv->range_lock);

	if (gdev->ops->detach)
		gdev->ops->detach(gdev);
}
EXPORT_SYMBOL_GPL(gpumirror_device_detach);

/**
 * gpumirror_device_stats_read() - snapshot a device's counters
 * @gdev: the device
 * @c: where to store the snapshot
 *
 * Context: any context.
 */
void gpumirror_device_stats_read(const struct gpumirror_device *gdev,
				 struct gpumirror_device_counters *c)
{
	c->faults = atomic64_read(&gdev->stats.faults);
	c->retries = atomic64_read(&gdev->stats.retries);
	c->dma_maps = atomic64_read(&gdev->stats.dma_maps);
	c->dma_unmaps = atomic64_read(&gdev->stats.dma_unmaps);
	c->dma_refused = atomic64_read(&gdev->stats.dma_refused);
	c->invalidations = atomic64_read(&gdev->stats.invalidations);
	c->tlb_flushes = atomic64_read(&gdev->stats.tlb_flushes);
	c->released = atomic64_read(&gdev->stats.released);
	c->suspends = atomic64_read(&gdev->stats.suspends);
	c->resumes = atomic64_read(&gdev->stats.resumes);
	c->restore_ns = atomic64_read(&gdev->stats.restore_ns);
	c->restore_failed = atomic64_read(&gdev->stats.restore_failed);
}
EXPORT_SYMBOL_GPL(gpumirror_device_stats_read);

MODULE_DESCRIPTION("Mirror CPU virtual address ranges into GPU address spaces");
MODULE_LICENSE("GPL");
