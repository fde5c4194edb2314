// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the notifier callbacks, two-pass invalidation across devices.
 */

#include <kunit/static_stub.h>
#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>

#include "internal.h"

/**
 * DOC: Invalidation
 *
 * Every object's interval notifier callback first looks the invalidated
 * range up in the object's segment tree. No overlap: return without touching
 * the sequence number (see "Objects and the single sequence number").
 * Overlap: take &gpumirror.notifier_lock for write, set the sequence, and
 * invalidate the object's whole GPU extent on every device whose page set is
 * valid; those sets are stale from then on and the release worker drops
 * their DMA mappings outside the notifier path.
 *
 * Why the whole extent, not just the pages the event touches: validity is
 * per object and device, and a device must not keep any PTE of a set that
 * is no longer valid. If it kept the untouched part, a later event on that
 * part would find the set already stale and call nobody, while the device
 * still translated to the pages being freed. Objects that want finer
 * invalidation are made smaller (an SVM range is one object).
 *
 * Devices that offer &gpumirror_device_ops.invalidate_start and
 * &gpumirror_device_ops.invalidate_finish are invalidated in two passes,
 * through the interval notifiers' own two passes
 * (&mmu_interval_notifier_ops.invalidate_start and .invalidate_finish). Pass 1
 * runs in each touched object's first pass: each device zaps its PTEs and
 * starts its TLB invalidation, and is marked in &gpumirror_private.pending. The
 * first object of an event that started something hands the core one of the
 * mirror's &gpumirror_private.finish slots, tagged with the event; later
 * objects of the same event find it and hand back nothing. The core runs that
 * slot's second pass after the first pass of every subscription of the event:
 * pass 2, where each pending device waits once for all it started. An event
 * that covers many objects therefore costs every device one TLB wait, and N
 * devices cost the slowest one, not the sum. Both passes complete before
 * mmu_notifier_invalidate_range_start() returns to the core mm, that is before
 * the CPU page tables change and before pages can be freed. When every slot is
 * taken by other events still between their passes (the callbacks allocate
 * nothing, see below), the object runs pass 2 itself, at once. Devices with
 * only &gpumirror_device_ops.invalidate are invalidated and waited for in
 * pass 1. Devices without a valid set are not called.
 *
 * Concurrent events share &gpumirror_private.pending: an event's pass 2 may
 * wait for another event's starts, which is harmless, and because pass 2 runs
 * under the notifier lock, an event that finds its bits already cleared knows
 * the waits are complete. Each pass 2 that waited moves
 * &gpumirror_private.flush_gen; an object records the generation of its last
 * zap, so a stale set is known flushed once the generation moved on, whatever
 * later events have started since (gpumirror_flushed()). Pass 2 may also run
 * outside an event, from gpumirror_object_revoke() or before a stale set is
 * DMA-unmapped; the event's own pass 2 then finds nothing pending.
 *
 * An %MMU_NOTIFY_UNMAP event marks the object &gpumirror_object.retired.
 * No-fault devices that keep the object mapped are suspended before their
 * PTEs go, and the restore worker is queued, as it is for a range an
 * munmap() hit (see "Restore worker").
 * Migration events invalidate like any other, whoever migrates: a device's
 * PTEs must not outlive the pages they point to, and only the code that
 * also rebuilds the sets under the object lock may skip that. That code
 * sets &gpumirror_object.rebuild_owner (exclusive access does); an
 * %MMU_NOTIFY_EXCLUSIVE event with that owner zaps the valid sets but leaves
 * the sequence alone, so the operation that raised it can commit.
 *
 * The callbacks can run from reclaim: they allocate nothing and take only
 * the notifier lock (and the release list's spinlock), which nothing holds
 * across an allocation; gpumirror_init() primes lockdep to prove it. When
 * the caller cannot block (mmu_notifier_range_blockable() is false, the OOM
 * reaper), the lock is only tried, and an object with valid sets makes the
 * callback return false, since invalidating devices may sleep.
 */

static bool gpumirror_two_pass(const struct gpumirror_device *gdev)
{
	return gdev->ops->invalidate_start && gdev->ops->invalidate_finish;
}

