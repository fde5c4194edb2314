// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: mirrored objects, their segment tree and their notifier.
 */

#include <linux/err.h>
#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "internal.h"

/**
 * DOC: Objects and the single sequence number
 *
 * A &struct gpumirror_object maps N CPU VA segments, in order, to one
 * contiguous GPU VA extent starting at &gpumirror_object.gpu_start. A
 * scattered userptr is N segments; an SVM range is one segment whose GPU VA
 * equals its CPU VA.
 *
 * The object has exactly one &struct mmu_interval_notifier, spanning from
 * the lowest segment start to the highest segment end, and an interval tree
 * of its segments. All pages of all segments are therefore valid, for every
 * device, exactly when the notifier's sequence number read before the page
 * walk is unchanged at commit time: one mmu_interval_read_begin(), one
 * mmu_interval_read_retry() under &gpumirror.notifier_lock.
 *
 * The span also covers the holes between segments. An invalidation that
 * lies entirely in holes does not call mmu_interval_set_seq(), so it forces
 * no retry. That is safe: the sequence number only has to change when pages
 * the object mirrors may change. mmu_interval_read_begin() returns at once
 * while such an invalidation runs, because it waits only for invalidations
 * that set this notifier's sequence, and the walk that follows cannot
 * observe the invalidated pages: hmm_range_fault() visits only the
 * segments, which the invalidation does not touch. An invalidation that
 * overlaps any segment sets the sequence before the callback returns, with
 * the notifier lock held for write, so a commit either sees the new
 * sequence or has finished before the device's PTEs are zapped.
 *
 * The segments are fixed when the object is created and the tree is built
 * before the notifier is inserted (which publishes it, under the mm's
 * notifier spinlock), so the callback reads the tree without a lock.
 *
 * One sequence does not mean one walk per retry. The callback also marks
 * the segments an event hits in &gpumirror_object.stale_segs, before it
 * moves the sequence. A retry of gpumirror_object_map() takes the marks
 * right after mmu_interval_read_begin(), walks only those segments (and
 * any the previous try's walk did not get to), DMA-maps again only the
 * segments walked since the sets were last mapped, and commits the whole
 * object with the one mmu_interval_read_retry(). That is sound because a
 * segment's pfns stay current until an event hits it, and the callback
 * marks the segments and moves the sequence in one hold of the notifier
 * lock for write, under which the marks are taken (held for read): a try
 * that takes an event's marks sees its sequence move and fails every
 * walk, marking the segments again; an event whose marks it does not take
 * fails its commit and leaves them for the next try. So the walking and
 * DMA mapping of a retry grow with the segments invalidated; what is
 * left of the number of segments is a scan of the bitmap, a word at a
 * time (the walk wants the stale segments in CPU VA order: they are
 * sorted, unless their order in GPU VA is that order already).
 * Maps with %GPUMIRROR_MAP_PARTIAL, %GPUMIRROR_MAP_DEVMEM or
 * %GPUMIRROR_MAP_EXCLUSIVE walk the whole object on every try.
 */

static int gpumirror_segment_check(const struct gpumirror_segment *r, u64 limit)
{
	unsigned long end;

	if (!r->len)
		return -ENODATA;
	if (!PAGE_ALIGNED(r->addr) || !PAGE_ALIGNED(r->len))
		return -EINVAL;
	if (check_add_overflow(r->addr, r->len, &end))
		return -EOVERFLOW;
	if (end > limit)
		return -EFAULT;
	return 0;
}

