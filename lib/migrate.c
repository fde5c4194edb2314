// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: migration to and from device memory, driver_migrate_lock.
 */

#include <kunit/static_stub.h>
#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/hmm.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "internal.h"

/**
 * DOC: Migration
 *
 * A driver describes each device memory with a &struct gpumirror_devmem:
 * its pagemap owner, its type (device-private or device-coherent) and two
 * operations, page allocation and copy. gpumirror owns the protocol around
 * migrate_vma_setup(), migrate_vma_pages() and migrate_vma_finalize():
 *
 * - gpumirror_migrate_to_devmem() moves [start, end) of an mm to the
 *   device memory, in batches of %GPUMIRROR_MIGRATE_BATCH pages. THP
 *   sources are split by migrate_vma_setup(). Pages already there stay.
 * - gpumirror_migrate_to_ram() moves them back (explicit eviction);
 *   gpumirror_devmem_fault() is the CPU fault path a driver calls from its
 *   &dev_pagemap_ops.migrate_to_ram; gpumirror_devmem_evict() empties a
 *   pfn range of device memory, whoever maps it.
 * - Device to device goes through system memory. In 6.12 migrate_vma_setup()
 *   selects device-private pages of one pagemap owner only, and only their
 *   owner's driver can read them; so before migrating, gpumirror faults the
 *   range with hmm_range_fault() as the destination owner, which makes every
 *   other owner's pages take their own migrate_to_ram path. Pages of the
 *   destination are reported, not faulted, and stay. With a
 *   &gpumirror_devmem.fault_order of 9, each such fault brings back 2 MiB.
 *
 * Every migration raises %MMU_NOTIFY_MIGRATE events: every mirror's page
 * sets over the range, on every device, are invalidated (none is skipped,
 * see "Invalidation") and the next map rebuilds them from the new pages.
 *
 * Placement: without %GPUMIRROR_MIGRATE_MIXED the result is all or nothing.
 * Either every page of the range ends up in the device memory, or the call
 * fails and moves the pages it did move back to system memory, so no range
 * is left split between the two unless the caller allows it.
 */

/**
 * DOC: driver_migrate_lock
 *
 * Two devices migrating the same pages to their own memory can livelock:
 * each one's migrate_vma_setup() finds pages the other holds locked or has
 * just moved, collects fewer pages than it asked for, and retries, forever.
 * gpumirror serializes such conflicts with one module-wide rw_semaphore,
 * the driver_migrate_lock:
 *
 * 1. A migration runs with the lock held for read: migrations of different
 *    ranges and devices run in parallel.
 * 2. If it detects a race (a page of the range was neither migrated nor
 *    already in the destination: busy, locked, moved by someone else), it
 *    drops the lock and retakes it for write. Running out of device memory
 *    is not a race: that fails with -ENOMEM at once.
 * 3. Holding it for write, it evicts the whole range to system memory and
 *    migrates once more. No other migration runs meanwhile, and every
 *    migration takes the lock, so nothing but the CPU itself can move the
 *    pages under it.
 * 4. If that attempt still misses pages, the call fails with -EBUSY, after
 *    the all-or-nothing rollback.
 *
 * Progress: step 3 cannot be disturbed by another device, so the only
 * remaining reason to fail is the CPU or the kernel holding a page (a pin,
 * a fault in progress), which is transient and gives a clean -EBUSY rather
 * than a retry loop. Every call makes at most two attempts; a writer waits
 * at most for the readers in flight, each of which is bounded in turn.
 *
 * The CPU fault path (gpumirror_devmem_fault()) does not take the lock: it
 * runs under mmap_lock, which migrations take inside the lock, so taking it
 * there would invert the order. It only moves pages to system memory, which
 * cannot starve a device migration beyond the -EBUSY above.
 */

/* Pairs of device-to-device conflicts are serialized by this, see DOC. */
static DECLARE_RWSEM(gpumirror_migrate_lock);

