/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * amdgpu glue to gpumirror.
 */
#ifndef __AMDGPU_GPUMIRROR_H__
#define __AMDGPU_GPUMIRROR_H__

#include <drm/drm_exec.h>
#include <drm/amdgpu_gpumirror_drm.h>
#include <linux/gpumirror.h>
#include <linux/interval_tree.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

struct amdgpu_device;
struct amdgpu_cs_parser;
struct amdgpu_fpriv;
struct amdgpu_vm;
struct amdgpu_bo_va;
struct dma_fence;
struct drm_device;
struct drm_file;
struct amdgpu_gpumirror_vm;

/**
 * struct amdgpu_gpumirror_resv - the VM's page directory, reserved
 * @exec: the reservation context of the real backend
 * @gvm: the VM it was reserved for, while held
 *
 * Lives on the caller's stack from @reserve to @unreserve.
 */
struct amdgpu_gpumirror_resv {
	struct drm_exec exec;
	struct amdgpu_gpumirror_vm *gvm;
};

/**
 * struct amdgpu_gpumirror_backend - the amdgpu calls the glue makes
 *
 * amdgpu_gpumirror_amdgpu_backend is the real one; the KUnit suite uses a
 * recording fake that enforces the same contracts: it fails every call
 * that needs the reservation when it is not held, and it allocates where
 * the real one does, so lockdep judges both alike. "Reserved" below means
 * between @reserve and @unreserve with the same &struct
 * amdgpu_gpumirror_resv. GPU addresses are in GPU pages
 * (%AMDGPU_GPU_PAGE_SIZE), inclusive.
 */