static int gpumirror_segments_build(struct gpumirror_object *obj,
				    const struct gpumirror_segment *segs,
				    unsigned long *span_start,
				    unsigned long *span_end)
{
	u64 limit = obj->mirror->mm->task_size;
	unsigned int i;
	int ret;

	*span_start = ULONG_MAX;
	*span_end = 0;
	for (i = 0; i < obj->nsegs; i++) {
		const struct gpumirror_segment *r = &segs[i];
		struct gpumirror_segment_node *seg = &obj->segs[i];

		ret = gpumirror_segment_check(r, limit);
		if (ret)
			return ret;
		if ((r->len >> PAGE_SHIFT) >
		    GPUMIRROR_MAX_OBJECT_PAGES - obj->npages)
			return -E2BIG;
		if (interval_tree_iter_first(&obj->segtree, r->addr,
					     r->addr + r->len - 1))
			return -EEXIST;
		seg->it.start = r->addr;
		seg->it.last = r->addr + r->len - 1;
		seg->first_page = obj->npages;
		obj->npages += r->len >> PAGE_SHIFT;
		interval_tree_insert(&seg->it, &obj->segtree);
		*span_start = min(*span_start, r->addr);
		*span_end = max(*span_end, r->addr + r->len);
	}
	return 0;
}

static bool gpumirror_extent_fits(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;
	u64 size = (u64)obj->npages << PAGE_SHIFT;
	unsigned int i;

	lockdep_assert_held(&mirror->priv->lock);
	if (obj->gpu_start + size < obj->gpu_start)
		return false;
	for_each_set_bit(i, &mirror->device_mask, GPUMIRROR_MAX_DEVICES)
		if (obj->gpu_start + size > mirror->devices[i]->va_limit)
			return false;
	return true;
}

/*
 * Sort the segments by CPU VA (the tree's order) and size the scratch
 * buffer for the largest walk batch of two or more segments (see
 * gpumirror_walk()).
 */
static int gpumirror_batches_build(struct gpumirror_object *obj)
{
	unsigned long start = 0, end = 0, max = 0;
	struct interval_tree_node *it;
	unsigned int i = 0, n = 0;

	if (obj->nsegs == 1)
		obj->by_addr = &obj->inline_by_addr;
	else
		obj->by_addr = kvcalloc(obj->nsegs, sizeof(*obj->by_addr),
					GFP_KERNEL_ACCOUNT);
	if (!obj->by_addr)
		return -ENOMEM;
	for (it = interval_tree_iter_first(&obj->segtree, 0, ULONG_MAX); it;
	     it = interval_tree_iter_next(it, 0, ULONG_MAX)) {
		obj->by_addr[i++] = container_of(it, struct gpumirror_segment_node, it);
		if (n && gpumirror_walk_joins(start, end, it->start,
					      it->last + 1)) {
			n++;
		} else {
			start = it->start;
			n = 1;
		}
		end = it->last + 1;
		if (n > 1)
			max = max(max, (end - start) >> PAGE_SHIFT);
	}
	if (!max)
		return 0;
	obj->scratch = kvcalloc(max, sizeof(*obj->scratch),
				GFP_KERNEL_ACCOUNT);
	obj->scratch_pages = obj->scratch ? max : 0;
	return obj->scratch ? 0 : -ENOMEM;
}

/* A zeroed object, inside the driver's structure if it has the op. */
static struct gpumirror_object *gpumirror_object_alloc(struct gpumirror *mirror)
{
	const struct gpumirror_ops *ops = mirror->ops;

	struct gpumirror_object *obj;

	if (!ops || !ops->object_alloc)
		return kzalloc(sizeof(*obj), GFP_KERNEL_ACCOUNT);
	obj = ops->object_alloc(mirror);
	if (IS_ERR_OR_NULL(obj))
		return NULL;
	/* Every byte of it is gpumirror's; the driver's state is around it. */
	memset(obj, 0, sizeof(*obj));
	return obj;
}

static void gpumirror_object_free(struct gpumirror_object *obj)
{
	const struct gpumirror_ops *ops = obj->mirror->ops;

	kvfree(obj->scratch);
	kvfree(obj->stale_segs);
	if (obj->by_addr != &obj->inline_by_addr)
		kvfree(obj->by_addr);
	if (obj->pfns != &obj->inline_pfn)
		kvfree(obj->pfns);
	if (obj->segs != &obj->inline_seg)
		kvfree(obj->segs);
	if (obj->sets != obj->inline_sets)
		kfree(obj->sets);
	if (ops && ops->object_free)
		ops->object_free(obj);
	else
		kfree(obj);
}

