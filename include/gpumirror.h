/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumirror: mirror CPU virtual address ranges into GPU address spaces.
 *
 * See Documentation/mm/gpumirror/index.rst for the design and the locking.
 */
#ifndef _LINUX_GPUMIRROR_H
#define _LINUX_GPUMIRROR_H

#include <linux/bitfield.h>
#include <linux/bitops.h>
#include <linux/interval_tree.h>
#include <linux/limits.h>
#include <linux/list.h>
#include <linux/memremap.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/types.h>

struct device;
struct mm_struct;
struct gpumirror;
struct gpumirror_device;
struct gpumirror_devmem;
struct gpumirror_object;
struct gpumirror_private;

/** GPUMIRROR_MAX_DEVICES - devices one mirror can have attached at once */
#define GPUMIRROR_MAX_DEVICES		BITS_PER_LONG

/**
 * GPUMIRROR_WALK_GAP - segments whose CPU VA gap is at most this many pages
 * are walked with one hmm range, the holes between them not faulted
 */
#define GPUMIRROR_WALK_GAP		16

/**
 * GPUMIRROR_MAX_OBJECT_PAGES - pages one object can mirror (all segments
 * together): its per-page arrays stay below the kvmalloc() size limit
 */
#define GPUMIRROR_MAX_OBJECT_PAGES	(INT_MAX / sizeof(u64))

/** GPUMIRROR_DEFAULT_MAX_SEGMENTS - default segment limit of one object */
#define GPUMIRROR_DEFAULT_MAX_SEGMENTS	BIT(18)

/**
 * struct gpumirror_device_ops - what a GPU driver provides to gpumirror
 *
 * One const table per driver. Every member says whether it is required and
 * which gpumirror lock is held when it is called.
 */
struct gpumirror_device_ops {
	/**
	 * @invalidate: Single-pass invalidation; required unless both
	 * @invalidate_start and @invalidate_finish are set, ignored then. Zap
	 * the device's PTEs for the GPU VA range [@gpu_start, @gpu_end) of
	 * @obj and complete the TLB invalidation before returning: once it
	 * returns, the device must not access the pages any more. @event is
	 * the core mm's event (its &mmu_notifier_range.event tells an munmap()
	 * from a migration, a protection change or the process exiting), or
	 * NULL when gpumirror takes the set away itself (a revoke, a write
	 * upgrade, an attribute change, a detach or a destroy); it is only
	 * valid during the call. Called with
	 * the mirror's notifier_lock held for write, possibly under reclaim:
	 * it must not allocate memory that can enter reclaim nor take a lock
	 * that is held around such allocations.
	 */
	void (*invalidate)(struct gpumirror_device *gdev,
			   struct gpumirror_object *obj,
			   u64 gpu_start, u64 gpu_end,
			   const struct mmu_notifier_range *event);

	/**
	 * @invalidate_start: Optional, together with @invalidate_finish.
	 * Pass 1 of a two-pass invalidation: zap the device's PTEs for
	 * [@gpu_start, @gpu_end) of @obj and start the TLB invalidation
	 * without waiting for it; @event as for @invalidate. Called once per
	 * object an event touches,
	 * with the notifier_lock held for write and the same restrictions as
	 * @invalidate; preallocate whatever it needs.
	 */
	void (*invalidate_start)(struct gpumirror_device *gdev,
				 struct gpumirror_object *obj,
				 u64 gpu_start, u64 gpu_end,
				 const struct mmu_notifier_range *event);

	/**
	 * @invalidate_finish: Optional, together with @invalidate_start.
	 * Pass 2: wait until every TLB invalidation started by
	 * @invalidate_start since the previous @invalidate_finish has
	 * completed. Called for each device with an @invalidate_start not yet
	 * waited for: normally once per event, after pass 1 ran for all the
	 * event's objects; once per object when the event's pass 2 must run
	 * early (see "Invalidation"); not at all for an event whose starts a
	 * concurrent pass 2 already waited for. With the notifier_lock held
	 * for write; may sleep, must not allocate. Also
	 * called outside events, when gpumirror revokes sets itself (write
	 * upgrades, attribute changes) or must release a set whose flush is
	 * still pending, then possibly with &gpumirror_private.lock and the object's
	 * lock held as well.
	 */
	void (*invalidate_finish)(struct gpumirror_device *gdev);

	/**
	 * @detach: Optional. Called once the device has left the mirror and
	 * all its DMA mappings are gone, from gpumirror_device_detach() or
	 * gpumirror_fini(), with no gpumirror lock held.
	 */
	void (*detach)(struct gpumirror_device *gdev);