static unsigned long gpumirror_select(struct gpumirror_devmem *dm)
{
	return dm->type == MEMORY_DEVICE_COHERENT ?
	       MIGRATE_VMA_SELECT_DEVICE_COHERENT :
	       MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

static bool gpumirror_devmem_owns(struct gpumirror_devmem *dm,
				  struct page *page)
{
	return page && is_zone_device_page(page) &&
	       page->pgmap->owner == dm->owner;
}

/*
 * Fill the destinations of a batch to @dm and copy. Pages collected that
 * are in @dm already stay (no destination) and count in @own.
 */
static int gpumirror_fill_to_dev(struct gpumirror_devmem *dm,
				 struct migrate_vma *args,
				 struct gpumirror_mig *m, unsigned long *own)
{
	unsigned long i, n = 0;
	int ret;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (gpumirror_devmem_owns(dm, spage)) {
			(*own)++;
			continue;
		}
		dpage = dm->ops->page_alloc(dm);
		if (!dpage) {
			m->nomem++;
			continue;
		}
		m->spages[n] = spage;
		m->dpages[n++] = dpage;
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	ret = n ? dm->ops->copy(dm, m->dpages, m->spages, n) : 0;
	if (ret) {
		/* Nothing of the batch moves; the pages go back to @dm. */
		for (i = 0; i < args->npages; i++) {
			struct page *dpage = migrate_pfn_to_page(args->dst[i]);

			if (dpage) {
				unlock_page(dpage);
				put_page(dpage);
			}
			args->dst[i] = 0;
		}
	}
	return ret;
}

/*
 * Count what a finished batch did: pages moved, and pages of the range that
 * neither moved nor were in @dm already (@own: how many were).
 */
static void gpumirror_count_batch(struct gpumirror_devmem *dm,
				  struct migrate_vma *args,
				  struct gpumirror_mig *m, unsigned long own)
{
	unsigned long i, moved = 0;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_MIGRATE) && args->dst[i])
			moved++;
	m->moved += moved;
	m->missed += args->npages - own - moved;
	atomic64_add(moved, &dm->stats.to_dev);
}

/* Migrate the batch [@start, @end) of @vma to @dm. */
static int gpumirror_batch_to_dev(struct gpumirror_devmem *dm,
				  struct vm_area_struct *vma,
				  unsigned long start, unsigned long end,
				  struct gpumirror_mig *m)
{
	struct migrate_vma args = {
		.vma = vma,
		.start = start,
		.end = end,
		.src = m->src,
		.dst = m->dst,
		.pgmap_owner = dm->owner,
		/* Its own pages too: they count as already there. */
		.flags = MIGRATE_VMA_SELECT_SYSTEM | gpumirror_select(dm),
	};
	unsigned long own = 0;
	int ret;

	ret = migrate_vma_setup(&args);
	if (ret)
		return ret;
	ret = gpumirror_fill_to_dev(dm, &args, m, &own);
	migrate_vma_pages(&args);
	gpumirror_count_batch(dm, &args, m, own);
	migrate_vma_finalize(&args);
	return ret;
}

