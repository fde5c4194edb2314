// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: migration to and from device memory, driver_migrate_lock.
 */

#include <kunit/static_stub.h>
#include <linux/export.h>
#include <linux/fs.h>
#include <linux/gpumirror.h>
#include <linux/hmm.h>
#include <linux/hugetlb_inline.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/userfaultfd_k.h>

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
 *   sources are split by migrate_vma_setup(). Pages already there stay,
 *   untouched: each batch is first read with hmm_range_fault() without
 *   faulting (a snapshot, under the mmap_lock the batch then migrates
 *   under), a batch whose pages are all in the device memory already is
 *   skipped, and any other batch is narrowed to the span from its first to
 *   its last page still to move.
 * - gpumirror_migrate_to_ram() moves them back (explicit eviction);
 *   gpumirror_devmem_fault() is the CPU fault path a driver calls from its
 *   &dev_pagemap_ops.migrate_to_ram; gpumirror_devmem_evict() empties a
 *   pfn range of device memory, whoever maps it.
 * - Device to device is one copy between peers, device memories that share
 *   a pagemap owner because each one's copy engine reaches the others'
 *   pages. migrate_vma_setup() selects the owner's pages beside system
 *   pages, and gpumirror tells them apart through their pagemap
 *   (&gpumirror_devmem_ops.page_devmem): the destination's own pages stay,
 *   a peer's are copied straight into the destination by its
 *   &gpumirror_devmem_ops.copy, in the same batch as system pages.
 * - Any other owner's pages go through system memory, the fallback. In 6.12
 *   migrate_vma_setup() selects device-private pages of one owner only, and
 *   only their owner's driver can read them; so before migrating, gpumirror
 *   faults the range with hmm_range_fault() as the destination's owner,
 *   which makes every other owner's pages take their own migrate_to_ram
 *   path; the owner's pages (the destination's and its peers') are
 *   reported, not faulted. With a &gpumirror_devmem.fault_order of 9, each
 *   such fault brings back 2 MiB.
 *
 * Only anonymous private memory moves to device memory: in 6.12,
 * migrate_vma_pages() refuses page-cache (file, shmem) pages, and
 * migrate_vma fills holes in anonymous VMAs only. The private copies a
 * private file mapping has made of its pages are anonymous and do move.
 * Hugetlb, DAX and %VM_SPECIAL (I/O, pfn-mapped) VMAs are refused up front.
 *
 * Every batch migrate_vma_setup() runs on raises %MMU_NOTIFY_MIGRATE events
 * over its span: every mirror's page sets over it, on every device, are
 * invalidated (none is skipped, see "Invalidation") and the next map
 * rebuilds them from the new pages. A range that is in the device memory
 * already raises none, and neither does a shared file or shmem VMA, where
 * nothing can move.
 *
 * Placement: without %GPUMIRROR_MIGRATE_MIXED the result is all or nothing.
 * Either every page of the range ends up in the device memory, or the call
 * fails and moves the pages it did move back to system memory, so no range
 * is left split between the two unless the caller allows it. Pages a peer
 * gave up go to system memory too, not back to the peer.
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
 * 2. Each page of the range that neither moved nor was in the destination
 *    already is a miss, permanent or busy (see "Misses" below). A
 *    permanent miss fails the call with -EBUSY at once, without a retry:
 *    no retry could move the page, and retrying under the lock held for
 *    write would stall every migration in the system for nothing. Running
 *    out of device memory is not a race either: that fails with -ENOMEM at
 *    once. Otherwise, a busy miss is a race: the call drops the lock and
 *    retakes it for write.
 * 3. Holding it for write, it evicts the whole range to system memory and
 *    migrates once more. No other gpumirror migration runs meanwhile, so no
 *    other device can take the pages through gpumirror. Everything else
 *    still can move or hold them: the CPU fault path of any device memory
 *    (gpumirror_devmem_fault() does not take the lock, see below), a driver
 *    that migrates without gpumirror, reclaim and swap, compaction, NUMA
 *    balancing, KSM merging, khugepaged, get_user_pages() pins and other
 *    tasks sharing the mm.
 * 4. If that attempt still misses pages, the call fails with -EBUSY, after
 *    the all-or-nothing rollback.
 *
 * Misses: after migrate_vma_setup(), a page it did not collect has a
 * source entry of 0 (6.12 also clears the entries of the pages it
 * collected but could not isolate or unmap, pinned ones included), and
 * migrate_vma_pages() may still refuse a collected one. What a miss is
 * comes from the batch's snapshot, taken just before, and from the
 * collected page itself:
 *
 * - permanent, where migrate_vma cannot ever move the page to device
 *   memory: anything in a shared file or shmem VMA (such a batch is not
 *   even set up); in another VMA that is not anonymous (a private file
 *   mapping), a page-cache page, a hole, and any page not collected that
 *   the snapshot did not see in a device memory of the owner; a hole in a
 *   VMA that userfaultfd watches for missing pages; a page of another owner's
 *   device-coherent (or other ZONE_DEVICE) memory, which the selection
 *   does not cover and hmm_range_fault() does not evict, or of the
 *   owner's but in no peer's memory; a large folio mapped by PTEs, which
 *   6.12 never collects.
 * - busy, a race: any other page not collected or refused, for instance
 *   one locked, pinned, isolated, being migrated or swapped out, a peer's
 *   page, or one in another owner's device-private memory (unless the call is
 *   %GPUMIRROR_MIGRATE_SYSTEM_ONLY, the range was cleared of those just
 *   before, so another device took the page since).
 *
 * %GPUMIRROR_MIGRATE_SYSTEM_ONLY leaves peers' pages where they are, as
 * pages already in the destination.
 *
 * The snapshot may be stale by the time migrate_vma_setup() runs: a page
 * that changes in between is a race in itself, and misjudging it costs at
 * most one needless retry, or an -EBUSY without one. In a private file
 * mapping, a private copy that is locked or swapped out at that moment
 * counts as permanent, which fails the call rather than retrying it. One
 * misjudgement costs more: a page the snapshot saw in the destination
 * counts as there if migrate_vma_setup() does not collect it (a pin, or
 * another path holding it for a moment) or does not even look at it (the
 * pages at either end of a batch are not set up, so that they raise no
 * invalidation). One that a peer or the CPU takes in between is not seen
 * to go: the call may then return 0 with that page elsewhere, as if it
 * had been taken just after the call. With %GPUMIRROR_MIGRATE_MIXED, a
 * call with permanent misses keeps what moved and returns 0 if anything
 * did.
 *
 * Progress: step 3 cannot be disturbed by another gpumirror migration, and
 * permanent misses never get there, so what remains to fail it is
 * transient (a pin, a fault in progress, reclaim or compaction holding a
 * page) and gives a clean -EBUSY rather than a retry loop. Every call
 * makes at most two attempts; a writer waits at most for the readers in
 * flight, each of which is bounded in turn.
 *
 * A device fault whose walk keeps being invalidated by migrations of its
 * pages (a thread migrating them in a loop) could starve: after
 * %GPUMIRROR_MAP_TRIES_SHARED tries (or one timeout),
 * gpumirror_object_map() holds the lock for write for at most one more
 * timeout plus one try, so that migrations to device memory cannot
 * disturb it (moves to system memory, gpumirror_migrate_to_ram() and the
 * CPU fault path, still can). Readers then wait for that writer too: the
 * bound above holds for a walk that does not block, and one that faults
 * a page of a slow file (FUSE) holds the lock as long; a per-mm gate
 * instead of the module-wide lock is the planned refinement.
 *
 * The CPU fault path (gpumirror_devmem_fault()) does not take the lock: it
 * runs under mmap_lock, which migrations take inside the lock, so taking it
 * there would invert the order. It only moves pages to system memory, which
 * cannot starve a device migration beyond the -EBUSY above.
 */

