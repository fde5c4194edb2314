/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumirror: declarations shared by the library's files (not an API).
 */
#ifndef _GPUMIRROR_INTERNAL_H
#define _GPUMIRROR_INTERNAL_H

#include <kunit/visibility.h>
#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>

struct hmm_range;
struct hmm_range_slice;

/*
 * Events of one mirror that can be between their two passes at once before
 * an object must run its pass 2 alone (see "Invalidation").
 */
#define GPUMIRROR_FINISH_SLOTS	4

/**
 * struct gpumirror_finish - the second pass of one invalidation event
 * @base: what the interval notifier's first pass hands to the core mm
 * @mirror: the mirror whose pending devices pass 2 waits for
 * @event: the event that holds this slot, or NULL if the slot is free;
 *	only compared, never dereferenced; under &gpumirror.notifier_lock
 */
struct gpumirror_finish {
	struct mmu_interval_notifier_finish base;
	struct gpumirror *mirror;
	const struct mmu_notifier_range *event;
};

/**
 * struct gpumirror_private - the library's state of one mirror
 *
 * Allocated by gpumirror_init_ops() and freed by gpumirror_fini(); what
 * &struct gpumirror.priv points to. Lock order: @lock, then an object's
 * lock, then mmap_lock, then &gpumirror.notifier_lock; @range_lock is
 * taken outside @lock, @attr_lock and @release_lock are leaves.
 */
struct gpumirror_private {
	/** @mirror: the mirror this is the state of. */
	struct gpumirror *mirror;
	/**
	 * @lock: protects updates of &gpumirror.devices,
	 * &gpumirror.device_mask, @objects and @ranges, and keeps the attached
	 * devices alive for whoever holds it. Taken before any object's lock
	 * and before mmap_lock, after @range_lock; never taken in the
	 * notifier path.
	 */
	struct mutex lock;
	/** @objects: mirrored objects, under @lock. */
	struct list_head objects;
	/**
	 * @ranges: interval tree of the objects gpumirror_fault() made
	 * (identity-mapped, one segment each), under @lock.
	 */
	struct rb_root_cached ranges;
	/**
	 * @range_lock: held for read by gpumirror_fault(), gpumirror_prefetch()
	 * and the restore worker while they use a range, for write by the
	 * garbage collector that destroys unmapped ones. Outside @lock.
	 */
	struct rw_semaphore range_lock;
	/** @nofault_mask: slots of %GPUMIRROR_DEVICE_NOFAULT devices. */
	unsigned long nofault_mask;
	/** @suspended: no-fault slots suspended; under the notifier_lock. */
	unsigned long suspended;
	/** @dying: gpumirror_fini() began, no more restore work; notifier_lock. */
	bool dying;
	/** @restore_work: garbage collection of ranges, then restore. */
	struct delayed_work restore_work;
	/** @restore_tries: restore runs in a row that must retry; worker. */
	unsigned int restore_tries;
	/** @flags: zero, or %GPUMIRROR_F_WIDE_NOTIFIER (benchmarks). */
	unsigned int flags;
	/**
	 * @attr_lock: protects @attrs; a leaf: taken with at most @range_lock
	 * held, and no other lock is taken under it.
	 */
	struct mutex attr_lock;
	/** @attrs: interval tree of the ranges whose attributes differ. */
	struct rb_root_cached attrs;
	/**
	 * @finish: the second passes of the events between their two passes
	 * (see "Invalidation"); a slot is taken and given back under the
	 * notifier_lock.
	 */
	struct gpumirror_finish finish[GPUMIRROR_FINISH_SLOTS];
	/** @pending: slots with a started TLB invalidation, notifier_lock. */
	unsigned long pending;
	/**
	 * @flush_gen: pass 2 runs so far that completed some started TLB
	 * invalidation; notifier_lock.
	 */
	unsigned long flush_gen;
	/** @release_lock: protects @release_list. */
	spinlock_t release_lock;
	/** @release_list: objects with stale page sets to DMA-unmap. */
	struct list_head release_list;
	/** @release_work: the release worker. */
	struct delayed_work release_work;
};

/*
 * GPUMIRROR_F_WIDE_NOTIFIER - &gpumirror_private.flags: every invalidation
 * inside an object's notifier span moves its sequence, holes included, as a
 * plain span-wide notifier does. A measurement aid for the benchmarks, which
 * compare it with the segment filter; never set otherwise.
 */
#define GPUMIRROR_F_WIDE_NOTIFIER	BIT(0)