/* A snapshot walk only needs to know that something changed. */
static bool gpumirror_walk_invalidate(struct mmu_interval_notifier *mni,
				      const struct mmu_notifier_range *range,
				      unsigned long cur_seq)
{
	mmu_interval_set_seq(mni, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops gpumirror_walk_ops = {
	.invalidate = gpumirror_walk_invalidate,
};

/*
 * hmm_range_fault() over [start, end) as @owner with @flags, retried
 * while the range changes; @pfns has room for the range. Takes mmap_lock
 * for read around each try.
 */
static int gpumirror_hmm_walk(struct mm_struct *mm, unsigned long start,
			      unsigned long end, void *owner,
			      unsigned long flags, unsigned long *pfns)
{
	struct mmu_interval_notifier mni;
	struct hmm_range range = {
		.notifier = &mni,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.default_flags = flags,
		.dev_private_owner = owner,
	};
	unsigned long timeout = jiffies +
				msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	int ret;

	ret = mmu_interval_notifier_insert(&mni, mm, start, end - start,
					   &gpumirror_walk_ops);
	if (ret)
		return ret;
	do {
		range.notifier_seq = mmu_interval_read_begin(&mni);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
	} while (ret == -EBUSY && !time_after(jiffies, timeout));
	mmu_interval_notifier_remove(&mni);
	return ret;
}

/*
 * Fault [start, end) as @owner: device-private pages of every other owner
 * migrate to system memory through their owner's migrate_to_ram. With a
 * NULL @owner, every device-private page does.
 */
static int gpumirror_evict_foreign(struct mm_struct *mm, unsigned long start,
				   unsigned long end, void *owner)
{
	unsigned long *pfns, next;
	int ret = 0;

	pfns = kvmalloc_array(GPUMIRROR_MIGRATE_BATCH, sizeof(*pfns),
			      GFP_KERNEL);
	if (!pfns)
		return -ENOMEM;
	for (; start < end && !ret; start = next) {
		next = min(end, start + GPUMIRROR_MIGRATE_BATCH * PAGE_SIZE);
		ret = gpumirror_hmm_walk(mm, start, next, owner,
					 HMM_PFN_REQ_FAULT, pfns);
	}
	kvfree(pfns);
	return ret;
}

/* The VMA of @addr and the end of the batch that starts there. */
static struct vm_area_struct *gpumirror_mig_vma(struct mm_struct *mm,
						unsigned long addr,
						unsigned long end,
						unsigned long *next)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ))
		return NULL;
	*next = min3(end, addr + GPUMIRROR_MIGRATE_BATCH * PAGE_SIZE,
		     vma->vm_end);
	return vma;
}

/*
 * One attempt: [start, end) to @dm. First, pages of other device memories
 * move to system memory (%GPUMIRROR_EVICT_FOREIGN), or all device pages do
 * (%GPUMIRROR_EVICT_ALL, the write-locked retry), or none do.
 */
VISIBLE_IF_KUNIT int gpumirror_migrate_attempt(struct gpumirror_devmem *dm,
					       struct mm_struct *mm,
					       unsigned long start,
					       unsigned long end, int evict,
					       struct gpumirror_mig *m)
{
	struct vm_area_struct *vma;
	unsigned long addr, next;
	int ret = 0;

	KUNIT_STATIC_STUB_REDIRECT(gpumirror_migrate_attempt, dm, mm, start,
				   end, evict, m);
	if (evict != GPUMIRROR_EVICT_NONE)
		ret = gpumirror_evict_foreign(mm, start, end,
					      evict == GPUMIRROR_EVICT_ALL ?
					      NULL : dm->owner);
	if (ret)
		return ret;
	mmap_read_lock(mm);
	for (addr = start; !ret && addr < end; addr = next) {
		vma = gpumirror_mig_vma(mm, addr, end, &next);
		if (!vma) {
			ret = -EINVAL;
			break;
		}
		ret = gpumirror_batch_to_dev(dm, vma, addr, next, m);
	}
	mmap_read_unlock(mm);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(gpumirror_migrate_attempt);

/* Every page of [start, end) has a readable VMA. */
static int gpumirror_mig_check(struct mm_struct *mm, unsigned long start,
			       unsigned long end)
{
	unsigned long addr, next;
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next)
		if (!gpumirror_mig_vma(mm, addr, end, &next)) {
			ret = -EINVAL;
			break;
		}
	mmap_read_unlock(mm);
	return ret;
}

/*
 * One attempt under the lock; -EAGAIN when it missed pages, -ENOMEM when
 * all it missed was for want of device memory.
 */
