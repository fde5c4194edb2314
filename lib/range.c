// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: fault-mode ranges, made on demand at a device page fault.
 */

#include <linux/err.h>
#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>

#include "internal.h"

/**
 * DOC: Fault-mode ranges
 *
 * A device that can recover from page faults calls gpumirror_fault() with
 * the faulting address (GPU VA == CPU VA, shared virtual memory). If no
 * range covers the address yet, gpumirror makes one: a one-segment,
 * identity-mapped object of the largest chunk size (2M, 64K, then 4K)
 * whose aligned chunk lies inside the VMA, inside one run of equal
 * attributes, within the attributes' migration granularity, and overlaps no
 * other range. The range is then faulted and mapped for the device through
 * gpumirror_object_map(), whose retry loop handles notifier races: no lock
 * is held to prevent them.
 *
 * The attributes decide access first: a device without read access, or
 * asking to write where it may only read, gets -EPERM. An address no VMA
 * maps gets -EFAULT. Both are clean errors the device can report. If the
 * attributes prefer the faulting device's memory, the range is migrated
 * there first (best effort, mixed placement allowed). The range is then
 * bound through &gpumirror_device_ops.bind.
 *
 * Lifetime: &gpumirror_private.range_lock is held for read around every use of
 * a range (fault, prefetch, restore); the garbage collector takes it for write
 * to destroy the ranges an munmap() hit, so nobody holds a pointer to a range
 * that goes away. Ranges belong to the mirror: only the collector and
 * gpumirror_fini() destroy them (gpumirror_object_destroy() refuses a range),
 * so no range can be destroyed twice.
 *
 * VMAs change under a range after it is made: an mprotect() or munmap()
 * of a neighbouring page splits its VMA, and the range then mixes pages
 * the device may access with pages it may not. A map of it that fails
 * with -EPERM or -EFAULT because of those pages does not fail the fault:
 * the range is retired, collected, and made again to fit today's VMA, so
 * a GPU write to writable memory succeeds whatever its neighbours became.
 *
 * Partial munmap: the collector destroys the range and, for the no-fault
 * devices that kept it mapped, makes new ranges over the parts still
 * mapped, which the restore worker maps; fault-mode devices fault the
 * remaining parts back when they touch them.
 *
 * Attributes are kept across munmap(): they describe addresses, not
 * mappings, so a new mapping at the same addresses inherits them (as
 * after a re-chunking of ranges, which never touches the attribute tree).
 * gpumirror_attr_set() with the defaults clears them.
 *
 * What a range costs. A 4K range is one allocation: the object (464 bytes
 * on x86_64 without debug options, so kmalloc-cg-512) holds its segment,
 * its pfn, the page set of slot 0 and the array of set pointers while no
 * higher slot maps it; a device in another slot adds its set and a larger
 * array. Counted by the run's B9 with every allocation as the allocator
 * rounds it: 512 bytes per 4K range for one device and 24 more for a
 * second, against 208 per device for drm_gpusvm under Xe (a range of 192
 * bytes as kmalloc rounds it and a 16-byte DMA address), whose notifiers
 * are shared by 512 MiB windows where each range here has its own. At 2M
 * the walk's pfns, 8 bytes a page, are shared by the devices: 17 bytes per
 * page for one device and 8 for each further one, against 16.4 per device
 * for drm_gpusvm. The range is published in the same critical section that
 * inserts its interval notifier. Sampled with perf (cpu-clock) in the
 * run kernel under QEMU, over 32768 4K faults of vgpu: finding no range
 * and making one is 31% of gpumirror_fault() (the allocation 8%, the
 * interval notifier insert 5%), the page walk 25% (hmm_range_fault()
 * 17%), the DMA mapping 9% and the device's bind 11%; the rest is locks,
 * VMA lookups and the map's own bookkeeping, none above 5%. Two
 * alternatives were weighed and left out: an interval notifier
 * shared by the ranges of a wide span would save only that 5%, and an
 * invalidation of one range would then move the sequence of all its
 * neighbours, so that faults retry for pages they do not mirror; a slab
 * cache of its own would save 6 to 9% of the object's memory (17 objects
 * instead of 16 in an order-1 slab), not worth a cache whose size tracks
 * a structure drivers may embed.
 */

static const unsigned long gpumirror_chunks[] = { SZ_2M, SZ_64K, SZ_4K };