/* Pairs of device-to-device conflicts are serialized by this, see DOC. */
static DECLARE_RWSEM(driver_migrate_lock);

/*
 * For a device fault that keeps losing to migrations of its pages
 * (gpumirror_object_map()): no gpumirror migration to device memory runs
 * until gpumirror_migrations_resume(). Taken under &gpumirror_object.lock
 * (no migration takes an object lock) and outside mmap_lock. Return: 1,
 * or -EINTR on a fatal signal.
 */
int gpumirror_migrations_stop(void)
{
	return down_write_killable(&driver_migrate_lock) ? -EINTR : 1;
}

void gpumirror_migrations_resume(void)
{
	up_write(&driver_migrate_lock);
}

static unsigned long gpumirror_select(struct gpumirror_devmem *dm)
{
	return dm->type == MEMORY_DEVICE_COHERENT ?
	       MIGRATE_VMA_SELECT_DEVICE_COHERENT :
	       MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

/*
 * The device memory @page is in, if it is a page of @dm's pagemap owner:
 * @dm's own or a peer's (see &gpumirror_devmem_ops.page_devmem); else NULL.
 */
static struct gpumirror_devmem *gpumirror_page_devmem(struct gpumirror_devmem *dm,
						      struct page *page)
{
	if (!page || !is_zone_device_page(page) ||
	    page->pgmap->owner != dm->owner)
		return NULL;
	return dm->ops->page_devmem ? dm->ops->page_devmem(dm, page) : dm;
}

/* @page is in @dm: a migration to @dm leaves it where it is. */
static bool gpumirror_devmem_holds(struct gpumirror_devmem *dm,
				   struct page *page)
{
	return gpumirror_page_devmem(dm, page) == dm;
}

/* What a batch's snapshot says of a page; see "Misses" in the DOC. */
enum {
	GPUMIRROR_SNAP_OTHER,		/* to move, or not known */
	GPUMIRROR_SNAP_OWN,		/* in the destination already */
	GPUMIRROR_SNAP_PEER,		/* in a peer, to move in one copy */
	GPUMIRROR_SNAP_PERMANENT,	/* migrate_vma cannot take it */
};

/*
 * The class of a ZONE_DEVICE page for a migration to @dm: in @dm; in a
 * peer's memory, private or coherent, to copy straight in (staying where
 * it is unless @peers); or never to move: another owner's coherent page,
 * which the selection does not cover and hmm_range_fault() does not evict,
 * or a page of the owner in no peer's memory.
 */
static unsigned long gpumirror_device_class(struct gpumirror_devmem *dm,
					    struct page *page, bool peers)
{
	struct gpumirror_devmem *home = gpumirror_page_devmem(dm, page);

	if (home == dm || (home && !peers))
		return GPUMIRROR_SNAP_OWN;
	return home ? GPUMIRROR_SNAP_PEER : GPUMIRROR_SNAP_PERMANENT;
}

/*
 * The class of one hmm pfn of the snapshot. The page is not referenced:
 * as hmm_range_fault() users do, this reads it right after the walk, under
 * the same mmap_lock, and the caller throws the classes away if the range
 * changed meanwhile.
 */
static unsigned long gpumirror_snap_class(struct gpumirror_devmem *dm,
					  unsigned long hmm_pfn, bool peers)
{
	struct page *page;

	if (!(hmm_pfn & HMM_PFN_VALID))
		return GPUMIRROR_SNAP_OTHER;
	page = hmm_pfn_to_page(hmm_pfn);
	if (is_zone_device_page(page))
		return gpumirror_device_class(dm, page, peers);
	/* migrate_vma_collect_pmd() skips a large folio mapped by PTEs. */
	if (folio_test_large(page_folio(page)) &&
	    !hmm_pfn_to_map_order(hmm_pfn))
		return GPUMIRROR_SNAP_PERMANENT;
	return GPUMIRROR_SNAP_OTHER;
}

/*
 * Snapshot [@start, @end), with mmap_lock held for read after reading @seq
 * of @mni: hmm_range_fault() without faulting, as @dm's owner (so its
 * device-private pages are reported), then one GPUMIRROR_SNAP_* class per
 * page in @snap; @peers: peers' pages are to move. All GPUMIRROR_SNAP_OTHER
 * if the range changed meanwhile.
 */
static void gpumirror_snap(struct gpumirror_devmem *dm, unsigned long start,
			   unsigned long end, struct mmu_interval_notifier *mni,
			   unsigned long seq, bool peers, unsigned long *snap)
{
	struct hmm_range range = {
		.notifier = mni,
		.notifier_seq = seq,
		.start = start,
		.end = end,
		.hmm_pfns = snap,
		.dev_private_owner = dm->owner,
	};
	unsigned long i, n = (end - start) >> PAGE_SHIFT;
	int ret;

	ret = hmm_range_fault(&range);
	for (i = 0; !ret && i < n; i++)
		snap[i] = gpumirror_snap_class(dm, snap[i], peers);
	if (ret || mmu_interval_check_retry(mni, seq))
		memset(snap, 0, n * sizeof(*snap));
}

/*
 * The class of a source migrate_vma_setup() collected for a batch to @dm,
 * as the snapshot's: a page-cache page or a hole migrate_vma_pages()
 * refuses to move to device memory, however often asked, is permanent.
 */
static unsigned long gpumirror_collected_class(struct gpumirror_devmem *dm,
					       struct vm_area_struct *vma,
					       struct page *spage, bool peers)
{
	if (!spage)
		return !vma_is_anonymous(vma) || userfaultfd_missing(vma) ?
		       GPUMIRROR_SNAP_PERMANENT : GPUMIRROR_SNAP_OTHER;
	if (is_zone_device_page(spage))
		return gpumirror_device_class(dm, spage, peers);
	return folio_test_anon(page_folio(spage)) ?
	       GPUMIRROR_SNAP_OTHER : GPUMIRROR_SNAP_PERMANENT;
}

/*
 * Fill the destinations of a batch to @dm and copy. Pages that are in @dm
 * already stay (no destination) and count in @own, and so do peers' pages
 * unless &gpumirror_mig.take_peers; permanent misses (see the DOC) get no
 * destination either and count in @perm. @snap is the batch's snapshot,
 * from its first page.
 */
static int gpumirror_fill_to_dev(struct gpumirror_devmem *dm,
				 struct migrate_vma *args,
				 const unsigned long *snap,
				 struct gpumirror_mig *m, unsigned long *own,
				 unsigned long *perm)
{
	unsigned long i, n = 0;
	int ret;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;
		unsigned long cls;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE)) {
			/* Not collected: what was there just before? */
			if (snap[i] == GPUMIRROR_SNAP_OWN)
				(*own)++;
			else if (snap[i] == GPUMIRROR_SNAP_PERMANENT ||
				 (snap[i] == GPUMIRROR_SNAP_OTHER &&
				  !vma_is_anonymous(args->vma)))
				(*perm)++;
			continue;
		}
		cls = gpumirror_collected_class(dm, args->vma, spage,
						m->take_peers);
		if (cls == GPUMIRROR_SNAP_OWN) {
			(*own)++;
			continue;
		}
		if (cls == GPUMIRROR_SNAP_PERMANENT) {
			(*perm)++;
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
 * Count what a finished batch did: pages moved (a device page moved came
 * from a peer, which counts it too), and busy misses, the pages that
 * neither moved nor are in @skip (staying where they are, or permanent).
 */
static void gpumirror_count_batch(struct gpumirror_devmem *dm,
				  struct migrate_vma *args,
				  struct gpumirror_mig *m, unsigned long skip)
{
	unsigned long i, moved = 0, peer = 0;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE) || !args->dst[i])
			continue;
		moved++;
		if (spage && is_zone_device_page(spage)) {
			/* Still locked and referenced: finalize drops it. */
			struct gpumirror_devmem *home =
				gpumirror_page_devmem(dm, spage);

			peer++;
			/* fill_to_dev() took it for a peer's: the op changed */
			if (!WARN_ON_ONCE(!home))
				atomic64_inc(&home->stats.to_peer);
		}
	}
	m->moved += moved;
	m->missed += args->npages - skip - moved;
	atomic64_add(moved, &dm->stats.to_dev);
	atomic64_add(peer, &dm->stats.from_peer);
}

