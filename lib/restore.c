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
 * &gpumirror.range_lock held for write: each range an munmap() hit is
 * destroyed, and for the no-fault devices that kept it, new ranges are
 * made over the parts still mapped. Then, with the lock held for read, it
 * maps and binds every kept range that is not valid for its device. A
 * range made while an munmap() was still running may cover a hole its
 * notifier never heard of: it is marked unmapped and collected on the next
 * run. A range that cannot be mapped any more (-EFAULT: gone; -EPERM: no
 * longer accessible) is given up: the device stops keeping it and
 * &gpumirror_device_stats.restore_failed counts it. Transient failures
 * (notifiers racing, -EBUSY, -ENOMEM) retry a jiffy later, at most
 * %GPUMIRROR_RESTORE_TRIES times in a row, after which the remaining
 * ranges are given up too, so the worker always ends.
 *
 * Last, every suspended device whose kept ranges are all valid is resumed,
 * under the notifier lock held for read so that no invalidation comes in
 * between; &gpumirror_device_stats.restore_ns adds the time it was
 * suspended.
 */

/* Consecutive runs with transient failures before giving up. */
#define GPUMIRROR_RESTORE_TRIES		100

/*
 * Pass 1 of an invalidation of @obj: suspend the no-fault devices that
 * keep it and hold a valid set, unless they are suspended already.
 */
void gpumirror_suspend_nofault(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long devs;
	unsigned int i;

	lockdep_assert_held_write(&mirror->notifier_lock);
	devs = obj->valid & READ_ONCE(obj->keep) & mirror->nofault_mask &
	       ~mirror->suspended;
	for_each_set_bit(i, &devs, GPUMIRROR_MAX_DEVICES) {
		struct gpumirror_device *gdev = mirror->devices[i];

		__set_bit(i, &mirror->suspended);
		gdev->suspended_at = ktime_get_ns();
		atomic64_inc(&gdev->stats.suspends);
		gdev->ops->suspend(gdev);
	}
}

/* Queue the worker; from the notifier, under the notifier lock. */
void gpumirror_restore_queue(struct gpumirror *mirror)
{
	lockdep_assert_held(&mirror->notifier_lock);
	if (!mirror->dying)
		queue_delayed_work(system_unbound_wq, &mirror->restore_work, 0);
}

/* The first range an munmap() hit, or NULL; under @mirror->lock. */
static struct gpumirror_object *gpumirror_gc_next(struct gpumirror *mirror)
{
	struct gpumirror_object *obj;

	lockdep_assert_held(&mirror->lock);
	list_for_each_entry(obj, &mirror->objects, link)
		if (obj->is_range && READ_ONCE(obj->unmapped))
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
		/* Pairs with READ_ONCE() of the notifier and the worker. */
		WRITE_ONCE(obj->keep, obj->keep | keep);
		next = obj->segs[0].it.last + 1;
	}
}

/* Destroy the ranges an munmap() hit; range_lock held for write. */
static void gpumirror_gc(struct gpumirror *mirror)
{
	struct gpumirror_object *obj;
	unsigned long start, end, keep;

	lockdep_assert_held_write(&mirror->range_lock);
	for (;;) {
		mutex_lock(&mirror->lock);
		obj = gpumirror_gc_next(mirror);
		mutex_unlock(&mirror->lock);
		if (!obj)
			break;
		start = obj->segs[0].it.start;
		end = obj->segs[0].it.last + 1;
		keep = READ_ONCE(obj->keep) & mirror->nofault_mask;
		gpumirror_object_destroy(obj);
		if (keep && mmget_not_zero(mirror->mm)) {
			gpumirror_gc_refill(mirror, start, end, keep);
			/* Pairs with mmget_not_zero() above. */
			mmput(mirror->mm);
		}
	}
}

/*
 * Map and bind the kept ranges that are not valid. Return: true if some
 * failed for a reason that may pass. @give_up: give those up as well.
 */