/* May @gdev access @attrs' range, for write if @write? */
static int gpumirror_fault_allowed(const struct gpumirror_attrs *attrs,
				   struct gpumirror_device *gdev, bool write)
{
	if (!(attrs->access_read & BIT(gdev->index)))
		return -EPERM;
	if (write && (attrs->read_only ||
		      !(attrs->access_write & BIT(gdev->index))))
		return -EPERM;
	return 0;
}

/* The attributes are the same over all of [start, end). */
static bool gpumirror_attrs_uniform(struct gpumirror *mirror,
				    unsigned long start, unsigned long end,
				    const struct gpumirror_attrs *attrs)
{
	struct gpumirror_attrs a;
	unsigned long run_end;

	gpumirror_attr_get(mirror, start, &a, &run_end);
	return run_end >= end && gpumirror_attr_equal(&a, attrs);
}

static bool gpumirror_range_overlaps(struct gpumirror *mirror,
				     unsigned long start, unsigned long end)
{
	bool overlaps;

	mutex_lock(&mirror->priv->lock);
	overlaps = interval_tree_iter_first(&mirror->priv->ranges, start, end - 1);
	mutex_unlock(&mirror->priv->lock);
	return overlaps;
}

/*
 * The largest chunk around @addr that fits the VMA, the attributes (@attrs,
 * those at @addr) and the other ranges. Return: its start, or -errno.
 */
static long gpumirror_chunk(struct gpumirror *mirror, unsigned long addr,
			    const struct gpumirror_attrs *attrs,
			    unsigned long *size)
{
	unsigned long vm_start, vm_end, start, end;
	struct vm_area_struct *vma;
	unsigned int i;

	if (!mmget_not_zero(mirror->mm))
		return -EFAULT;
	mmap_read_lock(mirror->mm);
	vma = vma_lookup(mirror->mm, addr);
	vm_start = vma ? vma->vm_start : 0;
	vm_end = vma ? vma->vm_end : 0;
	mmap_read_unlock(mirror->mm);
	/* Pairs with mmget_not_zero() above. */
	mmput(mirror->mm);
	if (!vma)
		return -EFAULT;

	for (i = 0; i < ARRAY_SIZE(gpumirror_chunks); i++) {
		*size = gpumirror_chunks[i];
		start = ALIGN_DOWN(addr, *size);
		end = start + *size;
		if (*size <= PAGE_SIZE)
			break;
		if (start < vm_start || end > vm_end ||
		    *size > PAGE_SIZE << attrs->granularity)
			continue;
		if (gpumirror_attrs_uniform(mirror, start, end, attrs) &&
		    !gpumirror_range_overlaps(mirror, start, end))
			return start;
	}
	/*
	 * @addr's page, which the VMA holds: attributes are set in whole
	 * pages, so @attrs are the page's, and gpumirror_object_make()
	 * refuses a range that another fault made meanwhile.
	 */
	*size = PAGE_SIZE;
	return ALIGN_DOWN(addr, PAGE_SIZE);
}

static struct gpumirror_object *gpumirror_range_find(struct gpumirror *mirror,
						     unsigned long addr)
{
	struct interval_tree_node *it;

	mutex_lock(&mirror->priv->lock);
	it = interval_tree_iter_first(&mirror->priv->ranges, addr, addr);
	mutex_unlock(&mirror->priv->lock);
	return it ? container_of(it, struct gpumirror_object, range_it) : NULL;
}

/* Find the range covering @addr, or make one with @attrs, those at @addr. */
struct gpumirror_object *gpumirror_range_get(struct gpumirror *mirror,
					     unsigned long addr,
					     const struct gpumirror_attrs *attrs)
{
	struct gpumirror_object *obj;
	struct gpumirror_segment r;
	unsigned int tries;
	long start;

	for (tries = 0; tries < 8; tries++) {
		obj = gpumirror_range_find(mirror, addr);
		/* An munmap() hit it: collect it before making a new one. */
		if (obj && READ_ONCE(obj->retired))
			return ERR_PTR(-ESTALE);
		if (obj)
			return obj;
		start = gpumirror_chunk(mirror, addr, attrs, &r.len);
		if (start < 0)
			return ERR_PTR(start);
		r.addr = start;
		/* Published with its notifier, unless another range won. */
		obj = gpumirror_object_make(mirror, &r, 1, r.addr, true);
		if (obj != ERR_PTR(-EAGAIN))
			return obj;
	}
	return ERR_PTR(-EBUSY);
}