/*
 * Migrate the batch [@start, @end) of @vma to @dm, with mmap_lock held for
 * read after reading @seq of @mni, a notifier over the batch. @snap has
 * room for the batch. Permanent misses add to @perm.
 */
static int gpumirror_batch_to_dev(struct gpumirror_devmem *dm,
				  struct vm_area_struct *vma,
				  unsigned long start, unsigned long end,
				  struct mmu_interval_notifier *mni,
				  unsigned long seq, unsigned long *snap,
				  struct gpumirror_mig *m, unsigned long *perm)
{
	unsigned long first, last, n = (end - start) >> PAGE_SHIFT;
	struct migrate_vma args = {
		.vma = vma,
		.src = m->src,
		.dst = m->dst,
		.pgmap_owner = dm->owner,
		/*
		 * The owner's pages of either kind: @dm's count as already
		 * there, peers' move in one copy.
		 */
		.flags = MIGRATE_VMA_SELECT_SYSTEM |
			 MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
			 MIGRATE_VMA_SELECT_DEVICE_COHERENT,
	};
	unsigned long own = 0, p = 0;
	int ret;

	/* Shared file or shmem: nothing there can ever move, see the DOC. */
	if (!vma_is_anonymous(vma) && (vma->vm_flags & VM_SHARED)) {
		*perm += n;
		return 0;
	}
	/* Set up, and so invalidate, only the span of pages to move. */
	gpumirror_snap(dm, start, end, mni, seq, m->take_peers, snap);
	for (first = 0; first < n && snap[first] == GPUMIRROR_SNAP_OWN; first++)
		;
	if (first == n)
		return 0;
	for (last = n - 1; snap[last] == GPUMIRROR_SNAP_OWN; last--)
		;
	args.start = start + first * PAGE_SIZE;
	args.end = start + (last + 1) * PAGE_SIZE;