/**
 * gpumirror_object_create() - mirror CPU VA segments at one GPU VA extent
 * @mirror: the mirror
 * @segs: the segments, in the order they appear in GPU VA
 * @nr: number of @segs
 * @gpu_start: GPU VA of the first page of @segs[0], page aligned
 *
 * Segment i is mapped right after segment i - 1 in GPU VA, so the object's
 * extent is [@gpu_start, @gpu_start + sum of lengths). No page is faulted
 * yet; see gpumirror_object_map().
 *
 * Context: process context, no gpumirror lock and no mmap_lock held.
 * Return: the object, or an ERR_PTR(): -EINVAL for a NULL argument or an
 * unaligned address, length or @gpu_start; -ENOENT for @nr == 0; -ENODATA
 * for a zero-length segment; -EEXIST for overlapping segments; -EOVERFLOW
 * for a segment that wraps around; -EFAULT for a segment beyond the user
 * address space; -ERANGE for an extent beyond an attached device's VA
 * limit; -E2BIG for more than &gpumirror.max_segments segments or more
 * than %GPUMIRROR_MAX_OBJECT_PAGES pages; -ESRCH if the mm has no users
 * left (the process exited); -EINTR if a signal came while the mm's first
 * interval notifier was set up; -ENOMEM. Nothing is left allocated on
 * error.
 */
struct gpumirror_object *
gpumirror_object_create(struct gpumirror *mirror,
			const struct gpumirror_segment *segs, unsigned int nr,
			u64 gpu_start)
{
	if (!mirror || !segs || !PAGE_ALIGNED(gpu_start))
		return ERR_PTR(-EINVAL);
	if (!nr)
		return ERR_PTR(-ENOENT);
	if (nr > READ_ONCE(mirror->max_segments))
		return ERR_PTR(-E2BIG);
	return gpumirror_object_make(mirror, segs, nr, gpu_start, false);
}
EXPORT_SYMBOL_GPL(gpumirror_object_create);

/*
 * gpumirror_object_create() with valid arguments; a @range is also put in
 * the mirror's tree of ranges, in the same critical section that inserts
 * its notifier, unless another range overlaps it: -EAGAIN then, with
 * nothing inserted. Ranges are internal and have one segment: the
 * &gpumirror.max_segments limit is the caller's to check.
 */
struct gpumirror_object *
gpumirror_object_make(struct gpumirror *mirror,
		      const struct gpumirror_segment *segs, unsigned int nr,
		      u64 gpu_start, bool range)
{
	unsigned long span_start, span_end;
	struct gpumirror_object *obj;
	int ret;

	obj = gpumirror_object_alloc(mirror);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	obj->mirror = mirror;
	obj->gpu_start = gpu_start;
	obj->nsegs = nr;
	obj->segtree = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&obj->release_link);
	mutex_init(&obj->lock);
	/* Slot 0 needs no allocation; see gpumirror_pages_map() for others. */
	obj->sets = obj->inline_sets;
	obj->nr_sets = ARRAY_SIZE(obj->inline_sets);
	/* A one-segment object (a fault-mode range) keeps its segment inline. */
	if (nr == 1)
		obj->segs = &obj->inline_seg;
	else
		obj->segs = kvcalloc(nr, sizeof(*obj->segs),
				     GFP_KERNEL_ACCOUNT);
	if (!obj->segs) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = gpumirror_segments_build(obj, segs, &span_start, &span_end);
	if (ret)
		goto out_free;
	if (obj->npages == 1)
		obj->pfns = &obj->inline_pfn;
	else
		obj->pfns = kvcalloc(obj->npages, sizeof(*obj->pfns),
				     GFP_KERNEL_ACCOUNT);
	if (!obj->pfns) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = gpumirror_batches_build(obj);
	if (ret)
		goto out_free;
	if (nr > 1) {
		obj->stale_segs = kvcalloc(BITS_TO_LONGS(nr), sizeof(long),
					   GFP_KERNEL_ACCOUNT);
		if (!obj->stale_segs) {
			ret = -ENOMEM;
			goto out_free;
		}
	}

	mutex_lock(&mirror->priv->lock);
	if (!gpumirror_extent_fits(obj)) {
		ret = -ERANGE;
		goto out_unlock;
	}
	if (range && interval_tree_iter_first(&mirror->priv->ranges,
					      span_start, span_end - 1)) {
		ret = -EAGAIN;
		goto out_unlock;
	}
	/* A range before its notifier is live: the callback reads it. */
	if (range) {
		obj->range_it.start = span_start;
		obj->range_it.last = span_end - 1;
		obj->is_range = true;
	}
	/* Inserting a notifier into an mm that has exited is a bug. */
	if (!mmget_not_zero(mirror->mm)) {
		ret = -ESRCH;
		goto out_unlock;
	}
	/* What the first insert of an mm can fail with (mm_take_all_locks). */
	if (gpumirror_should_fail(GPUMIRROR_FAIL_NOTIFIER_INSERT))
		ret = -EINTR;
	else
		ret = mmu_interval_notifier_insert(&obj->notifier, mirror->mm,
						   span_start,
						   span_end - span_start,
						   &gpumirror_notifier_ops);
	if (!ret) {
		list_add_tail(&obj->link, &mirror->priv->objects);
		if (range)
			interval_tree_insert(&obj->range_it,
					     &mirror->priv->ranges);
	}
	mutex_unlock(&mirror->priv->lock);
	/* Pairs with mmget_not_zero() above; no mirror lock held. */
	mmput(mirror->mm);
	if (ret)
		goto out_free;
	return obj;

