// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * amdgpu glue to gpumirror: the logic, independent of the amdgpu calls.
 */

#include <kunit/visibility.h>
#include <linux/dma-fence.h>
#include <linux/err.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <uapi/linux/kfd_ioctl.h>

#include "amdgpu.h"
#include "amdgpu_gpumirror.h"

/**
 * DOC: amdgpu and gpumirror
 *
 * What amdgpu keeps: its page tables (amdgpu_vm_update_range()), its TLB
 * flushes and their fences, the KFD queues. What it hands to gpumirror: the
 * notifiers, the page walks, the DMA mappings, the validity of mappings and
 * the order of invalidations across GPUs.
 *
 * Each KFD process gets one &struct amdgpu_gpumirror_process (one mirror of
 * its mm); each of its GPUs attaches an &struct amdgpu_gpumirror_vm. A
 * batch userptr allocation (many CPU ranges behind one GPU VA range, the
 * KFD_IOC_ALLOC_MEM_FLAGS_USERPTR batch proposal) is one gpumirror object:
 * one notifier and one sequence number instead of one per range.
 *
 * Invalidation maps onto gpumirror's two passes: pass 1 clears the PTEs and
 * keeps the update's fence, pass 2 waits for the fence and flushes the
 * compute TLBs. A GPU without recoverable faults (XNACK off) also has its
 * queues quiesced in pass 1; amdgpu_gpumirror_restore() maps everything
 * again and resumes them. If clearing the PTEs fails, the queues are
 * quiesced whatever the fault mode, so the GPU cannot use stale PTEs.
 *
 * amdgpu_vm_update_range() may allocate. The glue calls it under the
 * mirror's notifier lock only with reclaim disabled
 * (memalloc_noreclaim_save()), as amdkfd does under its range lock, so the
 * notifier can never wait for an allocation that waits for the notifier.
 */

static struct amdgpu_gpumirror_vm *to_gvm(struct gpumirror_device *gdev)
{
	return container_of(gdev, struct amdgpu_gpumirror_vm, gdev);
}

/**
 * amdgpu_gpumirror_pte_flags() - PTE flags for one page
 * @entry: the page's entry in the GPU's page set
 * @kfd_flags: KFD_IOC_ALLOC_MEM_FLAGS_* of the allocation
 *
 * Return: system, snooped, readable PTE flags; writeable only if both the
 * allocation and the CPU mapping allow writes; executable if asked for.
 */
u64 amdgpu_gpumirror_pte_flags(gpumirror_addr_t entry, u32 kfd_flags)
{
	u64 flags = AMDGPU_PTE_VALID | AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED |
		    AMDGPU_PTE_READABLE;

	if ((entry & GPUMIRROR_ADDR_WRITE) &&
	    (kfd_flags & KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE))
		flags |= AMDGPU_PTE_WRITEABLE;
	if (kfd_flags & KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE)
		flags |= AMDGPU_PTE_EXECUTABLE;
	return flags;
}

static void amdgpu_gpumirror_quiesce(struct amdgpu_gpumirror_vm *gvm)
{
	lockdep_assert_held_write(&gvm->gdev.mirror->notifier_lock);
	if (gvm->quiesced)
		return;
	/* A failure leaves nothing to undo: the queues keep running. */
	if (!gvm->backend->quiesce(gvm)) {
		gvm->quiesced = true;
		atomic_inc(&gvm->stats.quiesces);
	}
}

/* Keep @fence for pass 2; fences of one VM's updates signal in order. */
static void amdgpu_gpumirror_keep_fence(struct amdgpu_gpumirror_vm *gvm,
					struct dma_fence *fence)
{
	lockdep_assert_held_write(&gvm->gdev.mirror->notifier_lock);
	if (gvm->pending && gvm->pending->context != fence->context) {
		gvm->backend->wait(gvm, gvm->pending);
		atomic_inc(&gvm->stats.waits);
	}
	dma_fence_put(gvm->pending);
	gvm->pending = fence;
}

