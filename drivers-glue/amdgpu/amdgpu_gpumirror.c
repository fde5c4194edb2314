// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * amdgpu glue to gpumirror: the logic, independent of the amdgpu calls.
 */

#include <kunit/visibility.h>
#include <linux/dma-fence.h>
#include <linux/err.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "amdgpu.h"
#include "amdgpu_gpumirror.h"

/**
 * DOC: amdgpu and gpumirror
 *
 * What amdgpu keeps: its page tables and their reservation
 * (amdgpu_vm_update_range() and amdgpu_vm_update_pdes() with the page
 * directory reserved and validated), its GPU VA space (an allocation claims
 * its range as a GEM VA mapping does), its TLB flushes and their fences,
 * the KFD queues. What it hands to gpumirror: the notifiers, the page
 * walks, the DMA mappings, the validity of mappings and the order of
 * invalidations across GPUs.
 *
 * A mirror (&struct amdgpu_gpumirror_process) belongs to one VM by default:
 * a render-node file gets its own on first use of DRM_IOCTL_AMDGPU_GPUMIRROR,
 * so each GPU mirrors "CPU range A..B into GPU range C..D" on its own. The
 * VMs of one process on several GPUs may instead share one mirror: one
 * sequence per allocation, one set of attributes, invalidations batched
 * across the GPUs; the KUnit suite runs the glue that way.
 *
 * A scattered userptr allocation (many CPU ranges behind one GPU VA range,
 * the batch userptr proposal) is one gpumirror object: one notifier and
 * one sequence number instead of one per range.
 *
 * Invalidation maps onto gpumirror's two passes: pass 1 clears the PTEs
 * (the unlocked update amdgpu's notifier paths use) and keeps the update's
 * fence, pass 2 waits for the fence and flushes the TLBs. Both run with
 * reclaim disabled (memalloc_noreclaim_save(), as amdkfd's svm_range_lock()
 * does), because amdgpu's page-table updates allocate.
 *
 * XNACK on: amdgpu_vm_handle_fault() offers every retry fault to
 * amdgpu_gpumirror_vm_fault() first, which maps the allocation covering
 * the GPU address (whose CPU address differs) or, once the VM set SVM
 * attributes, calls gpumirror_fault() for the CPU address.
 *
 * XNACK off: pass 1 also quiesces the queues, once per VM, and schedules
 * the restore worker, which maps every allocation again and resumes the
 * queues once all of them are valid under the notifier lock. An allocation
 * whose memory is gone stays unmapped (an access there faults, as amdgpu's
 * userptr BOs do); the queues resume without it. SVM ranges go through
 * gpumirror's own no-fault mode (%GPUMIRROR_DEVICE_NOFAULT): its restore
 * worker binds them and calls the @resume op. Quiesce and resume nest, so
 * both restore paths can hold the queues at once.
 *
 * If clearing PTEs fails, the queues are quiesced whatever the fault mode,
 * so the GPU cannot use stale PTEs, and the restore worker runs.
 */

/*
 * The restore worker retries a busy allocation after this long, as
 * amdgpu's userptr restore worker does.
 */
#define AMDGPU_GPUMIRROR_RESTORE_DELAY	msecs_to_jiffies(1)

/* Tries of one map while invalidations race it, as gpumirror_fault()'s. */
#define AMDGPU_GPUMIRROR_MAP_TRIES	16

/*
 * Failed restore runs in a row after which the worker gives up what still
 * fails (leaves it unmapped) and resumes the queues.
 */
#define AMDGPU_GPUMIRROR_RESTORE_TRIES	64

static struct amdgpu_gpumirror_vm *to_gvm(struct gpumirror_device *gdev)
{
	return container_of(gdev, struct amdgpu_gpumirror_vm, gdev);
}

/**
 * amdgpu_gpumirror_gpu_page() - GPU page of a CPU page of an object
 * @gpu_base: GPU page of the object's first CPU page
 * @index: CPU page index within the object
 * @gpu_per_cpu: GPU pages per CPU page (%AMDGPU_GPU_PAGES_IN_CPU_PAGE: 1
 *	with 4K CPU pages, 16 with 64K)
 *
 * Return: the first GPU page of CPU page @index.
 */
u64 amdgpu_gpumirror_gpu_page(u64 gpu_base, unsigned long index,
			      unsigned int gpu_per_cpu)
{
	return gpu_base + (u64)index * gpu_per_cpu;
}
EXPORT_SYMBOL_IF_KUNIT(amdgpu_gpumirror_gpu_page);

/* GPU pages [*first, *last] of CPU pages [@i, @j) of @obj. */
static void amdgpu_gpumirror_gpu_span(struct gpumirror_object *obj,
				      unsigned long i, unsigned long j,
				      u64 *first, u64 *last)
{
	u64 base = obj->gpu_start >> AMDGPU_GPU_PAGE_SHIFT;

	*first = amdgpu_gpumirror_gpu_page(base, i,
					   AMDGPU_GPU_PAGES_IN_CPU_PAGE);
	*last = amdgpu_gpumirror_gpu_page(base, j,
					  AMDGPU_GPU_PAGES_IN_CPU_PAGE) - 1;
}

static void amdgpu_gpumirror_wait(struct amdgpu_gpumirror_vm *gvm,
				  struct dma_fence *fence)
{
	gvm->backend->wait(gvm, fence);
	atomic_inc(&gvm->stats.waits);
}

/*
 * Stop the queues for reason @bit, once; undone by the restore (the glue's
 * worker for the allocations, gpumirror's for SVM ranges). A VM without
 * KFD queues (a gfx VM) cannot be stopped: wait until its submitted jobs
 * are done instead, as amdgpu's own userptr notifier does; its next
 * command submission maps again. Return: true if the queues were stopped
 * now.
 */
