// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: per-device page sets (DMA mappings of one page walk).
 */

#include <kunit/static_stub.h>
#include <linux/bitfield.h>
#include <linux/dma-mapping.h>
#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/hmm.h>
#include <linux/iommu.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "internal.h"

/**
 * DOC: Page sets
 *
 * Every object keeps one array of &gpumirror_addr_t per device slot, filled
 * from the object's single page walk: a DMA address made with the
 * dma-mapping API on that device's &struct device, or, for a device-private
 * page whose pagemap owner is the device's, the page's own frame address
 * flagged %GPUMIRROR_ADDR_DEVICE (no DMA mapping; the device or a peer with
 * the same owner reaches it natively). Pages faulted for write are mapped
 * %DMA_BIDIRECTIONAL and flagged %GPUMIRROR_ADDR_WRITE, read-only pages are
 * mapped %DMA_TO_DEVICE. A huge page that the CPU maps whole gets one DMA
 * mapping for all its pages in a segment: the whole huge page if the
 * segment holds it, otherwise each largest naturally aligned block of it
 * inside the segment (a 64K segment of a THP is one mapping), no larger
 * than the device takes in one piece (dma_max_mapping_size()).
 *
 * Several devices map the same page, one set each, which the DMA API
 * allows for overlapping mappings only without its implicit CPU cache
 * maintenance (DMA-API debugging reports them otherwise): every mapping
 * is made and released with %DMA_ATTR_SKIP_CPU_SYNC.
 *
 * A mirror is shared memory: the CPU and the device use the same page at
 * the same time, with no point at which either could hand it over. A
 * device that reaches a page only through a bounce buffer, or without
 * snooping the CPU caches, would read the page as it was when mapped, and
 * its writes would land in a copy that is never written back. So:
 *
 * - gpumirror_device_attach() refuses with -EOPNOTSUPP a device whose
 *   every direct mapping would bounce (swiotlb=force) and any device of a
 *   guest with encrypted memory (SEV, TDX), IOMMU or not, before anything
 *   is mapped: no user page is ever copied into a bounce pool;
 * - a mapping that still does not reach the page itself is released at
 *   once and the map fails with -EOPNOTSUPP, counted in
 *   &gpumirror_device_stats.dma_refused. Going direct, that is a mapping
 *   dma_need_sync() says needs syncing (a DMA mask that cannot address
 *   the page, a non-coherent device); through the DMA API's IOMMU domain,
 *   an IOVA that does not translate to the page. In a fault-mode range,
 *   one such page fails the whole range.
 *
 * Not detected: a device that does not snoop the CPU caches behind an
 * IOMMU (the DMA API offers drivers no test for it), and DMA operations
 * that are neither direct nor the IOMMU's (they answer dma_need_sync() by
 * their own rules).
 *
 * Sets are built and torn down under &gpumirror_object.lock, never under
 * the notifier lock. A set's DMA mappings outlive its validity: the
 * invalidation only zaps the device's PTEs and marks the set stale, and the
 * mappings are released by the next map, unmap or destroy.
 */

static enum dma_data_direction gpumirror_dir(gpumirror_addr_t entry)
{
	return entry & GPUMIRROR_ADDR_WRITE ? DMA_BIDIRECTIONAL : DMA_TO_DEVICE;
}

static void gpumirror_unmap_entries(struct gpumirror_device *gdev,
				    gpumirror_addr_t *set, unsigned long n)
{
	unsigned long i, unmapped = 0;
	size_t size;

	for (i = 0; i < n; i++) {
		if (!set[i] ||
		    set[i] & (GPUMIRROR_ADDR_DEVICE | GPUMIRROR_ADDR_TAIL))
			continue;
		size = PAGE_SIZE << gpumirror_addr_order(set[i]);
		/* No sync back: the page may be reused (see the DOC above). */
		dma_unmap_page_attrs(gdev->dev, gpumirror_addr(set[i]), size,
				     gpumirror_dir(set[i]),
				     DMA_ATTR_SKIP_CPU_SYNC);
		unmapped += size >> PAGE_SHIFT;
	}
	atomic64_add(unmapped, &gdev->stats.dma_unmaps);
}