	/**
	 * @bind: Required for gpumirror_fault(), gpumirror_prefetch() and
	 * no-fault devices. Program the device's PTEs for @obj from its page
	 * set: reserve what the page table needs, then under
	 * gpumirror_notifier_lock() check gpumirror_object_valid() and write
	 * the PTEs. Called with &gpumirror_private.range_lock held for read and no
	 * other gpumirror lock. Return: 0, -EAGAIN if the set was no longer
	 * valid (gpumirror maps again), or -errno.
	 */
	int (*bind)(struct gpumirror_device *gdev,
		    struct gpumirror_object *obj);

	/**
	 * @suspend: Required for %GPUMIRROR_DEVICE_NOFAULT devices. Stop the
	 * device's queues: an invalidation is zapping PTEs the device cannot
	 * fault back. Called from pass 1, before the zap, with the
	 * notifier_lock held for write and the restrictions of @invalidate;
	 * the queues must be stopped when the invalidation completes.
	 */
	void (*suspend)(struct gpumirror_device *gdev);

	/**
	 * @resume: Required with @suspend. Restart the queues: the restore
	 * worker mapped and bound again every range the device keeps mapped.
	 * Called with the notifier_lock held for read, so no invalidation can
	 * come between the check and the restart; must not allocate memory
	 * that can enter reclaim.
	 */
	void (*resume)(struct gpumirror_device *gdev);

	/**
	 * @restore_failed: Optional, for %GPUMIRROR_DEVICE_NOFAULT devices.
	 * The restore worker gave up mapping the range [@start, @end) back
	 * for the device: its memory is gone, the attributes no longer let
	 * the device access it, or mapping it kept failing. The device is
	 * resumed without it, so an access there finds no PTE; the driver
	 * reports the loss to the context that used the range (ranges an
	 * munmap() removed are not reported: that memory is gone by the
	 * application's own doing). Called from the restore worker with
	 * &gpumirror_private.range_lock held for read and no other gpumirror lock:
	 * it must not call gpumirror_fault(), gpumirror_prefetch(),
	 * gpumirror_attr_set() or gpumirror_device_detach().
	 */
	void (*restore_failed)(struct gpumirror_device *gdev,
			       unsigned long start, unsigned long end);
};

/**
 * GPUMIRROR_DEVICE_NOFAULT - &gpumirror_device.flags: the device cannot
 * recover from page faults. Its ranges are mapped ahead
 * (gpumirror_prefetch()); an invalidation suspends it and the restore
 * worker maps them again before resuming it. Needs gpumirror's SVM part,
 * which the driver selects (GPUMIRROR_SVM in Kconfig): without it,
 * gpumirror_device_attach() refuses the flag.
 */
#define GPUMIRROR_DEVICE_NOFAULT	BIT(0)

/**
 * struct gpumirror_device_stats - per-device counters
 * @faults: object faults that produced pages for this device
 * @retries: faults restarted because the notifier sequence moved
 * @dma_maps: pages DMA-mapped for this device
 * @dma_unmaps: pages DMA-unmapped for this device
 * @dma_refused: mappings (one per page or huge page, where the other
 *	counters count pages) made and released at once because the device
 *	would not have reached the page itself coherently (see the "Page
 *	sets" DOC)
 * @invalidations: invalidate or invalidate_start calls to this device
 * @tlb_flushes: completed TLB invalidations: invalidate or invalidate_finish
 *	calls
 * @released: pages whose DMA mapping the release worker dropped
 * @suspends: no-fault device: times its queues were suspended
 * @resumes: no-fault device: times the restore worker resumed them
 * @restore_ns: no-fault device: total time suspended, in nanoseconds
 * @restore_failed: no-fault device: ranges the restore worker gave up
 *	(their memory is gone or no longer accessible)
 *
 * Updated with atomic64 operations; read them with
 * gpumirror_device_stats_read().
 */
struct gpumirror_device_stats {
	atomic64_t faults;
	atomic64_t retries;
	atomic64_t dma_maps;
	atomic64_t dma_unmaps;
	atomic64_t dma_refused;
	atomic64_t invalidations;
	atomic64_t tlb_flushes;
	atomic64_t released;
	atomic64_t suspends;
	atomic64_t resumes;
	atomic64_t restore_ns;
	atomic64_t restore_failed;
};

/**
 * struct gpumirror_device - one GPU address space attached to a mirror
 *
 * Embedded in the driver's per-VM device structure. The driver fills @dev,
 * @ops, @va_limit and @pagemap_owner and calls gpumirror_device_attach();
 * everything else belongs to gpumirror.
 */
struct gpumirror_device {
	/** @dev: the device DMA mappings are made for; required. */
	struct device *dev;
	/** @ops: the driver's operations; required. */
	const struct gpumirror_device_ops *ops;
	/** @va_limit: exclusive end of the GPU VA space, page aligned. */
	u64 va_limit;
	/**
	 * @pagemap_owner: owner of the device-private pages this device maps
	 * natively (dev_pagemap.owner); NULL if it has none.
	 */
	void *pagemap_owner;
	/** @flags: %GPUMIRROR_DEVICE_NOFAULT or 0. */
	unsigned int flags;
	/** @devmem: memory gpumirror_fault() may migrate to, or NULL. */
	struct gpumirror_devmem *devmem;

