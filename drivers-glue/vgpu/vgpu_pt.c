// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: the GPU page table, the TLB and GPU reads through them.
 */

#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "vgpu.h"

/**
 * DOC: vgpu page table and TLB
 *
 * Each address space has a page table (an xarray from GPU page number to
 * page set entry) and a small direct-mapped TLB. A GPU access looks the TLB
 * up, walks the page table on a miss and caches what it found, then reads
 * or writes the page through its (DMA-direct) address. Pass 1 of an
 * invalidation zaps the page table and marks the TLB entries it covers, but
 * those keep translating until the flush (pass 2, after the modelled
 * latency) empties the TLB and waits for the accesses in flight, as
 * hardware does.
 *
 * The mmu notifier contract is that no device uses a translation once the
 * invalidation returned to the core mm: the CPU page tables change and the
 * pages may be freed right after. vgpu checks it with a plain mmu notifier
 * of its own per mm (vgpu_as_watch()). Its invalidate_range_start runs
 * after both passes of every interval notifier, so after the mirror's
 * pass 2. Its invalidate_range_end checks again, after everything. A TLB
 * entry that the same task zapped and that is still cached at either point
 * outlived its invalidation: it is counted in &vgpu_as.stale_translations,
 * reported with a warning, and from then on every access through it counts
 * in &vgpu_as.stale_uses (and still reads the old page, as hardware would).
 * A library that runs pass 2 late, or not at all, trips it.
 */

/* One checker per mm, shared by the address spaces mirroring it. */
struct vgpu_watch {
	struct mmu_notifier mn;
	spinlock_t lock;		/* protects ases */
	struct list_head ases;
};

/* Zap the PTEs of [gpu_start, gpu_end); called from pass 1. */
void vgpu_pt_zap(struct vgpu_as *as, u64 gpu_start, u64 gpu_end)
{
	u64 first = gpu_start >> PAGE_SHIFT, last = (gpu_end >> PAGE_SHIFT) - 1;
	unsigned long gpfn;
	unsigned int i;
	void *pte;

	/* Only the present PTEs: the cost follows what is mapped. */
	xa_for_each_range(&as->pt, gpfn, pte, first, last)
		xa_erase(&as->pt, gpfn);
	/*
	 * After the erase: a walk under the lock either ran before it, and
	 * its entry is marked here, or sees the PTE gone.
	 */
	spin_lock(&as->tlb_lock);
	for (i = 0; i < VGPU_TLB_ENTRIES; i++) {
		struct vgpu_tlb_entry *t = &as->tlb[i];

		if (t->gpfn >= first && t->gpfn <= last && !t->zapper)
			t->zapper = current;
	}
	spin_unlock(&as->tlb_lock);
}

/* Complete a TLB flush: forget every translation, drain the accesses. */
void vgpu_tlb_flush(struct vgpu_as *as)
{
	unsigned int i;

	spin_lock(&as->tlb_lock);
	for (i = 0; i < VGPU_TLB_ENTRIES; i++) {
		as->tlb[i].gpfn = U64_MAX;
		as->tlb[i].zapper = NULL;
		as->tlb[i].stale = false;
	}
	spin_unlock(&as->tlb_lock);
	/*
	 * Accesses in flight hold translations from before the flush.
	 * Pairs with smp_mb__before_atomic() in vgpu_as_access_page().
	 */
	while (atomic_read_acquire(&as->inflight))
		cpu_relax();
}

/* The invalidation @current ran has returned: nothing it zapped is cached. */
static void vgpu_tlb_check_returned(struct vgpu_as *as)
{
	unsigned int i, n = 0;

	spin_lock(&as->tlb_lock);
	for (i = 0; i < VGPU_TLB_ENTRIES; i++) {
		struct vgpu_tlb_entry *t = &as->tlb[i];

		if (t->zapper == current && !t->stale) {
			t->stale = true;
			n++;
		}
	}
	spin_unlock(&as->tlb_lock);
	if (!n)
		return;
	atomic64_add(n, &as->stale_translations);
	/* Once: a broken library would report every event. */
	WARN_ONCE(!READ_ONCE(as->expect_stale),
		  "vgpu%u: %u translation(s) outlived their invalidation\n",
		  as->vgpu->id, n);
}

static void vgpu_watch_check(struct mmu_notifier *mn)
{
	struct vgpu_watch *w = container_of(mn, struct vgpu_watch, mn);
	struct vgpu_as *as;

	spin_lock(&w->lock);
	list_for_each_entry(as, &w->ases, watch_link)
		vgpu_tlb_check_returned(as);
	spin_unlock(&w->lock);
}

/* After the mirrors' pass 2 of the event: see "vgpu page table and TLB". */
static int vgpu_watch_start(struct mmu_notifier *mn,
			    const struct mmu_notifier_range *range)
{
	vgpu_watch_check(mn);
	return 0;
}

static void vgpu_watch_end(struct mmu_notifier *mn,
			   const struct mmu_notifier_range *range)
{
	vgpu_watch_check(mn);
}

static struct mmu_notifier *vgpu_watch_alloc(struct mm_struct *mm)
{
	struct vgpu_watch *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return ERR_PTR(-ENOMEM);
	spin_lock_init(&w->lock);
	INIT_LIST_HEAD(&w->ases);
	return &w->mn;
}

static void vgpu_watch_free(struct mmu_notifier *mn)
{
	kfree(container_of(mn, struct vgpu_watch, mn));
}

