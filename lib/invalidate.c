// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the mmu interval notifier callback.
 */

#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>

#include "internal.h"

/**
 * DOC: Invalidation
 *
 * The callback first looks the invalidated range up in the object's segment
 * tree. No overlap: return without touching the sequence number (see
 * "Objects and the single sequence number"). Overlap: take
 * &gpumirror.notifier_lock for write, set the sequence, and call
 * &gpumirror_device_ops.invalidate for every device whose page set is
 * valid, over the GPU VA span that covers the overlapped segments. The
 * device's set is then stale until the next gpumirror_object_map().
 *
 * The callback can run from reclaim: it allocates nothing and takes only
 * the notifier lock, which nothing holds across an allocation (lockdep is
 * primed to prove it, see gpumirror_init()). When the caller cannot block
 * (mmu_notifier_range_blockable() is false, the OOM reaper) the lock is
 * only tried, and the callback returns false if it is contended.
 */

/* GPU VA span [*gs, *ge) of the segments overlapping [start, last]. */
static void gpumirror_gpu_span(struct gpumirror_object *obj,
			       struct interval_tree_node *it,
			       unsigned long start, unsigned long last,
			       u64 *gs, u64 *ge)
{
	*gs = U64_MAX;
	*ge = 0;
	for (; it; it = interval_tree_iter_next(it, start, last)) {
		struct gpumirror_segment *seg =
			container_of(it, struct gpumirror_segment, it);
		u64 base = obj->gpu_start + ((u64)seg->first_page << PAGE_SHIFT);
		unsigned long s = max(start, it->start);
		unsigned long e = min(last, it->last) + 1;

		*gs = min(*gs, base + (s - it->start));
		*ge = max(*ge, base + (e - it->start));
	}
}

static bool gpumirror_invalidate(struct mmu_interval_notifier *mni,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	struct gpumirror_object *obj =
		container_of(mni, struct gpumirror_object, notifier);
	struct gpumirror *mirror = obj->mirror;
	unsigned long last = range->end - 1;
	struct interval_tree_node *it;
	unsigned int i;
	u64 gs, ge;

	it = interval_tree_iter_first(&obj->segtree, range->start, last);
	if (!it && !(READ_ONCE(mirror->flags) & GPUMIRROR_F_WIDE_NOTIFIER))
		return true;

	if (mmu_notifier_range_blockable(range))
		down_write(&mirror->notifier_lock);
	else if (!down_write_trylock(&mirror->notifier_lock))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	if (it && obj->valid) {
		gpumirror_gpu_span(obj, it, range->start, last, &gs, &ge);
		for_each_set_bit(i, &obj->valid, GPUMIRROR_MAX_DEVICES) {
			struct gpumirror_device *gdev = mirror->devices[i];

			gdev->ops->invalidate(gdev, obj, gs, ge);
			atomic64_inc(&gdev->stats.invalidations);
			clear_bit(i, &obj->valid);
		}
	}
	up_write(&mirror->notifier_lock);
	return true;
}

const struct mmu_interval_notifier_ops gpumirror_notifier_ops = {
	.invalidate = gpumirror_invalidate,
};