	/** @mirror: the mirror this device is attached to, or NULL. */
	struct gpumirror *mirror;
	/** @index: slot of this device in its mirror's page sets. */
	unsigned int index;
	/** @stats: counters, see &struct gpumirror_device_stats. */
	struct gpumirror_device_stats stats;
	/** @suspended_at: ktime_get_ns() of the last suspend. */
	u64 suspended_at;
	/**
	 * @dma_domain: the IOMMU domain the DMA API translates @dev's
	 * mappings with, or NULL if they go direct; set by
	 * gpumirror_device_attach(), which documents how long it holds.
	 */
	struct iommu_domain *dma_domain;
};

/**
 * struct gpumirror_ops - how a driver embeds gpumirror's objects
 *
 * Optional as a whole and member by member; given to gpumirror_init_ops().
 * A driver that keeps per-object state (its own page-table cursor, a
 * fence, a list entry) embeds &struct gpumirror_object in a structure of
 * its own and reaches it with container_of() from every op and call that
 * hands it an object, fault-mode ranges included.
 */
struct gpumirror_ops {
	/**
	 * @object_alloc: Optional, with @object_free. Return a
	 * &struct gpumirror_object embedded in the driver's structure (which
	 * gpumirror zeroes, and owns until @object_free), or NULL. Called
	 * from gpumirror_object_create() with no gpumirror lock held, and for
	 * fault-mode ranges from gpumirror_fault() and gpumirror_prefetch()
	 * with &gpumirror_private.range_lock held for read and from the restore
	 * worker (a kworker) with it held for write; may sleep, but must not
	 * take a lock the driver holds around those calls. Without it,
	 * gpumirror allocates the object.
	 */
	struct gpumirror_object *(*object_alloc)(struct gpumirror *mirror);

	/**
	 * @object_free: Optional, with @object_alloc. Free an object
	 * @object_alloc returned, once gpumirror is done with it: the object
	 * is off every list, its notifier removed and its page sets gone.
	 * Called from gpumirror_object_destroy() and gpumirror_fini() with no
	 * gpumirror lock held, and for fault-mode ranges from the range
	 * collector, with &gpumirror_private.range_lock held (from gpumirror_fault(),
	 * an attribute change or the restore worker); the same rule as for
	 * @object_alloc holds.
	 */
	void (*object_free)(struct gpumirror_object *obj);
};

/**
 * struct gpumirror - one mirror per (mm, GPU address space)
 *
 * Embedded in the driver's VM structure, set up with gpumirror_init() and
 * torn down with gpumirror_fini(). The library's own state, its locks
 * included, is behind @priv.
 */
struct gpumirror {
	/** @mm: the mirrored address space, pinned with mmgrab(). */
	struct mm_struct *mm;
	/**
	 * @notifier_lock: taken for write by the invalidation path, for read
	 * to commit pages (mmu_interval_read_retry()) and to read page sets:
	 * see gpumirror_notifier_lock(). The innermost gpumirror lock; nothing
	 * may allocate under it.
	 */
	struct rw_semaphore notifier_lock;
	/**
	 * @devices: attached devices by slot; modified under both the
	 * mirror's own lock and @notifier_lock, so either is enough to read
	 * it (device ops run with one of them held).
	 */
	struct gpumirror_device *devices[GPUMIRROR_MAX_DEVICES];
	/** @device_mask: occupied slots of @devices, same locking. */
	unsigned long device_mask;
	/**
	 * @max_segments: segment limit of gpumirror_object_create(),
	 * %GPUMIRROR_DEFAULT_MAX_SEGMENTS unless the driver lowers or raises it
	 * after gpumirror_init().
	 */
	unsigned int max_segments;
	/** @ops: the driver's &struct gpumirror_ops, or NULL. */
	const struct gpumirror_ops *ops;
	/** @priv: the library's state (lib/gpumirror/internal.h). */
	struct gpumirror_private *priv;
};

/**
 * struct gpumirror_segment - one CPU VA segment of a mirrored object
 * @addr: start address, page aligned
 * @len: length in bytes, page aligned, not zero
 */
struct gpumirror_segment {
	unsigned long addr;
	unsigned long len;
};

/**
 * typedef gpumirror_addr_t - one page of a device's page set
 *
 * A device address (DMA address, or the device-private page's physical
 * frame address when %GPUMIRROR_ADDR_DEVICE is set) with flags in the low,
 * sub-page bits. Only meaningful while the set is valid, see
 * gpumirror_object_valid().
 *
 * Pages of a huge page that the CPU maps whole are DMA-mapped with one
 * mapping, as a whole or in naturally aligned blocks of a power of two
 * pages (see the "Page sets" DOC): the first entry of a mapping carries
 * its order (gpumirror_addr_order(); it says nothing of the alignment of
 * the GPU VA, which a driver checks itself before it uses a large page
 * table entry) and
 * the others are flagged %GPUMIRROR_ADDR_TAIL; every entry still holds the
 * address of its own page, so a driver may ignore both.
 *
 * An entry of 0 maps nothing: only %GPUMIRROR_MAP_DEVMEM and
 * %GPUMIRROR_MAP_PARTIAL leave such holes.
 */