/*
 * Does the segment [@next_start, @next_end) join the walk batch that spans
 * [@start, @prev_end) (CPU VA order)? Only across a small gap, and only
 * while the batch's span, holes included, stays within
 * %GPUMIRROR_MAX_OBJECT_PAGES (the scratch buffer covers it). See
 * gpumirror_walk().
 */
static inline bool gpumirror_walk_joins(unsigned long start,
					unsigned long prev_end,
					unsigned long next_start,
					unsigned long next_end)
{
	return next_start - prev_end <= GPUMIRROR_WALK_GAP * PAGE_SIZE &&
	       (next_end - start) >> PAGE_SHIFT <= GPUMIRROR_MAX_OBJECT_PAGES;
}

/*
 * The order of the DMA mapping that starts at the page of @pfn: the
 * largest naturally aligned block of the CPU's mapping of order @order (a
 * huge page) that holds at most @max pages and at most @dma_max bytes (what
 * the device takes in one piece). The vgpu benchmarks map their baselines
 * with it too, so that both sides make as many mappings.
 */
static inline unsigned int gpumirror_block_order(unsigned long pfn,
						 unsigned int order,
						 unsigned long max,
						 size_t dma_max)
{
	size_t limit = dma_max >> PAGE_SHIFT;

	if (!order || !limit)
		return 0;
	order = min_t(unsigned int, order, ilog2(max));
	if (pfn)
		order = min_t(unsigned int, order, __ffs(pfn));
	return min_t(unsigned int, order, ilog2(limit));
}

/* object.c */
struct gpumirror_object *
gpumirror_object_make(struct gpumirror *mirror,
		      const struct gpumirror_segment *segs, unsigned int nr,
		      u64 gpu_start, bool range);
void gpumirror_object_teardown(struct gpumirror_object *obj);
void gpumirror_object_release_device(struct gpumirror_object *obj,
				     struct gpumirror_device *gdev);

/*
 * The SVM part's hooks in the core (attributes, fault-mode ranges and
 * no-fault devices: attr.c, range.c, restore.c). Where they are the empty
 * inlines, none of it exists: no attribute is ever set, no fault-mode
 * range is ever made, and %GPUMIRROR_DEVICE_NOFAULT is not among the
 * device flags gpumirror_device_attach() accepts.
 */
struct gpumirror_attrs;

#if IS_ENABLED(CONFIG_GPUMIRROR_SVM)
void gpumirror_attr_fini(struct gpumirror *mirror);
void gpumirror_attr_forget(struct gpumirror *mirror, unsigned int slot);
bool gpumirror_attr_equal(const struct gpumirror_attrs *a,
			  const struct gpumirror_attrs *b);

struct gpumirror_object *gpumirror_range_get(struct gpumirror *mirror,
					     unsigned long addr,
					     const struct gpumirror_attrs *attrs);
int gpumirror_range_bind(struct gpumirror_object *obj,
			 struct gpumirror_device *gdev, bool write,
			 bool write_pref);
int gpumirror_range_rebind(struct gpumirror_object *obj,
			   struct gpumirror_device *gdev);

void gpumirror_restore_init(struct gpumirror *mirror);
void gpumirror_restore_stop(struct gpumirror *mirror);
void gpumirror_restore_queue(struct gpumirror *mirror);
void gpumirror_suspend_nofault(struct gpumirror_object *obj,
			       unsigned long devices);
void gpumirror_gc_sync(struct gpumirror *mirror);
void gpumirror_gc(struct gpumirror *mirror);

#define GPUMIRROR_DEVICE_FLAGS		GPUMIRROR_DEVICE_NOFAULT
#else
static inline void gpumirror_attr_fini(struct gpumirror *mirror) {}
static inline void gpumirror_attr_forget(struct gpumirror *mirror,
					 unsigned int slot) {}
static inline void gpumirror_restore_init(struct gpumirror *mirror) {}
static inline void gpumirror_restore_stop(struct gpumirror *mirror) {}
static inline void gpumirror_restore_queue(struct gpumirror *mirror) {}
static inline void gpumirror_suspend_nofault(struct gpumirror_object *obj,
					     unsigned long devices) {}

#define GPUMIRROR_DEVICE_FLAGS		0
#endif /* CONFIG_GPUMIRROR_SVM */

/* invalidate.c */
extern const struct mmu_interval_notifier_ops gpumirror_notifier_ops;
void gpumirror_object_zap(struct gpumirror_object *obj, unsigned long devices,
			  const struct mmu_notifier_range *event);
bool gpumirror_object_revoke_start(struct gpumirror_object *obj,
				   unsigned long devices);
unsigned long gpumirror_flushed(struct gpumirror_object *obj,
				unsigned long devices);
void gpumirror_finish_pending(struct gpumirror *mirror);
void gpumirror_object_revoke(struct gpumirror_object *obj,
			     unsigned long devices);