/* Pass 1: clear the PTEs, start the flush, stop no-fault queues. */
static void amdgpu_gpumirror_invalidate_start(struct gpumirror_device *gdev,
					      struct gpumirror_object *obj,
					      u64 gpu_start, u64 gpu_end)
{
	struct amdgpu_gpumirror_vm *gvm = to_gvm(gdev);
	struct dma_fence *fence = NULL;
	int ret;

	if (gvm->no_fault)
		amdgpu_gpumirror_quiesce(gvm);
	ret = gvm->backend->clear(gvm, gpu_start >> AMDGPU_GPU_PAGE_SHIFT,
				  (gpu_end >> AMDGPU_GPU_PAGE_SHIFT) - 1,
				  &fence);
	atomic_inc(&gvm->stats.clears);
	if (ret) {
		amdgpu_gpumirror_quiesce(gvm);
		return;
	}
	if (fence)
		amdgpu_gpumirror_keep_fence(gvm, fence);
}

/* Pass 2: wait for the PTE updates, then flush the compute TLBs. */
static void amdgpu_gpumirror_invalidate_finish(struct gpumirror_device *gdev)
{
	struct amdgpu_gpumirror_vm *gvm = to_gvm(gdev);

	if (gvm->pending) {
		gvm->backend->wait(gvm, gvm->pending);
		atomic_inc(&gvm->stats.waits);
		dma_fence_put(gvm->pending);
		gvm->pending = NULL;
	}
	gvm->backend->flush_tlb(gvm);
	atomic_inc(&gvm->stats.flushes);
}

static const struct gpumirror_device_ops amdgpu_gpumirror_ops = {
	.invalidate_start = amdgpu_gpumirror_invalidate_start,
	.invalidate_finish = amdgpu_gpumirror_invalidate_finish,
};

/**
 * amdgpu_gpumirror_process_init() - set up the mirror of a KFD process
 * @p: the process's glue state
 * @mm: the process's mm
 *
 * Return: 0 or the error of gpumirror_init().
 */
int amdgpu_gpumirror_process_init(struct amdgpu_gpumirror_process *p,
				  struct mm_struct *mm)
{
	INIT_LIST_HEAD(&p->mems);
	return gpumirror_init(&p->mirror, mm);
}

/**
 * amdgpu_gpumirror_process_fini() - free every allocation and the mirror
 * @p: the process's glue state
 */
void amdgpu_gpumirror_process_fini(struct amdgpu_gpumirror_process *p)
{
	struct amdgpu_gpumirror_mem *mem, *tmp;

	list_for_each_entry_safe(mem, tmp, &p->mems, link)
		amdgpu_gpumirror_mem_free(p, mem);
	gpumirror_fini(&p->mirror);
}

/**
 * amdgpu_gpumirror_vm_attach() - attach a GPU's VM to the process mirror
 * @p: the process's glue state
 * @gvm: the VM, with @gdev.dev, @gdev.va_limit, @backend, @adev, @vm and
 *	@no_fault filled in
 *
 * Return: 0 or the error of gpumirror_device_attach().
 */
int amdgpu_gpumirror_vm_attach(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_vm *gvm)
{
	gvm->gdev.ops = &amdgpu_gpumirror_ops;
	gvm->pending = NULL;
	gvm->quiesced = false;
	memset(&gvm->stats, 0, sizeof(gvm->stats));
	return gpumirror_device_attach(&p->mirror, &gvm->gdev);
}

/**
 * amdgpu_gpumirror_vm_detach() - detach a GPU's VM, clearing its PTEs
 * @gvm: an attached VM
 */
void amdgpu_gpumirror_vm_detach(struct amdgpu_gpumirror_vm *gvm)
{
	gpumirror_device_detach(&gvm->gdev);
}

/**
 * amdgpu_gpumirror_userptr_batch() - one allocation over many CPU ranges
 * @p: the process's glue state
 * @ranges: the CPU ranges, in GPU VA order
 * @nr: number of @ranges
 * @gpu_va: GPU VA of the allocation
 * @kfd_flags: KFD_IOC_ALLOC_MEM_FLAGS_USERPTR plus attribute flags
 *
 * Return: the allocation, or an ERR_PTR() of gpumirror_object_create()'s
 * errors, -EINVAL without KFD_IOC_ALLOC_MEM_FLAGS_USERPTR, or -ENOMEM.
 */