/**
 * gpumirror_dma_max() - the largest DMA mapping @dev takes in one piece
 * @dev: the device
 *
 * dma_max_mapping_size(): a device that cannot take a 2M mapping at once
 * gets a huge page mapped in the largest blocks it takes. A static stub
 * point for the KUnit suites.
 *
 * Return: the size in bytes.
 */
VISIBLE_IF_KUNIT size_t gpumirror_dma_max(struct device *dev)
{
	KUNIT_STATIC_STUB_REDIRECT(gpumirror_dma_max, dev);
	return dma_max_mapping_size(dev);
}
EXPORT_SYMBOL_IF_KUNIT(gpumirror_dma_max);

/**
 * gpumirror_dma_shared() - does a DMA mapping reach the page itself?
 * @gdev: the device
 * @page: the page mapped
 * @dma: its mapping
 *
 * Through the DMA API's IOMMU domain, @dma must translate to @page; going
 * direct, the mapping must need no syncing (dma_need_sync(): no bounce
 * buffer, a coherent device). A static stub point for the KUnit suites,
 * which cannot make a device bounce.
 *
 * Return: true if @gdev reaches @page itself through @dma (see the DOC
 * above for what this cannot tell).
 */
VISIBLE_IF_KUNIT bool gpumirror_dma_shared(struct gpumirror_device *gdev,
					   struct page *page, dma_addr_t dma)
{
	KUNIT_STATIC_STUB_REDIRECT(gpumirror_dma_shared, gdev, page, dma);
	if (gdev->dma_domain)
		return iommu_iova_to_phys(gdev->dma_domain, dma) ==
		       page_to_phys(page);
	return !dma_need_sync(gdev->dev, dma);
}
EXPORT_SYMBOL_IF_KUNIT(gpumirror_dma_shared);

/*
 * What one pfn of the walk says about its page, the same for every device
 * of a pass: read once per page, however many devices map it.
 */
struct gpumirror_map_pfn {
	/* the page; NULL for a hole (not faulted, or not faultable) */
	struct page *page;
	/* its pagemap's owner for a ZONE_DEVICE page, or NULL */
	void *owner;
	/* GPUMIRROR_ADDR_WRITE and GPUMIRROR_ADDR_EXCLUSIVE, as mapped */
	gpumirror_addr_t flags;
	/* the CPU's naturally aligned block at the page, within the segment */
	unsigned int order;
	/* a device-private page: mapped natively, never DMA-mapped */
	bool device_private;
};

/* Classify the page of @hmm_pfns[0], at most @max pages of which remain. */
static void gpumirror_map_pfn_get(const unsigned long *hmm_pfns,
				  unsigned long max, unsigned int map_flags,
				  struct gpumirror_map_pfn *p)
{
	unsigned long hmm_pfn = hmm_pfns[0];
	struct page *page;

	p->page = NULL;
	if ((hmm_pfn & (HMM_PFN_VALID | HMM_PFN_ERROR)) != HMM_PFN_VALID)
		return;
	page = hmm_pfn_to_page(hmm_pfn);
	p->page = page;
	p->flags = 0;
	if ((hmm_pfn & HMM_PFN_WRITE) && !(map_flags & GPUMIRROR_MAP_READ_ONLY))
		p->flags |= GPUMIRROR_ADDR_WRITE;
	if (map_flags & GPUMIRROR_MAP_EXCLUSIVE)
		p->flags |= GPUMIRROR_ADDR_EXCLUSIVE;
	p->owner = is_zone_device_page(page) ? page->pgmap->owner : NULL;
	p->device_private = is_device_private_page(page);
	/* Without a device's limit yet: see gpumirror_map_chunk(). */
	p->order = p->device_private ? 0 :
		   gpumirror_block_order(page_to_pfn(page),
					 hmm_pfn_to_map_order(hmm_pfn), max,
					 SIZE_MAX);
}

/*
 * Map the page @p classified, for @gdev: a device-private page, or a page
 * or an aligned block of a huge page with one DMA mapping, no larger than
 * @dma_max bytes; with %GPUMIRROR_MAP_DEVMEM an entry of 0 for a page it
 * does not map. *@mapped grows by the pages DMA-mapped.
 * Return: the number of entries filled, or -errno.
 */
