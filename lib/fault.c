// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the multi-range fault of an object.
 */

#include <kunit/static_stub.h>
#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "internal.h"

/**
 * DOC: Multi-range fault
 *
 * gpumirror_object_map() reads the object's notifier sequence once with
 * mmu_interval_read_begin() and faults its segments as the slices of
 * hmm_range_fault_slices() calls, all with that same sequence. -EBUSY from
 * any slice (its pages changed, or the sequence moved) fails the try; so
 * does a commit that finds the sequence moved. The next try walks again
 * only the segments an event hit and those the failed walk did not get to
 * (see "Objects and the single sequence number"). Retrying stops with
 * -EBUSY after %HMM_RANGE_DEFAULT_TIMEOUT milliseconds.
 *
 * One page walk serves every requested device: the pfns are DMA-mapped once
 * per device into that device's page set (outside the notifier lock, since
 * DMA mapping may allocate), and the commit is one mmu_interval_read_retry()
 * under &gpumirror.notifier_lock held for read, which marks all the new sets
 * valid at once.
 *
 * The walk goes in CPU VA order. Segments no more than
 * %GPUMIRROR_WALK_GAP pages apart (scattered malloc() blocks usually are)
 * are read as one hmm range that faults nothing, so K close segments that
 * are already populated cost one page table walk, not K. Only the segments
 * that lack a page, or write access to one, are then faulted, up to
 * %GPUMIRROR_FAULT_SLICES of them per hmm_range_fault_slices() call, each
 * a slice of its own: hmm_range_fault() faults every page from the first
 * one a walk chunk requests to the chunk's end, so a joined range that
 * asked for faults would populate, COW-break or dirty the pages between
 * the segments, and fail on a hole userfaultfd or the end of a file
 * guards, while the slices' holes are never walked. The pages between
 * segments are read, never faulted.
 *
 * mmap_lock is taken for read around the walk, but it is not held for the
 * whole of a huge object: between two walk batches the walk drops and
 * retakes it when another task waits for it or the CPU should reschedule.
 * That is safe because validity never depends on mmap_lock: any change to
 * pages walked before the drop moves the sequence, and the commit then
 * retries.
 *
 * Errors leave no partial state: the requested devices' sets that are not
 * valid have their DMA mappings released before the error is returned;
 * sets that were valid stay valid, except those a %GPUMIRROR_MAP_WRITE
 * call took away to build them again for write, and those with empty
 * entries a walk found a page for, taken away to be refilled.
 *
 * With %GPUMIRROR_MAP_PARTIAL, a segment that cannot be faulted (-EFAULT:
 * unmapped, or made PROT_NONE) maps nothing (entries of 0) instead of
 * failing the object: the other segments stay usable; and a write map of
 * a segment with read-only pages maps those for reading only, the others
 * for write.
 *
 * Two variants share the loop. %GPUMIRROR_MAP_DEVMEM walks without
 * faulting and keeps only the pages in the device's own memory: what a
 * driver maps right after migrating a range to itself. %GPUMIRROR_MAP_EXCLUSIVE
 * replaces the walk with make_device_exclusive_range(), 64 pages at a time,
 * which locks each page and swaps its CPU entry for a device-exclusive one.
 * That raises an %MMU_NOTIFY_EXCLUSIVE event on the object itself;
 * &gpumirror_object.rebuild_owner tells the callback not to move the
 * sequence for it (the sets are being rebuilt under the object lock
 * anyway), or the commit could never succeed. Each batch's pages are
 * unlocked at once, so no more than 64 page locks are ever held; only their
 * references are kept until the commit (after it, the notifier protects
 * the DMA-mapped pages as for any walk). A CPU access that restores an
 * entry before the commit raises an event of its own (no owner), which
 * fails the commit, and the map is tried again; one after the commit
 * invalidates the device's PTEs. A try after a failed one first takes
 * back the entries the failed try left exclusive, before it reads the
 * sequence: the walk restoring them itself would fail it again.
 */

/*
 * Tries of gpumirror_object_map() that migrations may disturb; after them
 * it holds the driver_migrate_lock for write (see its DOC).
 */
#define GPUMIRROR_MAP_TRIES_SHARED	8

/* Segments faulted per hmm_range_fault_slices() call; on the stack. */
#define GPUMIRROR_FAULT_SLICES		16

/**
 * gpumirror_hmm_fault() - fault or read slices of an object's CPU VA
 * @obj: the object
 * @range: the object's notifier and seq, the flags and pagemap owner
 * @slices: ascending ranges: segments, a single page of one, or a batch of
 *	close segments read as one
 * @nr: the number of @slices
 * @done: set to the number of slices completed
 *
 * A static stub point for the KUnit suites.
 *
 * Return: the result of hmm_range_fault_slices().
 */
VISIBLE_IF_KUNIT int gpumirror_hmm_fault(struct gpumirror_object *obj,
					 struct hmm_range *range,
					 const struct hmm_range_slice *slices,
					 unsigned int nr, unsigned int *done)
{
	KUNIT_STATIC_STUB_REDIRECT(gpumirror_hmm_fault, obj, range, slices, nr,
				   done);
	return hmm_range_fault_slices(range, slices, nr, done);
}
EXPORT_SYMBOL_IF_KUNIT(gpumirror_hmm_fault);