out_unlock:
	mutex_unlock(&mirror->priv->lock);
out_free:
	gpumirror_object_free(obj);
	return ERR_PTR(ret);
}

/*
 * Drop @gdev's DMA mappings of @obj; its PTEs are already zapped. A map
 * that ran between that zap and this lock (a concurrent gpumirror_fault()
 * of the same range) made the set valid again: zap it once more first.
 */
void gpumirror_object_release_device(struct gpumirror_object *obj,
				     struct gpumirror_device *gdev)
{
	mutex_lock(&obj->lock);
	gpumirror_object_revoke(obj, BIT(gdev->index));
	gpumirror_pages_unmap(obj, gdev);
	gpumirror_set_free(obj, gdev->index);
	mutex_unlock(&obj->lock);
}

/**
 * gpumirror_object_unmap() - drop one device's page set of an object
 * @obj: the object
 * @gdev: an attached device
 *
 * Zaps @gdev's PTEs (both passes of the invalidation) and DMA-unmaps its
 * set. The other devices' sets stay valid. A no-fault device that keeps
 * @obj mapped is suspended first, and the restore worker maps it back.
 *
 * Context: process context, no gpumirror lock held.
 */
void gpumirror_object_unmap(struct gpumirror_object *obj,
			    struct gpumirror_device *gdev)
{
	if (gdev->mirror != obj->mirror)
		return;
	gpumirror_object_revoke(obj, BIT(gdev->index));
	gpumirror_object_release_device(obj, gdev);
}
EXPORT_SYMBOL_GPL(gpumirror_object_unmap);

/* Destroy @obj, an object or a range; no gpumirror lock held. */
void gpumirror_object_teardown(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned int i;

	mutex_lock(&mirror->priv->lock);
	list_del(&obj->link);
	if (obj->is_range)
		interval_tree_remove(&obj->range_it, &mirror->priv->ranges);
	down_write(&mirror->notifier_lock);
	gpumirror_object_zap(obj, obj->valid, NULL);
	gpumirror_finish_pending(mirror);
	up_write(&mirror->notifier_lock);
	gpumirror_release_cancel(obj);
	for_each_set_bit(i, &mirror->device_mask, GPUMIRROR_MAX_DEVICES)
		gpumirror_object_release_device(obj, mirror->devices[i]);
	mutex_unlock(&mirror->priv->lock);

	/* Waits for a callback in flight; it finds no valid set left. */
	mmu_interval_notifier_remove(&obj->notifier);
	mutex_destroy(&obj->lock);
	gpumirror_object_free(obj);
}