static bool amdgpu_gpumirror_quiesce(struct amdgpu_gpumirror_vm *gvm,
				     unsigned int bit)
{
	gpumirror_notifier_assert_held_write(gvm->gdev.mirror);
	if (!gvm->backend->has_queues(gvm)) {
		/*
		 * Jobs of a VM with retry faults may be waiting for the fault
		 * handler, which needs the notifier lock: never wait for them.
		 */
		if (gvm->no_fault)
			gvm->backend->wait_idle(gvm);
		return false;
	}
	if (test_and_set_bit(bit, &gvm->state))
		return false;
	/* A failure leaves nothing to undo: the queues keep running. */
	if (gvm->backend->quiesce(gvm)) {
		clear_bit(bit, &gvm->state);
		return false;
	}
	atomic_inc(&gvm->stats.quiesces);
	return true;
}

/* Undo amdgpu_gpumirror_quiesce() for reason @bit, if it stopped them. */
static void amdgpu_gpumirror_unquiesce(struct amdgpu_gpumirror_vm *gvm,
				       unsigned int bit)
{
	/* Pairs with test_and_set_bit() in amdgpu_gpumirror_quiesce(). */
	if (test_and_clear_bit(bit, &gvm->state) && !gvm->backend->resume(gvm))
		atomic_inc(&gvm->stats.resumes);
}

/* Keep @fence for pass 2; fences of one VM's updates signal in order. */
static void amdgpu_gpumirror_keep_fence(struct amdgpu_gpumirror_vm *gvm,
					struct dma_fence *fence)
{
	gpumirror_notifier_assert_held_write(gvm->gdev.mirror);
	if (gvm->pending && gvm->pending->context != fence->context)
		amdgpu_gpumirror_wait(gvm, gvm->pending);
	dma_fence_put(gvm->pending);
	gvm->pending = fence;
}

/*
 * A clear failed: remember its exact span for the restore, which clears it
 * again before anything resumes or is given up, and stop the queues.
 */
static void amdgpu_gpumirror_dirty(struct amdgpu_gpumirror_vm *gvm,
				   u64 first, u64 last)
{
	unsigned int i;

	gpumirror_notifier_assert_held_write(gvm->gdev.mirror);
	for (i = 0; i < gvm->ndirty; i++)
		if (gvm->dirty[i].first == first && gvm->dirty[i].last == last)
			break;
	if (i < gvm->ndirty) {
		/* Already waiting to be cleared again. */
	} else if (gvm->ndirty < AMDGPU_GPUMIRROR_DIRTY_SPANS) {
		gvm->dirty[gvm->ndirty].first = first;
		gvm->dirty[gvm->ndirty].last = last;
		gvm->ndirty++;
	} else {
		gvm->dirty_lost = true;
	}
	gvm->dirty_gen++;
	set_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state);
	amdgpu_gpumirror_quiesce(gvm, AMDGPU_GPUMIRROR_QUIESCED);
	/* No allocation: the work item is embedded. */
	mod_delayed_work(system_unbound_wq, &gvm->proc->restore_work, 0);
}

/*
 * Did the allocation at GPU page @first lose its VA range on @gvm? Takes
 * only the list lock: pass 1 may not wait for the process lock.
 */
static bool amdgpu_gpumirror_stolen(struct amdgpu_gpumirror_vm *gvm,
				    u64 first)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	struct interval_tree_node *it;
	bool stolen = false;

	spin_lock(&p->list_lock);
	it = interval_tree_iter_first(&p->mem_va, first, first);
	if (it)
		stolen = container_of(it, struct amdgpu_gpumirror_mem,
				      va_it)->stolen & BIT(gvm->gdev.index);
	spin_unlock(&p->list_lock);
	return stolen;
}

/* Pass 1: clear the PTEs, start the flush, stop no-fault queues. */
static void amdgpu_gpumirror_invalidate_start(struct gpumirror_device *gdev,
					      struct gpumirror_object *obj,
					      u64 gpu_start, u64 gpu_end,
					      const struct mmu_notifier_range *event)
{
	struct amdgpu_gpumirror_vm *gvm = to_gvm(gdev);
	u64 first = gpu_start >> AMDGPU_GPU_PAGE_SHIFT;
	u64 last = (gpu_end >> AMDGPU_GPU_PAGE_SHIFT) - 1;
	struct dma_fence *fence = NULL;
	unsigned int noreclaim;
	int ret;

	/* A GEM VA ioctl took the range: its PTEs are not ours any more. */
	if (!obj->is_range && amdgpu_gpumirror_stolen(gvm, first))
		return;
	noreclaim = memalloc_noreclaim_save();
	/* SVM ranges of a no-fault VM are suspended by gpumirror itself. */
	if (gvm->no_fault && !obj->is_range &&
	    amdgpu_gpumirror_quiesce(gvm, AMDGPU_GPUMIRROR_QUIESCED))
		mod_delayed_work(system_unbound_wq, &gvm->proc->restore_work, 0);
	ret = gvm->backend->clear(gvm, first, last, &fence);
	atomic_inc(&gvm->stats.clears);
	if (ret)
		amdgpu_gpumirror_dirty(gvm, first, last);
	else if (fence)
		amdgpu_gpumirror_keep_fence(gvm, fence);
	memalloc_noreclaim_restore(noreclaim);
}

