// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * amdgpu glue to gpumirror: the real amdgpu calls.
 */

#include <drm/ttm/ttm_bo.h>
#include <linux/dma-fence.h>

#include "amdgpu.h"
#include "amdgpu_amdkfd.h"
#include "amdgpu_gpumirror.h"
#include "amdgpu_vm.h"
#include <uapi/linux/kfd_ioctl.h>

static struct dma_resv *amdgpu_gpumirror_hw_resv(struct amdgpu_gpumirror_vm *gvm)
{
	return gvm->vm->root.bo->tbo.base.resv;
}

/* Put a page-table BO back where it belongs, as amdkfd's SVM does. */
static int amdgpu_gpumirror_hw_validate_bo(void *param, struct amdgpu_bo *bo)
{
	struct ttm_operation_ctx ctx = { .interruptible = false };

	amdgpu_bo_placement_from_domain(bo, bo->allowed_domains);
	return ttm_bo_validate(&bo->tbo, &bo->placement, &ctx);
}

static int amdgpu_gpumirror_hw_reserve(struct amdgpu_gpumirror_vm *gvm,
				       struct amdgpu_gpumirror_resv *resv)
{
	int ret = 0;

	drm_exec_init(&resv->exec, DRM_EXEC_INTERRUPTIBLE_WAIT, 0);
	drm_exec_until_all_locked(&resv->exec) {
		/* One fence slot for the update, the VM adds its own. */
		ret = amdgpu_vm_lock_pd(gvm->vm, &resv->exec, 1);
		drm_exec_retry_on_contention(&resv->exec);
		if (ret)
			goto fini;
	}
	ret = amdgpu_vm_validate(gvm->adev, gvm->vm, NULL,
				 amdgpu_gpumirror_hw_validate_bo, NULL);
	if (ret)
		goto fini;
	resv->gvm = gvm;
	return 0;

fini:
	drm_exec_fini(&resv->exec);
	return ret;
}

static void amdgpu_gpumirror_hw_unreserve(struct amdgpu_gpumirror_vm *gvm,
					  struct amdgpu_gpumirror_resv *resv)
{
	resv->gvm = NULL;
	drm_exec_fini(&resv->exec);
}

/*
 * Is no GPU page of [@start, @last] mapped? amdgpu exports only a point
 * lookup of its VA tree; a mapping covers whole GPU pages, so one lookup
 * per page, skipping over nothing, finds any overlap.
 */
static bool amdgpu_gpumirror_hw_va_free(struct amdgpu_gpumirror_vm *gvm,
					struct amdgpu_gpumirror_resv *resv,
					u64 start, u64 last)
{
	u64 page;

	dma_resv_assert_held(amdgpu_gpumirror_hw_resv(gvm));
	for (page = start; page <= last; page++) {
		if (amdgpu_vm_bo_lookup_mapping(gvm->vm, page))
			return false;
		if (!(page % 4096))
			cond_resched();
	}
	return true;
}

/* The GPU VA claims of a VM: mappings of one BO-less bo_va, like PRT's. */
static int amdgpu_gpumirror_hw_va_reserve(struct amdgpu_gpumirror_vm *gvm,
					  struct amdgpu_gpumirror_resv *resv,
					  u64 start, u64 last)
{
	int ret;

	dma_resv_assert_held(amdgpu_gpumirror_hw_resv(gvm));
	if (!gvm->va_bo_va) {
		gvm->va_bo_va = amdgpu_vm_bo_add(gvm->adev, gvm->vm, NULL);
		if (!gvm->va_bo_va)
			return -ENOMEM;
	}
	/* Checked first: amdgpu_vm_bo_map() logs every conflict. */
	if (!amdgpu_gpumirror_hw_va_free(gvm, resv, start, last))
		return -EEXIST;
	/* The flags are never used: nothing updates this bo_va's PTEs. */
	ret = amdgpu_vm_bo_map(gvm->adev, gvm->va_bo_va,
			       start * AMDGPU_GPU_PAGE_SIZE, 0,
			       (last - start + 1) * AMDGPU_GPU_PAGE_SIZE, 0);
	/* amdgpu_vm_bo_map() says -EINVAL for a range in use. */
	return ret == -EINVAL ? -EEXIST : ret;
}