	ret = gpumirror_should_fail(GPUMIRROR_FAIL_MIGRATE_SETUP) ? -EINVAL :
	      migrate_vma_setup(&args);
	if (ret)
		return ret;
	ret = gpumirror_fill_to_dev(dm, &args, snap + first, m, &own, &p);
	migrate_vma_pages(&args);
	gpumirror_count_batch(dm, &args, m, own + p);
	migrate_vma_finalize(&args);
	*perm += p;
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

/*
 * The VMA of @addr and the end of the batch that starts there; NULL if it
 * is not readable or is a kind migrate_vma_setup() refuses.
 */
static struct vm_area_struct *gpumirror_mig_vma(struct mm_struct *mm,
						unsigned long addr,
						unsigned long end,
						unsigned long *next)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ) || is_vm_hugetlb_page(vma) ||
	    (vma->vm_flags & VM_SPECIAL) || vma_is_dax(vma))
		return NULL;
	*next = min3(end, addr + GPUMIRROR_MIGRATE_BATCH * PAGE_SIZE,
		     vma->vm_end);
	return vma;
}

/*
 * One attempt: [start, end) to @dm. First, pages of other device memories
 * move to system memory (%GPUMIRROR_EVICT_FOREIGN), or all device pages do
 * (%GPUMIRROR_EVICT_ALL, the write-locked retry), or none do. Then each
 * batch is snapshot and migrated under one mmap_lock section of its own.
 * Return: 0 (busy misses are in @m), -EBUSY after the whole range if a
 * page can never move (a permanent miss, see the DOC), or -errno.
 */