/* gpumirror_hmm_fault() of the one range [@start, @end) into @pfns. */
static int gpumirror_hmm_fault_one(struct gpumirror_object *obj,
				   struct hmm_range *range,
				   unsigned long start, unsigned long end,
				   unsigned long *pfns)
{
	const struct hmm_range_slice slice = {
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
	};
	unsigned int done;

	return gpumirror_hmm_fault(obj, range, &slice, 1, &done);
}

/**
 * gpumirror_walk_yield() - let mmap_lock waiters in between two batches
 * @obj: the object being walked, with its mm's mmap_lock held for read
 * @seg: index of the segment walked next in the array walked
 *	(&gpumirror_object.by_addr, or the stale segments of a retry)
 *
 * A static stub point for the KUnit suites.
 */
VISIBLE_IF_KUNIT void gpumirror_walk_yield(struct gpumirror_object *obj,
					   unsigned int seg)
{
	struct mm_struct *mm = obj->mirror->mm;

	KUNIT_STATIC_STUB_REDIRECT(gpumirror_walk_yield, obj, seg);
	if (!mmap_lock_is_contended(mm) && !need_resched())
		return;
	mmap_read_unlock(mm);
	cond_resched();
	mmap_read_lock(mm);
}
EXPORT_SYMBOL_IF_KUNIT(gpumirror_walk_yield);

/* Does any of the @n pages at @pfns need a fault for @hmm_flags? */
static bool gpumirror_pfns_need_fault(const unsigned long *pfns,
				      unsigned long n, unsigned long hmm_flags)
{
	unsigned long need = HMM_PFN_VALID, i;

	if (!(hmm_flags & HMM_PFN_REQ_FAULT))
		return false;
	if (hmm_flags & HMM_PFN_REQ_WRITE)
		need |= HMM_PFN_WRITE;
	for (i = 0; i < n; i++)
		if ((pfns[i] & (need | HMM_PFN_ERROR)) != need)
			return true;
	return false;
}

static unsigned long
gpumirror_seg_pages(const struct gpumirror_segment_node *seg)
{
	return (seg->it.last + 1 - seg->it.start) >> PAGE_SHIFT;
}

/*
 * 6.12's hmm_range_fault() reports a device-private page of the walk's own
 * pagemap owner as it is, read-only or not, without the write fault that
 * was asked for. Fault the first such page of @seg alone again as nobody's
 * owner: it migrates back to system memory (its owner's migrate_to_ram),
 * where the write fault breaks COW or fails with -EPERM as for any other
 * page. A range of one page, so no other page is touched (hmm_range_fault()
 * faults every page from the first one to the end of its walk chunk). The
 * move changes the sequence, so this try ends with -EBUSY and the next one
 * finds the next page. @batch gives the notifier, seq and pagemap owner.
 */
static int gpumirror_fault_devpriv(struct gpumirror_object *obj,
				   const struct gpumirror_segment_node *seg,
				   const struct hmm_range *batch,
				   unsigned long hmm_flags)
{
	unsigned long *pfns = obj->pfns + seg->first_page;
	struct hmm_range range = *batch;
	unsigned long i, start;

	if (!range.dev_private_owner)
		return 0;
	for (i = 0; i < gpumirror_seg_pages(seg); i++) {
		if (!gpumirror_pfns_need_fault(pfns + i, 1, hmm_flags))
			continue;
		start = seg->it.start + (i << PAGE_SHIFT);
		range.default_flags = hmm_flags;
		range.pfn_flags_mask = 0;
		range.dev_private_owner = NULL;
		return gpumirror_hmm_fault_one(obj, &range, start,
					       start + PAGE_SIZE, pfns + i);
	}
	return 0;
}

/*
 * Fault one segment with @hmm_flags, a slice of its own: nothing outside
 * it is faulted. @batch gives the notifier, seq and pagemap owner.
 */
static int gpumirror_fault_segment(struct gpumirror_object *obj,
				   const struct gpumirror_segment_node *seg,
				   const struct hmm_range *batch,
				   unsigned long hmm_flags)
{
	struct hmm_range range = *batch;
	int ret;

	range.default_flags = hmm_flags;
	range.pfn_flags_mask = 0;
	ret = gpumirror_hmm_fault_one(obj, &range, seg->it.start,
				      seg->it.last + 1,
				      obj->pfns + seg->first_page);
	if (ret)
		return ret;
	return gpumirror_fault_devpriv(obj, seg, batch, hmm_flags);
}

/*
 * Read the @n close segments from @segs on (CPU VA order) with one hmm
 * range over [@range->start, @range->end) that faults nothing, holes
 * included; their pfns go to the object's array.
 */
static int gpumirror_snapshot_joined(struct gpumirror_object *obj,
				     struct gpumirror_segment_node **segs,
				     unsigned int n, struct hmm_range *range)
{
	unsigned long off;
	unsigned int i;
	int ret;

	range->default_flags = 0;
	range->pfn_flags_mask = 0;
	ret = gpumirror_hmm_fault_one(obj, range, range->start, range->end,
				      obj->scratch);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		off = (segs[i]->it.start - range->start) >> PAGE_SHIFT;
		memcpy(obj->pfns + segs[i]->first_page, obj->scratch + off,
		       gpumirror_seg_pages(segs[i]) * sizeof(*obj->scratch));
	}
	return 0;
}

/*
 * With %GPUMIRROR_MAP_PARTIAL, a segment that a write fault failed on
 * (-EPERM: a page of it is read-only) is faulted page by page instead: for
 * write where the CPU may write, for reading where it may only read (those
 * entries lack %GPUMIRROR_ADDR_WRITE), nothing where it is unmapped. So a
 * block made read-only never takes write access away from the others.
 * Rare, so one walk per page is fine.
 */