static const struct mmu_notifier_ops vgpu_watch_ops = {
	.invalidate_range_start = vgpu_watch_start,
	.invalidate_range_end = vgpu_watch_end,
	.alloc_notifier = vgpu_watch_alloc,
	.free_notifier = vgpu_watch_free,
};

/**
 * vgpu_as_watch() - check that no translation outlives its invalidation
 * @as: an address space, initialized
 * @mm: the mm it mirrors
 *
 * Joins @as to the checker of @mm (see "vgpu page table and TLB");
 * vgpu_as_fini() leaves it. The checker is a plain mmu notifier, which the
 * core mm calls after both passes of every interval notifier (the
 * mirrors' objects), whenever it was registered.
 *
 * Context: process context; takes @mm's mmap_lock for write (and, for the
 * mm's first notifier, all of mm_take_all_locks()).
 * Return: 0, or the errors of mmu_notifier_get(): -ENOMEM, -EINTR.
 */
int vgpu_as_watch(struct vgpu_as *as, struct mm_struct *mm)
{
	struct mmu_notifier *mn = mmu_notifier_get(&vgpu_watch_ops, mm);

	if (IS_ERR(mn))
		return PTR_ERR(mn);
	as->watch = container_of(mn, struct vgpu_watch, mn);
	spin_lock(&as->watch->lock);
	list_add(&as->watch_link, &as->watch->ases);
	spin_unlock(&as->watch->lock);
	return 0;
}

/* Leave the checker vgpu_as_watch() joined, if any. */
void vgpu_as_unwatch(struct vgpu_as *as)
{
	struct vgpu_watch *w = as->watch;

	if (!w)
		return;
	spin_lock(&w->lock);
	list_del(&as->watch_link);
	spin_unlock(&w->lock);
	/* Pairs with mmu_notifier_get() in vgpu_as_watch(). */
	mmu_notifier_put(&w->mn);
	as->watch = NULL;
}

/*
 * Translate @gpfn and start an access: on return the access counts as in
 * flight. Return: the entry, or 0 if no PTE maps @gpfn.
 */
static gpumirror_addr_t vgpu_translate(struct vgpu_as *as, u64 gpfn)
{
	struct vgpu_tlb_entry *t = &as->tlb[gpfn % VGPU_TLB_ENTRIES];
	gpumirror_addr_t e = 0;
	void *pte;

	spin_lock(&as->tlb_lock);
	if (t->gpfn == gpfn) {
		e = t->entry;
		if (t->stale)
			atomic64_inc(&as->stale_uses);
	} else {
		pte = xa_load(&as->pt, gpfn);
		if (pte) {
			e = xa_to_value(pte);
			t->gpfn = gpfn;
			t->entry = e;
			t->zapper = NULL;
			t->stale = false;
		}
	}
	if (e)
		atomic_inc(&as->inflight);
	spin_unlock(&as->tlb_lock);
	return e;
}

/*
 * The kernel address of the page an entry translates to, mapped; NULL for
 * an IOMMU fault. Behind an IOMMU the entry holds an IOVA, which the
 * device reaches through the IOMMU's page table: one the library unmapped
 * while a PTE still held it translates to nothing, a use after unmap that
 * real hardware would report as a fault.
 */
static void *vgpu_entry_map(struct vgpu_as *as, gpumirror_addr_t e)
{
	struct page *page;
	phys_addr_t phys;

	if (e & GPUMIRROR_ADDR_DEVICE) {
		/* Device-private: vgpu's memory lives in a backing page. */
		page = pfn_to_page(PHYS_PFN(gpumirror_addr(e)));
		return kmap_local_page(vgpu_mem_backing(page));
	}
	if (!as->gdev.dma_domain)
		return phys_to_virt(gpumirror_addr(e));
	phys = iommu_iova_to_phys(as->gdev.dma_domain, gpumirror_addr(e));
	if (!phys) {
		atomic64_inc(&as->iommu_faults);
		WARN_ONCE(1, "vgpu %u: IOMMU fault at IOVA %#llx\n",
			  as->vgpu->id, (u64)gpumirror_addr(e));
		return NULL;
	}
	return phys_to_virt(phys);
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

	e = vgpu_translate(as, gpu_va >> PAGE_SHIFT);
	if (!e)
		return -ENOENT;
	if (write && !(e & GPUMIRROR_ADDR_WRITE)) {
		atomic_dec(&as->inflight);
		return -ENOENT;
	}
	va = vgpu_entry_map(as, e);
	if (!va) {
		atomic_dec(&as->inflight);
		return -EIO;
	}
	if (write)
		memcpy(va + offset_in_page(gpu_va), buf, len);
	else
		memcpy(buf, va + offset_in_page(gpu_va), len);
	vgpu_entry_unmap(e, va);
	/* Pairs with atomic_read_acquire() in vgpu_tlb_flush(). */
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
 * Return: 0, -ENOENT as above, or -EIO for an IOMMU fault (a DMA address
 * the IOMMU no longer translates: a bug, reported).
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
 * Return: 0, -ENOENT at the first page no PTE maps (the caller maps the
 * object and binds it, as a GPU page fault handler would), or -EIO for an
 * IOMMU fault.
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
	unsigned long i, n = obj->npages;
	const gpumirror_addr_t *set;

	set = gpumirror_object_pages(obj, &as->gdev, 0, &n);
	if (!set)
		return -EAGAIN;
	xas_lock(&xas);
	for (i = 0; i < n; i++, xas_next(&xas)) {
		/* A hole of a partial or devmem set maps nothing. */
		xas_store(&xas, set[i] ? xa_mk_value(set[i]) : NULL);
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