struct amdgpu_gpumirror_backend {
	/**
	 * @reserve: Required. Reserve the VM's page directory (the
	 * reservation object the VM's page tables share) and validate the
	 * page-table BOs back into place (amdgpu_vm_validate()). May sleep
	 * and allocate; no gpumirror lock held. Return: 0 or -errno, nothing
	 * held then.
	 */
	int (*reserve)(struct amdgpu_gpumirror_vm *gvm,
		       struct amdgpu_gpumirror_resv *resv);
	/** @unreserve: Required. Drop what @reserve took. */
	void (*unreserve)(struct amdgpu_gpumirror_vm *gvm,
			  struct amdgpu_gpumirror_resv *resv);
	/**
	 * @va_reserve: Required. Claim GPU pages [@start, @last] in the VM's
	 * VA space, as a GEM VA mapping does, so no other mapping lands
	 * there. Reserved, no gpumirror lock held; may allocate. Return: 0,
	 * -EEXIST if any of it is in use, or -errno.
	 */
	int (*va_reserve)(struct amdgpu_gpumirror_vm *gvm,
			  struct amdgpu_gpumirror_resv *resv, u64 start,
			  u64 last);
	/**
	 * @va_release: Required. Give back what @va_reserve claimed at
	 * @start and clear its PTEs. Reserved, no gpumirror lock held.
	 */
	void (*va_release)(struct amdgpu_gpumirror_vm *gvm,
			   struct amdgpu_gpumirror_resv *resv, u64 start);
	/**
	 * @va_check: Required. Is [@start, @last] still claimed by
	 * @va_reserve (a GEM VA ioctl can clear any mapping of the VM)?
	 * Reserved; called under the notifier lock: must not allocate.
	 */
	bool (*va_check)(struct amdgpu_gpumirror_vm *gvm,
			 struct amdgpu_gpumirror_resv *resv, u64 start,
			 u64 last);
	/**
	 * @va_free: Required. Is no GPU page of [@start, @last] mapped by
	 * anything in the VM (the check before SVM faults and prefetches,
	 * whose ranges claim nothing)? Reserved, no gpumirror lock held; may
	 * sleep.
	 */
	bool (*va_free)(struct amdgpu_gpumirror_vm *gvm,
			struct amdgpu_gpumirror_resv *resv, u64 start,
			u64 last);
	/**
	 * @pte_flags: Required. The PTE flags for a page of system memory
	 * with the GPU's MTYPE and generation-specific bits; @writable and
	 * @executable as decided by the glue. Any context.
	 */
	u64 (*pte_flags)(struct amdgpu_gpumirror_vm *gvm, bool writable,
			 bool executable);
	/**
	 * @update: Required. Map GPU pages [@start, @last] to the DMA
	 * addresses @pages_addr (one per CPU page, @pages_addr[0] for
	 * @start) with PTE @flags; return the update's fence in @fence.
	 * Reserved, under the notifier lock held for read with reclaim
	 * disabled (memalloc_noreclaim_save()): it may allocate, reclaim
	 * cannot recurse into the notifier.
	 */
	int (*update)(struct amdgpu_gpumirror_vm *gvm,
		      struct amdgpu_gpumirror_resv *resv, u64 start, u64 last,
		      u64 flags, dma_addr_t *pages_addr,
		      struct dma_fence **fence);
	/**
	 * @update_pdes: Required. Link page tables @update created into the
	 * page directories. Reserved, same context as @update.
	 */
	int (*update_pdes)(struct amdgpu_gpumirror_vm *gvm,
			   struct amdgpu_gpumirror_resv *resv);
	/**
	 * @clear: Required. Clear the PTEs of GPU pages [@start, @last]
	 * without the reservation (the unlocked update amdgpu's own notifier
	 * paths use); return the update's fence in @fence. Called from pass
	 * 1 of an invalidation, notifier lock held for write, with reclaim
	 * disabled; also from the map path's unwind.
	 */
	int (*clear)(struct amdgpu_gpumirror_vm *gvm, u64 start, u64 last,
		     struct dma_fence **fence);
	/** @wait: Required. Wait for @fence; may sleep, must not allocate. */
	void (*wait)(struct amdgpu_gpumirror_vm *gvm, struct dma_fence *fence);
	/** @flush_tlb: Required. Flush the VM's TLBs; must not allocate. */
	void (*flush_tlb)(struct amdgpu_gpumirror_vm *gvm);
	/**
	 * @has_queues: Required. Does the VM run KFD user queues that
	 * @quiesce can stop (a compute VM)? Any context, no lock needed.
	 */
	bool (*has_queues)(struct amdgpu_gpumirror_vm *gvm);
	/**
	 * @quiesce: Required. Stop the process's user queues; nests (as
	 * KFD's eviction count does). Notifier lock held for write, reclaim
	 * disabled.
	 */
	int (*quiesce)(struct amdgpu_gpumirror_vm *gvm);
	/** @resume: Required. Undo one @quiesce; no gpumirror lock held. */
	int (*resume)(struct amdgpu_gpumirror_vm *gvm);
	/**
	 * @wait_idle: Required. Wait until no submitted job of the VM runs:
	 * what the glue does instead of @quiesce for a VM without KFD queues
	 * (a gfx VM), whose next command submission maps again. Same context
	 * as @quiesce; may sleep.
	 */
	void (*wait_idle)(struct amdgpu_gpumirror_vm *gvm);
};

extern const struct amdgpu_gpumirror_backend amdgpu_gpumirror_amdgpu_backend;

/**
 * struct amdgpu_gpumirror_process - one gpumirror mirror and what is on it
 *
 * One per VM by default (a render-node file), or shared by the VMs of one
 * process on several GPUs, which then see one set of attributes and one
 * sequence per allocation.
 */
struct amdgpu_gpumirror_process {
	/** @mirror: the gpumirror instance over the process's mm. */
	struct gpumirror mirror;
	/**
	 * @lock: protects @mems, @mem_va, @handles and @vms, serializes map
	 * and restore; taken before every gpumirror lock and before
	 * mmap_lock, never in the notifier path.
	 */
	struct mutex lock;
	/**
	 * @list_lock: also held to add to and remove from @mems, so that
	 * command submission can walk it under the notifier lock without
	 * @lock (which ranks above mmap_lock, while submission holds BO
	 * reservations, which rank below it). A leaf.
	 */
	spinlock_t list_lock;
	/** @mems: &struct amdgpu_gpumirror_mem on @mirror. */
	struct list_head mems;
	/**
	 * @mem_va: the allocations by GPU page, for the fault handler and
	 * pass 1; changed under @lock and @list_lock.
	 */
	struct rb_root_cached mem_va;
	/** @vms: &struct amdgpu_gpumirror_vm attached to @mirror. */
	struct list_head vms;
	/** @handles: the allocations by uapi handle. */
	struct xarray handles;
	/**
	 * @restore_work: maps the allocations back on quiesced VMs and
	 * resumes them (XNACK off).
	 */
	struct delayed_work restore_work;
};