static int gpumirror_fault_segment_pages(struct gpumirror_object *obj,
					 const struct gpumirror_segment_node *seg,
					 struct hmm_range *range,
					 unsigned long hmm_flags)
{
	struct gpumirror_segment_node one = *seg;
	unsigned long i;
	int ret;

	for (i = 0; i < gpumirror_seg_pages(seg); i++) {
		one.it.start = seg->it.start + (i << PAGE_SHIFT);
		one.it.last = one.it.start + PAGE_SIZE - 1;
		one.first_page = seg->first_page + i;
		ret = gpumirror_fault_segment(obj, &one, range, hmm_flags);
		if (ret == -EPERM)
			ret = gpumirror_fault_segment(obj, &one, range,
						      hmm_flags &
						      ~HMM_PFN_REQ_WRITE);
		if (ret == -EFAULT) {
			obj->pfns[one.first_page] = 0;
			ret = 0;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * A segment whose fault failed with @ret. With @partial, a write fault
 * that failed on a read-only page is done page by page, and a segment
 * that cannot be faulted maps nothing.
 */
static int gpumirror_segment_failed(struct gpumirror_object *obj,
				    const struct gpumirror_segment_node *seg,
				    struct hmm_range *range,
				    unsigned long hmm_flags, bool partial,
				    int ret)
{
	if (ret == -EPERM && partial && (hmm_flags & HMM_PFN_REQ_WRITE))
		ret = gpumirror_fault_segment_pages(obj, seg, range, hmm_flags);
	if (ret == -EFAULT && partial) {
		memset(obj->pfns + seg->first_page, 0,
		       gpumirror_seg_pages(seg) * sizeof(*obj->pfns));
		ret = 0;
	}
	return ret;
}

/*
 * Fault the segments from @segs[@i] on that need it, up to
 * %GPUMIRROR_FAULT_SLICES of them, with one hmm_range_fault_slices() call.
 * Return: 0 and in @next where to go on from, or an error.
 */
static int gpumirror_fault_slices(struct gpumirror_object *obj,
				  struct gpumirror_segment_node **segs,
				  unsigned int i, unsigned int n,
				  struct hmm_range *batch,
				  unsigned long hmm_flags, bool partial,
				  unsigned int *next)
{
	struct hmm_range_slice slices[GPUMIRROR_FAULT_SLICES];
	unsigned int which[GPUMIRROR_FAULT_SLICES];
	struct hmm_range range = *batch;
	unsigned int nr = 0, done, k;
	int ret;

	for (; i < n && nr < GPUMIRROR_FAULT_SLICES; i++) {
		struct gpumirror_segment_node *seg = segs[i];

		if (n > 1 &&
		    !gpumirror_pfns_need_fault(obj->pfns + seg->first_page,
					       gpumirror_seg_pages(seg),
					       hmm_flags))
			continue;
		slices[nr].start = seg->it.start;
		slices[nr].end = seg->it.last + 1;
		slices[nr].hmm_pfns = obj->pfns + seg->first_page;
		which[nr++] = i;
	}
	*next = i;
	if (!nr)
		return 0;
	range.default_flags = hmm_flags;
	range.pfn_flags_mask = 0;
	ret = gpumirror_hmm_fault(obj, &range, slices, nr, &done);
	for (k = 0; k < done; k++) {
		int r = gpumirror_fault_devpriv(obj, segs[which[k]], batch,
						hmm_flags);

		if (r)
			return r;
	}
	if (!ret)
		return 0;
	/* Go on after the one that failed, if it can be mapped around. */
	*next = which[done] + 1;
	return gpumirror_segment_failed(obj, segs[which[done]], batch,
					hmm_flags, partial, ret);
}

/*
 * Walk one batch: segments close enough to share a page table walk are
 * read together with a walk that faults nothing; then the segments that
 * lack a page (or write access to one) are faulted as slices, so no page
 * between segments is ever faulted (hmm_range_fault() faults every page
 * from the first one requested to the end of a walk chunk, holes
 * included). With @partial, a segment that cannot be faulted maps nothing.
 */
static int gpumirror_walk_batch(struct gpumirror_object *obj,
				struct gpumirror_segment_node **segs,
				unsigned int n, struct hmm_range *range,
				unsigned long hmm_flags, bool partial)
{
	unsigned int i = 0;
	int ret;

	if (n > 1) {
		ret = gpumirror_snapshot_joined(obj, segs, n, range);
		if (ret)
			return ret;
	}
	while (i < n) {
		ret = gpumirror_fault_slices(obj, segs, i, n, range, hmm_flags,
					     partial, &i);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Of the @n segments @segs (in CPU VA order), those from @b on that form
 * one walk batch, spanning at most @max pages if it joins several;
 * returns the batch's end.
 */
static unsigned int gpumirror_batch_end(struct gpumirror_segment_node **segs,
					unsigned int n, unsigned int b,
					unsigned long max, unsigned long *end)
{
	unsigned int e;

	*end = segs[b]->it.last + 1;
	for (e = b + 1; e < n; e++) {
		if (!gpumirror_walk_joins(segs[b]->it.start, *end,
					  segs[e]->it.start,
					  segs[e]->it.last + 1) ||
		    (segs[e]->it.last + 1 - segs[b]->it.start) >> PAGE_SHIFT >
		    max)
			break;
		*end = segs[e]->it.last + 1;
	}
	return e;
}

/*
 * Walk the @n segments @segs (CPU VA order; the object's by_addr, or the
 * stale ones of a retry) under @seq. *@walked: how many of them, from the
 * first, were walked when it returns.
 */
static int gpumirror_walk(struct gpumirror_object *obj,
			  struct gpumirror_segment_node **segs, unsigned int n,
			  unsigned long seq, unsigned long hmm_flags,
			  void *owner, bool partial, unsigned int *walked)
{
	struct mm_struct *mm = obj->mirror->mm;
	unsigned int b, e;
	unsigned long end;
	int ret = 0;

	*walked = 0;
	if (!mmget_not_zero(mm))
		return -EFAULT;
	atomic64_inc(&obj->walks);
	mmap_read_lock(mm);
	for (b = 0; b < n; b = e) {
		struct hmm_range range = {
			.notifier = &obj->notifier,
			.notifier_seq = seq,
			.start = segs[b]->it.start,
			.dev_private_owner = owner,
		};

		/*
		 * The object's own batches sized the scratch buffer; a
		 * retry's subset could join across a span limit they did
		 * not, so it is held to the buffer.
		 */
		e = gpumirror_batch_end(segs, n, b,
					segs == obj->by_addr ? ULONG_MAX :
					obj->scratch_pages, &end);
		range.end = end;
		if (b)
			gpumirror_walk_yield(obj, b);
		ret = gpumirror_walk_batch(obj, segs + b, e - b, &range,
					   hmm_flags, partial);
		if (ret)
			break;
		*walked = e;
	}
	mmap_read_unlock(mm);
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
	return ret;
}

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)
/*
 * Exclusive access to @n pages at @start; their pfns go to @pfns, the pages
 * (referenced, no longer locked) to @pages. Return: 0, or -EAGAIN if a page
 * could not be taken (not anonymous, shared, or locked by someone else): no
 * point in retrying.
 */
static int gpumirror_exclusive_batch(struct gpumirror_object *obj,
				     unsigned long start, unsigned long n,
				     unsigned long *pfns, struct page **pages,
				     void *owner)
{
	unsigned long i;
	int got;

	got = make_device_exclusive_range(obj->mirror->mm, start,
					  start + (n << PAGE_SHIFT), pages,
					  owner);
	if (got < 0)
		return got;
	for (i = got; i < n; i++)
		pages[i] = NULL;
	/*
	 * The entries are device-exclusive now; the page locks only kept
	 * them so while they were made. A CPU access may restore one from
	 * here on: its event moves the sequence and fails the commit.
	 */
	for (i = 0; i < n; i++)
		if (pages[i])
			unlock_page(pages[i]);
	for (i = 0; i < n; i++) {
		if (!pages[i])
			return -EAGAIN;
		pfns[i] = page_to_pfn(pages[i]) | HMM_PFN_VALID | HMM_PFN_WRITE;
	}
	return 0;
}

/* Drop the page references gpumirror_walk_exclusive() took. */
static void gpumirror_exclusive_put(struct page **pages, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (!pages[i])
			continue;
		/* Pairs with the reference make_device_exclusive_range() took. */
		put_page(pages[i]);
		pages[i] = NULL;
	}
}

/* The walk of %GPUMIRROR_MAP_EXCLUSIVE, 64 pages per call. */
static int gpumirror_walk_exclusive(struct gpumirror_object *obj,
				    struct page **pages, void *owner)
{
	struct mm_struct *mm = obj->mirror->mm;
	unsigned long addr, end, n, idx;
	unsigned int s;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EFAULT;
	atomic64_inc(&obj->walks);
	mmap_read_lock(mm);
	for (s = 0; s < obj->nsegs && !ret; s++) {
		const struct gpumirror_segment_node *seg = &obj->segs[s];

		end = seg->it.last + 1;
		idx = seg->first_page;
		for (addr = seg->it.start; addr < end && !ret;
		     addr += n << PAGE_SHIFT, idx += n) {
			n = min((end - addr) >> PAGE_SHIFT, 64UL);
			ret = gpumirror_exclusive_batch(obj, addr, n,
							obj->pfns + idx,
							pages + idx, owner);
		}
	}
	mmap_read_unlock(mm);
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
	return ret;
}

/*
 * Before another try of %GPUMIRROR_MAP_EXCLUSIVE: take back, with a write
 * fault on each page, the entries the failed try made device-exclusive.
 * Otherwise the next walk's own faults would restore them after the
 * sequence was read, and the events that raises would fail every try.
 * Errors are left to the walk.
 */
static void gpumirror_exclusive_restore(struct gpumirror_object *obj)
{
	struct mm_struct *mm = obj->mirror->mm;
	unsigned long addr, end, n;
	unsigned int s;
	long got;

	if (!mmget_not_zero(mm))
		return;
	mmap_read_lock(mm);
	for (s = 0; s < obj->nsegs; s++) {
		end = obj->segs[s].it.last + 1;
		for (addr = obj->segs[s].it.start; addr < end;
		     addr += n << PAGE_SHIFT) {
			n = min((end - addr) >> PAGE_SHIFT, 64UL);
			/* Faults only: no page array, no references. */
			got = get_user_pages_remote(mm, addr, n, FOLL_WRITE,
						    NULL, NULL);
			if (got < (long)n)
				break;
		}
	}
	mmap_read_unlock(mm);
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
}
#else
static int gpumirror_walk_exclusive(struct gpumirror_object *obj,
				    struct page **pages, void *owner)
{
	return -EOPNOTSUPP;
}

static void gpumirror_exclusive_restore(struct gpumirror_object *obj)
{
}

static void gpumirror_exclusive_put(struct page **pages, unsigned long n)
{
}
#endif

/* The pagemap owner the walk reports natively: the first one requested. */
static void *gpumirror_walk_owner(struct gpumirror *mirror,
				  unsigned long devices)
{
	unsigned int i;

	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES)
		if (mirror->devices[i]->pagemap_owner)
			return mirror->devices[i]->pagemap_owner;
	return NULL;
}

/* Does the set of slot @i have an empty entry? Context: @obj->lock. */
static bool gpumirror_set_sparse(struct gpumirror_object *obj, unsigned int i)
{
	const gpumirror_addr_t *set = gpumirror_set(obj, i);
	unsigned long p;

	for (p = 0; p < obj->npages; p++)
		if (!set[p])
			return true;
	return false;
}

/*
 * A valid set with empty entries is kept, unless the fresh walk found a
 * page for one of them. A page appearing where there was none raises no
 * invalidation (userfaultfd filling it, a first touch, mprotect() of a
 * range never populated), so nothing else would ever rebuild the set: the
 * device would fault on that entry and be told it is unreachable. Such
 * sets are taken away (both passes) and built again from this walk; a
 * write set is walked for write (see gpumirror_object_map()). That costs
 * the whole set's DMA mappings per refill, which is fine for the rare page
 * that appears; a driver that fills objects page by page on demand
 * (userfaultfd) would want the new entries mapped in place instead.
 */
static void gpumirror_refill(struct gpumirror_object *obj,
			     unsigned long devices)
{
	unsigned long sparse = devices & READ_ONCE(obj->valid) & obj->sparse;
	unsigned long refill = 0, p;
	unsigned int i;

	for_each_set_bit(i, &sparse, GPUMIRROR_MAX_DEVICES)
		for (p = 0; p < obj->npages; p++)
			if (!gpumirror_set(obj, i)[p] &&
			    (obj->pfns[p] & HMM_PFN_VALID)) {
				__set_bit(i, &refill);
				break;
			}
	if (refill)
		gpumirror_object_revoke(obj, refill);
}

/*
 * What one gpumirror_object_map() call keeps from try to try so that a
 * retry walks again only the segments an event hit since they were
 * walked, and DMA-maps again only those (see the "Objects and the single
 * sequence number" DOC). @on: the map does so (plain flags, several
 * segments); @todo: the segments of a retry's walk, in CPU VA order,
 * allocated at the first retry; @snap: the stale bits a try took;
 * @walked: segments walked and not DMA-mapped since; @built: slots whose
 * set this call built from a walk of every segment.
 */
struct gpumirror_rewalk {
	bool on;
	struct gpumirror_segment_node **todo;
	unsigned long *snap;
	unsigned long *walked;
	unsigned long built;
};

static void gpumirror_rewalk_init(struct gpumirror_object *obj,
				  struct gpumirror_rewalk *rw,
				  unsigned int flags)
{
	memset(rw, 0, sizeof(*rw));
	rw->on = obj->stale_segs &&
		 !(flags & (GPUMIRROR_MAP_DEVMEM | GPUMIRROR_MAP_EXCLUSIVE |
			    GPUMIRROR_MAP_PARTIAL));
}

/*
 * A retry's arrays, allocated at the first retry (a map that commits at
 * once needs none) and before mmu_interval_read_begin(): the reclaim an
 * allocation may cause could hit this object. Without them every try
 * walks the whole object, which is still correct.
 */
static void gpumirror_rewalk_alloc(struct gpumirror_object *obj,
				   struct gpumirror_rewalk *rw)
{
	unsigned long words = BITS_TO_LONGS(obj->nsegs);

	if (!rw->snap)
		rw->snap = kvcalloc(words, sizeof(long), GFP_KERNEL);
	if (!rw->walked)
		rw->walked = kvcalloc(words, sizeof(long), GFP_KERNEL);
	if (!rw->todo)
		rw->todo = kvmalloc_array(obj->nsegs, sizeof(*rw->todo),
					  GFP_KERNEL);
	rw->on = rw->snap && rw->walked && rw->todo;
}

static void gpumirror_rewalk_fini(struct gpumirror_rewalk *rw)
{
	kvfree(rw->todo);
	kvfree(rw->walked);
	kvfree(rw->snap);
}

/*
 * Take the stale bits, after mmu_interval_read_begin() and under the
 * notifier lock, which the callback holds for write while it marks the
 * segments and moves the sequence. So an event's marks and its sequence
 * move are seen together or not at all: either this try takes the marks
 * and every walk of it fails on the moved sequence (and marks its
 * segments stale again), or the event comes later and fails the commit,
 * its marks left for the next try. Taking them without the lock could
 * take the marks of an event whose sequence move and page table change
 * are still to come: the segment would be walked once, before the
 * change, and never again.
 */
static void gpumirror_take_stale(struct gpumirror_object *obj,
				 unsigned long *snap)
{
	unsigned long bits;
	unsigned int w;

	down_read(&obj->mirror->notifier_lock);
	for (w = 0; w < BITS_TO_LONGS(obj->nsegs); w++) {
		/* Most words are clear: no atomic for them. */
		bits = READ_ONCE(obj->stale_segs[w]);
		if (bits)
			bits = xchg(&obj->stale_segs[w], 0);
		/* The first try walks every segment: no need to keep them. */
		if (snap)
			snap[w] = bits;
	}
	up_read(&obj->mirror->notifier_lock);
}

static int gpumirror_seg_cmp(const void *a, const void *b)
{
	const struct gpumirror_segment_node *x = *(const void * const *)a;
	const struct gpumirror_segment_node *y = *(const void * const *)b;

	return x->it.start < y->it.start ? -1 : x->it.start > y->it.start;
}

/*
 * The stale segments of @snap in @todo, in CPU VA order as the walk wants
 * them: work that grows with the segments an event hit, not with the
 * object, unless so many are stale that sorting them would cost more than
 * a scan of the whole object in CPU VA order. Return: their number.
 */
static unsigned int gpumirror_stale_todo(struct gpumirror_object *obj,
					 const unsigned long *snap,
					 struct gpumirror_segment_node **todo)
{
	unsigned int n = 0, i;
	bool sorted = true;

	for_each_set_bit(i, snap, obj->nsegs) {
		todo[n] = &obj->segs[i];
		if (n && todo[n]->it.start < todo[n - 1]->it.start)
			sorted = false;
		n++;
	}
	/* Segments in GPU VA order are often in CPU VA order too. */
	if (sorted)
		return n;
	if ((unsigned long)n * (ilog2(n) + 1) < obj->nsegs) {
		sort(todo, n, sizeof(*todo), gpumirror_seg_cmp, NULL);
		return n;
	}
	for (i = 0, n = 0; i < obj->nsegs; i++)
		if (test_bit(obj->by_addr[i] - obj->segs, snap))
			todo[n++] = obj->by_addr[i];
	return n;
}

/*
 * The walk of a map that re-walks: every segment on the first try, the
 * stale ones on a retry. What the walk does not get to stays stale for
 * the next try; on the first try, which has no record of what it walked,
 * a walk that fails leaves every segment stale.
 */
static int gpumirror_rewalk(struct gpumirror_object *obj,
			    struct gpumirror_rewalk *rw, unsigned long seq,
			    unsigned long hmm_flags, void *owner, bool again)
{
	struct gpumirror_segment_node **segs = obj->by_addr;
	unsigned int n = obj->nsegs, walked, i;
	int ret;

	gpumirror_take_stale(obj, again ? rw->snap : NULL);
	if (again) {
		n = gpumirror_stale_todo(obj, rw->snap, rw->todo);
		segs = rw->todo;
	}
	ret = gpumirror_walk(obj, segs, n, seq, hmm_flags, owner, false,
			     &walked);
	if (!again && ret)
		walked = 0;
	for (i = 0; again && i < walked; i++)
		__set_bit(segs[i] - obj->segs, rw->walked);
	for (i = walked; i < n; i++)
		set_bit(segs[i] - obj->segs, obj->stale_segs);
	return ret;
}

/*
 * DMA-map the fresh walk for every requested device whose set is stale,
 * noting in &gpumirror_object.sparse which ones it leaves with empty
 * entries (read only once the commit makes the set valid). A set this
 * map built already gets only its walked segments again.
 */
static int gpumirror_map_sets(struct gpumirror_object *obj,
			      unsigned long devices, unsigned int flags,
			      struct gpumirror_rewalk *rw)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long build = 0;
	unsigned int i;
	int ret;

	/* One growth of the array of sets for all the slots asked for. */
	ret = gpumirror_sets_reserve(obj, fls_long(devices));
	if (ret)
		return ret;
	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES) {
		if (test_bit(i, &obj->valid))
			continue;
		if (!rw->on || !(rw->built & BIT(i))) {
			__set_bit(i, &build);
			continue;
		}
		ret = gpumirror_pages_remap(obj, mirror->devices[i],
					    rw->walked, flags);
		if (ret)
			return ret;
	}
	/* The sets built whole share passes over the pfns. */
	if (build) {
		ret = gpumirror_pages_map(obj, build, flags);
		if (ret)
			return ret;
		rw->built |= build;
	}
	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES)
		if (!test_bit(i, &obj->valid))
			__assign_bit(i, &obj->sparse,
				     (flags & (GPUMIRROR_MAP_PARTIAL |
					       GPUMIRROR_MAP_DEVMEM)) &&
				     gpumirror_set_sparse(obj, i));
	if (rw->on && rw->walked)
		bitmap_zero(rw->walked, obj->nsegs);
	return 0;
}