/* Pass 2: wait for the PTE updates, then flush the TLBs. */
static void amdgpu_gpumirror_invalidate_finish(struct gpumirror_device *gdev)
{
	struct amdgpu_gpumirror_vm *gvm = to_gvm(gdev);
	unsigned int noreclaim = memalloc_noreclaim_save();

	if (gvm->pending) {
		amdgpu_gpumirror_wait(gvm, gvm->pending);
		dma_fence_put(gvm->pending);
		gvm->pending = NULL;
	}
	gvm->backend->flush_tlb(gvm);
	atomic_inc(&gvm->stats.flushes);
	memalloc_noreclaim_restore(noreclaim);
}

VISIBLE_IF_KUNIT int amdgpu_gpumirror_bind(struct amdgpu_gpumirror_vm *gvm,
					   struct gpumirror_object *obj,
					   bool writable, bool executable);

/*
 * SVM ranges: called by gpumirror_fault(), gpumirror_prefetch() and
 * gpumirror's restore worker. Writable where the page set allows it.
 */
static int amdgpu_gpumirror_bind_range(struct gpumirror_device *gdev,
				       struct gpumirror_object *obj)
{
	return amdgpu_gpumirror_bind(to_gvm(gdev), obj, true, false);
}

/*
 * gpumirror's no-fault mode, for SVM ranges of an XNACK-off VM; the SVM
 * operations refuse a VM that has no queues to stop.
 */
static void amdgpu_gpumirror_suspend(struct gpumirror_device *gdev)
{
	unsigned int noreclaim = memalloc_noreclaim_save();

	amdgpu_gpumirror_quiesce(to_gvm(gdev), AMDGPU_GPUMIRROR_SVM_QUIESCED);
	memalloc_noreclaim_restore(noreclaim);
}

/* Called under the notifier lock: the resume may not enter reclaim. */
static void amdgpu_gpumirror_resume(struct gpumirror_device *gdev)
{
	unsigned int noreclaim = memalloc_noreclaim_save();

	amdgpu_gpumirror_unquiesce(to_gvm(gdev), AMDGPU_GPUMIRROR_SVM_QUIESCED);
	memalloc_noreclaim_restore(noreclaim);
}

static const struct gpumirror_device_ops amdgpu_gpumirror_ops = {
	.invalidate_start = amdgpu_gpumirror_invalidate_start,
	.invalidate_finish = amdgpu_gpumirror_invalidate_finish,
	.bind = amdgpu_gpumirror_bind_range,
	.suspend = amdgpu_gpumirror_suspend,
	.resume = amdgpu_gpumirror_resume,
};

static void amdgpu_gpumirror_restore_work(struct work_struct *work);
static int amdgpu_gpumirror_repair(struct amdgpu_gpumirror_vm *gvm);

/**
 * amdgpu_gpumirror_process_init() - set up a mirror
 * @p: the mirror's glue state
 * @mm: the mm it mirrors
 *
 * Return: 0 or the error of gpumirror_init().
 */
int amdgpu_gpumirror_process_init(struct amdgpu_gpumirror_process *p,
				  struct mm_struct *mm)
{
	mutex_init(&p->lock);
	spin_lock_init(&p->list_lock);
	INIT_LIST_HEAD(&p->mems);
	INIT_LIST_HEAD(&p->vms);
	p->mem_va = RB_ROOT_CACHED;
	xa_init_flags(&p->handles, XA_FLAGS_ALLOC1);
	INIT_DELAYED_WORK(&p->restore_work, amdgpu_gpumirror_restore_work);
	return gpumirror_init(&p->mirror, mm);
}

/**
 * amdgpu_gpumirror_process_fini() - free every allocation and the mirror
 * @p: the mirror's glue state, with every VM detached
 */
void amdgpu_gpumirror_process_fini(struct amdgpu_gpumirror_process *p)
{
	struct amdgpu_gpumirror_mem *mem, *tmp;

	WARN_ON(!list_empty(&p->vms));
	list_for_each_entry_safe(mem, tmp, &p->mems, link)
		amdgpu_gpumirror_mem_free(p, mem);
	cancel_delayed_work_sync(&p->restore_work);
	gpumirror_fini(&p->mirror);
	xa_destroy(&p->handles);
	mutex_destroy(&p->lock);
}

/**
 * amdgpu_gpumirror_vm_attach() - attach a GPU's VM to a mirror
 * @p: the mirror's glue state
 * @gvm: the VM, with @gdev.dev, @gdev.va_limit, @backend, @adev, @vm and
 *	@no_fault filled in
 *
 * Return: 0 or the error of gpumirror_device_attach().
 */
int amdgpu_gpumirror_vm_attach(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_vm *gvm)
{
	int ret;

	gvm->gdev.ops = &amdgpu_gpumirror_ops;
	gvm->gdev.flags = gvm->no_fault ? GPUMIRROR_DEVICE_NOFAULT : 0;
	gvm->proc = p;
	gvm->pending = NULL;
	gvm->state = 0;
	gvm->ndirty = 0;
	gvm->dirty_lost = false;
	gvm->dirty_gen = 0;
	gvm->restore_tries = 0;
	atomic_set(&gvm->fault_retries, 0);
	memset(&gvm->stats, 0, sizeof(gvm->stats));
	ret = gpumirror_device_attach(&p->mirror, &gvm->gdev);
	if (ret)
		return ret;
	mutex_lock(&p->lock);
	list_add_tail(&gvm->link, &p->vms);
	mutex_unlock(&p->lock);
	return 0;
}

/* Give back @mem's VA claim on @gvm. */
static void amdgpu_gpumirror_va_release(struct amdgpu_gpumirror_vm *gvm,
					struct amdgpu_gpumirror_mem *mem)
{
	struct amdgpu_gpumirror_resv resv;