struct amdgpu_gpumirror_mem *
amdgpu_gpumirror_userptr_batch(struct amdgpu_gpumirror_process *p,
			       const struct gpumirror_range *ranges,
			       unsigned int nr, u64 gpu_va, u32 kfd_flags)
{
	struct amdgpu_gpumirror_mem *mem;

	if (!(kfd_flags & KFD_IOC_ALLOC_MEM_FLAGS_USERPTR))
		return ERR_PTR(-EINVAL);
	mem = kzalloc(sizeof(*mem), GFP_KERNEL);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	mem->kfd_flags = kfd_flags;
	mem->obj = gpumirror_object_create(&p->mirror, ranges, nr, gpu_va);
	if (IS_ERR(mem->obj)) {
		long ret = PTR_ERR(mem->obj);

		kfree(mem);
		return ERR_PTR(ret);
	}
	mutex_lock(&p->mirror.lock);
	list_add_tail(&mem->link, &p->mems);
	mutex_unlock(&p->mirror.lock);
	return mem;
}

/**
 * amdgpu_gpumirror_mem_free() - unmap from every GPU and free
 * @p: the process's glue state
 * @mem: an allocation of @p
 */
void amdgpu_gpumirror_mem_free(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_mem *mem)
{
	mutex_lock(&p->mirror.lock);
	list_del(&mem->link);
	mutex_unlock(&p->mirror.lock);
	gpumirror_object_destroy(mem->obj);
	kfree(mem);
}

/*
 * Program every PTE of @mem from @gvm's page set, in runs of equal flags.
 * On error the runs already programmed are cleared again.
 */
static int amdgpu_gpumirror_bind_locked(struct amdgpu_gpumirror_vm *gvm,
					struct amdgpu_gpumirror_mem *mem,
					dma_addr_t *addrs,
					struct dma_fence **fence)
{
	struct gpumirror_object *obj = mem->obj;
	u64 base = obj->gpu_start >> AMDGPU_GPU_PAGE_SHIFT;
	unsigned long i = 0, j;
	gpumirror_addr_t e;
	u64 flags;
	int ret = 0;

	lockdep_assert_held(&obj->mirror->notifier_lock);

	while (i < obj->npages) {
		e = gpumirror_object_page(obj, &gvm->gdev, i);
		/* Device memory comes with the migration support. */
		if (e & GPUMIRROR_ADDR_DEVICE) {
			ret = -EOPNOTSUPP;
			break;
		}
		flags = amdgpu_gpumirror_pte_flags(e, mem->kfd_flags);
		for (j = i; j < obj->npages; j++) {
			e = gpumirror_object_page(obj, &gvm->gdev, j);
			if ((e & GPUMIRROR_ADDR_DEVICE) ||
			    amdgpu_gpumirror_pte_flags(e, mem->kfd_flags) != flags)
				break;
			addrs[j] = gpumirror_addr(e);
		}
		/* Updates of one VM signal in order: the last fence is enough. */
		dma_fence_put(*fence);
		*fence = NULL;
		ret = gvm->backend->update(gvm, base + i, base + j - 1, flags,
					   addrs + i, fence);
		atomic_inc(&gvm->stats.updates);
		if (ret)
			break;
		i = j;
	}
	if (ret && i) {
		dma_fence_put(*fence);
		*fence = NULL;
		gvm->backend->clear(gvm, base, base + i - 1, fence);
		atomic_inc(&gvm->stats.clears);
	}
	return ret;
}

/**
 * amdgpu_gpumirror_bind() - program an allocation's PTEs on one GPU
 * @gvm: the GPU's VM
 * @mem: the allocation, mapped for @gvm by gpumirror_object_map()
 *
 * Return: 0, -EAGAIN if the page set went stale (map again), -ENOMEM, or
 * the backend's error (no PTE of @mem is left programmed then).
 */
VISIBLE_IF_KUNIT int amdgpu_gpumirror_bind(struct amdgpu_gpumirror_vm *gvm,
					   struct amdgpu_gpumirror_mem *mem)
{
	struct gpumirror *mirror = mem->obj->mirror;
	struct dma_fence *fence = NULL;
	unsigned int noreclaim;
	dma_addr_t *addrs;
	int ret = -EAGAIN;