/* Commit: one read_retry for all sets. Return: true if they are valid. */
static bool gpumirror_commit(struct gpumirror_object *obj,
			     unsigned long devices, unsigned int flags,
			     unsigned long seq)
{
	struct gpumirror *mirror = obj->mirror;
	bool ok;
	unsigned int i;

	down_read(&mirror->notifier_lock);
	ok = !mmu_interval_read_retry(&obj->notifier, seq);
	if (ok) {
		devices &= READ_ONCE(mirror->device_mask);
		for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES) {
			if (test_bit(i, &obj->valid))
				continue;
			if (flags & GPUMIRROR_MAP_WRITE)
				set_bit(i, &obj->write_sets);
			else
				clear_bit(i, &obj->write_sets);
			/*
			 * The set and its entries were written under the
			 * object lock only, and other readers hold the
			 * notifier lock for read as we do: order them before
			 * the valid bit. Pairs with test_bit_acquire() in
			 * gpumirror_object_valid().
			 */
			smp_mb__before_atomic();
			set_bit(i, &obj->valid);
			atomic64_inc(&mirror->devices[i]->stats.faults);
		}
	}
	up_read(&mirror->notifier_lock);
	return ok;
}

/* After a failed map, drop the DMA mappings of the sets left stale. */
static void gpumirror_release_stale(struct gpumirror_object *obj,
				    unsigned long devices)
{
	unsigned int i;

	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES)
		if (!test_bit(i, &obj->valid))
			gpumirror_pages_unmap(obj, obj->mirror->devices[i]);
}