/*
 * The mapping was never updated through the bo_va, so unmapping frees it
 * at once; the glue cleared its PTEs already (the object's destruction or
 * the device's detach ran both passes).
 */
static void amdgpu_gpumirror_hw_va_release(struct amdgpu_gpumirror_vm *gvm,
					   struct amdgpu_gpumirror_resv *resv,
					   u64 start)
{
	dma_resv_assert_held(amdgpu_gpumirror_hw_resv(gvm));
	/* -ENOENT: a GEM VA ioctl cleared it already. */
	amdgpu_vm_bo_unmap(gvm->adev, gvm->va_bo_va,
			   start * AMDGPU_GPU_PAGE_SIZE);
}

static bool amdgpu_gpumirror_hw_va_check(struct amdgpu_gpumirror_vm *gvm,
					 struct amdgpu_gpumirror_resv *resv,
					 u64 start, u64 last)
{
	struct amdgpu_bo_va_mapping *m;

	dma_resv_assert_held(amdgpu_gpumirror_hw_resv(gvm));
	m = amdgpu_vm_bo_lookup_mapping(gvm->vm, start);
	return m && m->bo_va && m->bo_va == gvm->va_bo_va &&
	       m->start == start && m->last >= last;
}

/*
 * System memory, snooped; MTYPE as amdkfd's SVM picks it for a dGPU: UC,
 * NC from GFX 12 on, which also needs AMDGPU_PTE_IS_PTE.
 */
static u64 amdgpu_gpumirror_hw_pte_flags(struct amdgpu_gpumirror_vm *gvm,
					 bool writable, bool executable)
{
	struct amdgpu_device *adev = gvm->adev;
	bool gfx12 = amdgpu_ip_version(adev, GC_HWIP, 0) >= IP_VERSION(12, 0, 0);
	u32 mapping = AMDGPU_VM_PAGE_READABLE;
	u64 flags;

	mapping |= gfx12 ? AMDGPU_VM_MTYPE_NC : AMDGPU_VM_MTYPE_UC;
	if (writable)
		mapping |= AMDGPU_VM_PAGE_WRITEABLE;
	if (executable)
		mapping |= AMDGPU_VM_PAGE_EXECUTABLE;
	flags = AMDGPU_PTE_VALID | AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED;
	if (gfx12)
		flags |= AMDGPU_PTE_IS_PTE;
	return flags | amdgpu_gem_va_map_flags(adev, mapping);
}

static int amdgpu_gpumirror_hw_update(struct amdgpu_gpumirror_vm *gvm,
				      struct amdgpu_gpumirror_resv *resv,
				      u64 start, u64 last, u64 flags,
				      dma_addr_t *pages_addr,
				      struct dma_fence **fence)
{
	dma_resv_assert_held(amdgpu_gpumirror_hw_resv(gvm));
	/* Locked (not immediate) update; pages_addr[0] is GPU page @start. */
	return amdgpu_vm_update_range(gvm->adev, gvm->vm, false, false, true,
				      true, NULL, start, last, flags, 0, 0,
				      NULL, pages_addr, fence);
}

static int amdgpu_gpumirror_hw_update_pdes(struct amdgpu_gpumirror_vm *gvm,
					   struct amdgpu_gpumirror_resv *resv)
{
	dma_resv_assert_held(amdgpu_gpumirror_hw_resv(gvm));
	return amdgpu_vm_update_pdes(gvm->adev, gvm->vm, false);
}

static int amdgpu_gpumirror_hw_clear(struct amdgpu_gpumirror_vm *gvm,
				     u64 start, u64 last,
				     struct dma_fence **fence)
{
	/* Unlocked: the notifier cannot reserve; as amdkfd's SVM unmap. */
	return amdgpu_vm_update_range(gvm->adev, gvm->vm, false, true, true,
				      false, NULL, start, last, 0, 0, 0, NULL,
				      NULL, fence);
}

static void amdgpu_gpumirror_hw_wait(struct amdgpu_gpumirror_vm *gvm,
				     struct dma_fence *fence)
{
	dma_fence_wait(fence, false);
}