	lockdep_assert_held(&gvm->proc->lock);
	if (!(mem->reserved & BIT(gvm->gdev.index)))
		return;
	mem->reserved &= ~BIT(gvm->gdev.index);
	/*
	 * The page directory cannot be reserved only if the VM is going away
	 * (an interrupted wait of a dying process): its VA space goes too.
	 */
	if (gvm->backend->reserve(gvm, &resv))
		return;
	gvm->backend->va_release(gvm, &resv, mem->va_it.start);
	gvm->backend->unreserve(gvm, &resv);
}

/**
 * amdgpu_gpumirror_vm_detach() - detach a GPU's VM, clearing its PTEs
 * @gvm: an attached VM
 *
 * Releases the VA ranges the allocations claim in the VM, and resumes the
 * queues if the glue stopped them (no restore runs for the VM any more),
 * unless PTEs whose clear failed could still not be cleared.
 */
void amdgpu_gpumirror_vm_detach(struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	struct amdgpu_gpumirror_mem *mem;

	unsigned int tries;
	bool clean;

	mutex_lock(&p->lock);
	list_del(&gvm->link);
	/* Before the VA goes: a failed clear is cleared again first. */
	for (tries = 0; test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state) &&
	     tries < AMDGPU_GPUMIRROR_MAP_TRIES; tries++)
		amdgpu_gpumirror_repair(gvm);
	clean = !test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state);
	list_for_each_entry(mem, &p->mems, link)
		amdgpu_gpumirror_va_release(gvm, mem);
	mutex_unlock(&p->lock);
	gpumirror_device_detach(&gvm->gdev);
	/* Pass 2 ran for every pass 1: nothing is pending any more. */
	WARN_ON(gvm->pending);
	clean = clean && !test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state);
	/* Nothing restores this VM any more: give the queues back. */
	if (clean) {
		amdgpu_gpumirror_unquiesce(gvm, AMDGPU_GPUMIRROR_QUIESCED);
		amdgpu_gpumirror_unquiesce(gvm, AMDGPU_GPUMIRROR_SVM_QUIESCED);
	} else {
		dev_err(gvm->gdev.dev,
			"gpumirror: PTEs could not be cleared, queues stay stopped\n");
	}
}

/**
 * amdgpu_gpumirror_userptr_create() - one allocation over many CPU ranges
 * @p: the mirror's glue state
 * @ranges: the CPU ranges, in GPU VA order
 * @nr: number of @ranges
 * @gpu_va: GPU VA of the allocation, page aligned
 * @writable: the GPU may write where the CPU may
 * @executable: the GPU may execute it
 *
 * Return: the allocation, not yet mapped on any VM, or an ERR_PTR(): the
 * errors of gpumirror_object_create(), -EEXIST if another allocation of
 * @p overlaps its GPU VA range, or -ENOMEM.
 */
struct amdgpu_gpumirror_mem *
amdgpu_gpumirror_userptr_create(struct amdgpu_gpumirror_process *p,
				const struct gpumirror_segment *ranges,
				unsigned int nr, u64 gpu_va, bool writable,
				bool executable)
{
	struct amdgpu_gpumirror_mem *mem;
	u64 last;
	int ret;

	mem = kzalloc(sizeof(*mem), GFP_KERNEL);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	mem->writable = writable;
	mem->executable = executable;
	mutex_lock(&p->lock);
	mem->obj = gpumirror_object_create(&p->mirror, ranges, nr, gpu_va);
	if (IS_ERR(mem->obj)) {
		ret = PTR_ERR(mem->obj);
		goto free_mem;
	}
	last = (gpu_va + ((u64)mem->obj->npages << PAGE_SHIFT) - 1) >>
	       AMDGPU_GPU_PAGE_SHIFT;
	if (interval_tree_iter_first(&p->mem_va, gpu_va >> AMDGPU_GPU_PAGE_SHIFT,
				     last)) {
		ret = -EEXIST;
		goto destroy_obj;
	}
	mem->va_it.start = gpu_va >> AMDGPU_GPU_PAGE_SHIFT;
	mem->va_it.last = last;
	spin_lock(&p->list_lock);
	interval_tree_insert(&mem->va_it, &p->mem_va);
	list_add_tail(&mem->link, &p->mems);
	spin_unlock(&p->list_lock);
	mutex_unlock(&p->lock);
	return mem;

destroy_obj:
	gpumirror_object_destroy(mem->obj);
free_mem:
	mutex_unlock(&p->lock);
	kfree(mem);
	return ERR_PTR(ret);
}

/**
 * amdgpu_gpumirror_mem_free() - unmap from every GPU and free
 * @p: the mirror's glue state
 * @mem: an allocation of @p
 */
void amdgpu_gpumirror_mem_free(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_mem *mem)
{
	struct amdgpu_gpumirror_vm *gvm;

	mutex_lock(&p->lock);
	spin_lock(&p->list_lock);
	list_del(&mem->link);
	spin_unlock(&p->list_lock);
	/*
	 * Destroying the object zaps the PTEs (pass 1 and 2 on each VM);
	 * pass 1 still finds it in the tree, to skip a VA no longer ours.
	 */
	gpumirror_object_destroy(mem->obj);
	/* A failed clear is cleared again while the VA is still ours. */
	list_for_each_entry(gvm, &p->vms, link)
		if (test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state))
			amdgpu_gpumirror_repair(gvm);
	spin_lock(&p->list_lock);
	interval_tree_remove(&mem->va_it, &p->mem_va);
	spin_unlock(&p->list_lock);
	list_for_each_entry(gvm, &p->vms, link)
		amdgpu_gpumirror_va_release(gvm, mem);
	mutex_unlock(&p->lock);
	kfree(mem);
}