static void gpumirror_count_retry(struct gpumirror *mirror,
				  unsigned long devices)
{
	unsigned int i;

	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES)
		atomic64_inc(&mirror->devices[i]->stats.retries);
}

/*
 * One try of gpumirror_object_map(): walk, map the sets, commit. @again:
 * an earlier try failed.
 */
static int gpumirror_map_once(struct gpumirror_object *obj,
			      unsigned long devices, unsigned int flags,
			      void *owner, struct page **pages,
			      struct gpumirror_rewalk *rw, bool again)
{
	unsigned long hmm_flags = 0, seq;
	unsigned int walked;
	int ret;

	if (!(flags & GPUMIRROR_MAP_DEVMEM))
		hmm_flags = HMM_PFN_REQ_FAULT;
	if (hmm_flags && (flags & GPUMIRROR_MAP_WRITE))
		hmm_flags |= HMM_PFN_REQ_WRITE;

	if ((flags & GPUMIRROR_MAP_EXCLUSIVE) && again)
		gpumirror_exclusive_restore(obj);
	if (rw->on && again)
		gpumirror_rewalk_alloc(obj, rw);
	seq = mmu_interval_read_begin(&obj->notifier);
	if (flags & GPUMIRROR_MAP_EXCLUSIVE)
		ret = gpumirror_walk_exclusive(obj, pages, owner);
	else if (rw->on)
		ret = gpumirror_rewalk(obj, rw, seq, hmm_flags, owner, again);
	else
		ret = gpumirror_walk(obj, obj->by_addr, obj->nsegs, seq,
				     hmm_flags, owner,
				     flags & GPUMIRROR_MAP_PARTIAL, &walked);
	/*
	 * A devmem map leaves the entries of system pages empty by design:
	 * refilling them would revoke its own set on every such map.
	 */
	if (!ret && !(flags & GPUMIRROR_MAP_DEVMEM))
		gpumirror_refill(obj, devices);
	if (!ret)
		ret = gpumirror_map_sets(obj, devices, flags, rw);
	if (!ret && !gpumirror_commit(obj, devices, flags, seq))
		ret = -EBUSY;
	if (pages)
		gpumirror_exclusive_put(pages, obj->npages);
	return ret;
}

