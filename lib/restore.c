// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the restore worker: garbage collection of unmapped ranges,
 * then mapping the no-fault devices' ranges back and resuming them.
 */

#include <linux/gpumirror.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/workqueue.h>

#include "internal.h"

/**
 * DOC: Restore worker
 *
 * Devices without recoverable page faults (%GPUMIRROR_DEVICE_NOFAULT) keep
 * the ranges gpumirror_prefetch() mapped for them (&gpumirror_object.keep).
 * When an invalidation is about to zap such a range, pass 1 first suspends
 * the device's queues (&gpumirror_device_ops.suspend, once until resumed)
 * and queues the restore worker. An munmap() of (part of) a range queues
 * it too.
 *
 * The worker, on the unbound workqueue, first collects garbage under
 * &gpumirror_private.range_lock held for write: each range an munmap() hit is
 * destroyed, and for the no-fault devices that kept it, new ranges are
 * made over the parts still mapped. Then, with the lock held for read and
 * no other gpumirror lock (the bind op's contract; ranges cannot go away
 * meanwhile, and gpumirror_device_detach() waits for the lock), it maps
 * and binds every kept range that is not valid for its device. A range
 * that no longer fits one VMA (made while an munmap() ran, or split by an
 * mprotect() since) is retired and collected on the next run. A range that
 * cannot be mapped any more (-EFAULT: gone; -EPERM: no longer accessible;
 * -EOPNOTSUPP: its pages moved where the device does not reach them
 * itself, coherently) is given up: the device stops keeping it,
 * &gpumirror_device_stats.restore_failed counts it and
 * &gpumirror_device_ops.restore_failed tells the driver. Transient
 * failures (notifiers racing, -EBUSY, -ENOMEM) retry a jiffy later, at
 * most %GPUMIRROR_RESTORE_TRIES times in a row, after which the remaining
 * ranges are given up the same way, so the worker always ends.
 *
 * Last, every suspended device whose kept ranges are all valid is resumed,
 * under the notifier lock held for read so that no invalidation comes in
 * between; &gpumirror_device_stats.restore_ns adds the time it was
 * suspended.
 *
 * Once the process has exited (no mm users left) the worker does nothing:
 * there is nothing to map back and no context to resume, and
 * gpumirror_fini() tears the rest down.
 */

/* Consecutive runs with transient failures before giving up. */
#define GPUMIRROR_RESTORE_TRIES		100

/*
 * Pass 1 of an invalidation of @obj for @devices: suspend the no-fault
 * ones that keep it and hold a valid set, unless they are suspended
 * already.
 */
void gpumirror_suspend_nofault(struct gpumirror_object *obj,
			       unsigned long devices)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long devs;
	unsigned int i;

	lockdep_assert_held_write(&mirror->notifier_lock);
	devs = devices & obj->valid & READ_ONCE(obj->keep) &
	       mirror->priv->nofault_mask & ~mirror->priv->suspended;
	for_each_set_bit(i, &devs, GPUMIRROR_MAX_DEVICES) {
		struct gpumirror_device *gdev = mirror->devices[i];

		__set_bit(i, &mirror->priv->suspended);
		gdev->suspended_at = ktime_get_ns();
		atomic64_inc(&gdev->stats.suspends);
		gdev->ops->suspend(gdev);
	}
}

/* Queue the worker; from the notifier, under the notifier lock. */
void gpumirror_restore_queue(struct gpumirror *mirror)
{
	lockdep_assert_held(&mirror->notifier_lock);
	if (!mirror->priv->dying)
		queue_delayed_work(system_unbound_wq, &mirror->priv->restore_work, 0);
}

/* The first range an munmap() hit, or NULL; under @mirror->priv->lock. */
static struct gpumirror_object *gpumirror_gc_next(struct gpumirror *mirror)
{
	struct gpumirror_object *obj;

	lockdep_assert_held(&mirror->priv->lock);
	list_for_each_entry(obj, &mirror->priv->objects, link)
		if (obj->is_range && READ_ONCE(obj->retired))
			return obj;
	return NULL;
}