static long gpumirror_map_chunk(struct gpumirror_device *gdev,
				const struct gpumirror_map_pfn *p,
				size_t dma_max, gpumirror_addr_t *set,
				unsigned int map_flags, unsigned long *mapped)
{
	/* What this device takes in one piece, as gpumirror_block_order(). */
	unsigned long limit = dma_max >> PAGE_SHIFT, i, n;
	unsigned int order = 0;
	dma_addr_t dma;

	/*
	 * A hole, or with %GPUMIRROR_MAP_DEVMEM a page not in memory of the
	 * device's own pagemap owner: an empty entry.
	 */
	if (!p->page || ((map_flags & GPUMIRROR_MAP_DEVMEM) &&
			 (!gdev->pagemap_owner ||
			  p->owner != gdev->pagemap_owner))) {
		set[0] = 0;
		return 1;
	}
	if (p->device_private) {
		if (!gdev->pagemap_owner || p->owner != gdev->pagemap_owner)
			return -EXDEV;
		set[0] = PFN_PHYS(page_to_pfn(p->page)) | p->flags |
			 GPUMIRROR_ADDR_DEVICE;
		return 1;
	}
	if (limit)
		order = min_t(unsigned int, p->order, ilog2(limit));
	n = 1UL << order;
	if (gpumirror_should_fail(GPUMIRROR_FAIL_DMA_MAP))
		return -ENOMEM;
	dma = dma_map_page_attrs(gdev->dev, p->page, 0, PAGE_SIZE << order,
				 gpumirror_dir(p->flags),
				 DMA_ATTR_SKIP_CPU_SYNC);
	if (dma_mapping_error(gdev->dev, dma))
		return -ENOMEM;
	if (!gpumirror_dma_shared(gdev, p->page, dma)) {
		/* Not shared memory (see the DOC above): never used. */
		dma_unmap_page_attrs(gdev->dev, dma, PAGE_SIZE << order,
				     gpumirror_dir(p->flags),
				     DMA_ATTR_SKIP_CPU_SYNC);
		atomic64_inc(&gdev->stats.dma_refused);
		return -EOPNOTSUPP;
	}
	set[0] = dma | p->flags | FIELD_PREP(GPUMIRROR_ADDR_ORDER, order);
	for (i = 1; i < n; i++)
		set[i] = (dma + i * PAGE_SIZE) | p->flags | GPUMIRROR_ADDR_TAIL;
	*mapped += n;
	return n;
}

/**
 * gpumirror_sets_reserve() - make room for the sets of slots below @nr
 * @obj: the object
 * @nr: the slots wanted
 *
 * Readers of the array hold @obj->lock or the notifier lock: the new array
 * replaces the old one under both, once for all the slots a map asks for.
 *
 * Context: @obj->lock held.
 * Return: 0 or -ENOMEM.
 */
int gpumirror_sets_reserve(struct gpumirror_object *obj, unsigned int nr)
{
	struct gpumirror *mirror = obj->mirror;
	gpumirror_addr_t **sets, **old;

	lockdep_assert_held(&obj->lock);
	if (nr <= obj->nr_sets)
		return 0;
	sets = kcalloc(nr, sizeof(*sets), GFP_KERNEL_ACCOUNT);
	if (!sets)
		return -ENOMEM;
	memcpy(sets, obj->sets, obj->nr_sets * sizeof(*sets));
	down_write(&mirror->notifier_lock);
	old = obj->sets;
	obj->sets = sets;
	obj->nr_sets = nr;
	up_write(&mirror->notifier_lock);
	if (old != obj->inline_sets)
		kfree(old);
	return 0;
}

/* A zeroed set for @slot: inline for slot 0 of a one-page object. */
static gpumirror_addr_t *gpumirror_set_alloc(struct gpumirror_object *obj,
					     unsigned int slot)
{
	gpumirror_addr_t *set;

	lockdep_assert_held(&obj->lock);
	/* gpumirror_map_sets() made room for every slot it maps. */
	if (WARN_ON_ONCE(slot >= obj->nr_sets))
		return NULL;
	if (obj->npages == 1 && !slot) {
		obj->inline_set = 0;
		set = &obj->inline_set;
	} else {
		set = kvcalloc(obj->npages, sizeof(*set), GFP_KERNEL_ACCOUNT);
	}
	/* Read under the notifier lock alone: see gpumirror_commit(). */
	WRITE_ONCE(obj->sets[slot], set);
	return set;
}