static int gpumirror_migrate_locked(struct gpumirror_devmem *dm,
				    struct mm_struct *mm, unsigned long start,
				    unsigned long end, int evict,
				    struct gpumirror_mig *m)
{
	int ret;

	m->missed = 0;
	m->nomem = 0;
	/* Evicting everything undoes what an earlier attempt moved. */
	if (evict == GPUMIRROR_EVICT_ALL)
		m->moved = 0;
	ret = gpumirror_migrate_attempt(dm, mm, start, end, evict, m);
	/* Device memory running out is no race: retrying will not help. */
	if (!ret && m->missed)
		ret = m->missed == m->nomem ? -ENOMEM : -EAGAIN;
	return ret;
}

/**
 * gpumirror_migrate_to_devmem() - migrate a range to device memory
 * @dm: the destination
 * @mm: the address space, with a reference (mmget()) held by the caller
 * @start: page-aligned start
 * @end: page-aligned end, above @start
 * @flags: %GPUMIRROR_MIGRATE_MIXED to accept a range left partly in system
 *	memory; %GPUMIRROR_MIGRATE_SYSTEM_ONLY to move only what is in system
 *	memory now, in one attempt (implies mixed)
 * @migrated: pages moved by this call; may be NULL
 *
 * Follows the driver_migrate_lock protocol (see its DOC section): at most
 * two attempts, the second one exclusive after evicting the range.
 *
 * Context: process context, no mmap_lock and no gpumirror lock held.
 * Return: 0; -EINVAL for bad arguments or a page without a readable VMA;
 * -EBUSY if pages kept being taken; -ENOMEM if device memory ran out. On
 * an error without %GPUMIRROR_MIGRATE_MIXED, the range's pages of @dm are
 * back in system memory. With it, what moved stays and 0 is returned.
 */
int gpumirror_migrate_to_devmem(struct gpumirror_devmem *dm,
				struct mm_struct *mm, unsigned long start,
				unsigned long end, unsigned int flags,
				unsigned long *migrated)
{
	struct gpumirror_mig *m;
	unsigned long back;
	int ret;

	if (!dm || !dm->ops || !mm || !PAGE_ALIGNED(start) ||
	    !PAGE_ALIGNED(end) || end <= start ||
	    (flags & ~(GPUMIRROR_MIGRATE_MIXED | GPUMIRROR_MIGRATE_SYSTEM_ONLY)))
		return -EINVAL;
	if (flags & GPUMIRROR_MIGRATE_SYSTEM_ONLY)
		flags |= GPUMIRROR_MIGRATE_MIXED;
	ret = gpumirror_mig_check(mm, start, end);
	if (ret)
		return ret;
	m = kvzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;

	down_read(&gpumirror_migrate_lock);
	ret = gpumirror_migrate_locked(dm, mm, start, end,
				       flags & GPUMIRROR_MIGRATE_SYSTEM_ONLY ?
				       GPUMIRROR_EVICT_NONE :
				       GPUMIRROR_EVICT_FOREIGN, m);
	up_read(&gpumirror_migrate_lock);
	if (ret == -EAGAIN && (flags & GPUMIRROR_MIGRATE_SYSTEM_ONLY))
		ret = m->moved ? 0 : -EBUSY;
	if (ret == -EAGAIN) {
		atomic64_inc(&dm->stats.races);
		down_write(&gpumirror_migrate_lock);
		ret = gpumirror_migrate_locked(dm, mm, start, end,
					       GPUMIRROR_EVICT_ALL, m);
		up_write(&gpumirror_migrate_lock);
	}
	if (ret == -EAGAIN)
		ret = -EBUSY;
	if (ret == -EBUSY)
		atomic64_inc(&dm->stats.busy);
	if (ret && (flags & GPUMIRROR_MIGRATE_MIXED)) {
		/* Mixed: what moved stays; nothing moved is the error. */
		if (m->moved && ret != -EINVAL)
			ret = 0;
	} else if (ret && ret != -EINVAL) {
		/* All or nothing: what moved goes back. */
		gpumirror_migrate_to_ram(dm, mm, start, end, &back);
		m->moved = 0;
	}
	if (migrated)
		*migrated = m->moved;
	kvfree(m);
	return ret;
}
EXPORT_SYMBOL_GPL(gpumirror_migrate_to_devmem);