/* inject.c: the sites of "Fault injection" */
enum gpumirror_fail_site {
	GPUMIRROR_FAIL_DMA_MAP,
	GPUMIRROR_FAIL_NOTIFIER_INSERT,
	GPUMIRROR_FAIL_MIGRATE_SETUP,
	GPUMIRROR_FAIL_NR,
};

#ifdef CONFIG_GPUMIRROR_FAULT_INJECTION
bool gpumirror_should_fail(enum gpumirror_fail_site site);
#else
static inline bool gpumirror_should_fail(enum gpumirror_fail_site site)
{
	return false;
}
#endif /* CONFIG_GPUMIRROR_FAULT_INJECTION */

/* worker.c */
void gpumirror_release_init(struct gpumirror *mirror);
void gpumirror_release_queue(struct gpumirror_object *obj);
void gpumirror_release_cancel(struct gpumirror_object *obj);

#if IS_ENABLED(CONFIG_KUNIT)
/* fault.c; redirected by the KUnit suites through static stubs */
int gpumirror_hmm_fault(struct gpumirror_object *obj, struct hmm_range *range,
			const struct hmm_range_slice *slices, unsigned int nr,
			unsigned int *done);
void gpumirror_walk_yield(struct gpumirror_object *obj, unsigned int seg);
/* pages.c */
size_t gpumirror_dma_max(struct device *dev);
bool gpumirror_dma_shared(struct gpumirror_device *gdev, struct page *page,
			  dma_addr_t dma);
#endif

/*
 * Migration's hooks in the core (migrate.c). gpumirror_migrations_stop()
 * returns 1 once it stopped every migration to device memory (undone by
 * gpumirror_migrations_resume()), 0 in a kernel without gpumirror's
 * migration (nothing to stop), or -EINTR.
 */
#if IS_ENABLED(CONFIG_GPUMIRROR_DEVMEM)
int gpumirror_migrations_stop(void);
void gpumirror_migrations_resume(void);
#else
static inline int gpumirror_migrations_stop(void)
{
	return 0;
}

static inline void gpumirror_migrations_resume(void) {}
#endif /* CONFIG_GPUMIRROR_DEVMEM */

/* One batch of migrate_vma: src/dst pfns and the page arrays for copy. */
struct gpumirror_mig {
	unsigned long src[GPUMIRROR_MIGRATE_BATCH];
	unsigned long dst[GPUMIRROR_MIGRATE_BATCH];
	struct page *spages[GPUMIRROR_MIGRATE_BATCH];
	struct page *dpages[GPUMIRROR_MIGRATE_BATCH];
	/* pages to move that did not move: busy, or no memory */
	unsigned long missed;
	/* of those, the pages device memory could not be allocated for */
	unsigned long nomem;
	/* pages moved by the whole call */
	unsigned long moved;
	/* peers' pages move too (not for %GPUMIRROR_MIGRATE_SYSTEM_ONLY) */
	bool take_peers;
};

/* What a migration attempt first evicts to system memory. */
enum {
	GPUMIRROR_EVICT_NONE,		/* nothing */
	GPUMIRROR_EVICT_FOREIGN,	/* pages of other device memories */
	GPUMIRROR_EVICT_ALL,		/* every device page */
};

#if IS_ENABLED(CONFIG_KUNIT)
/* redirected by the KUnit suites through a static stub */
int gpumirror_migrate_attempt(struct gpumirror_devmem *dm,
			      struct mm_struct *mm, unsigned long start,
			      unsigned long end, int evict,
			      struct gpumirror_mig *m);
#endif

/* pages.c */
/*
 * @obj's page set of @slot, or NULL. Context: @obj->lock or the notifier
 * lock (see &gpumirror_object.sets).
 */
static inline gpumirror_addr_t *gpumirror_set(const struct gpumirror_object *obj,
					      unsigned int slot)
{
	return slot < obj->nr_sets ? READ_ONCE(obj->sets[slot]) : NULL;
}

int gpumirror_sets_reserve(struct gpumirror_object *obj, unsigned int nr);
int gpumirror_pages_remap(struct gpumirror_object *obj,
			  struct gpumirror_device *gdev,
			  const unsigned long *segs, unsigned int map_flags);
void gpumirror_set_free(struct gpumirror_object *obj, unsigned int slot);
int gpumirror_pages_map(struct gpumirror_object *obj, unsigned long devices,
			unsigned int map_flags);
void gpumirror_pages_unmap(struct gpumirror_object *obj,
			   struct gpumirror_device *gdev);

#endif /* _GPUMIRROR_INTERNAL_H */