static bool gpumirror_restore_ranges(struct gpumirror *mirror, bool give_up)
{
	struct gpumirror_object *obj;
	unsigned long need;
	bool again = false;
	unsigned int i;
	int ret;

	mutex_lock(&mirror->lock);
	list_for_each_entry(obj, &mirror->objects, link) {
		need = READ_ONCE(obj->keep) & ~READ_ONCE(obj->valid) &
		       mirror->nofault_mask;
		for_each_set_bit(i, &need, GPUMIRROR_MAX_DEVICES) {
			struct gpumirror_device *gdev = mirror->devices[i];

			ret = gpumirror_range_rebind(obj, gdev);
			if (!ret)
				continue;
			/* Made while an munmap() ran: collect it next time. */
			if (ret == -EFAULT && gpumirror_range_retire(obj)) {
				again = true;
				continue;
			}
			if (ret != -EFAULT && ret != -EPERM && !give_up) {
				again = true;
				continue;
			}
			clear_bit(i, &obj->keep);
			atomic64_inc(&gdev->stats.restore_failed);
		}
	}
	mutex_unlock(&mirror->lock);
	return again;
}

/* Is every range @gdev keeps valid for it? Under both mirror locks. */
static bool gpumirror_all_kept_valid(struct gpumirror *mirror,
				     unsigned int i)
{
	struct gpumirror_object *obj;

	list_for_each_entry(obj, &mirror->objects, link)
		if (test_bit(i, &obj->keep) && !test_bit(i, &obj->valid))
			return false;
	return true;
}

/*
 * Resume the suspended devices whose ranges are all back. Return: true if
 * one is still waiting (an invalidation came in meanwhile).
 */
static bool gpumirror_resume_ready(struct gpumirror *mirror)
{
	unsigned long suspended;
	bool waiting = false;
	unsigned int i;
	u64 ns;

	mutex_lock(&mirror->lock);
	down_read(&mirror->notifier_lock);
	suspended = READ_ONCE(mirror->suspended);
	for_each_set_bit(i, &suspended, GPUMIRROR_MAX_DEVICES) {
		struct gpumirror_device *gdev = mirror->devices[i];

		if (!gpumirror_all_kept_valid(mirror, i)) {
			waiting = true;
			continue;
		}
		/* Invalidations set bits under the lock held for write. */
		clear_bit(i, &mirror->suspended);
		ns = ktime_get_ns() - gdev->suspended_at;
		atomic64_add(ns, &gdev->stats.restore_ns);
		atomic64_inc(&gdev->stats.resumes);
		gdev->ops->resume(gdev);
	}
	up_read(&mirror->notifier_lock);
	mutex_unlock(&mirror->lock);
	return waiting;
}

static void gpumirror_restore_work(struct work_struct *work)
{
	struct gpumirror *mirror =
		container_of(work, struct gpumirror, restore_work.work);
	bool again;

	down_write(&mirror->range_lock);
	gpumirror_gc(mirror);
	downgrade_write(&mirror->range_lock);
	again = gpumirror_restore_ranges(mirror, mirror->restore_tries >=
					 GPUMIRROR_RESTORE_TRIES);
	up_read(&mirror->range_lock);
	again |= gpumirror_resume_ready(mirror);

	mirror->restore_tries = again ? mirror->restore_tries + 1 : 0;
	if (again) {
		down_read(&mirror->notifier_lock);
		if (!mirror->dying)
			queue_delayed_work(system_unbound_wq,
					   &mirror->restore_work, 1);
		up_read(&mirror->notifier_lock);
	}
}

/*
 * Collect garbage now, for a fault that found an unmapped range; the
 * worker then maps back what the collection made for no-fault devices.
 */
void gpumirror_gc_sync(struct gpumirror *mirror)
{
	down_write(&mirror->range_lock);
	gpumirror_gc(mirror);
	up_write(&mirror->range_lock);
	down_read(&mirror->notifier_lock);
	gpumirror_restore_queue(mirror);
	up_read(&mirror->notifier_lock);
}

/* Set up the restore worker of @mirror. */
void gpumirror_restore_init(struct gpumirror *mirror)
{
	INIT_DELAYED_WORK(&mirror->restore_work, gpumirror_restore_work);
}

/* No restore work from now on; wait for a running one. */
void gpumirror_restore_stop(struct gpumirror *mirror)
{
	down_write(&mirror->notifier_lock);
	mirror->dying = true;
	up_write(&mirror->notifier_lock);
	cancel_delayed_work_sync(&mirror->restore_work);
}