/*
 * Fill the system-memory destinations of a batch leaving @dm and copy.
 * @vma is NULL for an eviction by pfn (no VMA known). Return: 0 or the
 * copy's error (then nothing of the batch moves).
 */
static int gpumirror_fill_to_ram(struct gpumirror_devmem *dm,
				 const unsigned long *src, unsigned long *dst,
				 unsigned long npages,
				 struct vm_area_struct *vma, unsigned long addr,
				 struct gpumirror_mig *m)
{
	unsigned long i, n = 0;
	int ret;

	for (i = 0; i < npages; i++, addr += PAGE_SIZE) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!(src[i] & MIGRATE_PFN_MIGRATE) ||
		    !gpumirror_devmem_owns(dm, spage))
			continue;
		if (vma)
			dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
		else
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		if (!dpage)
			continue;
		lock_page(dpage);
		m->spages[n] = spage;
		m->dpages[n++] = dpage;
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
	}
	ret = n ? dm->ops->copy(dm, m->dpages, m->spages, n) : 0;
	for (i = 0; ret && i < npages; i++) {
		struct page *dpage = migrate_pfn_to_page(dst[i]);

		if (dpage) {
			unlock_page(dpage);
			__free_page(dpage);
		}
		dst[i] = 0;
	}
	return ret;
}

static unsigned long gpumirror_count_moved(const unsigned long *src,
					   const unsigned long *dst,
					   unsigned long n)
{
	unsigned long i, moved = 0;

	for (i = 0; i < n; i++)
		if ((src[i] & MIGRATE_PFN_MIGRATE) && dst[i])
			moved++;
	return moved;
}

/**
 * gpumirror_migrate_to_ram() - move a range's pages of a device memory back
 * @dm: the device memory
 * @mm: the address space, with a reference held by the caller
 * @start: page-aligned start
 * @end: page-aligned end
 * @migrated: pages moved; may be NULL
 *
 * Pages the kernel holds (a pin, a fault in progress) may stay.
 *
 * Context: process context, no mmap_lock held.
 * Return: 0, -EINVAL for bad arguments or a page without a readable VMA,
 * -ENOMEM.
 */
int gpumirror_migrate_to_ram(struct gpumirror_devmem *dm,
			     struct mm_struct *mm, unsigned long start,
			     unsigned long end, unsigned long *migrated)
{
	struct migrate_vma args = {
		.pgmap_owner = dm ? dm->owner : NULL,
		.flags = dm ? gpumirror_select(dm) : 0,
	};
	unsigned long addr, next, moved = 0;
	struct gpumirror_mig *m;
	int ret = 0;

	if (!dm || !mm || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end) ||
	    end <= start)
		return -EINVAL;
	m = kvzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	args.src = m->src;
	args.dst = m->dst;
	mmap_read_lock(mm);
	for (addr = start; addr < end && !ret; addr = next) {
		args.vma = gpumirror_mig_vma(mm, addr, end, &next);
		if (!args.vma) {
			ret = -EINVAL;
			break;
		}
		args.start = addr;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		ret = gpumirror_fill_to_ram(dm, m->src, m->dst, args.npages,
					    args.vma, addr, m);
		migrate_vma_pages(&args);
		moved += gpumirror_count_moved(m->src, m->dst, args.npages);
		migrate_vma_finalize(&args);
	}
	mmap_read_unlock(mm);
	atomic64_add(moved, &dm->stats.to_ram);
	if (migrated)
		*migrated = moved;
	kvfree(m);
	return ret;
}
EXPORT_SYMBOL_GPL(gpumirror_migrate_to_ram);

