// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: the GPU page table, the TLB and GPU reads through them.
 */

#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
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

/* The kernel address of the page an entry translates to, mapped. */
static void *vgpu_entry_map(gpumirror_addr_t e)
{
	struct page *page;

	if (!(e & GPUMIRROR_ADDR_DEVICE))
		return phys_to_virt(gpumirror_addr(e));
	/* Device-private: vgpu's memory lives in a backing system page. */
	page = pfn_to_page(PHYS_PFN(gpumirror_addr(e)));
	return kmap_local_page(vgpu_mem_backing(page));
}

static void vgpu_entry_unmap(gpumirror_addr_t e, void *va)
{
	if (e & GPUMIRROR_ADDR_DEVICE)
		kunmap_local(va);
}

static int vgpu_as_access_page(struct vgpu_as *as, u64 gpu_va, void *buf,
			       size_t len, bool write)
{
	gpumirror_addr_t e;
	void *va;
	u64 epoch;

	e = vgpu_translate(as, gpu_va >> PAGE_SHIFT, &epoch);
	if (!e)
		return -ENOENT;
	if (write && !(e & GPUMIRROR_ADDR_WRITE)) {
		atomic_dec(&as->inflight);
		return -ENOENT;
	}
	va = vgpu_entry_map(e);
	if (write)
		memcpy(va + offset_in_page(gpu_va), buf, len);
	else
		memcpy(buf, va + offset_in_page(gpu_va), len);
	vgpu_entry_unmap(e, va);
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
 * vgpu_as_access() - a GPU read or write through the page table and the TLB
 * @as: the address space
 * @gpu_va: GPU VA to access
 * @buf: where to copy to (read) or from (write)
 * @len: bytes to access
 * @write: write instead of read
 * @done: bytes accessed before the first failing page; may be NULL
 *
 * The access stops at the first page no PTE maps, or, for a write, maps
 * read-only: the caller resolves that fault (fault mode) or reports it
 * (no-fault mode) and goes on from @done.
 *
 * Return: 0, or -ENOENT as above.
 */
int vgpu_as_access(struct vgpu_as *as, u64 gpu_va, void *buf, size_t len,
		   bool write, size_t *done)
{
	size_t n, total = 0;
	int ret = 0;

	for (; len; len -= n, gpu_va += n, buf += n, total += n) {
		n = min_t(size_t, len, PAGE_SIZE - offset_in_page(gpu_va));
		ret = vgpu_as_access_page(as, gpu_va, buf, n, write);
		if (ret)
			break;
	}
	if (done)
		*done = total;
	return ret;
}

/**
 * vgpu_as_replay() - may a faulting GPU access be served and replayed?
 * @as: the address space
 * @gpu_va: where the access stopped
 * @last_fault: in: where the previous fault was served (U64_MAX at first);
 *	out: @gpu_va
 * @mark: in/out: the device's invalidation count before that fault
 *
 * A GPU replays an access after its fault is served, and faults again if
 * the PTE went meanwhile: a migration or an munmap() elsewhere may
 * invalidate it at any time, and that must never fail the access. Only a
 * fault served at the same address with no invalidation of the device
 * since then proves the page unreachable.
 *
 * Return: 0 to serve the fault at @gpu_va, -EFAULT if it is unreachable,
 * -EINTR on a fatal signal.
 */
int vgpu_as_replay(struct vgpu_as *as, u64 gpu_va, u64 *last_fault,
		   u64 *mark)
{
	u64 now = atomic64_read(&as->gdev.stats.invalidations);

	if (gpu_va == *last_fault && now == *mark)
		return -EFAULT;
	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();
	*last_fault = gpu_va;
	*mark = now;
	return 0;
}

/**
 * vgpu_as_fault_transient() - did a fault fail only for now?
 * @ret: what serving the fault returned
 * @last_fault: the replay state of vgpu_as_replay()
 * @busy_until: 0 before the first fault of an access; then when replays
 *	of -EBUSY stop
 *
 * -EBUSY means the pages kept changing under the fault (migrations, other
 * faults): a GPU replays such an access rather than failing it, so the
 * next vgpu_as_replay() serves it again, for up to %VGPU_BUSY_REPLAY
 * without a fault that went through. A fatal signal still ends it.
 *
 * Return: true to replay the access.
 */
bool vgpu_as_fault_transient(int ret, u64 *last_fault,
			     unsigned long *busy_until)
{
	if (ret != -EBUSY) {
		*busy_until = 0;
		return false;
	}
	if (!*busy_until)
		*busy_until = jiffies + VGPU_BUSY_REPLAY;
	else if (time_after(jiffies, *busy_until))
		return false;
	*last_fault = U64_MAX;
	return true;
}

/**
 * vgpu_as_read() - a GPU read through the page table and the TLB
 * @as: the address space
 * @gpu_va: GPU VA to read from
 * @buf: where to copy to
 * @len: bytes to read
 *
 * Return: 0, or -ENOENT at the first page no PTE maps (the caller maps the
 * object and binds it, as a GPU page fault handler would).
 */
int vgpu_as_read(struct vgpu_as *as, u64 gpu_va, void *buf, size_t len)
{
	return vgpu_as_access(as, gpu_va, buf, len, false, NULL);
}

/**
 * vgpu_as_exclusive() - does a PTE in a GPU VA range hold exclusive access?
 * @as: the address space
 * @gpu_start: start of the range
 * @gpu_end: its end
 *
 * Return: true if one does.
 */
bool vgpu_as_exclusive(struct vgpu_as *as, u64 gpu_start, u64 gpu_end)
{
	unsigned long gpfn;
	void *pte;

	xa_for_each_range(&as->pt, gpfn, pte, gpu_start >> PAGE_SHIFT,
			  (gpu_end >> PAGE_SHIFT) - 1)
		if (xa_to_value(pte) & GPUMIRROR_ADDR_EXCLUSIVE)
			return true;
	return false;
}

/**
 * vgpu_as_read_only() - is the PTE at an address present but read-only?
 * @as: the address space
 * @gpu_va: the address
 *
 * What a write that keeps faulting at @gpu_va found: a block the CPU may
 * only read (-EPERM for the access) rather than no page at all (-EFAULT).
 *
 * Return: true if a PTE maps @gpu_va without write access.
 */
bool vgpu_as_read_only(struct vgpu_as *as, u64 gpu_va)
{
	void *pte = xa_load(&as->pt, gpu_va >> PAGE_SHIFT);

	return pte && !(xa_to_value(pte) & GPUMIRROR_ADDR_WRITE);
}

/*
 * Write the PTEs of @obj in one pass under the xarray lock. Node
 * allocations there are GFP_NOWAIT, which never enters reclaim, so this
 * may run under the notifier lock. Return: 0, or -ENOMEM if a node could
 * not be had that way.
 */
static int vgpu_pt_store(struct vgpu_as *as, struct gpumirror_object *obj)
{
	XA_STATE(xas, &as->pt, obj->gpu_start >> PAGE_SHIFT);
	gpumirror_addr_t e;
	unsigned long i;

	xas_lock(&xas);
	for (i = 0; i < obj->npages; i++, xas_next(&xas)) {
		e = gpumirror_object_page(obj, &as->gdev, i);
		/* A hole of a partial or devmem set maps nothing. */
		xas_store(&xas, e ? xa_mk_value(e) : NULL);
		if (xas_error(&xas))
			break;
	}
	xas_unlock(&xas);
	return xas_error(&xas);
}

/* Reserve every PTE slot of @obj, sleeping allocations allowed. */
static int vgpu_pt_reserve(struct vgpu_as *as, struct gpumirror_object *obj)
{
	u64 first = obj->gpu_start >> PAGE_SHIFT;
	unsigned long i;
	int ret = 0;

	for (i = 0; i < obj->npages && !ret; i++)
		ret = xa_reserve(&as->pt, first + i, GFP_KERNEL);
	return ret;
}

/**
 * vgpu_as_bind() - program the PTEs of an object from its page set
 * @as: the address space, attached to @obj's mirror
 * @obj: an object gpumirror_object_map() mapped for @as
 *
 * The PTEs are written in one pass under the notifier lock; should the
 * page table need a node that GFP_NOWAIT cannot give, the slots are
 * reserved outside the lock and the pass is done again. Nothing that can
 * enter reclaim is allocated under the notifier lock.
 *
 * Return: 0, -EAGAIN if the set went stale (map again), -ENOMEM.
 */
int vgpu_as_bind(struct vgpu_as *as, struct gpumirror_object *obj)
{
	struct gpumirror *mirror = obj->mirror;
	bool reserved = false;
	int ret;

	for (;;) {
		gpumirror_notifier_lock(mirror);
		ret = gpumirror_object_valid(obj, &as->gdev) ?
		      vgpu_pt_store(as, obj) : -EAGAIN;
		gpumirror_notifier_unlock(mirror);
		if (ret != -ENOMEM || reserved)
			return ret;
		ret = vgpu_pt_reserve(as, obj);
		if (ret)
			return ret;
		reserved = true;
	}
}