/*
 * Program every PTE of @obj from @gvm's page set, in runs of equal flags.
 * On error the runs already programmed are cleared again.
 */
static int amdgpu_gpumirror_bind_locked(struct amdgpu_gpumirror_vm *gvm,
					struct amdgpu_gpumirror_resv *resv,
					struct gpumirror_object *obj,
					bool writable, bool executable,
					dma_addr_t *addrs,
					struct dma_fence **fence)
{
	const struct amdgpu_gpumirror_backend *be = gvm->backend;
	unsigned long i = 0, j, n = obj->npages;
	const gpumirror_addr_t *set;
	u64 first, last, flags;
	bool w;
	int ret = 0;

	gpumirror_notifier_assert_held(obj->mirror);

	set = gpumirror_object_pages(obj, &gvm->gdev, 0, &n);
	if (!set)
		return -EAGAIN;
	while (i < n) {
		/* Device memory comes with the migration support. */
		if (set[i] & GPUMIRROR_ADDR_DEVICE) {
			ret = -EOPNOTSUPP;
			break;
		}
		w = writable && (set[i] & GPUMIRROR_ADDR_WRITE);
		for (j = i; j < n; j++) {
			if ((set[j] & GPUMIRROR_ADDR_DEVICE) ||
			    w != (writable && (set[j] & GPUMIRROR_ADDR_WRITE)))
				break;
			addrs[j] = gpumirror_addr(set[j]);
		}
		flags = be->pte_flags(gvm, w, executable);
		amdgpu_gpumirror_gpu_span(obj, i, j, &first, &last);
		/* Updates of one VM signal in order: the last fence is enough. */
		dma_fence_put(*fence);
		*fence = NULL;
		ret = be->update(gvm, resv, first, last, flags, addrs + i, fence);
		atomic_inc(&gvm->stats.updates);
		if (ret)
			break;
		i = j;
	}
	if (!ret)
		ret = be->update_pdes(gvm, resv);
	if (ret && i) {
		amdgpu_gpumirror_gpu_span(obj, 0, i, &first, &last);
		dma_fence_put(*fence);
		*fence = NULL;
		be->clear(gvm, first, last, fence);
		atomic_inc(&gvm->stats.clears);
	}
	return ret;
}

/*
 * Claim @mem's GPU VA range on @gvm, once, before its set is made valid
 * there: a set that is valid makes pass 1 clear the range.
 */
static int amdgpu_gpumirror_claim(struct amdgpu_gpumirror_vm *gvm,
				  struct amdgpu_gpumirror_mem *mem)
{
	struct amdgpu_gpumirror_resv resv;
	int ret;

	if (mem->reserved & BIT(gvm->gdev.index))
		return 0;
	ret = gvm->backend->reserve(gvm, &resv);
	if (ret)
		return ret;
	ret = gvm->backend->va_reserve(gvm, &resv, mem->va_it.start,
				       mem->va_it.last);
	gvm->backend->unreserve(gvm, &resv);
	if (!ret)
		mem->reserved |= BIT(gvm->gdev.index);
	return ret;
}

static int amdgpu_gpumirror_bind_mem(struct amdgpu_gpumirror_vm *gvm,
				     struct gpumirror_object *obj,
				     struct amdgpu_gpumirror_mem *mem,
				     bool writable, bool executable)
{
	const struct amdgpu_gpumirror_backend *be = gvm->backend;
	struct gpumirror *mirror = obj->mirror;
	struct amdgpu_gpumirror_resv resv;
	struct dma_fence *fence = NULL;
	unsigned int noreclaim;
	dma_addr_t *addrs;
	u64 first, last;
	int ret;

	addrs = kvmalloc_array(obj->npages, sizeof(*addrs), GFP_KERNEL);
	if (!addrs)
		return -ENOMEM;
	ret = be->reserve(gvm, &resv);
	if (ret)
		goto free_addrs;
	amdgpu_gpumirror_gpu_span(obj, 0, obj->npages, &first, &last);
	gpumirror_notifier_lock(mirror);
	if (!gpumirror_object_valid(obj, &gvm->gdev)) {
		ret = -EAGAIN;
	} else if (mem && !be->va_check(gvm, &resv, first, last)) {
		/*
		 * A GEM VA ioctl took the allocation's range. The PTEs there
		 * are not ours: pass 1 leaves them alone from now on.
		 */
		WRITE_ONCE(mem->stolen, mem->stolen | BIT(gvm->gdev.index));
		ret = -EEXIST;
	} else {
		noreclaim = memalloc_noreclaim_save();
		ret = amdgpu_gpumirror_bind_locked(gvm, &resv, obj, writable,
						   executable, addrs, &fence);
		memalloc_noreclaim_restore(noreclaim);
	}
	gpumirror_notifier_unlock(mirror);
	be->unreserve(gvm, &resv);
	if (fence) {
		amdgpu_gpumirror_wait(gvm, fence);
		dma_fence_put(fence);
	}
free_addrs:
	kvfree(addrs);
	return ret;
}

/**
 * amdgpu_gpumirror_bind() - program an object's PTEs on one GPU
 * @gvm: the GPU's VM
 * @obj: an SVM range, mapped for @gvm
 * @writable: the GPU may write where the page set allows it
 * @executable: the GPU may execute it
 *
 * Reserves the page directory, then under the notifier lock programs the
 * PTEs and links new page tables; waits for the update after dropping
 * both.
 *
 * Return: 0, -EAGAIN if the page set went stale (map again), -ENOMEM, or
 * the backend's error (no PTE of @obj is left programmed then).
 */