/* Check the arguments; for exclusive access, get the page array. */
static int gpumirror_map_prepare(struct gpumirror_object *obj,
				 unsigned long devices, unsigned int flags,
				 void **owner, struct page ***pages)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned int i;
	int ret = 0;

	if (flags & ~(GPUMIRROR_MAP_WRITE | GPUMIRROR_MAP_DEVMEM |
		      GPUMIRROR_MAP_EXCLUSIVE | GPUMIRROR_MAP_PARTIAL |
		      GPUMIRROR_MAP_READ_ONLY) ||
	    hweight_long(flags & (GPUMIRROR_MAP_DEVMEM |
				  GPUMIRROR_MAP_EXCLUSIVE)) > 1 ||
	    hweight_long(flags & (GPUMIRROR_MAP_WRITE |
				  GPUMIRROR_MAP_READ_ONLY)) > 1)
		return -EINVAL;
	/* Devices cannot leave while we hold obj->lock, see detach. */
	down_read(&mirror->notifier_lock);
	if (!devices || (devices & ~mirror->device_mask))
		ret = -EINVAL;
	up_read(&mirror->notifier_lock);
	if (ret)
		return ret;
	*owner = gpumirror_walk_owner(mirror, devices);
	*pages = NULL;
	if (!(flags & GPUMIRROR_MAP_EXCLUSIVE))
		return 0;
	/* Every device takes the access for the same owner. */
	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES)
		if (!*owner || mirror->devices[i]->pagemap_owner != *owner)
			return -EINVAL;
	*pages = kvcalloc(obj->npages, sizeof(**pages), GFP_KERNEL);
	return *pages ? 0 : -ENOMEM;
}