VISIBLE_IF_KUNIT int gpumirror_migrate_attempt(struct gpumirror_devmem *dm,
					       struct mm_struct *mm,
					       unsigned long start,
					       unsigned long end, int evict,
					       struct gpumirror_mig *m)
{
	unsigned long addr, next, seq, perm = 0;
	struct mmu_interval_notifier mni;
	struct vm_area_struct *vma;
	unsigned long *snap;
	int ret = 0;

	KUNIT_STATIC_STUB_REDIRECT(gpumirror_migrate_attempt, dm, mm, start,
				   end, evict, m);
	/* Evicting nothing is moving what is in system memory only. */
	m->take_peers = evict != GPUMIRROR_EVICT_NONE;
	if (evict != GPUMIRROR_EVICT_NONE)
		ret = gpumirror_evict_foreign(mm, start, end,
					      evict == GPUMIRROR_EVICT_ALL ?
					      NULL : dm->owner);
	if (ret)
		return ret;
	snap = kvmalloc_array(GPUMIRROR_MIGRATE_BATCH, sizeof(*snap),
			      GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	ret = mmu_interval_notifier_insert(&mni, mm, start, end - start,
					   &gpumirror_walk_ops);
	if (ret)
		goto out_free;
	for (addr = start; !ret && addr < end; addr = next) {
		seq = mmu_interval_read_begin(&mni);
		mmap_read_lock(mm);
		vma = gpumirror_mig_vma(mm, addr, end, &next);
		if (!vma) {
			mmap_read_unlock(mm);
			ret = -EINVAL;
			break;
		}
		ret = gpumirror_batch_to_dev(dm, vma, addr, next, &mni, seq,
					     snap, m, &perm);
		mmap_read_unlock(mm);
	}
	mmu_interval_notifier_remove(&mni);
out_free:
	kvfree(snap);
	/* No retry can move such a page: fail without escalating. */
	if (!ret && perm)
		ret = -EBUSY;
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(gpumirror_migrate_attempt);

/* Every page of [start, end) has a readable VMA migrate_vma can work on. */
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
 * One attempt under the lock; -EAGAIN when it missed busy pages, -ENOMEM
 * when all it missed was for want of device memory, -EBUSY when a page can
 * never move.
 */
static int gpumirror_migrate_locked(struct gpumirror_devmem *dm,
				    struct mm_struct *mm, unsigned long start,
				    unsigned long end, int evict,
				    struct gpumirror_mig *m)
{
	int ret;

	m->missed = 0;
	m->nomem = 0;
	/*
	 * Evicting everything undoes what an earlier attempt moved to
	 * device-private memory; coherent memory, which the CPU maps, is
	 * not evicted and keeps it.
	 */
	if (evict == GPUMIRROR_EVICT_ALL && dm->type == MEMORY_DEVICE_PRIVATE)
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
 * two attempts, the second one exclusive after evicting the range, and
 * only if the first one lost pages to a race. Pages already in @dm are not
 * touched, and a range entirely in @dm raises no invalidation.
 *
 * Context: process context, no mmap_lock and no gpumirror lock held.
 * Return: 0; -EINVAL for bad arguments, or a page without a readable VMA
 * or in a hugetlb, DAX or %VM_SPECIAL one; -EBUSY if a page of the
 * range can never move to device memory (file or shmem memory, another
 * owner's device-coherent page, ... see "Misses" in the driver_migrate_lock
 * DOC; no retry is made) or if pages kept being taken; -ENOMEM if device
 * memory ran out; or the error of &gpumirror_devmem_ops.copy. On an error
 * without %GPUMIRROR_MIGRATE_MIXED, the range's pages of @dm are back in
 * system memory. With it, what moved stays and 0 is returned if anything
 * did.
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

	down_read(&driver_migrate_lock);
	ret = gpumirror_migrate_locked(dm, mm, start, end,
				       flags & GPUMIRROR_MIGRATE_SYSTEM_ONLY ?
				       GPUMIRROR_EVICT_NONE :
				       GPUMIRROR_EVICT_FOREIGN, m);
	up_read(&driver_migrate_lock);
	if (ret == -EAGAIN && (flags & GPUMIRROR_MIGRATE_SYSTEM_ONLY))
		ret = m->moved ? 0 : -EBUSY;
	if (ret == -EAGAIN) {
		atomic64_inc(&dm->stats.races);
		down_write(&driver_migrate_lock);
		ret = gpumirror_migrate_locked(dm, mm, start, end,
					       GPUMIRROR_EVICT_ALL, m);
		up_write(&driver_migrate_lock);
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
 * @vma is NULL for an eviction by pfn (no VMA known). A page no system
 * page could be had for stays where it is and sets *@nomem; the rest of the
 * batch moves. Return: 0 or the copy's error (then nothing of the batch
 * moves).
 */
static int gpumirror_fill_to_ram(struct gpumirror_devmem *dm,
				 const unsigned long *src, unsigned long *dst,
				 unsigned long npages,
				 struct vm_area_struct *vma, unsigned long addr,
				 struct gpumirror_mig *m, bool *nomem)
{
	unsigned long i, n = 0;
	int ret;

	for (i = 0; i < npages; i++, addr += PAGE_SIZE) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!(src[i] & MIGRATE_PFN_MIGRATE) ||
		    !gpumirror_devmem_holds(dm, spage))
			continue;
		if (vma)
			dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
		else
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		if (!dpage) {
			*nomem = true;
			continue;
		}
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
 * Pages the kernel holds (a pin, a fault in progress) may stay. A page no
 * system memory could be had for stays too: the others still move (and
 * count in @migrated), then the call fails with -ENOMEM.
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
	bool nomem = false;
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
		ret = gpumirror_should_fail(GPUMIRROR_FAIL_MIGRATE_SETUP) ?
		      -EINVAL : migrate_vma_setup(&args);
		if (ret)
			break;
		ret = gpumirror_fill_to_ram(dm, m->src, m->dst, args.npages,
					    args.vma, addr, m, &nomem);
		migrate_vma_pages(&args);
		moved += gpumirror_count_moved(m->src, m->dst, args.npages);
		migrate_vma_finalize(&args);
	}
	mmap_read_unlock(mm);
	atomic64_add(moved, &dm->stats.to_ram);
	if (migrated)
		*migrated = moved;
	kvfree(m);
	return ret ?: (nomem ? -ENOMEM : 0);
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
 * The faulting page either moves or the fault fails: 0 is returned only
 * when it moved, or when migrate_vma_setup() could not collect it because
 * someone else holds or moves it, so that the CPU finds the new state when
 * it faults again. Other pages of the window that do not move stay where
 * they are, and so do peers' pages in it.
 *
 * Context: the page fault path, mmap_lock (or the VMA lock) held.
 * Return: 0; VM_FAULT_OOM if no system page (or no memory for the batch
 * arrays) was found for the faulting page; VM_FAULT_SIGBUS if the copy out
 * of @dm failed, migrate_vma_setup() failed, or @dm does not own the page.
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
	vm_fault_t ret = 0;
	bool nomem = false;
	unsigned long i;
	int err;

	/* Refaulting would not help a page gpumirror cannot collect. */
	if (WARN_ON_ONCE(!gpumirror_devmem_holds(dm, vmf->page)))
		return VM_FAULT_SIGBUS;
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
	err = gpumirror_fill_to_ram(dm, m->src, m->dst, args.npages, vmf->vma,
				    args.start, m, &nomem);
	/* Collected but given no copy: the copy failed, or no memory. */
	i = (vmf->address - args.start) >> PAGE_SHIFT;
	if ((m->src[i] & MIGRATE_PFN_MIGRATE) && !m->dst[i])
		ret = err ? VM_FAULT_SIGBUS : VM_FAULT_OOM;
	migrate_vma_pages(&args);
	atomic64_add(gpumirror_count_moved(m->src, m->dst, args.npages),
		     &dm->stats.to_ram);
	migrate_vma_finalize(&args);
	kvfree(m);
	return ret;
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
	bool nomem = false;

	m = kvzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return;
	for (done = 0; done < npages; done += n) {
		n = min(npages - done, (unsigned long)GPUMIRROR_MIGRATE_BATCH);
		migrate_device_range(m->src, first_pfn + done, n);
		/* __GFP_NOFAIL pages: nothing stays for want of memory. */
		gpumirror_fill_to_ram(dm, m->src, m->dst, n, NULL, 0, m,
				      &nomem);
		migrate_device_pages(m->src, m->dst, n);
		moved = gpumirror_count_moved(m->src, m->dst, n);
		migrate_device_finalize(m->src, m->dst, n);
		atomic64_add(moved, &dm->stats.to_ram);
	}
	kvfree(m);
}
EXPORT_SYMBOL_GPL(gpumirror_devmem_evict);