static bool gpumirror_range_valid(struct gpumirror_object *obj,
				  struct gpumirror_device *gdev)
{
	bool valid;

	down_read(&obj->mirror->notifier_lock);
	valid = gpumirror_object_valid(obj, gdev);
	up_read(&obj->mirror->notifier_lock);
	return valid;
}

/*
 * Does @obj no longer lie inside one VMA? A range is made inside one, but
 * VMAs change under it: an munmap() that raced with making it (its
 * notifier never saw the unmap), or an mprotect() or munmap() of a
 * neighbouring page that split the VMA. Then the range mixes pages the
 * device may access with pages it may not (a read-only or PROT_NONE
 * part), and an error of those pages is not the other pages' error.
 */
static bool gpumirror_range_split(struct gpumirror_object *obj)
{
	struct mm_struct *mm = obj->mirror->mm;
	unsigned long start = obj->segs[0].it.start;
	unsigned long end = obj->segs[0].it.last + 1;
	struct vm_area_struct *vma;
	bool split;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, start);
	split = !vma || vma->vm_end < end;
	mmap_read_unlock(mm);
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
	return split;
}

/*
 * A range that failed with -EFAULT or -EPERM: if it no longer lies inside
 * one VMA, retire it, so that the garbage collector remakes it to fit the
 * VMAs of today. Return: true if so.
 */
static bool gpumirror_range_retire(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;

	if (!gpumirror_range_split(obj))
		return false;
	down_write(&mirror->notifier_lock);
	obj->retired = true;
	up_write(&mirror->notifier_lock);
	return true;
}

/*
 * Map @obj for @gdev and bind it through the device's ops, again while the
 * set goes stale before the bind. @write demands write access; otherwise
 * @write_pref tries a write mapping first and falls back to a read-only
 * one on -EPERM, and without it the mapping is read-only even where the
 * CPU may write. A range that no longer lies inside one VMA and fails
 * with -EFAULT or -EPERM is retired: -ESTALE, the caller collects it.
 */
int gpumirror_range_bind(struct gpumirror_object *obj,
			 struct gpumirror_device *gdev, bool write,
			 bool write_pref)
{
	unsigned int tries, flags;
	int ret = -EBUSY;

	lockdep_assert_held(&obj->mirror->priv->range_lock);
	/* Not even a writable CPU page gives write access then. */
	flags = write || write_pref ? GPUMIRROR_MAP_WRITE :
				      GPUMIRROR_MAP_READ_ONLY;
	for (tries = 0; tries < 16; tries++) {
		/*
		 * Write access is only demanded by @write: a valid set serves
		 * a read as it is, whatever access it was built with.
		 */
		if (!write && gpumirror_range_valid(obj, gdev))
			flags = 0;
		ret = gpumirror_object_map(obj, BIT(gdev->index), flags);
		/*
		 * The error may belong to another VMA: one split under the
		 * range is retired, for the caller to collect and remake
		 * (decided once, under one look at the VMAs). Otherwise a
		 * write that may fall back to read-only does.
		 */
		if ((ret == -EFAULT || ret == -EPERM) &&
		    gpumirror_range_retire(obj))
			return -ESTALE;
		if (ret == -EPERM && !write &&
		    (flags & GPUMIRROR_MAP_WRITE)) {
			flags = 0;
			ret = gpumirror_object_map(obj, BIT(gdev->index), 0);
		}
		if (ret)
			return ret;
		ret = gdev->ops->bind(gdev, obj);
		if (ret != -EAGAIN)
			break;
	}
	/* Bound or not: a set whose PTEs are not all written is no use. */
	if (ret)
		gpumirror_object_unmap(obj, gdev);
	return ret == -EAGAIN ? -EBUSY : ret;
}

/* May @gdev write where @attrs apply? */
static bool gpumirror_may_write(const struct gpumirror_attrs *attrs,
				struct gpumirror_device *gdev)
{
	return !attrs->read_only && (attrs->access_write & BIT(gdev->index));
}

/* The restore worker's bind: with the access the attributes give now. */
int gpumirror_range_rebind(struct gpumirror_object *obj,
			   struct gpumirror_device *gdev)
{
	struct gpumirror_attrs attrs;