/* Pass 1 for one device; single-pass devices also complete here. */
static void gpumirror_device_start(struct gpumirror_device *gdev,
				   struct gpumirror_object *obj,
				   u64 gpu_start, u64 gpu_end,
				   const struct mmu_notifier_range *event)
{
	struct gpumirror *mirror = gdev->mirror;

	lockdep_assert_held_write(&mirror->notifier_lock);
	atomic64_inc(&gdev->stats.invalidations);
	if (gpumirror_two_pass(gdev)) {
		gdev->ops->invalidate_start(gdev, obj, gpu_start, gpu_end,
					    event);
		__set_bit(gdev->index, &mirror->priv->pending);
		return;
	}
	gdev->ops->invalidate(gdev, obj, gpu_start, gpu_end, event);
	atomic64_inc(&gdev->stats.tlb_flushes);
}

/* Pass 2: every device with a started invalidation waits once. */
void gpumirror_finish_pending(struct gpumirror *mirror)
{
	unsigned int i;

	/* A test may break the pass order on purpose through this stub. */
	KUNIT_STATIC_STUB_REDIRECT(gpumirror_finish_pending, mirror);
	lockdep_assert_held_write(&mirror->notifier_lock);
	if (!mirror->priv->pending)
		return;
	for_each_set_bit(i, &mirror->priv->pending, GPUMIRROR_MAX_DEVICES) {
		struct gpumirror_device *gdev = mirror->devices[i];

		gdev->ops->invalidate_finish(gdev);
		atomic64_inc(&gdev->stats.tlb_flushes);
	}
	/* Every set zapped before now is flushed: see gpumirror_flushed(). */
	mirror->priv->flush_gen++;
	WRITE_ONCE(mirror->priv->pending, 0);
}

/**
 * gpumirror_flushed() - is no device's TLB still translating to a stale set?
 * @obj: the object
 * @devices: slots whose sets of @obj went stale
 *
 * A set went stale in pass 1 of an event. If its device's bit in
 * &gpumirror_private.pending is clear, or pass 2 ran since
 * (&gpumirror_private.flush_gen moved past &gpumirror_object.zap_gen), the
 * flush that followed the zap has completed. Events that keep coming for other
 * objects keep the bit set, but not the generation still: they never hold this
 * set back.
 *
 * Context: the notifier lock held (read suffices).
 * Return: the slots of @devices whose flush has completed.
 */
unsigned long gpumirror_flushed(struct gpumirror_object *obj,
				unsigned long devices)
{
	struct gpumirror *mirror = obj->mirror;

	lockdep_assert_held(&mirror->notifier_lock);
	if (obj->zap_gen != mirror->priv->flush_gen)
		return devices;
	return devices & ~mirror->priv->pending;
}

/*
 * Pass 1 over the whole GPU extent of @obj for the valid sets of @devices,
 * which become stale, for the core mm's @event or for gpumirror itself
 * (NULL); the caller runs gpumirror_finish_pending() once after all its
 * objects.
 */
void gpumirror_object_zap(struct gpumirror_object *obj, unsigned long devices,
			  const struct mmu_notifier_range *event)
{
	struct gpumirror *mirror = obj->mirror;
	u64 end = obj->gpu_start + ((u64)obj->npages << PAGE_SHIFT);
	unsigned int i;

	lockdep_assert_held_write(&mirror->notifier_lock);
	devices &= obj->valid;
	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES) {
		gpumirror_device_start(mirror->devices[i], obj, obj->gpu_start,
				       end, event);
		clear_bit(i, &obj->valid);
	}
	if (devices) {
		obj->zap_gen = mirror->priv->flush_gen;
		gpumirror_release_queue(obj);
	}
}

/**
 * gpumirror_object_revoke() - take page sets away outside a notifier event
 * @obj: the object
 * @devices: slots whose valid sets of @obj go
 *
 * Both passes of an invalidation for the valid sets of @devices: access
 * that must stop (attributes that revoke it) or change (a write upgrade,
 * a refill of empty entries, a bind that failed). No-fault devices that
 * keep @obj are suspended first and the restore worker is queued to map it
 * back, as for an invalidation from the core mm.
 *
 * Context: process context; may hold &gpumirror_private.lock and the object
 * lock, not the notifier lock.
 */