	addrs = kvmalloc_array(mem->obj->npages, sizeof(*addrs), GFP_KERNEL);
	if (!addrs)
		return -ENOMEM;
	gpumirror_notifier_lock(mirror);
	if (gpumirror_object_valid(mem->obj, &gvm->gdev)) {
		noreclaim = memalloc_noreclaim_save();
		ret = amdgpu_gpumirror_bind_locked(gvm, mem, addrs, &fence);
		memalloc_noreclaim_restore(noreclaim);
	}
	gpumirror_notifier_unlock(mirror);
	if (fence) {
		gvm->backend->wait(gvm, fence);
		atomic_inc(&gvm->stats.waits);
		dma_fence_put(fence);
	}
	kvfree(addrs);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(amdgpu_gpumirror_bind);

/**
 * amdgpu_gpumirror_mem_map() - fault an allocation and map it on one GPU
 * @gvm: the GPU's VM
 * @mem: the allocation
 *
 * Retries while invalidations race the mapping.
 *
 * Return: 0, or the error of gpumirror_object_map() or of the backend.
 */
int amdgpu_gpumirror_mem_map(struct amdgpu_gpumirror_vm *gvm,
			     struct amdgpu_gpumirror_mem *mem)
{
	unsigned int flags = 0;
	int ret;

	if (mem->kfd_flags & KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE)
		flags |= GPUMIRROR_MAP_WRITE;
	do {
		ret = gpumirror_object_map(mem->obj, BIT(gvm->gdev.index),
					   flags);
		if (!ret)
			ret = amdgpu_gpumirror_bind(gvm, mem);
	} while (ret == -EAGAIN);
	return ret;
}

/* Every allocation still valid on @gvm? Notifier lock held. */
static bool amdgpu_gpumirror_all_valid(struct amdgpu_gpumirror_process *p,
				       struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_gpumirror_mem *mem;

	lockdep_assert_held(&p->mirror.lock);
	list_for_each_entry(mem, &p->mems, link)
		if (!gpumirror_object_valid(mem->obj, &gvm->gdev))
			return false;
	return true;
}

#define AMDGPU_GPUMIRROR_RESTORE_TRIES	64

/**
 * amdgpu_gpumirror_restore() - map everything again and resume queues
 * @p: the process's glue state
 * @gvm: a GPU's VM whose queues an invalidation may have quiesced
 *
 * The restore worker of a no-fault process calls this after invalidations.
 * The queues are resumed only once every allocation is mapped and still
 * valid, checked under the notifier lock; an invalidation racing the
 * restore makes it start over, a bounded number of times. The backend's
 * quiesce and resume nest (as KFD's do), so a quiesce that comes between
 * the check and the resume keeps the queues stopped.
 *
 * Return: 0, -EBUSY if invalidations kept racing, or the first mapping
 * error; in both error cases the queues stay quiesced.
 */
int amdgpu_gpumirror_restore(struct amdgpu_gpumirror_process *p,
			     struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_gpumirror_mem *mem;
	unsigned int tries = 0;
	bool valid, resume = false;
	int ret;

	mutex_lock(&p->mirror.lock);
	do {
		ret = 0;
		list_for_each_entry(mem, &p->mems, link) {
			ret = amdgpu_gpumirror_mem_map(gvm, mem);
			if (ret)
				break;
		}
		if (ret)
			break;
		down_write(&p->mirror.notifier_lock);
		valid = amdgpu_gpumirror_all_valid(p, gvm);
		if (valid) {
			resume = gvm->quiesced;
			gvm->quiesced = false;
		}
		up_write(&p->mirror.notifier_lock);
		ret = valid ? 0 : -EBUSY;
	} while (ret == -EBUSY && ++tries < AMDGPU_GPUMIRROR_RESTORE_TRIES);
	mutex_unlock(&p->mirror.lock);

	if (resume && !gvm->backend->resume(gvm))
		atomic_inc(&gvm->stats.resumes);
	return ret;
}