VISIBLE_IF_KUNIT int amdgpu_gpumirror_bind(struct amdgpu_gpumirror_vm *gvm,
					   struct gpumirror_object *obj,
					   bool writable, bool executable)
{
	return amdgpu_gpumirror_bind_mem(gvm, obj, NULL, writable, executable);
}
EXPORT_SYMBOL_IF_KUNIT(amdgpu_gpumirror_bind);

/**
 * amdgpu_gpumirror_mem_map() - fault an allocation and map it on one GPU
 * @gvm: the GPU's VM
 * @mem: the allocation
 *
 * Claims the allocation's GPU VA range in the VM the first time, before
 * anything is mapped. Retries while invalidations race the mapping, a
 * bounded number of times. On failure @gvm's page set is dropped, so the
 * allocation reads as not mapped.
 *
 * Context: &amdgpu_gpumirror_process.lock held.
 * Return: 0; -EEXIST if the range is in use (or a GEM VA ioctl took it:
 * it is never mapped on @gvm again); -EBUSY if invalidations kept racing;
 * or the error of gpumirror_object_map() or of the backend.
 */
int amdgpu_gpumirror_mem_map(struct amdgpu_gpumirror_vm *gvm,
			     struct amdgpu_gpumirror_mem *mem)
{
	unsigned int flags = mem->writable ? GPUMIRROR_MAP_WRITE : 0;
	unsigned long slot = BIT(gvm->gdev.index);
	unsigned int tries = 0;
	int ret;

	lockdep_assert_held(&gvm->proc->lock);
	if (mem->stolen & slot)
		return -EEXIST;
	ret = amdgpu_gpumirror_claim(gvm, mem);
	if (ret)
		return ret;
	do {
		ret = gpumirror_object_map(mem->obj, slot, flags);
		if (!ret)
			ret = amdgpu_gpumirror_bind_mem(gvm, mem->obj, mem,
							mem->writable,
							mem->executable);
	} while (ret == -EAGAIN && ++tries < AMDGPU_GPUMIRROR_MAP_TRIES);
	if (!ret) {
		WRITE_ONCE(mem->lost, mem->lost & ~slot);
		return 0;
	}
	/*
	 * A valid set says "mapped": drop it. Pass 1 leaves the PTEs of a
	 * range that is no longer ours alone.
	 */
	gpumirror_object_unmap(mem->obj, &gvm->gdev);
	return ret == -EAGAIN ? -EBUSY : ret;
}

/**
 * amdgpu_gpumirror_stale() - does any allocation wait to be mapped again?
 * @gvm: the VM
 *
 * Allocations lost on @gvm (see &amdgpu_gpumirror_mem.lost) do not count;
 * a span whose clear failed counts until it was cleared again.
 *
 * Context: the notifier lock held (gpumirror_notifier_lock()), so the
 * answer holds until it is dropped; takes the list lock, not
 * &amdgpu_gpumirror_process.lock.
 * Return: true if some allocation's page set for @gvm is not valid.
 */
bool amdgpu_gpumirror_stale(struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	unsigned long slot = BIT(gvm->gdev.index);
	struct amdgpu_gpumirror_mem *mem;
	bool stale = false;

	gpumirror_notifier_assert_held(&p->mirror);
	if (test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state))
		return true;
	spin_lock(&p->list_lock);
	list_for_each_entry(mem, &p->mems, link) {
		if (!(READ_ONCE(mem->lost) & slot) &&
		    !gpumirror_object_valid(mem->obj, &gvm->gdev)) {
			stale = true;
			break;
		}
	}
	spin_unlock(&p->list_lock);
	return stale;
}

/*
 * May the repair clear [@first, @last] on @gvm: an allocation's range
 * still ours, or (an SVM range's, or a freed allocation's) mapped by
 * nothing? A BO a GEM VA ioctl mapped there since keeps its PTEs.
 */
static bool amdgpu_gpumirror_span_ours(struct amdgpu_gpumirror_vm *gvm,
				       struct amdgpu_gpumirror_resv *resv,
				       u64 first, u64 last)
{
	struct interval_tree_node *it;
	struct amdgpu_gpumirror_mem *mem;

	lockdep_assert_held(&gvm->proc->lock);
	it = interval_tree_iter_first(&gvm->proc->mem_va, first, first);
	if (!it)
		return gvm->backend->va_free(gvm, resv, first, last);
	mem = container_of(it, struct amdgpu_gpumirror_mem, va_it);
	return !(mem->stolen & BIT(gvm->gdev.index)) &&
	       gvm->backend->va_check(gvm, resv, mem->va_it.start,
				      mem->va_it.last);
}

/*
 * Clear again the spans whose clear failed in pass 1, with the page
 * directory reserved and validated (an eviction in progress is what makes
 * the unlocked clear fail), only where the VA is still ours; then drop the
 * page sets of the allocations there, so that they are mapped again. An
 * SVM range gpumirror bound again before the repair loses its PTEs until
 * its next fault or invalidation.
 */