void gpumirror_object_revoke(struct gpumirror_object *obj,
			     unsigned long devices)
{
	struct gpumirror *mirror = obj->mirror;

	/*
	 * No valid set of @devices: nothing to take away, and no need to
	 * stop every reader of the mirror for it. Valid bits are set only
	 * by a commit, under the object lock, and cleared only under the
	 * notifier lock held for write. A caller holding the object lock
	 * reads a 0 no commit can overtake; for the others a commit right
	 * after this read is one that came after the revoke, as it could
	 * after up_write() below.
	 */
	if (!(devices & READ_ONCE(obj->valid)))
		return;
	down_write(&mirror->notifier_lock);
	if (gpumirror_object_revoke_start(obj, devices))
		gpumirror_finish_pending(mirror);
	up_write(&mirror->notifier_lock);
}

/*
 * Pass 1 of gpumirror_object_revoke(), for callers that revoke several
 * objects and then run pass 2 (gpumirror_finish_pending()) once. Return:
 * true if a set was zapped.
 */
bool gpumirror_object_revoke_start(struct gpumirror_object *obj,
				   unsigned long devices)
{
	struct gpumirror *mirror = obj->mirror;

	lockdep_assert_held_write(&mirror->notifier_lock);
	devices &= obj->valid;
	if (!devices)
		return false;
	gpumirror_suspend_nofault(obj, devices);
	gpumirror_object_zap(obj, devices, NULL);
	if (devices & READ_ONCE(obj->keep))
		gpumirror_restore_queue(mirror);
	return true;
}

/*
 * The exclusive-access event gpumirror raises itself while it rebuilds
 * @obj's sets under the object lock: the sequence must not move for it.
 */
static bool gpumirror_own_event(struct gpumirror_object *obj,
				const struct mmu_notifier_range *range)
{
	/* Pairs with WRITE_ONCE() in gpumirror_object_map(). */
	void *owner = READ_ONCE(obj->rebuild_owner);

	return owner && range->owner == owner &&
	       range->event == MMU_NOTIFY_EXCLUSIVE;
}

/*
 * The segments of @obj that [@start, @last] overlaps, from @it on, are
 * stale: the next try of a map walks them again. Without @it (a wide
 * notifier's event in a hole, for the benchmarks) every segment is.
 */
static void gpumirror_mark_stale(struct gpumirror_object *obj,
				 struct interval_tree_node *it,
				 unsigned long start, unsigned long last)
{
	struct gpumirror_segment_node *seg;
	unsigned int i;

	lockdep_assert_held_write(&obj->mirror->notifier_lock);
	if (!obj->stale_segs)
		return;
	if (!it) {
		/* Atomic: the map re-marks segments without the lock. */
		for (i = 0; i < obj->nsegs; i++)
			set_bit(i, obj->stale_segs);
		return;
	}
	for (; it; it = interval_tree_iter_next(it, start, last)) {
		seg = container_of(it, struct gpumirror_segment_node, it);
		set_bit(seg - obj->segs, obj->stale_segs);
	}
}

static bool gpumirror_invalidate_nonblock(struct gpumirror_object *obj,
					  const struct mmu_notifier_range *range,
					  struct interval_tree_node *it,
					  unsigned long cur_seq)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long stale;
	bool done = false;

	if (!down_write_trylock(&mirror->notifier_lock))
		return false;
	/*
	 * Not with a pass 2 still pending for this object's stale sets
	 * either: a blockable event zapped them and their devices' TLB flush
	 * is not confirmed yet, so the pages must not be freed. (A set being
	 * mapped meanwhile is not valid yet: no TLB holds it.)
	 */
	stale = READ_ONCE(obj->mapped);
	if (!obj->valid && gpumirror_flushed(obj, stale) == stale) {
		gpumirror_mark_stale(obj, it, range->start, range->end - 1);
		mmu_interval_set_seq(&obj->notifier, cur_seq);
		done = true;
	}
	up_write(&mirror->notifier_lock);
	return done;
}