/**
 * gpumirror_object_map() - fault an object's pages and map them for devices
 * @obj: the object
 * @devices: mask of device slots (BIT(&gpumirror_device.index)) to map for
 * @flags: %GPUMIRROR_MAP_WRITE to fault for write access, or
 *	%GPUMIRROR_MAP_READ_ONLY to never give it;
 *	%GPUMIRROR_MAP_PARTIAL to map around segments that cannot be faulted;
 *	at most one of %GPUMIRROR_MAP_DEVMEM (map what is in the devices' own
 *	memory, fault nothing) and %GPUMIRROR_MAP_EXCLUSIVE (take exclusive
 *	access)
 *
 * Walks all segments (a retry: those that went stale), DMA-maps the pages
 * into the page set of every
 * device in @devices and commits them together. Sets that are valid
 * already are kept, except for %GPUMIRROR_MAP_WRITE: a valid set built
 * without it is invalidated first (the device's PTEs zapped, both passes)
 * and built again for write access; and except for a set with empty
 * entries (left by %GPUMIRROR_MAP_PARTIAL or %GPUMIRROR_MAP_DEVMEM) when
 * the walk finds a page for one of them, which is invalidated and built
 * again the same way. On success the sets are
 * valid; the driver then takes gpumirror_notifier_lock(), checks
 * gpumirror_object_valid() and programs its page tables from
 * gpumirror_object_pages(), calling this again if the set went stale.
 *
 * A device-private page is mapped natively (%GPUMIRROR_ADDR_DEVICE) by every
 * device whose &gpumirror_device.pagemap_owner is the page's owner. The walk
 * reports the device-private pages of the first requested device's owner;
 * for a requested device with another owner such pages cannot be mapped
 * and the call fails with -EXDEV: migrate them first.
 *
 * In a kernel with gpumirror's migration to device memory, a map that
 * keeps losing to invalidations stops those migrations, system-wide, after
 * %GPUMIRROR_MAP_TRIES_SHARED tries (or one timeout) and tries on for one
 * more timeout, so that a task migrating the same pages in a loop cannot
 * starve it.
 *
 * Context: process context, no gpumirror lock and no mmap_lock held, and
 * not inside a migration (stopping them takes the driver_migrate_lock for
 * write).
 * Return: 0; -EINVAL if @devices names a slot that is not attached or is
 * empty, for unknown or conflicting @flags, and for exclusive access by a
 * device without the first device's pagemap owner; -EFAULT for a hole, a
 * PROT_NONE, VM_IO or VM_PFNMAP mapping, or an exited process; -EPERM for
 * write access to read-only memory; -EXDEV as above; -EBUSY if the pages
 * kept changing for %HMM_RANGE_DEFAULT_TIMEOUT ms (with migrations
 * stopped, if there are: about twice that in all), or a page could not be
 * taken for exclusive access; -EOPNOTSUPP for exclusive access without
 * CONFIG_DEVICE_PRIVATE, or for a page a device would not reach itself,
 * coherently (a bounce buffer; see the "Page sets" DOC); -EINTR on a fatal
 * signal while waiting to stop migrations; -ENOMEM.
 */