typedef u64 gpumirror_addr_t;

/** GPUMIRROR_ADDR_WRITE - the CPU mapping was writable when faulted */
#define GPUMIRROR_ADDR_WRITE		BIT_ULL(0)
/** GPUMIRROR_ADDR_DEVICE - a device-private page this device owns */
#define GPUMIRROR_ADDR_DEVICE		BIT_ULL(1)
/** GPUMIRROR_ADDR_TAIL - inside a multi-page mapping, not its first page */
#define GPUMIRROR_ADDR_TAIL		BIT_ULL(2)
/** GPUMIRROR_ADDR_ORDER - order of the mapping that starts at this page */
#define GPUMIRROR_ADDR_ORDER		GENMASK_ULL(8, 3)
/**
 * GPUMIRROR_ADDR_EXCLUSIVE - the device has exclusive (atomic) access: the
 * CPU page table holds a device-exclusive entry, see %GPUMIRROR_MAP_EXCLUSIVE
 */
#define GPUMIRROR_ADDR_EXCLUSIVE	BIT_ULL(9)
/** GPUMIRROR_ADDR_FLAGS - mask of the flag bits */
#define GPUMIRROR_ADDR_FLAGS		GENMASK_ULL(9, 0)

/**
 * gpumirror_addr() - the address part of a page set entry
 * @entry: a page set entry
 *
 * Return: @entry without its flags.
 */
static inline u64 gpumirror_addr(gpumirror_addr_t entry)
{
	return entry & ~GPUMIRROR_ADDR_FLAGS;
}

/**
 * gpumirror_addr_order() - order of the mapping a page set entry starts
 * @entry: a page set entry without %GPUMIRROR_ADDR_TAIL
 *
 * Return: log2 of the number of pages mapped contiguously from @entry on.
 */
static inline unsigned int gpumirror_addr_order(gpumirror_addr_t entry)
{
	return FIELD_GET(GPUMIRROR_ADDR_ORDER, entry);
}

/** GPUMIRROR_MAP_WRITE - gpumirror_object_map(): fault for write access */
#define GPUMIRROR_MAP_WRITE	BIT(0)
/**
 * GPUMIRROR_MAP_DEVMEM - gpumirror_object_map(): fault nothing; map only the
 * pages that are in the memory of the device's own pagemap owner
 * (device-private or device-coherent), as after a migration to it; every
 * other entry of the set is 0
 */
#define GPUMIRROR_MAP_DEVMEM	BIT(1)
/**
 * GPUMIRROR_MAP_EXCLUSIVE - gpumirror_object_map(): take exclusive access
 * for device atomics with make_device_exclusive_range(): the CPU page
 * table entries become device-exclusive entries, the next CPU access
 * invalidates the set. Anonymous private memory only; the devices need a
 * pagemap owner.
 */
#define GPUMIRROR_MAP_EXCLUSIVE	BIT(2)
/**
 * GPUMIRROR_MAP_PARTIAL - gpumirror_object_map(): a segment that cannot be
 * faulted (unmapped, PROT_NONE) maps nothing (entries of 0) instead of
 * failing the whole object; with %GPUMIRROR_MAP_WRITE, pages the CPU may
 * only read are mapped without %GPUMIRROR_ADDR_WRITE instead of failing it
 */
#define GPUMIRROR_MAP_PARTIAL	BIT(3)
/**
 * GPUMIRROR_MAP_READ_ONLY - gpumirror_object_map(): no entry gets
 * %GPUMIRROR_ADDR_WRITE, even for a page the CPU may write (by default a
 * read fault of a writable page gives a writable entry)
 */
#define GPUMIRROR_MAP_READ_ONLY	BIT(4)

/**
 * struct gpumirror_segment_node - a segment inside a mirrored object
 * @it: CPU VA interval [@it.start, @it.last] in the object's segment tree
 * @first_page: index of the segment's first page within the object
 */
struct gpumirror_segment_node {
	struct interval_tree_node it;
	unsigned long first_page;
};

/**
 * struct gpumirror_object - N CPU VA segments behind one GPU VA extent
 *
 * Created with gpumirror_object_create(). The segments never change during
 * the object's life, so the notifier reads @segtree without a lock.
 */