/* New ranges over the parts of [start, end) still mapped, kept by @keep. */
static void gpumirror_gc_refill(struct gpumirror *mirror, unsigned long start,
				unsigned long end, unsigned long keep)
{
	struct gpumirror_attrs attrs;
	struct gpumirror_object *obj;
	struct vm_area_struct *vma;
	unsigned long addr, next;
	unsigned int i;

	for (addr = start; addr < end; addr = next) {
		mmap_read_lock(mirror->mm);
		vma = find_vma(mirror->mm, addr);
		if (vma && vma->vm_start > addr)
			next = min(end, vma->vm_start);
		else
			next = vma ? 0 : end;
		mmap_read_unlock(mirror->mm);
		if (next)
			continue;
		gpumirror_attr_get(mirror, addr, &attrs, NULL);
		obj = gpumirror_range_get(mirror, addr, &attrs);
		if (IS_ERR(obj)) {
			next = addr + PAGE_SIZE;
			continue;
		}
		/* Atomic, as every other update of the mask. */
		for_each_set_bit(i, &keep, GPUMIRROR_MAX_DEVICES)
			set_bit(i, &obj->keep);
		next = obj->segs[0].it.last + 1;
	}
}

/* Destroy the retired ranges; range_lock held for write. */
void gpumirror_gc(struct gpumirror *mirror)
{
	struct gpumirror_object *obj;
	unsigned long start, end, keep;

	lockdep_assert_held_write(&mirror->priv->range_lock);
	for (;;) {
		mutex_lock(&mirror->priv->lock);
		obj = gpumirror_gc_next(mirror);
		mutex_unlock(&mirror->priv->lock);
		if (!obj)
			break;
		start = obj->segs[0].it.start;
		end = obj->segs[0].it.last + 1;
		keep = READ_ONCE(obj->keep) & mirror->priv->nofault_mask;
		/* No-fault devices still running on it are suspended first. */
		gpumirror_object_revoke(obj, ~0UL);
		gpumirror_object_teardown(obj);
		if (keep && mmget_not_zero(mirror->mm)) {
			gpumirror_gc_refill(mirror, start, end, keep);
			/* Pairs with mmget_not_zero() above. */
			mmput(mirror->mm);
		}
	}
}

/*
 * The first range from *@cursor on that a no-fault device keeps and whose
 * set is not valid for it, with those devices in *@need; NULL if none.
 * The pointer stays good while &gpumirror_private.range_lock is held: only the
 * garbage collector (write-locked) and gpumirror_fini() destroy ranges.
 */
static struct gpumirror_object *gpumirror_restore_next(struct gpumirror *mirror,
						       unsigned long *cursor,
						       unsigned long *need)
{
	struct gpumirror_object *obj = NULL;
	struct interval_tree_node *it;

	lockdep_assert_held_read(&mirror->priv->range_lock);
	mutex_lock(&mirror->priv->lock);
	for (it = interval_tree_iter_first(&mirror->priv->ranges, *cursor, ULONG_MAX);
	     it; it = interval_tree_iter_next(it, *cursor, ULONG_MAX)) {
		obj = container_of(it, struct gpumirror_object, range_it);
		*need = READ_ONCE(obj->keep) & ~READ_ONCE(obj->valid) &
			mirror->priv->nofault_mask;
		if (*need) {
			*cursor = it->last + 1;
			break;
		}
		obj = NULL;
	}
	mutex_unlock(&mirror->priv->lock);
	return obj;
}

/* @gdev stops keeping @obj: tell the driver, count it. */
static void gpumirror_restore_give_up(struct gpumirror_object *obj,
				      struct gpumirror_device *gdev)
{
	clear_bit(gdev->index, &obj->keep);
	atomic64_inc(&gdev->stats.restore_failed);
	if (gdev->ops->restore_failed)
		gdev->ops->restore_failed(gdev, obj->segs[0].it.start,
					  obj->segs[0].it.last + 1);
}

/*
 * Map and bind the kept ranges that are not valid, with only
 * &gpumirror_private.range_lock held for read (the bind op's contract). Return:
 * true if some failed for a reason that may pass. @give_up: give those up
 * as well.
 */
static bool gpumirror_restore_ranges(struct gpumirror *mirror, bool give_up)
{
	struct gpumirror_object *obj;
	unsigned long need, cursor = 0;
	bool again = false;
	unsigned int i;
	int ret;

	lockdep_assert_held_read(&mirror->priv->range_lock);
	while ((obj = gpumirror_restore_next(mirror, &cursor, &need))) {
		for_each_set_bit(i, &need, GPUMIRROR_MAX_DEVICES) {
			/* Detach takes range_lock for write: the slot stays. */
			struct gpumirror_device *gdev = mirror->devices[i];

			ret = gpumirror_range_rebind(obj, gdev);
			if (!ret)
				continue;
			/* Retired (its VMA changed): collect it next time. */
			if (ret == -ESTALE) {
				again = true;
				continue;
			}
			if (ret != -EFAULT && ret != -EPERM &&
			    ret != -EOPNOTSUPP && !give_up) {
				again = true;
				continue;
			}
			gpumirror_restore_give_up(obj, gdev);
		}
	}
	return again;
}