/* &amdgpu_gpumirror_vm.state bits */
#define AMDGPU_GPUMIRROR_QUIESCED	0	/* stopped for the allocations */
#define AMDGPU_GPUMIRROR_SVM		1	/* SVM faults are the glue's */
#define AMDGPU_GPUMIRROR_SVM_QUIESCED	2	/* stopped for SVM ranges */
#define AMDGPU_GPUMIRROR_DIRTY		3	/* a PTE clear failed */

/* Failed clears a VM remembers until the restore clears them again. */
#define AMDGPU_GPUMIRROR_DIRTY_SPANS	16

/**
 * struct amdgpu_gpumirror_vm - one GPU's VM on a mirror
 * @gdev: the gpumirror device
 * @backend: the amdgpu calls
 * @adev: the GPU
 * @vm: its VM
 * @proc: the mirror it is attached to
 * @link: entry in &amdgpu_gpumirror_process.vms
 * @no_fault: the GPU cannot recover from page faults (XNACK off): an
 *	invalidation stops the queues until the restore worker maps again
 * @state: %AMDGPU_GPUMIRROR_* bits, atomic
 * @pending: the fence of the last PTE clear of pass 1 (notifier lock)
 * @dirty: with %AMDGPU_GPUMIRROR_DIRTY, the spans of GPU pages (first,
 *	last) whose clear failed, exactly: the restore clears them again
 *	before anything resumes (written under the notifier lock for write)
 * @ndirty: entries of @dirty in use
 * @dirty_lost: a failed clear found @dirty full: the VM cannot be
 *	repaired and stays stopped
 * @dirty_gen: failed clears so far, to see one that came during a repair
 * @restore_tries: restore runs in a row that failed (process lock)
 * @fault_retries: faults in a row let the GPU retry (passing errors)
 * @flushed_seq: the VM's TLB sequence at the backend's last flush
 * @va_bo_va: the real backend's GPU VA reservations (a BO-less bo_va)
 * @stats: calls made to the backend, for tests and debugfs
 */
struct amdgpu_gpumirror_vm {
	struct gpumirror_device gdev;
	const struct amdgpu_gpumirror_backend *backend;
	struct amdgpu_device *adev;
	struct amdgpu_vm *vm;
	struct amdgpu_gpumirror_process *proc;
	struct list_head link;
	bool no_fault;
	unsigned long state;
	struct dma_fence *pending;
	struct {
		u64 first, last;
	} dirty[AMDGPU_GPUMIRROR_DIRTY_SPANS];
	unsigned int ndirty;
	bool dirty_lost;
	unsigned long dirty_gen;
	unsigned int restore_tries;
	atomic_t fault_retries;
	u64 flushed_seq;
	struct amdgpu_bo_va *va_bo_va;
	struct {
		atomic_t updates, clears, waits, flushes, quiesces, resumes;
		atomic_t lost, faults;
	} stats;
};

/**
 * struct amdgpu_gpumirror_mem - a scattered userptr allocation
 * @obj: the gpumirror object over all its CPU ranges
 * @writable: the GPU may write where the CPU may
 * @executable: the GPU may execute it
 * @va_it: its GPU pages in &amdgpu_gpumirror_process.mem_va
 * @reserved: slots of the VMs whose VA space it claims
 * @lost: slots of the VMs it could not be mapped on again (its memory is
 *	gone or no longer allowed): left unmapped there, not waited for
 * @stolen: slots of the VMs where a GEM VA ioctl took its range: never
 *	mapped nor cleared there again (list lock to read in pass 1)
 * @link: entry in &amdgpu_gpumirror_process.mems
 */
struct amdgpu_gpumirror_mem {
	struct gpumirror_object *obj;
	bool writable;
	bool executable;
	struct interval_tree_node va_it;
	unsigned long reserved;
	unsigned long lost;
	unsigned long stolen;
	struct list_head link;
};