struct gpumirror_object {
	/** @mirror: the owning mirror. */
	struct gpumirror *mirror;
	/** @notifier: one interval notifier over the span of all segments. */
	struct mmu_interval_notifier notifier;
	/**
	 * @lock: serializes faults and page-set updates of this object; taken
	 * after &gpumirror_private.lock and before mmap_lock.
	 */
	struct mutex lock;
	/** @link: entry in &gpumirror_private.objects. */
	struct list_head link;
	/** @range_it: node in &gpumirror_private.ranges, if @is_range. */
	struct interval_tree_node range_it;
	/** @is_range: made by gpumirror_fault(), in &gpumirror_private.ranges. */
	bool is_range;
	/**
	 * @keep: slots of the no-fault devices that keep this range mapped
	 * (gpumirror_prefetch()); the restore worker maps it back for them.
	 */
	unsigned long keep;
	/** @release_link: entry in &gpumirror_private.release_list. */
	struct list_head release_link;
	/**
	 * @zap_gen: &gpumirror_private.flush_gen when a two-pass device's set last
	 * went stale; once the generation moved on, pass 2 completed that
	 * device's flush. notifier_lock.
	 */
	unsigned long zap_gen;
	/**
	 * @retired: the range no longer fits one VMA (an %MMU_NOTIFY_UNMAP
	 * event removed part of a segment, or a fault found its VMA split):
	 * the garbage collector destroys it. Set under the notifier_lock and
	 * never cleared.
	 */
	bool retired;
	/** @segtree: interval tree of @segs by CPU VA. */
	struct rb_root_cached segtree;
	/** @segs: the segments, in GPU VA order; may point at @inline_seg. */
	struct gpumirror_segment_node *segs;
	/** @nsegs: number of @segs. */
	unsigned int nsegs;
	/** @gpu_start: GPU VA of the first page of the first segment. */
	u64 gpu_start;
	/** @npages: pages in all segments together. */
	unsigned long npages;
	/**
	 * @pfns: hmm pfns of the last page walk, under @lock; may point at
	 * @inline_pfn.
	 */
	unsigned long *pfns;
	/**
	 * @by_addr: the segments in CPU VA order, for the walk; may point at
	 * @inline_by_addr.
	 */
	struct gpumirror_segment_node **by_addr;
	/**
	 * @scratch: hmm pfns of one walk batch (close segments walked as one
	 * range, holes included), under @lock; NULL if no batch has two.
	 */
	unsigned long *scratch;
	/** @scratch_pages: the entries @scratch holds. */
	unsigned long scratch_pages;
	/**
	 * @stale_segs: bitmap by index in @segs of the segments an event hit
	 * since they were last walked, which the next try of a map walks
	 * again (see the "Objects and the single sequence number" DOC); set
	 * by the notifier callback with the notifier lock held for write, in
	 * the same hold that moves the sequence; taken by the map under
	 * @lock and the notifier lock held for read (xchg() of each word
	 * that reads non-zero), and set again with set_bit() under @lock
	 * alone for the segments a failed walk did not get to. NULL for a
	 * one-segment object.
	 */
	unsigned long *stale_segs;
	/**
	 * @sets: the per-device page sets by slot, @nr_sets slots of them (a
	 * slot at or beyond @nr_sets has no set); may point at @inline_sets.
	 * Grown when a device of a higher slot first maps the object, under
	 * @lock and &gpumirror.notifier_lock held for write, so the array
	 * is stable under either lock. The sets are written under @lock and
	 * read through gpumirror_object_pages() once gpumirror_object_valid()
	 * says they are current.
	 */
	gpumirror_addr_t **sets;
	/** @nr_sets: the slots @sets has room for. */
	unsigned int nr_sets;
	/** @mapped: slots whose set holds DMA mappings, under @lock. */
	unsigned long mapped;
	/**
	 * @write_sets: slots whose set was built for write access
	 * (%GPUMIRROR_MAP_WRITE); meaningful while the set is valid, same
	 * locking as @valid.
	 */
	unsigned long write_sets;
	/**
	 * @valid: slots whose set is current; set under @lock plus
	 * &gpumirror.notifier_lock for read, after the set is written (with a
	 * barrier, see gpumirror_object_valid(), which readers use), cleared
	 * under the notifier lock for write.
	 */
	unsigned long valid;
	/**
	 * @sparse: slots whose valid set has empty entries (pages that a
	 * %GPUMIRROR_MAP_PARTIAL or %GPUMIRROR_MAP_DEVMEM map left unmapped);
	 * written when a set is built, under @lock; meaningful while the set
	 * is valid.
	 */
	unsigned long sparse;
	/** @walks: page walks done for this object (one per fault try). */
	atomic64_t walks;
	/**
	 * @inline_seg: @segs of a one-segment object (fault-mode ranges among
	 * them), which then needs no allocation for it.
	 */
	struct gpumirror_segment_node inline_seg;
	/** @inline_by_addr: @by_addr of a one-segment object. */
	struct gpumirror_segment_node *inline_by_addr;
	/** @inline_pfn: @pfns of a one-page object. */
	unsigned long inline_pfn;
	/**
	 * @inline_sets: @sets while no device above slot 0 mapped the object:
	 * a mirror with one device never allocates the array.
	 */
	gpumirror_addr_t *inline_sets[1];
	/** @inline_set: slot 0's set of a one-page object. */
	gpumirror_addr_t inline_set;
	/**
	 * @rebuild_owner: while %GPUMIRROR_MAP_EXCLUSIVE changes the CPU page
	 * table entries of this object on behalf of this pagemap owner (under
	 * @lock), the exclusive-access events it raises do not move the
	 * sequence: the operation rebuilds the sets before it commits.
	 */
	void *rebuild_owner;
};