/**
 * gpumirror_object_destroy() - stop mirroring an object and free it
 * @obj: an object from gpumirror_object_create()
 *
 * Zaps every device's PTEs of @obj, releases all page sets, removes the
 * notifier and frees @obj. The caller must not map @obj concurrently.
 *
 * Ranges, the objects gpumirror_fault() and gpumirror_prefetch() make,
 * belong to the mirror: its garbage collector and gpumirror_fini()
 * destroy them, and this refuses them (a driver that holds a range
 * pointer from an op could otherwise destroy it twice with the
 * collector).
 *
 * Context: process context, no gpumirror lock held.
 */
void gpumirror_object_destroy(struct gpumirror_object *obj)
{
	if (WARN_ON_ONCE(obj->is_range))
		return;
	gpumirror_object_teardown(obj);
}
EXPORT_SYMBOL_GPL(gpumirror_object_destroy);

/**
 * gpumirror_object_valid() - is a device's page set current?
 * @obj: the object
 * @gdev: the device
 *
 * Context: &gpumirror.notifier_lock held (gpumirror_notifier_lock()); the
 * answer holds until it is dropped.
 * Return: true if @gdev may use its page set of @obj.
 */
bool gpumirror_object_valid(struct gpumirror_object *obj,
			    struct gpumirror_device *gdev)
{
	lockdep_assert_held(&obj->mirror->notifier_lock);
	/* Pairs with smp_mb__before_atomic() in gpumirror_commit(). */
	return gdev->mirror == obj->mirror &&
	       test_bit_acquire(gdev->index, &obj->valid);
}
EXPORT_SYMBOL_GPL(gpumirror_object_valid);

/**
 * gpumirror_object_page() - one entry of a device's page set
 * @obj: the object
 * @gdev: the device
 * @index: page index within the object (GPU VA offset >> PAGE_SHIFT)
 *
 * Context: &gpumirror.notifier_lock held, and gpumirror_object_valid()
 * true for @gdev.
 * Return: the entry, or 0 if @index is out of range or the set not valid.
 */
gpumirror_addr_t gpumirror_object_page(struct gpumirror_object *obj,
				       struct gpumirror_device *gdev,
				       unsigned long index)
{
	if (!gpumirror_object_valid(obj, gdev) || index >= obj->npages)
		return 0;
	return gpumirror_set(obj, gdev->index)[index];
}
EXPORT_SYMBOL_GPL(gpumirror_object_page);

/**
 * gpumirror_object_pages() - a run of a device's page set, not copied
 * @obj: the object
 * @gdev: the device
 * @first: index of the first page wanted within the object
 * @count: in, the number of pages wanted; out, the number the returned
 *	array holds from @first (fewer at the end of the object, 0 on NULL)
 *
 * What a driver programs its PTEs from in one pass: entry i of the result
 * is gpumirror_object_page() of @first + i.
 *
 * Context: &gpumirror.notifier_lock held; the array may be read only while
 * it stays held. Once the lock is dropped an invalidation may make the set
 * stale: its DMA addresses are then unmapped (the release worker), and
 * unmapping the object from the device frees the set. A pointer kept
 * past the lock may still read plausible entries: dead IOVAs, which no
 * sanitizer flags.
 * Return: the entries, or NULL if the set is not valid for @gdev or
 * @first is beyond the object.
 */
const gpumirror_addr_t *gpumirror_object_pages(struct gpumirror_object *obj,
					       struct gpumirror_device *gdev,
					       unsigned long first,
					       unsigned long *count)
{
	const gpumirror_addr_t *set = NULL;

	if (gpumirror_object_valid(obj, gdev) && first < obj->npages)
		set = gpumirror_set(obj, gdev->index);
	if (!set) {
		*count = 0;
		return NULL;
	}
	*count = min(*count, obj->npages - first);
	return set + first;
}
EXPORT_SYMBOL_GPL(gpumirror_object_pages);