/*
 * Flush the VM's TLBs by PASID on every XCC, as amdkfd does for compute
 * VMs (amdgpu_vm_flush_compute_tlb() is only for those): a gfx VM with
 * retry faults has jobs running while its PTEs are cleared.
 */
static void amdgpu_gpumirror_hw_flush_tlb(struct amdgpu_gpumirror_vm *gvm)
{
	struct amdgpu_device *adev = gvm->adev;
	bool all_hub = adev->family == AMDGPU_FAMILY_AI ||
		       adev->family == AMDGPU_FAMILY_RV;
	u64 seq = amdgpu_vm_tlb_seq(gvm->vm);
	int xcc;

	/* Nothing was written since the last flush (no clear succeeded). */
	if (!gvm->vm->pasid || gvm->flushed_seq == seq)
		return;
	gvm->flushed_seq = seq;
	for_each_inst(xcc, adev->gfx.xcc_mask)
		if (amdgpu_gmc_flush_gpu_tlb_pasid(adev, gvm->vm->pasid,
						   TLB_FLUSH_HEAVYWEIGHT,
						   all_hub, xcc))
			break;
}

static bool amdgpu_gpumirror_hw_has_queues(struct amdgpu_gpumirror_vm *gvm)
{
	return READ_ONCE(gvm->vm->is_compute_context);
}

static int amdgpu_gpumirror_hw_quiesce(struct amdgpu_gpumirror_vm *gvm)
{
	return kgd2kfd_quiesce_mm(gvm->gdev.mirror->mm,
				  KFD_QUEUE_EVICTION_TRIGGER_SVM);
}

static int amdgpu_gpumirror_hw_resume(struct amdgpu_gpumirror_vm *gvm)
{
	return kgd2kfd_resume_mm(gvm->gdev.mirror->mm);
}

/*
 * Every submission adds its fence to the page directory's reservation for
 * read or write; page-table updates (bookkeeping) need not be waited for.
 */
static void amdgpu_gpumirror_hw_wait_idle(struct amdgpu_gpumirror_vm *gvm)
{
	dma_resv_wait_timeout(amdgpu_gpumirror_hw_resv(gvm),
			      DMA_RESV_USAGE_READ, false,
			      MAX_SCHEDULE_TIMEOUT);
}

/*
 * The backend of a real amdgpu VM: the page directory reserved with
 * drm_exec and validated with amdgpu_vm_validate(), VA claims as mappings
 * of a BO-less bo_va, PTE updates through amdgpu_vm_update_range() and
 * amdgpu_vm_update_pdes(), fences with dma_fence_wait(), TLB flushes by
 * PASID, KFD queues (compute VMs only) with
 * kgd2kfd_quiesce_mm() and kgd2kfd_resume_mm(), and a gfx VM's jobs
 * waited for through the page directory's reservation object.
 */
const struct amdgpu_gpumirror_backend amdgpu_gpumirror_amdgpu_backend = {
	.reserve = amdgpu_gpumirror_hw_reserve,
	.unreserve = amdgpu_gpumirror_hw_unreserve,
	.va_reserve = amdgpu_gpumirror_hw_va_reserve,
	.va_release = amdgpu_gpumirror_hw_va_release,
	.va_check = amdgpu_gpumirror_hw_va_check,
	.va_free = amdgpu_gpumirror_hw_va_free,
	.pte_flags = amdgpu_gpumirror_hw_pte_flags,
	.update = amdgpu_gpumirror_hw_update,
	.update_pdes = amdgpu_gpumirror_hw_update_pdes,
	.clear = amdgpu_gpumirror_hw_clear,
	.wait = amdgpu_gpumirror_hw_wait,
	.flush_tlb = amdgpu_gpumirror_hw_flush_tlb,
	.has_queues = amdgpu_gpumirror_hw_has_queues,
	.quiesce = amdgpu_gpumirror_hw_quiesce,
	.resume = amdgpu_gpumirror_hw_resume,
	.wait_idle = amdgpu_gpumirror_hw_wait_idle,
};