/* The window a CPU fault at @addr brings back: aligned, inside the VMA. */
static void gpumirror_fault_window(struct gpumirror_devmem *dm,
				   struct vm_area_struct *vma,
				   unsigned long addr, unsigned long *start,
				   unsigned long *end)
{
	unsigned int order = min_t(unsigned int, dm->fault_order,
				   ilog2(GPUMIRROR_MIGRATE_BATCH));
	unsigned long size = PAGE_SIZE << order;

	*start = max(ALIGN_DOWN(addr, size), vma->vm_start);
	*end = min(ALIGN_DOWN(addr, size) + size, vma->vm_end);
}

/**
 * gpumirror_devmem_fault() - the CPU touched a device-private page
 * @dm: the device memory the page belongs to
 * @vmf: the fault, as &dev_pagemap_ops.migrate_to_ram receives it
 *
 * Migrates the page back to system memory, with the other pages of @dm in
 * its aligned window of 2^&gpumirror_devmem.fault_order pages (clipped to
 * the VMA and to %GPUMIRROR_MIGRATE_BATCH). Drivers call it from their
 * migrate_to_ram. Does not take the driver_migrate_lock (see there).
 *
 * Context: the page fault path, mmap_lock (or the VMA lock) held.
 * Return: 0, VM_FAULT_OOM, or VM_FAULT_SIGBUS if the page could not be
 * collected.
 */
vm_fault_t gpumirror_devmem_fault(struct gpumirror_devmem *dm,
				  struct vm_fault *vmf)
{
	struct migrate_vma args = {
		.vma = vmf->vma,
		.pgmap_owner = dm->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct gpumirror_mig *m;

	m = kvzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return VM_FAULT_OOM;
	args.src = m->src;
	args.dst = m->dst;
	gpumirror_fault_window(dm, vmf->vma, vmf->address, &args.start,
			       &args.end);
	if (migrate_vma_setup(&args)) {
		kvfree(m);
		return VM_FAULT_SIGBUS;
	}
	gpumirror_fill_to_ram(dm, m->src, m->dst, args.npages, vmf->vma,
			      args.start, m);
	migrate_vma_pages(&args);
	atomic64_add(gpumirror_count_moved(m->src, m->dst, args.npages),
		     &dm->stats.to_ram);
	migrate_vma_finalize(&args);
	kvfree(m);
	return 0;
}
EXPORT_SYMBOL_GPL(gpumirror_devmem_fault);

/**
 * gpumirror_devmem_evict() - move every allocated page of a pfn range out
 * @dm: the device memory
 * @first_pfn: first pfn of a range of @dm's pages
 * @npages: pages in the range
 *
 * Used to empty device memory (before removing it, or on request) without
 * knowing which processes map it. Best effort: pages the kernel holds, or
 * all of them if no memory is left for the batch arrays, stay.
 *
 * Context: process context, no mmap_lock held.
 */
void gpumirror_devmem_evict(struct gpumirror_devmem *dm,
			    unsigned long first_pfn, unsigned long npages)
{
	unsigned long done, n, moved;
	struct gpumirror_mig *m;

	m = kvzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return;
	for (done = 0; done < npages; done += n) {
		n = min(npages - done, (unsigned long)GPUMIRROR_MIGRATE_BATCH);
		migrate_device_range(m->src, first_pfn + done, n);
		gpumirror_fill_to_ram(dm, m->src, m->dst, n, NULL, 0, m);
		migrate_device_pages(m->src, m->dst, n);
		moved = gpumirror_count_moved(m->src, m->dst, n);
		migrate_device_finalize(m->src, m->dst, n);
		atomic64_add(moved, &dm->stats.to_ram);
	}
	kvfree(m);
}
EXPORT_SYMBOL_GPL(gpumirror_devmem_evict);