int amdgpu_gpumirror_process_init(struct amdgpu_gpumirror_process *p,
				  struct mm_struct *mm);
void amdgpu_gpumirror_process_fini(struct amdgpu_gpumirror_process *p);
int amdgpu_gpumirror_vm_attach(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_vm *gvm);
void amdgpu_gpumirror_vm_detach(struct amdgpu_gpumirror_vm *gvm);

struct amdgpu_gpumirror_mem *
amdgpu_gpumirror_userptr_create(struct amdgpu_gpumirror_process *p,
				const struct gpumirror_segment *ranges,
				unsigned int nr, u64 gpu_va, bool writable,
				bool executable);
void amdgpu_gpumirror_mem_free(struct amdgpu_gpumirror_process *p,
			       struct amdgpu_gpumirror_mem *mem);
int amdgpu_gpumirror_mem_map(struct amdgpu_gpumirror_vm *gvm,
			     struct amdgpu_gpumirror_mem *mem);
int amdgpu_gpumirror_restore(struct amdgpu_gpumirror_vm *gvm);
int amdgpu_gpumirror_fault(struct amdgpu_gpumirror_vm *gvm, u64 addr,
			   bool write);

u64 amdgpu_gpumirror_gpu_page(u64 gpu_base, unsigned long index,
			      unsigned int gpu_per_cpu);

#if IS_ENABLED(CONFIG_DRM_AMDGPU_GPUMIRROR)
int amdgpu_gpumirror_ioctl(struct drm_device *dev, void *data,
			   struct drm_file *filp);
void amdgpu_gpumirror_file_fini(struct amdgpu_device *adev,
				struct amdgpu_fpriv *fpriv);
bool amdgpu_gpumirror_vm_fault(struct amdgpu_device *adev, u32 pasid,
			       u64 addr, bool write_fault);
int amdgpu_gpumirror_cs_prepare(struct amdgpu_fpriv *fpriv);
void amdgpu_gpumirror_cs_lock(struct amdgpu_cs_parser *p);
int amdgpu_gpumirror_cs_stale(struct amdgpu_cs_parser *p);
void amdgpu_gpumirror_cs_unlock(struct amdgpu_cs_parser *p);
#else
static inline int amdgpu_gpumirror_ioctl(struct drm_device *dev, void *data,
					 struct drm_file *filp)
{
	return -EOPNOTSUPP;
}

static inline void amdgpu_gpumirror_file_fini(struct amdgpu_device *adev,
					      struct amdgpu_fpriv *fpriv)
{
}

static inline bool amdgpu_gpumirror_vm_fault(struct amdgpu_device *adev,
					     u32 pasid, u64 addr,
					     bool write_fault)
{
	return false;
}

static inline int amdgpu_gpumirror_cs_prepare(struct amdgpu_fpriv *fpriv)
{
	return 0;
}

static inline void amdgpu_gpumirror_cs_lock(struct amdgpu_cs_parser *p)
{
}

static inline int amdgpu_gpumirror_cs_stale(struct amdgpu_cs_parser *p)
{
	return 0;
}

static inline void amdgpu_gpumirror_cs_unlock(struct amdgpu_cs_parser *p)
{
}
#endif

int amdgpu_gpumirror_validate(struct amdgpu_gpumirror_vm *gvm);
int amdgpu_gpumirror_svm_free(struct amdgpu_gpumirror_vm *gvm, u64 start,
			      u64 end);
bool amdgpu_gpumirror_stale(struct amdgpu_gpumirror_vm *gvm);

#if IS_ENABLED(CONFIG_KUNIT)
struct drm_amdgpu_gpumirror;
int amdgpu_gpumirror_bind(struct amdgpu_gpumirror_vm *gvm,
			  struct gpumirror_object *obj, bool writable,
			  bool executable);
int amdgpu_gpumirror_vm_ioctl(struct amdgpu_gpumirror_vm *gvm,
			      struct drm_amdgpu_gpumirror *args);
#endif

#endif /* __AMDGPU_GPUMIRROR_H__ */
