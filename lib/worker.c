// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the release worker, which drops stale DMA mappings.
 */

#include <linux/gpumirror.h>
#include <linux/workqueue.h>

#include "internal.h"

/**
 * DOC: Release worker
 *
 * An invalidation only zaps the devices' PTEs and marks their page sets
 * stale: the sets belong to &gpumirror_object.lock, which the notifier may
 * not take (a fault holds it across allocations). The notifier queues the
 * object instead, and the release worker, in process context, takes the
 * object's lock and DMA-unmaps every set that is mapped but not valid and
 * whose device has completed the flush that followed its zap (see
 * gpumirror_flushed()), so no IOMMU mapping of a page the CPU gave up outlives the event
 * by more than a tick or so, and none goes while the device's TLB may
 * still translate to it: pass 2 runs after the first pass of every interval
 * notifier of the event, some of which may be slow. A set
 * whose flush is still pending is looked at again a tick later.
 * A later gpumirror_object_map() that finds a stale set does the same,
 * running the pending pass 2 itself first if it has to (see
 * gpumirror_pages_unmap()).
 */

/* Queue @obj for the release worker; any context, no allocation. */
void gpumirror_release_queue(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;

	spin_lock(&mirror->priv->release_lock);
	if (list_empty(&obj->release_link))
		list_add_tail(&obj->release_link, &mirror->priv->release_list);
	spin_unlock(&mirror->priv->release_lock);
	/*
	 * A tick later, on any CPU: the unmapping should neither delay nor
	 * compete with the invalidation that is still running.
	 */
	queue_delayed_work(system_unbound_wq, &mirror->priv->release_work, 1);
}

/* Take @obj off the release list; the caller holds &gpumirror_private.lock. */
void gpumirror_release_cancel(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;

	lockdep_assert_held(&mirror->priv->lock);
	spin_lock(&mirror->priv->release_lock);
	list_del_init(&obj->release_link);
	spin_unlock(&mirror->priv->release_lock);
}

/*
 * DMA-unmap @obj's stale sets whose devices finished pass 2. Return: true
 * if a set must wait for a pass 2 still pending.
 */
static bool gpumirror_release_stale_sets(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long stale, done;
	unsigned int i;

	mutex_lock(&obj->lock);
	/*
	 * Pass 1 and pass 2 update what gpumirror_flushed() reads under the
	 * notifier lock held for write: under the lock held for read its
	 * answer is exact.
	 */
	down_read(&mirror->notifier_lock);
	stale = obj->mapped & ~obj->valid;
	done = gpumirror_flushed(obj, stale);
	up_read(&mirror->notifier_lock);
	for_each_set_bit(i, &done, GPUMIRROR_MAX_DEVICES) {
		gpumirror_pages_unmap(obj, mirror->devices[i]);
		atomic64_add(obj->npages, &mirror->devices[i]->stats.released);
	}
	mutex_unlock(&obj->lock);
	return stale != done;
}

static void gpumirror_release_work(struct work_struct *work)
{
	struct gpumirror *mirror =
		container_of(work, struct gpumirror_private, release_work.work)->mirror;
	struct gpumirror_object *obj;
	LIST_HEAD(later);

	/* mirror->priv->lock keeps the objects and the device slots alive. */
	mutex_lock(&mirror->priv->lock);
	for (;;) {
		spin_lock(&mirror->priv->release_lock);
		obj = list_first_entry_or_null(&mirror->priv->release_list,
					       struct gpumirror_object,
					       release_link);
		if (obj)
			list_del_init(&obj->release_link);
		spin_unlock(&mirror->priv->release_lock);
		if (!obj)
			break;
		if (!gpumirror_release_stale_sets(obj))
			continue;
		/* Unless an invalidation queued it again meanwhile. */
		spin_lock(&mirror->priv->release_lock);
		if (list_empty(&obj->release_link))
			list_add_tail(&obj->release_link, &later);
		spin_unlock(&mirror->priv->release_lock);
	}
	if (!list_empty(&later)) {
		spin_lock(&mirror->priv->release_lock);
		list_splice_tail(&later, &mirror->priv->release_list);
		spin_unlock(&mirror->priv->release_lock);
		queue_delayed_work(system_unbound_wq, &mirror->priv->release_work, 1);
	}
	mutex_unlock(&mirror->priv->lock);
}

/* Set up the release worker of @mirror. */
void gpumirror_release_init(struct gpumirror *mirror)
{
	spin_lock_init(&mirror->priv->release_lock);
	INIT_LIST_HEAD(&mirror->priv->release_list);
	INIT_DELAYED_WORK(&mirror->priv->release_work, gpumirror_release_work);
}