	gpumirror_attr_get(obj->mirror, obj->segs[0].it.start, &attrs, NULL);
	if (gpumirror_fault_allowed(&attrs, gdev, false))
		return -EPERM;
	return gpumirror_range_bind(obj, gdev, false,
				    gpumirror_may_write(&attrs, gdev));
}

/* Migrate the range first if the attributes prefer @gdev's memory. */
static void gpumirror_range_place(struct gpumirror *mirror,
				  struct gpumirror_device *gdev,
				  struct gpumirror_object *obj,
				  const struct gpumirror_attrs *attrs)
{
	unsigned long start = obj->segs[0].it.start;

	if (!gdev->devmem || attrs->preferred_loc != (int)gdev->index ||
	    !mmget_not_zero(mirror->mm))
		return;
	/* Best effort: what cannot move is mapped where it is. */
	gpumirror_migrate_to_devmem(gdev->devmem, mirror->mm, start,
				    obj->segs[0].it.last + 1,
				    GPUMIRROR_MIGRATE_MIXED, NULL);
	/* Pairs with mmget_not_zero() above. */
	mmput(mirror->mm);
}

/*
 * gpumirror_fault() with &gpumirror_private.range_lock held for read; on
 * success *@end is the end of the range that serves @addr.
 */
static int gpumirror_fault_locked(struct gpumirror *mirror,
				  struct gpumirror_device *gdev,
				  unsigned long addr, bool write, bool keep,
				  unsigned long *end)
{
	struct gpumirror_object *obj;
	struct gpumirror_attrs attrs;
	bool kept;
	int ret;

	gpumirror_attr_get(mirror, addr, &attrs, NULL);
	ret = gpumirror_fault_allowed(&attrs, gdev, write);
	if (ret)
		return ret;
	obj = gpumirror_range_get(mirror, addr, &attrs);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	/* A range the device kept already stays kept whatever happens. */
	kept = keep && test_and_set_bit(gdev->index, &obj->keep);
	gpumirror_range_place(mirror, gdev, obj, &attrs);
	ret = gpumirror_range_bind(obj, gdev, write,
				   gpumirror_may_write(&attrs, gdev));
	if (ret == -ESTALE)
		return ret;
	if (ret && keep && !kept)
		clear_bit(gdev->index, &obj->keep);
	*end = obj->segs[0].it.last + 1;
	return ret;
}

static int gpumirror_range_check_dev(struct gpumirror *mirror,
				     struct gpumirror_device *gdev)
{
	if (!mirror || !gdev || gdev->mirror != mirror || !gdev->ops->bind)
		return -EINVAL;
	return 0;
}

/**
 * gpumirror_fault() - serve a device page fault at an address
 * @mirror: the mirror
 * @gdev: the faulting device, attached to @mirror, with a @bind op
 * @addr: the faulting address (GPU VA == CPU VA)
 * @write: the access was a write
 *
 * Finds or makes the range covering @addr, migrates it first if the
 * attributes prefer @gdev's memory (&gpumirror_device.devmem), maps it for
 * @gdev and binds it with &gpumirror_device_ops.bind, mapping again while
 * notifiers race. Ranges live until an munmap() removes them (garbage
 * collection), or gpumirror_fini().
 *
 * Context: process context, no gpumirror lock and no mmap_lock held.
 * Return: 0; -EINVAL if @gdev is not attached to @mirror or has no @bind;
 * -EPERM if the attributes forbid the access; -EFAULT if no VMA maps @addr
 * or the fault fails there; -EBUSY if other faults kept taking the chunk
 * or the pages kept changing; the errors of gpumirror_object_map() (among
 * them -EOPNOTSUPP for a page of the range @gdev would not reach itself,
 * coherently) and of @bind.
 */
int gpumirror_fault(struct gpumirror *mirror, struct gpumirror_device *gdev,
		    unsigned long addr, bool write)
{
	unsigned long end;
	unsigned int tries;
	int ret;

	ret = gpumirror_range_check_dev(mirror, gdev);
	if (ret)
		return ret;
	for (tries = 0; tries < 4; tries++) {
		down_read(&mirror->priv->range_lock);
		ret = gpumirror_fault_locked(mirror, gdev,
					     ALIGN_DOWN(addr, PAGE_SIZE), write,
					     false, &end);
		up_read(&mirror->priv->range_lock);
		if (ret != -ESTALE)
			return ret;
		gpumirror_gc_sync(mirror);
	}
	return -EBUSY;
}
EXPORT_SYMBOL_GPL(gpumirror_fault);

