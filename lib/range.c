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
 * maps gets -EFAULT. Both are clean errors the device can report.
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

	mutex_lock(&mirror->lock);
	overlaps = interval_tree_iter_first(&mirror->ranges, start, end - 1);
	mutex_unlock(&mirror->lock);
	return overlaps;
}

/*
 * The largest chunk around @addr that fits the VMA, the attributes and the
 * other ranges. Return: its start, or -errno.
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
		if (start < vm_start || end > vm_end ||
		    *size > PAGE_SIZE << attrs->granularity)
			continue;
		if (gpumirror_attrs_uniform(mirror, start, end, attrs) &&
		    !gpumirror_range_overlaps(mirror, start, end))
			return start;
	}
	/* A 4K chunk always fits the VMA; another range took it meanwhile. */
	return -EAGAIN;
}

/* Publish @obj as a range unless another one got there first. */
static bool gpumirror_range_publish(struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;
	unsigned long start = obj->segs[0].it.start;
	unsigned long last = obj->segs[0].it.last;
	bool ok;

	mutex_lock(&mirror->lock);
	ok = !interval_tree_iter_first(&mirror->ranges, start, last);
	if (ok) {
		obj->range_it.start = start;
		obj->range_it.last = last;
		obj->is_range = true;
		interval_tree_insert(&obj->range_it, &mirror->ranges);
	}
	mutex_unlock(&mirror->lock);
	return ok;
}

static struct gpumirror_object *gpumirror_range_find(struct gpumirror *mirror,
						     unsigned long addr)
{
	struct interval_tree_node *it;

	mutex_lock(&mirror->lock);
	it = interval_tree_iter_first(&mirror->ranges, addr, addr);
	mutex_unlock(&mirror->lock);
	return it ? container_of(it, struct gpumirror_object, range_it) : NULL;
}

/* Find the range covering @addr, or make one. */
static struct gpumirror_object *
gpumirror_range_get(struct gpumirror *mirror, unsigned long addr,
		    const struct gpumirror_attrs *attrs)
{
	struct gpumirror_object *obj;
	struct gpumirror_range r;
	unsigned int tries;
	long start;

	for (tries = 0; tries < 8; tries++) {
		obj = gpumirror_range_find(mirror, addr);
		if (obj)
			return obj;
		start = gpumirror_chunk(mirror, addr, attrs, &r.len);
		if (start == -EAGAIN)
			continue;
		if (start < 0)
			return ERR_PTR(start);
		r.addr = start;
		obj = gpumirror_object_create(mirror, &r, 1, r.addr);
		if (IS_ERR(obj))
			return obj;
		if (gpumirror_range_publish(obj))
			return obj;
		gpumirror_object_destroy(obj);
	}
	return ERR_PTR(-EBUSY);
}

/**
 * gpumirror_fault() - serve a device page fault at an address
 * @mirror: the mirror
 * @gdev: the faulting device, attached to @mirror
 * @addr: the faulting address (GPU VA == CPU VA)
 * @write: the access was a write
 *
 * Finds or makes the range covering @addr and maps it for @gdev. The
 * caller then programs its page tables from the range's page set under
 * gpumirror_notifier_lock(), and faults again if the set went stale.
 * Ranges live until gpumirror_object_destroy() or gpumirror_fini().
 *
 * Context: process context, no gpumirror lock and no mmap_lock held.
 * Return: the range, or an ERR_PTR(): -EINVAL if @gdev is not attached to
 * @mirror; -EPERM if the attributes forbid the access; -EFAULT if no VMA
 * maps @addr or the fault fails there; -EBUSY if other faults kept taking
 * the chunk or the pages kept changing; the errors of
 * gpumirror_object_map().
 */
struct gpumirror_object *gpumirror_fault(struct gpumirror *mirror,
					 struct gpumirror_device *gdev,
					 unsigned long addr, bool write)
{
	struct gpumirror_object *obj;
	struct gpumirror_attrs attrs;
	int ret;

	if (!mirror || !gdev || gdev->mirror != mirror)
		return ERR_PTR(-EINVAL);
	addr = ALIGN_DOWN(addr, PAGE_SIZE);
	gpumirror_attr_get(mirror, addr, &attrs, NULL);
	ret = gpumirror_fault_allowed(&attrs, gdev, write);
	if (ret)
		return ERR_PTR(ret);
	obj = gpumirror_range_get(mirror, addr, &attrs);
	if (IS_ERR(obj))
		return obj;
	ret = gpumirror_object_map(obj, BIT(gdev->index),
				   write ? GPUMIRROR_MAP_WRITE : 0);
	return ret ? ERR_PTR(ret) : obj;
}
EXPORT_SYMBOL_GPL(gpumirror_fault);
