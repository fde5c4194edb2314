/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * amdgpu glue to gpumirror.
 */
#ifndef __AMDGPU_GPUMIRROR_H__
#define __AMDGPU_GPUMIRROR_H__

#include <linux/gpumirror.h>
#include <linux/list.h>

struct amdgpu_device;
struct amdgpu_vm;
struct dma_fence;
struct amdgpu_gpumirror_vm;

/**
 * struct amdgpu_gpumirror_backend - the amdgpu calls the glue makes
 *
 * amdgpu_gpumirror_amdgpu_backend is the real one; the KUnit suite uses a
 * recording fake. Called with the locks the glue's callers hold, see each
 * member.
 */
struct amdgpu_gpumirror_backend {
	/**
	 * @update: Required. Map GPU pages [@start, @last] to @pages_addr
	 * with PTE @flags; return the update's fence in @fence. Called with
	 * the mirror's notifier lock held for read and reclaim disabled.
	 */
	int (*update)(struct amdgpu_gpumirror_vm *gvm, u64 start, u64 last,
		      u64 flags, dma_addr_t *pages_addr,
		      struct dma_fence **fence);
	/**
	 * @clear: Required. Clear the PTEs of GPU pages [@start, @last] and
	 * start the TLB flush; return the fence of the update in @fence.
	 * Called from pass 1 of an invalidation (notifier lock held for
	 * write, possibly under reclaim).
	 */
	int (*clear)(struct amdgpu_gpumirror_vm *gvm, u64 start, u64 last,
		     struct dma_fence **fence);
	/** @wait: Required. Wait for @fence; may sleep. */
	void (*wait)(struct amdgpu_gpumirror_vm *gvm, struct dma_fence *fence);
	/** @flush_tlb: Required. Flush the VM's TLBs (compute queues). */
	void (*flush_tlb)(struct amdgpu_gpumirror_vm *gvm);
	/** @quiesce: Required. Stop the process's user queues. */
	int (*quiesce)(struct amdgpu_gpumirror_vm *gvm);
	/** @resume: Required. Restart the process's user queues. */
	int (*resume)(struct amdgpu_gpumirror_vm *gvm);
};

extern const struct amdgpu_gpumirror_backend amdgpu_gpumirror_amdgpu_backend;

/**
 * struct amdgpu_gpumirror_process - one process's mirror, all its GPUs
 * @mirror: the gpumirror instance over the process's mm
 * @mems: &struct amdgpu_gpumirror_mem of the process, under @mirror.lock
 */
struct amdgpu_gpumirror_process {
	struct gpumirror mirror;
	struct list_head mems;
};

/**
 * struct amdgpu_gpumirror_vm - one GPU's VM of a process, on its mirror
 * @gdev: the gpumirror device
 * @backend: the amdgpu calls
 * @adev: the GPU
 * @vm: its VM
 * @no_fault: the GPU cannot recover from page faults (XNACK off): an
 *	invalidation stops the queues until amdgpu_gpumirror_restore()
 * @pending: the fence of the last PTE clear of pass 1 (notifier lock)
 * @quiesced: the queues are stopped by the glue (notifier lock)
 * @stats: calls made to the backend, for tests and debugfs
 */
struct amdgpu_gpumirror_vm {
	struct gpumirror_device gdev;
	const struct amdgpu_gpumirror_backend *backend;
	struct amdgpu_device *adev;
	struct amdgpu_vm *vm;
	bool no_fault;
	struct dma_fence *pending;
	bool quiesced;
	struct {
		atomic_t updates, clears, waits, flushes, quiesces, resumes;
	} stats;
};

/**
 * struct amdgpu_gpumirror_mem - a batch userptr allocation
 * @obj: the gpumirror object over all its CPU ranges
 * @kfd_flags: KFD_IOC_ALLOC_MEM_FLAGS_* of the allocation
 * @link: entry in &amdgpu_gpumirror_process.mems
 */
struct amdgpu_gpumirror_mem {
	struct gpumirror_object *obj;
	u32 kfd_flags;
	struct list_head link;
};

int amdgpu_gpumirror_process_init(struct amdgpu_gpumirror_process *p,
				  struct mm_struct *mm);
void amdgpu_gpumirror_process_fini(struct amdgpu_gpumirror_process *p);
int amdgpu_gpumirror_vm_attach(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_vm *gvm);
void amdgpu_gpumirror_vm_detach(struct amdgpu_gpumirror_vm *gvm);

struct amdgpu_gpumirror_mem *
amdgpu_gpumirror_userptr_batch(struct amdgpu_gpumirror_process *p,
			       const struct gpumirror_range *ranges,
			       unsigned int nr, u64 gpu_va, u32 kfd_flags);
void amdgpu_gpumirror_mem_free(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_mem *mem);
int amdgpu_gpumirror_mem_map(struct amdgpu_gpumirror_vm *gvm,
			     struct amdgpu_gpumirror_mem *mem);
int amdgpu_gpumirror_restore(struct amdgpu_gpumirror_process *p,
			     struct amdgpu_gpumirror_vm *gvm);

u64 amdgpu_gpumirror_pte_flags(gpumirror_addr_t entry, u32 kfd_flags);

#if IS_ENABLED(CONFIG_KUNIT)
int amdgpu_gpumirror_bind(struct amdgpu_gpumirror_vm *gvm,
			  struct amdgpu_gpumirror_mem *mem);
#endif

#endif /* __AMDGPU_GPUMIRROR_H__ */