/* Free the set of @slot, whose DMA mappings are gone. Context: @obj->lock. */
void gpumirror_set_free(struct gpumirror_object *obj, unsigned int slot)
{
	gpumirror_addr_t *set = gpumirror_set(obj, slot);

	lockdep_assert_held(&obj->lock);
	if (!set)
		return;
	if (set != &obj->inline_set)
		kvfree(set);
	WRITE_ONCE(obj->sets[slot], NULL);
}

/* How many devices' sets one pass over the pfns builds at most. */
#define GPUMIRROR_MAP_PASS	8

/* One device's part of a pass: its set, and how far the set is mapped. */
struct gpumirror_map_dev {
	struct gpumirror_device *gdev;
	gpumirror_addr_t *set;
	size_t dma_max;
	unsigned long next;	/* the first entry not mapped yet */
	unsigned long mapped;	/* pages DMA-mapped */
};

/*
 * Map segment @seg for every device of @md in one pass over its pfns: a
 * page is classified once (its pfn and its struct page read once) and
 * its mappings for all of them are made one after the other, instead of
 * one walk over the pfns per device. A huge page may be mapped in blocks
 * of another size for each device (gpumirror_dma_max()), so each one
 * keeps its own place; gpumirror_dma_max() is asked once per device and pass, as it
 * does not change while the device is attached and each answer walks the
 * DMA ops. On error, every device's entries of @seg before its place are
 * mapped, and nothing else of @seg.
 */
static int gpumirror_map_segment_pass(struct gpumirror_object *obj,
				      struct gpumirror_map_dev *md,
				      unsigned int nr,
				      const struct gpumirror_segment_node *seg,
				      unsigned int map_flags)
{
	const unsigned long *pfns = obj->pfns + seg->first_page;
	unsigned long n = (seg->it.last + 1 - seg->it.start) >> PAGE_SHIFT;
	struct gpumirror_map_pfn p;
	bool classified;
	unsigned long i;
	unsigned int d;
	long ret;

	for (d = 0; d < nr; d++)
		md[d].next = 0;
	for (i = 0; i < n; i++) {
		classified = false;
		for (d = 0; d < nr; d++) {
			if (md[d].next > i)
				continue;
			if (!classified) {
				gpumirror_map_pfn_get(pfns + i, n - i,
						      map_flags, &p);
				classified = true;
			}
			ret = gpumirror_map_chunk(md[d].gdev, &p, md[d].dma_max,
						  md[d].set + seg->first_page + i,
						  map_flags, &md[d].mapped);
			if (ret < 0)
				return ret;
			md[d].next = i + ret;
		}
	}
	return 0;
}

/*
 * Build the sets of the @nr devices of @md from the object's pfns,
 * replacing stale ones. On error nothing of the new sets stays mapped.
 */
static int gpumirror_pages_map_pass(struct gpumirror_object *obj,
				    struct gpumirror_map_dev *md,
				    unsigned int nr, unsigned int map_flags)
{
	unsigned int s, d;
	unsigned long end;
	int ret = 0;

	for (d = 0; d < nr; d++) {
		gpumirror_pages_unmap(obj, md[d].gdev);
		md[d].set = gpumirror_set(obj, md[d].gdev->index) ?:
			    gpumirror_set_alloc(obj, md[d].gdev->index);
		if (!md[d].set)
			return -ENOMEM;
		md[d].dma_max = gpumirror_dma_max(md[d].gdev->dev);
		md[d].mapped = 0;
	}
	for (s = 0; s < obj->nsegs && !ret; s++)
		ret = gpumirror_map_segment_pass(obj, md, nr, &obj->segs[s],
						 map_flags);
	for (d = 0; d < nr; d++) {
		/*
		 * One atomic per set, not one per mapping; on error, the
		 * unmaps below count what was mapped.
		 */
		atomic64_add(md[d].mapped, &md[d].gdev->stats.dma_maps);
		if (!ret) {
			__set_bit(md[d].gdev->index, &obj->mapped);
			continue;
		}
		/*
		 * Up to its place in the segment that failed (its chunks
		 * tile the segment, so that is where the one that failed
		 * stopped): the set may hold old entries past it.
		 */
		end = obj->segs[s - 1].first_page + md[d].next;
		gpumirror_unmap_entries(md[d].gdev, md[d].set, end);
	}
	return ret;
}