static int amdgpu_gpumirror_repair(struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	unsigned long slot = BIT(gvm->gdev.index);
	struct amdgpu_gpumirror_resv resv;
	struct amdgpu_gpumirror_mem *mem;
	struct dma_fence *fence;
	unsigned long gen;
	unsigned int i, n;
	bool lost, done;
	u64 span[AMDGPU_GPUMIRROR_DIRTY_SPANS][2];
	int ret;

	lockdep_assert_held(&p->lock);
	gpumirror_notifier_lock(&p->mirror);
	n = gvm->ndirty;
	for (i = 0; i < n; i++) {
		span[i][0] = gvm->dirty[i].first;
		span[i][1] = gvm->dirty[i].last;
	}
	gen = gvm->dirty_gen;
	lost = gvm->dirty_lost;
	gpumirror_notifier_unlock(&p->mirror);
	if (lost) {
		dev_err_ratelimited(gvm->gdev.dev,
				    "gpumirror: too many failed PTE clears, VM stays stopped\n");
		return -EIO;
	}
	ret = gvm->backend->reserve(gvm, &resv);
	if (ret)
		return ret;
	for (i = 0; i < n && !ret; i++) {
		if (!amdgpu_gpumirror_span_ours(gvm, &resv, span[i][0],
						span[i][1]))
			continue;
		fence = NULL;
		ret = gvm->backend->clear(gvm, span[i][0], span[i][1], &fence);
		atomic_inc(&gvm->stats.clears);
		if (fence) {
			amdgpu_gpumirror_wait(gvm, fence);
			dma_fence_put(fence);
		}
	}
	gvm->backend->unreserve(gvm, &resv);
	if (ret)
		return ret;
	list_for_each_entry(mem, &p->mems, link)
		for (i = 0; i < n; i++)
			if (mem->va_it.start <= span[i][1] &&
			    span[i][0] <= mem->va_it.last &&
			    !(mem->stolen & slot))
				gpumirror_object_unmap(mem->obj, &gvm->gdev);
	/*
	 * Pass 1 appends under the lock held for write: what it added since
	 * the copy stays for the next repair.
	 */
	gpumirror_notifier_lock(&p->mirror);
	done = gvm->dirty_gen == gen;
	memmove(gvm->dirty, gvm->dirty + n,
		(gvm->ndirty - n) * sizeof(gvm->dirty[0]));
	gvm->ndirty -= n;
	if (done)
		clear_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state);
	gpumirror_notifier_unlock(&p->mirror);
	return done ? 0 : -EAGAIN;
}

/*
 * Map again every allocation that is not valid on @gvm; one whose memory
 * is gone, no longer writable or whose VA range a GEM VA ioctl took is
 * marked lost instead, and with @give_up so is one that keeps failing.
 */
static int amdgpu_gpumirror_validate_locked(struct amdgpu_gpumirror_vm *gvm,
					    bool give_up)
{
	unsigned long slot = BIT(gvm->gdev.index);
	struct amdgpu_gpumirror_mem *mem;
	bool valid;
	int ret;

	lockdep_assert_held(&gvm->proc->lock);
	if (test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state)) {
		ret = amdgpu_gpumirror_repair(gvm);
		if (ret)
			return ret;
	}
	list_for_each_entry(mem, &gvm->proc->mems, link) {
		gpumirror_notifier_lock(&gvm->proc->mirror);
		valid = gpumirror_object_valid(mem->obj, &gvm->gdev);
		gpumirror_notifier_unlock(&gvm->proc->mirror);
		if (valid && !(mem->stolen & slot))
			continue;
		ret = amdgpu_gpumirror_mem_map(gvm, mem);
		if (ret && (give_up || ret == -EFAULT || ret == -EPERM ||
			    ret == -EEXIST)) {
			if (!(mem->lost & slot))
				atomic_inc(&gvm->stats.lost);
			WRITE_ONCE(mem->lost, mem->lost | slot);
		} else if (ret) {
			return ret;
		}
	}
	return 0;
}

/**
 * amdgpu_gpumirror_validate() - map again what invalidations unmapped
 * @gvm: the VM
 *
 * Allocations that cannot be mapped any more are left unmapped (lost, as
 * amdgpu does with an invalid userptr BO) rather than failing the call.
 *
 * First clears again a span whose clear failed in pass 1.
 *
 * Context: process context; no BO reservation and no gpumirror lock held.
 * Return: 0, -EAGAIN if a clear failed again meanwhile, or the error of a
 * clear or of a mapping other than those that mark an allocation lost.
 */
int amdgpu_gpumirror_validate(struct amdgpu_gpumirror_vm *gvm)
{
	int ret;

	mutex_lock(&gvm->proc->lock);
	ret = amdgpu_gpumirror_validate_locked(gvm, false);
	mutex_unlock(&gvm->proc->lock);
	return ret;
}

/* amdgpu_gpumirror_restore() with &amdgpu_gpumirror_process.lock held. */
static int amdgpu_gpumirror_restore_locked(struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	bool stale, resume = false;
	int ret;

	ret = amdgpu_gpumirror_validate_locked(gvm, gvm->restore_tries >=
						    AMDGPU_GPUMIRROR_RESTORE_TRIES);
	if (!ret) {
		gpumirror_notifier_lock(&p->mirror);
		stale = amdgpu_gpumirror_stale(gvm);
		resume = !stale && test_and_clear_bit(AMDGPU_GPUMIRROR_QUIESCED,
						      &gvm->state);
		gpumirror_notifier_unlock(&p->mirror);
		ret = stale ? -EAGAIN : 0;
	}
	/*
	 * Pairs with the quiesce that set the bit; after the unlock, since a
	 * quiesce that came in between nests and schedules this again.
	 */
	if (resume && !gvm->backend->resume(gvm))
		atomic_inc(&gvm->stats.resumes);
	gvm->restore_tries = ret ? gvm->restore_tries + 1 : 0;
	return ret;
}