int gpumirror_object_map(struct gpumirror_object *obj, unsigned long devices,
			 unsigned int flags)
{
	struct gpumirror *mirror = obj->mirror;
	const unsigned long wait = msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	bool stopped = false, stop_tried = false;
	struct gpumirror_rewalk rw;
	unsigned long timeout;
	unsigned int tries;
	struct page **pages;
	void *owner;
	int ret;

	mutex_lock(&obj->lock);
	ret = gpumirror_map_prepare(obj, devices, flags, &owner, &pages);
	if (ret)
		goto out_unlock;
	/* From here: waiting for the object lock is not losing a try. */
	timeout = jiffies + wait;
	/*
	 * A valid set built without write access does not serve a write:
	 * take it away (both passes) and build it again.
	 */
	if (flags & GPUMIRROR_MAP_WRITE)
		gpumirror_object_revoke(obj, devices & ~obj->write_sets);
	/*
	 * A write set that a partial read map may refill is walked for write,
	 * so that a refill never takes write access away (a read fault on an
	 * empty entry of a write set, then a write fault, would rebuild it
	 * twice). A page the CPU may only read still maps, read-only.
	 */
	else if ((flags & GPUMIRROR_MAP_PARTIAL) &&
		 !(flags & (GPUMIRROR_MAP_READ_ONLY | GPUMIRROR_MAP_DEVMEM |
			    GPUMIRROR_MAP_EXCLUSIVE)) &&
		 (devices & READ_ONCE(obj->valid) & obj->sparse &
		  obj->write_sets))
		flags |= GPUMIRROR_MAP_WRITE;
	if (pages)
		/* Pairs with READ_ONCE() in gpumirror_own_event(). */
		WRITE_ONCE(obj->rebuild_owner, owner);
	gpumirror_rewalk_init(obj, &rw, flags);

	for (tries = 0;; tries++) {
		/*
		 * Losing to migrations again and again: stop them, and try
		 * for one more timeout (the driver_migrate_lock, migrate.c).
		 * Once: in a kernel without gpumirror's migration there is
		 * nothing to stop and no more time to give.
		 */
		if (!stop_tried && tries &&
		    (tries == GPUMIRROR_MAP_TRIES_SHARED ||
		     time_after(jiffies, timeout))) {
			ret = gpumirror_migrations_stop();
			if (ret < 0)
				break;
			stop_tried = true;
			stopped = ret;
			if (stopped)
				timeout = jiffies + wait;
		}
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		ret = gpumirror_map_once(obj, devices, flags, owner, pages,
					 &rw, tries);
		if (ret != -EBUSY)
			break;
		gpumirror_count_retry(mirror, devices);
	}
	if (stopped)
		gpumirror_migrations_resume();
	gpumirror_rewalk_fini(&rw);
	if (ret == -EAGAIN)
		ret = -EBUSY;
	WRITE_ONCE(obj->rebuild_owner, NULL);
	kvfree(pages);
	if (ret)
		gpumirror_release_stale(obj, devices);
out_unlock:
	mutex_unlock(&obj->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(gpumirror_object_map);