/** GPUMIRROR_LOC_SYSTEM - &gpumirror_attrs.preferred_loc: system memory */
#define GPUMIRROR_LOC_SYSTEM		(-1)

/**
 * struct gpumirror_attrs - placement attributes of a CPU VA range
 * @preferred_loc: %GPUMIRROR_LOC_SYSTEM or the slot of a device
 * @granularity: log2 of the migration granularity, in pages
 * @read_only: devices map the range read-only
 * @always_mapped: keep the range mapped on the devices that may access it
 * @access_read: slots of the devices that may read the range
 * @access_write: slots of the devices that may also write it (a subset of
 *	@access_read)
 *
 * One view for all devices of a mirror, kept apart from the objects: an
 * object created, split or destroyed over a range leaves its attributes as
 * they are.
 */
struct gpumirror_attrs {
	int preferred_loc;
	unsigned int granularity;
	bool read_only;
	bool always_mapped;
	unsigned long access_read;
	unsigned long access_write;
};

/** GPUMIRROR_ATTR_PREFERRED_LOC - gpumirror_attr_set(): @preferred_loc */
#define GPUMIRROR_ATTR_PREFERRED_LOC	BIT(0)
/** GPUMIRROR_ATTR_GRANULARITY - gpumirror_attr_set(): @granularity */
#define GPUMIRROR_ATTR_GRANULARITY	BIT(1)
/** GPUMIRROR_ATTR_READ_ONLY - gpumirror_attr_set(): @read_only */
#define GPUMIRROR_ATTR_READ_ONLY	BIT(2)
/** GPUMIRROR_ATTR_ALWAYS_MAPPED - gpumirror_attr_set(): @always_mapped */
#define GPUMIRROR_ATTR_ALWAYS_MAPPED	BIT(3)
/** GPUMIRROR_ATTR_ACCESS - gpumirror_attr_set(): the access masks */
#define GPUMIRROR_ATTR_ACCESS		BIT(4)
/** GPUMIRROR_ATTR_ALL - every attribute */
#define GPUMIRROR_ATTR_ALL		GENMASK(4, 0)

/** GPUMIRROR_MAX_GRANULARITY - largest &gpumirror_attrs.granularity */
#define GPUMIRROR_MAX_GRANULARITY	18

struct vm_fault;

/**
 * struct gpumirror_devmem_ops - a driver's device memory, for migration
 *
 * Called in process context, from inside a migration with the mmap_lock
 * of its mm held for read: gpumirror_migrate_to_devmem() (which a device
 * fault may call with gpumirror's locks held, see gpumirror_fault()),
 * gpumirror_migrate_to_ram() and gpumirror_devmem_fault() (which the page
 * walk of a device fault may reach, with gpumirror's locks held too);
 * gpumirror_devmem_evict() calls them without the mmap_lock. Migrations
 * call them with the driver_migrate_lock held, for read or for write. So
 * they must not take the mmap_lock, call back into gpumirror, nor wait for
 * another task's migration.
 */
struct gpumirror_devmem_ops {
	/**
	 * @page_alloc: Required. A free device page of @dm, initialized with
	 * zone_device_page_init() (one reference, locked), or NULL when the
	 * memory is full. May sleep.
	 */
	struct page *(*page_alloc)(struct gpumirror_devmem *dm);
	/**
	 * @copy: Required. Copy @n pages, @dst[i] from @src[i]; a NULL
	 * @src[i] means zero-fill. One side is @dm's memory. The other is
	 * system memory or, on a migration to @dm, a peer's memory (see
	 * @page_devmem). May sleep. Return: 0 or -errno, then no page of the
	 * batch moves.
	 */
	int (*copy)(struct gpumirror_devmem *dm, struct page **dst,
		    struct page **src, unsigned long n);
	/**
	 * @page_devmem: Optional; required where device memories share a
	 * pagemap owner. Such memories are peers: each one's @copy reaches
	 * the others' pages, private or coherent, so a migration between
	 * them is one copy. Return the device memory that @page, a
	 * ZONE_DEVICE page of @dm's owner, belongs to, from @page->pgmap
	 * alone: the page may be one a snapshot saw, unreferenced. NULL for
	 * a page in no peer's memory: a migration to @dm then fails on it
	 * as on any page it can never move. Without @page_devmem, every page
	 * of the owner counts as @dm's. With it, a pagemap's migrate_to_ram
	 * must pass gpumirror_devmem_fault() the page's own device memory.
	 */
	struct gpumirror_devmem *(*page_devmem)(struct gpumirror_devmem *dm,
						struct page *page);
};