/* The end of the VMA holding @addr, or the start of the next one. */
static unsigned long gpumirror_vma_next(struct mm_struct *mm,
					unsigned long addr, unsigned long end,
					bool *mapped)
{
	struct vm_area_struct *vma;
	unsigned long next;

	mmap_read_lock(mm);
	vma = find_vma(mm, addr);
	*mapped = vma && vma->vm_start <= addr;
	if (!vma)
		next = end;
	else
		next = min(end, *mapped ? vma->vm_end : vma->vm_start);
	mmap_read_unlock(mm);
	return next;
}

/*
 * Did a fault at @addr fail because nothing there can be mapped (no VMA,
 * no read permission, a VM_IO or VM_PFNMAP mapping)? hmm_range_fault()
 * reports those and a fault that ran out of memory alike, as -EFAULT; only
 * the first are skipped by a prefetch.
 */
static bool gpumirror_vma_unreachable(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma;
	bool ret;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	ret = !vma || !(vma->vm_flags & VM_READ) ||
	      (vma->vm_flags & (VM_IO | VM_PFNMAP));
	mmap_read_unlock(mm);
	return ret;
}

/**
 * gpumirror_prefetch() - map every accessible interval of a range ahead
 * @mirror: the mirror
 * @gdev: an attached device with a @bind op
 * @start: page-aligned start
 * @end: page-aligned end
 *
 * The no-fault mode: every page of [@start, @end) that a VMA maps and the
 * attributes let @gdev access is put in ranges, mapped and bound now; for
 * a %GPUMIRROR_DEVICE_NOFAULT device the ranges are also kept mapped: an
 * invalidation suspends the device and the restore worker maps them again
 * before resuming it. Holes, PROT_NONE mappings and intervals the
 * attributes forbid are skipped. Write access is mapped where both the
 * attributes and the VMA allow it.
 *
 * Context: process context, no gpumirror lock and no mmap_lock held.
 * Return: 0, -EINVAL for bad arguments, or the first error of a mapping:
 * among them -EFAULT for a page of an accessible mapping that could not be
 * faulted (out of memory, or a SIGBUS such as a file page beyond its end),
 * and -EOPNOTSUPP for a page @gdev would not reach itself, coherently.
 */
int gpumirror_prefetch(struct gpumirror *mirror, struct gpumirror_device *gdev,
		       unsigned long start, unsigned long end)
{
	unsigned long next, run_end, range_end;
	unsigned int stale = 0;
	bool keep, mapped;
	struct gpumirror_attrs attrs;
	int ret;

	ret = gpumirror_range_check_dev(mirror, gdev);
	if (ret || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end) || end <= start)
		return ret ?: -EINVAL;
	if (!mmget_not_zero(mirror->mm))
		return -EFAULT;
	keep = gdev->flags & GPUMIRROR_DEVICE_NOFAULT;
	down_read(&mirror->priv->range_lock);
	while (start < end && !ret) {
		next = gpumirror_vma_next(mirror->mm, start, end, &mapped);
		gpumirror_attr_get(mirror, start, &attrs, &run_end);
		if (!mapped || gpumirror_fault_allowed(&attrs, gdev, false)) {
			/* Not mapped or not accessible: on to what follows. */
			start = mapped ? min(next, run_end) : next;
			continue;
		}
		ret = gpumirror_fault_locked(mirror, gdev, start, false, keep,
					     &range_end);
		if (!ret) {
			start = range_end;
		} else if (ret == -ESTALE && stale++ < 4) {
			/* Collect the unmapped range, then try again. */
			up_read(&mirror->priv->range_lock);
			gpumirror_gc_sync(mirror);
			down_read(&mirror->priv->range_lock);
			ret = 0;
		} else if (ret == -EFAULT && gpumirror_vma_unreachable(mirror->mm,
								     start)) {
			/* PROT_NONE or gone meanwhile: nothing to map there. */
			ret = 0;
			start = next;
		}
	}
	up_read(&mirror->priv->range_lock);
	/* Pairs with mmget_not_zero() above. */
	mmput(mirror->mm);
	return ret == -ESTALE ? -EBUSY : ret;
}
EXPORT_SYMBOL_GPL(gpumirror_prefetch);