/**
 * gpumirror_pages_map() - build page sets from the object's pfns
 * @obj: the object
 * @devices: the slots whose sets are built, replacing stale ones
 * @map_flags: those of gpumirror_object_map()
 *
 * Up to %GPUMIRROR_MAP_PASS devices share each pass over the pfns.
 *
 * Context: @obj->lock held.
 * Return: 0, or -errno: then the sets built by passes before the one that
 * failed stay mapped (not valid, for the caller to release), and nothing
 * of the failing pass's sets stays mapped.
 */
int gpumirror_pages_map(struct gpumirror_object *obj, unsigned long devices,
			unsigned int map_flags)
{
	struct gpumirror_map_dev md[GPUMIRROR_MAP_PASS];
	unsigned int i, nr = 0;
	int ret;

	lockdep_assert_held(&obj->lock);
	for_each_set_bit(i, &devices, GPUMIRROR_MAX_DEVICES) {
		md[nr++].gdev = obj->mirror->devices[i];
		if (nr < ARRAY_SIZE(md) && i != __fls(devices))
			continue;
		ret = gpumirror_pages_map_pass(obj, md, nr, map_flags);
		if (ret)
			return ret;
		nr = 0;
	}
	return 0;
}

/*
 * Map again the segments of @gdev's set that bitmap @segs names (by index
 * in &gpumirror_object.segs), from the object's pfns; the rest of the
 * set stays. Only for a set that the running gpumirror_object_map() built
 * and has not committed yet: no device's TLB holds its entries, so the
 * old mappings go at once. On error the segment that failed holds no
 * mapping (its entries are 0), the others stay for the caller to drop.
 */
int gpumirror_pages_remap(struct gpumirror_object *obj,
			  struct gpumirror_device *gdev,
			  const unsigned long *segs, unsigned int map_flags)
{
	struct gpumirror_map_dev md = {
		.gdev = gdev,
		.set = gpumirror_set(obj, gdev->index),
		.dma_max = gpumirror_dma_max(gdev->dev),
	};
	unsigned long n;
	gpumirror_addr_t *e;
	unsigned int s;
	int ret = 0;

	lockdep_assert_held(&obj->lock);
	for_each_set_bit(s, segs, obj->nsegs) {
		e = md.set + obj->segs[s].first_page;
		n = (obj->segs[s].it.last + 1 - obj->segs[s].it.start) >>
		    PAGE_SHIFT;
		gpumirror_unmap_entries(gdev, e, n);
		/* Every entry is written again, or zeroed on error. */
		ret = gpumirror_map_segment_pass(obj, &md, 1, &obj->segs[s],
						 map_flags);
		if (ret) {
			gpumirror_unmap_entries(gdev, e, md.next);
			memset(e, 0, n * sizeof(*e));
			break;
		}
	}
	atomic64_add(md.mapped, &gdev->stats.dma_maps);
	return ret;
}

/*
 * Release @gdev's DMA mappings of @obj; its set must not be valid. A set
 * that went stale in pass 1 of an event whose pass 2 has not run yet may
 * still be in the device's TLB: complete that pass 2 first (what
 * gpumirror_flushed() reads changes under the notifier lock held for
 * write, so reading it under the lock held for read is exact).
 */
void gpumirror_pages_unmap(struct gpumirror_object *obj,
			   struct gpumirror_device *gdev)
{
	struct gpumirror *mirror = obj->mirror;
	bool pending;

	lockdep_assert_held(&obj->lock);
	if (!test_bit(gdev->index, &obj->mapped))
		return;
	down_read(&mirror->notifier_lock);
	pending = !gpumirror_flushed(obj, BIT(gdev->index));
	up_read(&mirror->notifier_lock);
	if (pending) {
		down_write(&mirror->notifier_lock);
		gpumirror_finish_pending(mirror);
		up_write(&mirror->notifier_lock);
	}
	if (!__test_and_clear_bit(gdev->index, &obj->mapped))
		return;
	gpumirror_unmap_entries(gdev, gpumirror_set(obj, gdev->index),
				obj->npages);
}