/*
 * Have pass 2 run for @range's pass 1: hand the core a free finish slot,
 * or nothing if an earlier object of the same event took one (that pass 2
 * runs after this object's pass 1 too). Return: false if every slot is
 * held by another event, and pass 2 must run now.
 */
static bool gpumirror_finish_claim(struct gpumirror *mirror,
				   const struct mmu_notifier_range *range,
				   struct mmu_interval_notifier_finish **finish)
{
	struct gpumirror_finish *slot = NULL;
	unsigned int i;

	lockdep_assert_held_write(&mirror->notifier_lock);
	for (i = 0; i < ARRAY_SIZE(mirror->priv->finish); i++) {
		struct gpumirror_finish *f = &mirror->priv->finish[i];

		if (f->event == range)
			return true;
		if (!f->event && !slot)
			slot = f;
	}
	if (!slot)
		return false;
	/* Cleared in gpumirror_invalidate_finish(), under the same lock. */
	slot->event = range;
	*finish = &slot->base;
	return true;
}

static bool gpumirror_invalidate_start(struct mmu_interval_notifier *mni,
				       const struct mmu_notifier_range *range,
				       unsigned long cur_seq,
				       struct mmu_interval_notifier_finish **finish)
{
	struct gpumirror_object *obj =
		container_of(mni, struct gpumirror_object, notifier);
	struct gpumirror *mirror = obj->mirror;
	unsigned long last = range->end - 1;
	struct interval_tree_node *it;
	bool restore;

	it = interval_tree_iter_first(&obj->segtree, range->start, last);
	if (!it && !(READ_ONCE(mirror->priv->flags) & GPUMIRROR_F_WIDE_NOTIFIER))
		return true;
	if (!mmu_notifier_range_blockable(range))
		return gpumirror_invalidate_nonblock(obj, range, it, cur_seq);

	down_write(&mirror->notifier_lock);
	if (!it || !gpumirror_own_event(obj, range)) {
		/* Before the sequence moves: pairs with xchg() in the map. */
		gpumirror_mark_stale(obj, it, range->start, last);
		mmu_interval_set_seq(mni, cur_seq);
	}
	if (!it)
		goto out_unlock;
	if (range->event == MMU_NOTIFY_UNMAP)
		obj->retired = true;
	/* Ranges to collect or to map back: the restore worker's job. */
	restore = (obj->retired && obj->is_range) || (obj->keep & obj->valid);
	if (obj->valid) {
		gpumirror_suspend_nofault(obj, obj->valid);
		gpumirror_object_zap(obj, obj->valid, range);
	}
	if (mirror->priv->pending && !gpumirror_finish_claim(mirror, range, finish))
		gpumirror_finish_pending(mirror);
	/* After the zap: the worker must find the sets stale. */
	if (restore)
		gpumirror_restore_queue(mirror);
out_unlock:
	up_write(&mirror->notifier_lock);
	return true;
}

/* Pass 2, after the first pass of every subscription of the event. */
static void gpumirror_invalidate_finish(struct mmu_interval_notifier_finish *finish)
{
	struct gpumirror_finish *slot =
		container_of(finish, struct gpumirror_finish, base);
	struct gpumirror *mirror = slot->mirror;

	/*
	 * Only blockable events get a slot (a non-blockable first pass
	 * starts nothing, see gpumirror_invalidate_nonblock()), so this
	 * may sleep.
	 */
	might_sleep();
	down_write(&mirror->notifier_lock);
	gpumirror_finish_pending(mirror);
	/* Pairs with the claim in gpumirror_finish_claim(). */
	slot->event = NULL;
	up_write(&mirror->notifier_lock);
}

const struct mmu_interval_notifier_ops gpumirror_notifier_ops = {
	.invalidate_start = gpumirror_invalidate_start,
	.invalidate_finish = gpumirror_invalidate_finish,
};
