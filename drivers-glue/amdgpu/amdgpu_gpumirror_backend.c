// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * amdgpu glue to gpumirror: the real amdgpu calls.
 */

#include <linux/dma-fence.h>

#include "amdgpu.h"
#include "amdgpu_amdkfd.h"
#include "amdgpu_gpumirror.h"
#include <uapi/linux/kfd_ioctl.h>

static int amdgpu_gpumirror_hw_update(struct amdgpu_gpumirror_vm *gvm,
				      u64 start, u64 last, u64 flags,
				      dma_addr_t *pages_addr,
				      struct dma_fence **fence)
{
	/* pages_addr[0] is GPU page @start: the offset is 0. */
	return amdgpu_vm_update_range(gvm->adev, gvm->vm, false, false, true,
				      true, NULL, start, last, flags, 0, 0,
				      NULL, pages_addr, fence);
}

static int amdgpu_gpumirror_hw_clear(struct amdgpu_gpumirror_vm *gvm,
				     u64 start, u64 last,
				     struct dma_fence **fence)
{
	/* Immediate and unlocked: this runs from the mmu notifier. */
	return amdgpu_vm_update_range(gvm->adev, gvm->vm, true, true, true,
				      false, NULL, start, last, 0, 0, 0, NULL,
				      NULL, fence);
}

static void amdgpu_gpumirror_hw_wait(struct amdgpu_gpumirror_vm *gvm,
				     struct dma_fence *fence)
{
	dma_fence_wait(fence, false);
}

static void amdgpu_gpumirror_hw_flush_tlb(struct amdgpu_gpumirror_vm *gvm)
{
	amdgpu_vm_flush_compute_tlb(gvm->adev, gvm->vm, TLB_FLUSH_HEAVYWEIGHT,
				    gvm->adev->gfx.xcc_mask);
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
 * The backend of a real amdgpu VM:
 * PTE updates through amdgpu_vm_update_range(), fences with dma_fence_wait(),
 * compute TLB flushes with amdgpu_vm_flush_compute_tlb(), KFD queues with
 * kgd2kfd_quiesce_mm() and kgd2kfd_resume_mm().
 */
const struct amdgpu_gpumirror_backend amdgpu_gpumirror_amdgpu_backend = {
	.update = amdgpu_gpumirror_hw_update,
	.clear = amdgpu_gpumirror_hw_clear,
	.wait = amdgpu_gpumirror_hw_wait,
	.flush_tlb = amdgpu_gpumirror_hw_flush_tlb,
	.quiesce = amdgpu_gpumirror_hw_quiesce,
	.resume = amdgpu_gpumirror_hw_resume,
};
