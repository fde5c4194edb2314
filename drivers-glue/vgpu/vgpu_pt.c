// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: the GPU page table, the TLB and GPU reads through them.
 */

#include <linux/io.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/xarray.h>

#include "vgpu.h"

/**
 * DOC: vgpu page table and TLB
 *
 * Each address space has a page table (an xarray from GPU page number to
 * page set entry) and a small direct-mapped TLB. A GPU read looks the TLB
 * up, walks the page table on a miss and caches what it found, then reads
 * the page through its (DMA-direct) address. Pass 1 of an invalidation
 * zaps the page table only: the TLB keeps translating until the flush
 * completes, as hardware does. The flush (pass 2, after the modelled
 * latency) empties the TLB and then waits for the accesses in flight.
 *
 * Every access remembers the flush epoch it started in; if, when it ends,
 * a flush that began after it has already completed, the access used a
 * translation after its invalidation returned, and &vgpu_as.stale_uses
 * counts it. A correct invalidation never lets that happen.
 */

/* Zap the PTEs of [gpu_start, gpu_end); called from pass 1. */
void vgpu_pt_zap(struct vgpu_as *as, u64 gpu_start, u64 gpu_end)
{
	unsigned long gpfn;
	void *pte;

	/* Only the present PTEs: the cost follows what is mapped. */
	xa_for_each_range(&as->pt, gpfn, pte, gpu_start >> PAGE_SHIFT,
			  (gpu_end >> PAGE_SHIFT) - 1)
		xa_erase(&as->pt, gpfn);
}

/* Complete a TLB flush: forget every translation, drain the accesses. */
void vgpu_tlb_flush(struct vgpu_as *as)
{
	unsigned int i;

	spin_lock(&as->tlb_lock);
	for (i = 0; i < VGPU_TLB_ENTRIES; i++)
		as->tlb[i].gpfn = U64_MAX;
	as->epoch++;
	spin_unlock(&as->tlb_lock);
	/* Accesses in flight hold translations from before the flush. */
	while (atomic_read(&as->inflight))
		cpu_relax();
	/* Pairs with smp_load_acquire() in vgpu_as_read_page(). */
	smp_store_release(&as->done_epoch, as->epoch);
}

/*
 * Translate @gpfn and start an access: on return the access counts as in
 * flight. Return: the entry, or 0 if no PTE maps @gpfn.
 */
static gpumirror_addr_t vgpu_translate(struct vgpu_as *as, u64 gpfn,
				       u64 *epoch)
{
	struct vgpu_tlb_entry *t = &as->tlb[gpfn % VGPU_TLB_ENTRIES];
	gpumirror_addr_t e = 0;
	void *pte;

	spin_lock(&as->tlb_lock);
	if (t->gpfn == gpfn) {
		e = t->entry;
	} else {
		pte = xa_load(&as->pt, gpfn);
		if (pte) {
			e = xa_to_value(pte);
			t->gpfn = gpfn;
			t->entry = e;
		}
	}
	if (e)
		atomic_inc(&as->inflight);
	*epoch = as->epoch;
	spin_unlock(&as->tlb_lock);
	return e;
}

static int vgpu_as_read_page(struct vgpu_as *as, u64 gpu_va, void *buf,
			     size_t len)
{
	gpumirror_addr_t e;
	u64 epoch;

	e = vgpu_translate(as, gpu_va >> PAGE_SHIFT, &epoch);
	if (!e)
		return -EFAULT;
	if (e & GPUMIRROR_ADDR_DEVICE) {
		atomic_dec(&as->inflight);
		return -EOPNOTSUPP;
	}
	memcpy(buf, phys_to_virt(gpumirror_addr(e)) + offset_in_page(gpu_va),
	       len);
	/* A flush begun after this access started has completed: stale. */
	if (smp_load_acquire(&as->done_epoch) > epoch)
		atomic64_inc(&as->stale_uses);
	/* Pairs with atomic_read() in vgpu_tlb_flush(). */
	smp_mb__before_atomic();
	atomic_dec(&as->inflight);
	atomic64_inc(&as->reads);
	return 0;
}

/**
 * vgpu_as_read() - a GPU read through the page table and the TLB
 * @as: the address space
 * @gpu_va: GPU VA to read from
 * @buf: where to copy to
 * @len: bytes to read
 *
 * Return: 0, -EFAULT at the first page no PTE maps (the caller maps the
 * object and binds it, as a GPU page fault handler would), -EOPNOTSUPP for
 * device memory.
 */
int vgpu_as_read(struct vgpu_as *as, u64 gpu_va, void *buf, size_t len)
{
	size_t n;
	int ret;

	for (; len; len -= n, gpu_va += n, buf += n) {
		n = min_t(size_t, len, PAGE_SIZE - offset_in_page(gpu_va));
		ret = vgpu_as_read_page(as, gpu_va, buf, n);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * vgpu_as_bind() - program the PTEs of an object from its page set
 * @as: the address space, attached to @obj's mirror
 * @obj: an object gpumirror_object_map() mapped for @as
 *
 * The page table slots are reserved first: nothing is allocated under the
 * notifier lock.
 *
 * Return: 0, -EAGAIN if the set went stale (map again), -ENOMEM.
 */
int vgpu_as_bind(struct vgpu_as *as, struct gpumirror_object *obj)
{
	u64 first = obj->gpu_start >> PAGE_SHIFT;
	struct gpumirror *mirror = obj->mirror;
	unsigned long i;
	int ret = 0;

	for (i = 0; i < obj->npages && !ret; i++)
		ret = xa_reserve(&as->pt, first + i, GFP_KERNEL);
	if (ret)
		return ret;
	gpumirror_notifier_lock(mirror);
	if (!gpumirror_object_valid(obj, &as->gdev)) {
		ret = -EAGAIN;
		goto out_unlock;
	}
	for (i = 0; i < obj->npages; i++)
		xa_store(&as->pt, first + i,
			 xa_mk_value(gpumirror_object_page(obj, &as->gdev, i)),
			 GFP_NOWAIT);
out_unlock:
	gpumirror_notifier_unlock(mirror);
	return ret;
}