/**
 * struct gpumirror_devmem_stats - migration counters of a device memory
 * @to_dev: pages migrated into it
 * @to_ram: pages migrated out of it to system memory
 * @from_peer: of @to_dev, the pages that came straight from a peer's
 *	memory (see &gpumirror_devmem_ops.page_devmem), in one copy
 * @to_peer: pages that left it for a peer's memory that way
 * @races: migrations that missed busy pages (locked, pinned, moving)
 *	under the lock held for read and retried it held for write; pages
 *	no migration can move (file or shmem pages, another owner's
 *	device-coherent pages, PTE-mapped large folios) never count here
 * @busy: migrations that failed with -EBUSY: busy pages still missed
 *	after the write-locked retry, or pages no migration can move
 */
struct gpumirror_devmem_stats {
	atomic64_t to_dev;
	atomic64_t to_ram;
	atomic64_t from_peer;
	atomic64_t to_peer;
	atomic64_t races;
	atomic64_t busy;
};

/**
 * struct gpumirror_devmem - one device memory
 *
 * Its pages have one dev_pagemap owner, which peers share (see
 * &gpumirror_devmem_ops.page_devmem).
 *
 * Embedded in the driver's device structure; the driver fills the members
 * before @stats.
 */
struct gpumirror_devmem {
	/** @owner: the dev_pagemap.owner of its pages. */
	void *owner;
	/** @type: %MEMORY_DEVICE_PRIVATE or %MEMORY_DEVICE_COHERENT. */
	enum memory_type type;
	/** @ops: allocation, copy and, for peers, whose page is whose. */
	const struct gpumirror_devmem_ops *ops;
	/**
	 * @fault_order: a CPU fault brings back the aligned window of
	 * 2^@fault_order pages around it (0: the page alone).
	 */
	unsigned int fault_order;
	/** @stats: counters, updated by gpumirror. */
	struct gpumirror_devmem_stats stats;
};

/** GPUMIRROR_MIGRATE_BATCH - pages per migrate_vma batch */
#define GPUMIRROR_MIGRATE_BATCH		512

/**
 * GPUMIRROR_MIGRATE_MIXED - gpumirror_migrate_to_devmem(): a range may end
 * up partly in device memory, partly in system memory
 */
#define GPUMIRROR_MIGRATE_MIXED		BIT(0)
/**
 * GPUMIRROR_MIGRATE_SYSTEM_ONLY - gpumirror_migrate_to_devmem(): move only
 * the pages in system memory now, in one attempt; pages elsewhere, busy or
 * in another device memory, stay where they are (lib/test_hmm's meaning)
 */
#define GPUMIRROR_MIGRATE_SYSTEM_ONLY	BIT(1)

#if IS_ENABLED(CONFIG_GPUMIRROR_DEVMEM)
int gpumirror_migrate_to_devmem(struct gpumirror_devmem *dm,
				struct mm_struct *mm, unsigned long start,
				unsigned long end, unsigned int flags,
				unsigned long *migrated);
int gpumirror_migrate_to_ram(struct gpumirror_devmem *dm,
			     struct mm_struct *mm, unsigned long start,
			     unsigned long end, unsigned long *migrated);
vm_fault_t gpumirror_devmem_fault(struct gpumirror_devmem *dm,
				  struct vm_fault *vmf);
void gpumirror_devmem_evict(struct gpumirror_devmem *dm,
			    unsigned long first_pfn, unsigned long npages);
#else
static inline int gpumirror_migrate_to_devmem(struct gpumirror_devmem *dm,
					      struct mm_struct *mm,
					      unsigned long start,
					      unsigned long end,
					      unsigned int flags,
					      unsigned long *migrated)
{
	return -EOPNOTSUPP;
}

static inline int gpumirror_migrate_to_ram(struct gpumirror_devmem *dm,
					   struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end,
					   unsigned long *migrated)
{
	return -EOPNOTSUPP;
}