/* Is every range @gdev keeps valid for it? Under both mirror locks. */
static bool gpumirror_all_kept_valid(struct gpumirror *mirror,
				     unsigned int i)
{
	struct gpumirror_object *obj;

	lockdep_assert_held(&mirror->priv->lock);
	lockdep_assert_held(&mirror->notifier_lock);
	list_for_each_entry(obj, &mirror->priv->objects, link)
		if (test_bit(i, &obj->keep) && !test_bit(i, &obj->valid))
			return false;
	return true;
}

/*
 * Resume the suspended devices whose ranges are all back. The check runs under
 * &gpumirror_private.lock and the notifier lock held for read; the resume op
 * under the notifier lock (its contract; &gpumirror_private.range_lock is held
 * for read too, but not &gpumirror_private.lock), still held from the check, so
 * no invalidation comes in between. Return: true if one is still waiting (an
 * invalidation came in meanwhile).
 */
static bool gpumirror_resume_ready(struct gpumirror *mirror)
{
	unsigned long suspended, ready = 0;
	unsigned int i;
	u64 ns;

	mutex_lock(&mirror->priv->lock);
	down_read(&mirror->notifier_lock);
	suspended = READ_ONCE(mirror->priv->suspended);
	for_each_set_bit(i, &suspended, GPUMIRROR_MAX_DEVICES)
		if (gpumirror_all_kept_valid(mirror, i))
			__set_bit(i, &ready);
	mutex_unlock(&mirror->priv->lock);
	for_each_set_bit(i, &ready, GPUMIRROR_MAX_DEVICES) {
		struct gpumirror_device *gdev = mirror->devices[i];

		/* Invalidations set bits under the lock held for write. */
		clear_bit(i, &mirror->priv->suspended);
		ns = ktime_get_ns() - gdev->suspended_at;
		atomic64_add(ns, &gdev->stats.restore_ns);
		atomic64_inc(&gdev->stats.resumes);
		gdev->ops->resume(gdev);
	}
	up_read(&mirror->notifier_lock);
	return suspended != ready;
}

static void gpumirror_restore_work(struct work_struct *work)
{
	struct gpumirror *mirror =
		container_of(work, struct gpumirror_private, restore_work.work)->mirror;
	bool again;

	/*
	 * The process is gone: nothing can be mapped back and there is no
	 * context left to resume; gpumirror_fini() tears the rest down.
	 */
	if (!mmget_not_zero(mirror->mm))
		return;
	down_write(&mirror->priv->range_lock);
	gpumirror_gc(mirror);
	downgrade_write(&mirror->priv->range_lock);
	again = gpumirror_restore_ranges(mirror, mirror->priv->restore_tries >=
					 GPUMIRROR_RESTORE_TRIES);
	again |= gpumirror_resume_ready(mirror);
	up_read(&mirror->priv->range_lock);
	/* Pairs with mmget_not_zero() above; not exit_mmap() from here. */
	mmput_async(mirror->mm);

	mirror->priv->restore_tries = again ? mirror->priv->restore_tries + 1 : 0;
	if (again) {
		down_read(&mirror->notifier_lock);
		if (!mirror->priv->dying)
			queue_delayed_work(system_unbound_wq,
					   &mirror->priv->restore_work, 1);
		up_read(&mirror->notifier_lock);
	}
}

/*
 * Collect garbage now, for a fault that found an unmapped range; the
 * worker then maps back what the collection made for no-fault devices.
 */
void gpumirror_gc_sync(struct gpumirror *mirror)
{
	down_write(&mirror->priv->range_lock);
	gpumirror_gc(mirror);
	up_write(&mirror->priv->range_lock);
	down_read(&mirror->notifier_lock);
	gpumirror_restore_queue(mirror);
	up_read(&mirror->notifier_lock);
}

/* Set up the restore worker of @mirror. */
void gpumirror_restore_init(struct gpumirror *mirror)
{
	INIT_DELAYED_WORK(&mirror->priv->restore_work, gpumirror_restore_work);
}

/* No restore work from now on; wait for a running one. */
void gpumirror_restore_stop(struct gpumirror *mirror)
{
	down_write(&mirror->notifier_lock);
	mirror->priv->dying = true;
	up_write(&mirror->notifier_lock);
	cancel_delayed_work_sync(&mirror->priv->restore_work);
}