/**
 * amdgpu_gpumirror_restore() - map everything again and resume the queues
 * @gvm: a VM the glue may have quiesced
 *
 * What the restore worker does for each quiesced VM. The queues are
 * resumed only once every allocation is mapped and still valid, checked
 * under the notifier lock. An allocation whose memory is gone (-EFAULT),
 * no longer writable (-EPERM) or whose VA range a GEM VA ioctl took
 * (-EEXIST) is left unmapped, as amdgpu does with an invalid userptr BO.
 * After %AMDGPU_GPUMIRROR_RESTORE_TRIES failed runs in a row, what still
 * fails is left unmapped too. A span whose clear failed is cleared again
 * first; until that works, the queues stay stopped.
 *
 * Context: process context, &amdgpu_gpumirror_process.lock not held.
 * Return: 0, -EAGAIN if an invalidation raced the restore (run it again),
 * -ENOMEM, or another mapping error; the queues stay quiesced on errors.
 */
int amdgpu_gpumirror_restore(struct amdgpu_gpumirror_vm *gvm)
{
	int ret;

	mutex_lock(&gvm->proc->lock);
	ret = amdgpu_gpumirror_restore_locked(gvm);
	mutex_unlock(&gvm->proc->lock);
	return ret;
}

static void amdgpu_gpumirror_restore_work(struct work_struct *work)
{
	struct amdgpu_gpumirror_process *p =
		container_of(work, struct amdgpu_gpumirror_process,
			     restore_work.work);
	struct amdgpu_gpumirror_vm *gvm;
	bool again = false, slow = false;

	mutex_lock(&p->lock);
	list_for_each_entry(gvm, &p->vms, link) {
		if (!test_bit(AMDGPU_GPUMIRROR_QUIESCED, &gvm->state) &&
		    !test_bit(AMDGPU_GPUMIRROR_DIRTY, &gvm->state))
			continue;
		if (!amdgpu_gpumirror_restore_locked(gvm))
			continue;
		again = true;
		/* What still fails after that many runs is tried less often. */
		if (gvm->restore_tries > AMDGPU_GPUMIRROR_RESTORE_TRIES) {
			slow = true;
			dev_warn_ratelimited(gvm->gdev.dev,
					     "gpumirror: restore keeps failing\n");
		}
	}
	mutex_unlock(&p->lock);
	if (again)
		mod_delayed_work(system_unbound_wq, &p->restore_work,
				 slow ? HZ : AMDGPU_GPUMIRROR_RESTORE_DELAY);
}

/**
 * amdgpu_gpumirror_svm_free() - may SVM ranges go at [@start, @end)?
 * @gvm: the VM
 * @start: CPU (and GPU) address, page aligned
 * @end: end, exclusive
 *
 * SVM ranges claim no GPU VA: they go only where the VM maps nothing,
 * so that they never write over a BO's PTEs.
 *
 * Context: process context, no lock held.
 * Return: 0, -EEXIST if something of the VM is mapped there, or the
 * reservation's error.
 */
int amdgpu_gpumirror_svm_free(struct amdgpu_gpumirror_vm *gvm, u64 start,
			      u64 end)
{
	struct amdgpu_gpumirror_resv resv;
	bool free;
	int ret;

	ret = gvm->backend->reserve(gvm, &resv);
	if (ret)
		return ret;
	free = gvm->backend->va_free(gvm, &resv,
				     start >> AMDGPU_GPU_PAGE_SHIFT,
				     (end >> AMDGPU_GPU_PAGE_SHIFT) - 1);
	gvm->backend->unreserve(gvm, &resv);
	return free ? 0 : -EEXIST;
}

/**
 * amdgpu_gpumirror_fault() - serve a GPU page fault (XNACK on)
 * @gvm: the faulting VM
 * @addr: the faulting GPU address, in bytes
 * @write: a write fault
 *
 * Maps the allocation whose GPU VA range covers @addr, whatever its CPU
 * addresses; else, once the VM set SVM attributes, the SVM range at the CPU
 * address @addr.
 *
 * Context: process context, no lock held.
 * Return: 0 if mapped, -ENOENT if no allocation nor SVM covers @addr,
 * -EEXIST for SVM where the VM maps a BO (within the 2M around @addr), or
 * the mapping's error.
 */
int amdgpu_gpumirror_fault(struct amdgpu_gpumirror_vm *gvm, u64 addr,
			   bool write)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	struct interval_tree_node *it;
	struct amdgpu_gpumirror_mem *mem;
	int ret;

	mutex_lock(&p->lock);
	it = interval_tree_iter_first(&p->mem_va, addr >> AMDGPU_GPU_PAGE_SHIFT,
				      addr >> AMDGPU_GPU_PAGE_SHIFT);
	if (it) {
		mem = container_of(it, struct amdgpu_gpumirror_mem, va_it);
		ret = write && !mem->writable ? -EPERM :
		      amdgpu_gpumirror_mem_map(gvm, mem);
		mutex_unlock(&p->lock);
		goto out;
	}
	mutex_unlock(&p->lock);
	ret = -ENOENT;
	if (test_bit(AMDGPU_GPUMIRROR_SVM, &gvm->state)) {
		/* The largest range a fault makes, whatever it makes. */
		ret = amdgpu_gpumirror_svm_free(gvm, ALIGN_DOWN(addr, SZ_2M),
						ALIGN_DOWN(addr, SZ_2M) + SZ_2M);
		if (!ret)
			ret = gpumirror_fault(&p->mirror, &gvm->gdev,
					      ALIGN_DOWN(addr, PAGE_SIZE),
					      write);
	}
out:
	if (!ret)
		atomic_inc(&gvm->stats.faults);
	return ret;
}