static inline vm_fault_t gpumirror_devmem_fault(struct gpumirror_devmem *dm,
						struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static inline void gpumirror_devmem_evict(struct gpumirror_devmem *dm,
					  unsigned long first_pfn,
					  unsigned long npages)
{
}
#endif

int gpumirror_init(struct gpumirror *mirror, struct mm_struct *mm);
int gpumirror_init_ops(struct gpumirror *mirror, struct mm_struct *mm,
		       const struct gpumirror_ops *ops);
void gpumirror_fini(struct gpumirror *mirror);

int gpumirror_device_attach(struct gpumirror *mirror,
			    struct gpumirror_device *gdev);
void gpumirror_device_detach(struct gpumirror_device *gdev);

struct gpumirror_object *
gpumirror_object_create(struct gpumirror *mirror,
			const struct gpumirror_segment *segs, unsigned int nr,
			u64 gpu_start);
void gpumirror_object_destroy(struct gpumirror_object *obj);
int gpumirror_object_map(struct gpumirror_object *obj, unsigned long devices,
			 unsigned int flags);
void gpumirror_object_unmap(struct gpumirror_object *obj,
			    struct gpumirror_device *gdev);
bool gpumirror_object_valid(struct gpumirror_object *obj,
			    struct gpumirror_device *gdev);
const gpumirror_addr_t *gpumirror_object_pages(struct gpumirror_object *obj,
					       struct gpumirror_device *gdev,
					       unsigned long first,
					       unsigned long *count);
gpumirror_addr_t gpumirror_object_page(struct gpumirror_object *obj,
				       struct gpumirror_device *gdev,
				       unsigned long index);

int gpumirror_fault(struct gpumirror *mirror, struct gpumirror_device *gdev,
		    unsigned long addr, bool write);
int gpumirror_prefetch(struct gpumirror *mirror, struct gpumirror_device *gdev,
		       unsigned long start, unsigned long end);

void gpumirror_attr_default(struct gpumirror_attrs *attrs);
int gpumirror_attr_set(struct gpumirror *mirror, unsigned long start,
		       unsigned long end, const struct gpumirror_attrs *attrs,
		       unsigned int mask);
int gpumirror_attr_set_devices(struct gpumirror *mirror, unsigned long start,
			       unsigned long end,
			       const struct gpumirror_attrs *attrs,
			       unsigned int mask, unsigned long devices);
void gpumirror_attr_get(struct gpumirror *mirror, unsigned long addr,
			struct gpumirror_attrs *attrs, unsigned long *end);

/**
 * struct gpumirror_device_counters - a snapshot of &struct gpumirror_device_stats
 * @faults: see &gpumirror_device_stats.faults
 * @retries: see &gpumirror_device_stats.retries
 * @dma_maps: see &gpumirror_device_stats.dma_maps
 * @dma_unmaps: see &gpumirror_device_stats.dma_unmaps
 * @dma_refused: see &gpumirror_device_stats.dma_refused
 * @invalidations: see &gpumirror_device_stats.invalidations
 * @tlb_flushes: see &gpumirror_device_stats.tlb_flushes
 * @released: see &gpumirror_device_stats.released
 * @suspends: see &gpumirror_device_stats.suspends
 * @resumes: see &gpumirror_device_stats.resumes
 * @restore_ns: see &gpumirror_device_stats.restore_ns
 * @restore_failed: see &gpumirror_device_stats.restore_failed
 */
struct gpumirror_device_counters {
	u64 faults;
	u64 retries;
	u64 dma_maps;
	u64 dma_unmaps;
	u64 dma_refused;
	u64 invalidations;
	u64 tlb_flushes;
	u64 released;
	u64 suspends;
	u64 resumes;
	u64 restore_ns;
	u64 restore_failed;
};

void gpumirror_device_stats_read(const struct gpumirror_device *gdev,
				 struct gpumirror_device_counters *c);

/**
 * gpumirror_notifier_lock() - take the notifier lock for read
 * @mirror: the mirror
 *
 * Held while the driver checks gpumirror_object_valid() and programs its
 * page tables from a page set, so no invalidation can run in between.
 */
static inline void gpumirror_notifier_lock(struct gpumirror *mirror)
{
	down_read(&mirror->notifier_lock);
}

/**
 * gpumirror_notifier_unlock() - drop the notifier lock taken for read
 * @mirror: the mirror
 */
static inline void gpumirror_notifier_unlock(struct gpumirror *mirror)
{
	up_read(&mirror->notifier_lock);
}

/**
 * gpumirror_notifier_assert_held() - lockdep: the notifier lock is held
 * @mirror: the mirror
 *
 * For driver code that must run under gpumirror_notifier_lock() or inside
 * a device op called with the notifier lock held (for read or for write).
 */
static inline void gpumirror_notifier_assert_held(struct gpumirror *mirror)
{
	lockdep_assert_held(&mirror->notifier_lock);
}

/**
 * gpumirror_notifier_assert_held_write() - lockdep: held for write
 * @mirror: the mirror
 *
 * For driver code of pass 1 (@invalidate, @invalidate_start, @suspend),
 * which runs with the notifier lock held for write: no bind can read a
 * page set meanwhile.
 */
static inline void gpumirror_notifier_assert_held_write(struct gpumirror *mirror)
{
	lockdep_assert_held_write(&mirror->notifier_lock);
}

#endif /* _LINUX_GPUMIRROR_H */
