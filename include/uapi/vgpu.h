/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vgpu: the virtual GPU on gpumirror, its own commands.
 *
 * An open vgpu node (/dev/hmm_dmirror<N>, or /dev/vgpu<N> beside
 * lib/test_hmm) is one GPU address space mirroring the opener's process,
 * or, after VGPU_IOCTL_JOIN, one vgpu of an address space shared with
 * other vgpus. Commands from another process fail with EPERM, unknown
 * commands with ENOTTY, a command whose argument cannot be copied with
 * EFAULT. GPU VAs below VGPU_GPU_VA_EXPLICIT mirror the CPU VA one to one
 * (the lib/test_hmm commands use them); explicit objects live from
 * VGPU_GPU_VA_EXPLICIT up. Mirrored memory is shared memory: opening a
 * vgpu whose every DMA mapping would go through a bounce buffer
 * (swiotlb=force) fails with EOPNOTSUPP, and so does a command that would
 * map a page the vgpu could reach only that way. A GPU access through a
 * DMA address the IOMMU no longer translates (vgpu.iommu_vgpu) fails with
 * EIO, the first one with a kernel warning: it is a bug, never an
 * expected error.
 */
#ifndef _UAPI_LINUX_VGPU_H
#define _UAPI_LINUX_VGPU_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* 1 << VGPU_GPU_VA_EXPLICIT_SHIFT: the lowest GPU VA of an explicit object */
#define VGPU_GPU_VA_EXPLICIT_SHIFT	47

/**
 * struct vgpu_range - one CPU VA block of an object
 * @addr: start, page aligned
 * @len: length in bytes, page aligned, not zero
 */
struct vgpu_range {
	__u64 addr;
	__u64 len;
};

/* vgpu_obj_create.flags: the GPU only reads the object */
#define VGPU_OBJ_READ_ONLY	(1 << 0)

/**
 * struct vgpu_obj_create - VGPU_IOCTL_OBJ_CREATE
 * @ranges: in: user pointer to @nranges struct vgpu_range, any CPU order,
 *	not overlapping
 * @nranges: in: 1 to 262144
 * @handle: out: the object's handle
 * @gpu_va: in: page-aligned GPU VA of the first block; the blocks follow
 *	one another in array order, from (1 << VGPU_GPU_VA_EXPLICIT_SHIFT) up
 * @flags: in: VGPU_OBJ_*
 * @pad: in: 0
 *
 * The blocks are faulted and mapped at once (a userptr object). If a block
 * is later munmap()ed or freed, it stops being reachable (GPU accesses to
 * it fail with EFAULT) while the other blocks stay mapped; once memory is
 * there again (mapped again, or filled by userfaultfd), the next GPU access
 * reaches it.
 *
 * Errors: EINVAL (bad flags, pad, unaligned address or length, GPU VA
 * below the explicit range), ENOENT (no ranges), ENODATA (a zero length),
 * EEXIST (overlapping blocks, or GPU VAs overlapping another object),
 * EOVERFLOW (a block wraps), EFAULT (a block beyond the user address
 * space, or no block mapped at all), ERANGE (beyond the GPU VA space),
 * E2BIG (too many blocks), EPERM (a block is read-only without
 * VGPU_OBJ_READ_ONLY), EINTR (a signal while the process's first object
 * was registered), EBUSY (the blocks kept changing while they were
 * mapped), ENOMEM.
 */
struct vgpu_obj_create {
	__u64 ranges;
	__u32 nranges;
	__u32 handle;
	__u64 gpu_va;
	__u32 flags;
	__u32 pad;
};

/**
 * struct vgpu_obj_destroy - VGPU_IOCTL_OBJ_DESTROY
 * @handle: in: an object's handle
 * @pad: in: 0
 *
 * Errors: ENOENT (no such object), EINVAL (pad).
 */
struct vgpu_obj_destroy {
	__u32 handle;
	__u32 pad;
};

/**
 * struct vgpu_access - VGPU_IOCTL_READ, VGPU_IOCTL_WRITE
 * @gpu_va: in: GPU VA to access
 * @ptr: in: user buffer to copy to (read) or from (write)
 * @len: in: bytes, not zero
 * @faults: out: GPU page faults served
 *
 * A GPU access through the vgpu's page table and TLB. A missing PTE faults
 * the object holding it again (fault mode) or fails with EFAULT (no-fault
 * mode); a PTE that an invalidation (a migration, an munmap elsewhere)
 * takes away meanwhile is faulted again, so moving pages never fail an
 * access. Errors: EFAULT (no object there, an unreachable block, or a bad
 * @ptr), EPERM (write to a read-only object or block), EINVAL (@len 0 or
 * wrapping, or above 1 GiB), EINTR (a fatal signal while faulting), EBUSY
 * (the pages kept changing under the faults for more than 30 s), ENOMEM.
 */
struct vgpu_access {
	__u64 gpu_va;
	__u64 ptr;
	__u64 len;
	__u64 faults;
};

/**
 * struct vgpu_stats - VGPU_IOCTL_STATS, out
 * @faults: object faults that produced pages for this address space
 * @retries: faults restarted because the pages changed meanwhile
 * @invalidations: invalidations of this address space's PTEs
 * @tlb_flushes: TLB invalidations completed
 * @dma_maps: pages DMA-mapped
 * @dma_unmaps: pages DMA-unmapped
 * @migrations_to_dev: pages migrated to this vgpu's memory (whole device)
 * @migrations_to_ram: pages migrated back from it (whole device)
 * @dev_pages: device pages in use now (whole device)
 * @migrate_races: migrations that had to retry under the exclusive lock
 * @migrate_busy: migrations that failed with EBUSY
 * @suspends: no-fault mode: times the queues were suspended
 * @resumes: no-fault mode: times the restore worker resumed them
 * @restore_ns: no-fault mode: total time suspended, in nanoseconds
 * @restore_failed: no-fault mode: ranges given up (memory gone, or no
 *	longer reachable by the vgpu itself)
 * @queue_waits: no-fault mode: accesses that waited for a resume
 * @migrations_from_peer: of @migrations_to_dev, the pages copied straight
 *	from a peer vgpu's memory (whole device)
 * @migrations_to_peer: pages that left it for a peer's memory that way
 *	(whole device)
 */
struct vgpu_stats {
	__u64 faults;
	__u64 retries;
	__u64 invalidations;
	__u64 tlb_flushes;
	__u64 dma_maps;
	__u64 dma_unmaps;
	__u64 migrations_to_dev;
	__u64 migrations_to_ram;
	__u64 dev_pages;
	__u64 migrate_races;
	__u64 migrate_busy;
	__u64 suspends;
	__u64 resumes;
	__u64 restore_ns;
	__u64 restore_failed;
	__u64 queue_waits;
	__u64 migrations_from_peer;
	__u64 migrations_to_peer;
};

/* vgpu_migrate.flags: back to system memory instead of to the vgpu */
#define VGPU_MIGRATE_TO_RAM	(1 << 0)
/* vgpu_migrate.flags: the range may end up partly in each memory */
#define VGPU_MIGRATE_MIXED	(1 << 1)

/**
 * struct vgpu_migrate - VGPU_IOCTL_MIGRATE
 * @addr: in: page-aligned CPU VA
 * @len: in: page-aligned length, not zero
 * @flags: in: VGPU_MIGRATE_*
 * @pad: in: 0
 * @migrated: out: pages moved
 *
 * Migrates [addr, addr + len) of the caller to this vgpu's memory (pages on
 * other vgpus go through system memory) or back. Without VGPU_MIGRATE_MIXED
 * a migration to the vgpu is all or nothing: on error the range is in
 * system memory. Errors: EINVAL (bad arguments, a page without a readable
 * mapping), EBUSY (pages kept being taken by other migrations or the CPU),
 * ENOMEM (vgpu memory full, or any allocation failed; back to system
 * memory, a page no system page could be had for stays on the vgpu while
 * the others move).
 */
struct vgpu_migrate {
	__u64 addr;
	__u64 len;
	__u32 flags;
	__u32 pad;
	__u64 migrated;
};

/**
 * struct vgpu_alloc_limit - VGPU_IOCTL_ALLOC_LIMIT, a test knob
 * @budget: in: device page allocations that still succeed before every
 *	further one fails; -1 for no limit (the default). For the whole vgpu.
 */
struct vgpu_alloc_limit {
	__s64 budget;
};

/* vgpu_svm_access.flags: write instead of read */
#define VGPU_SVM_WRITE		(1 << 0)

/**
 * struct vgpu_svm_access - VGPU_IOCTL_SVM_ACCESS
 * @addr: in: the address, GPU VA == CPU VA (below the explicit range)
 * @ptr: in: user buffer to copy to (read) or from (write)
 * @len: in: bytes, not zero, at most 1 GiB
 * @flags: in: VGPU_SVM_WRITE or 0
 * @pad: in: 0
 * @faults: out: GPU page faults served
 *
 * Shared virtual memory access by the vgpu's queue. On a vgpu in fault
 * mode a missing PTE is a GPU page fault that gpumirror serves (making the
 * range on demand, migrating it if its preferred location is this vgpu).
 * On a vgpu in no-fault mode (vgpu.nofault_mask) the access waits while
 * the queues are suspended for a restore, and a missing PTE is an error:
 * memory must be prefetched (VGPU_IOCTL_SVM_ATTR, VGPU_IOCTL_SVM_PREFETCH).
 * In fault mode, pages that migrate or are invalidated while the access
 * runs are faulted again, never reported. Errors: EFAULT (no mapping, or
 * not prefetched in no-fault mode), EPERM (the attributes forbid it, or a
 * write to read-only memory), ETIMEDOUT (queues suspended for more than
 * 2 s), EINTR (a fatal signal while faulting), EBUSY (the pages kept
 * changing under the faults for more than 30 s), EINVAL, ENOMEM.
 */
struct vgpu_svm_access {
	__u64 addr;
	__u64 ptr;
	__u64 len;
	__u32 flags;
	__u32 pad;
	__u64 faults;
};

/* vgpu_svm_attr.mask: which attributes to set */
#define VGPU_SVM_ATTR_PREFERRED		(1 << 0)
#define VGPU_SVM_ATTR_GRANULARITY	(1 << 1)
#define VGPU_SVM_ATTR_READ_ONLY		(1 << 2)
#define VGPU_SVM_ATTR_ACCESS		(1 << 3)

/* vgpu_svm_attr.access */
#define VGPU_SVM_ACCESS_NONE	0
#define VGPU_SVM_ACCESS_READ	1
#define VGPU_SVM_ACCESS_RW	2

/**
 * struct vgpu_svm_attr - VGPU_IOCTL_SVM_ATTR
 * @start: in: page-aligned start
 * @len: in: page-aligned length, not zero
 * @mask: in: VGPU_SVM_ATTR_* to set
 * @preferred: in: 1 to prefer this vgpu's memory, 0 system memory
 * @granularity: in: log2 of the migration granularity in pages (0-18)
 * @read_only: in: 1 if the GPU only reads
 * @access: in: VGPU_SVM_ACCESS_* for this vgpu
 * @pad: in: 0
 *
 * Sets gpumirror attributes over the range (one attribute tree for all
 * devices of the address space). Granting access on a no-fault vgpu maps
 * every accessible page of the range now (prefetch). Errors: EINVAL,
 * ENOMEM, and those of VGPU_IOCTL_SVM_PREFETCH for the prefetch.
 */
struct vgpu_svm_attr {
	__u64 start;
	__u64 len;
	__u32 mask;
	__u32 preferred;
	__u32 granularity;
	__u32 read_only;
	__u32 access;
	__u32 pad;
};

/**
 * struct vgpu_svm_prefetch - VGPU_IOCTL_SVM_PREFETCH
 * @start: in: page-aligned start
 * @len: in: page-aligned length, not zero
 *
 * Maps every accessible page of the range now; on a no-fault vgpu they
 * stay mapped across invalidations (the queues are suspended and the
 * ranges restored). Holes and pages the CPU cannot read (PROT_NONE) are
 * skipped. Errors: EINVAL, ENOMEM, EBUSY, EFAULT (a page of a readable
 * mapping could not be faulted: out of memory in the fault, or a SIGBUS
 * such as a file page beyond the end of its file), EINTR (a signal while
 * the process's first range was registered with the core mm).
 */
struct vgpu_svm_prefetch {
	__u64 start;
	__u64 len;
};

/**
 * struct vgpu_join - VGPU_IOCTL_JOIN
 * @fd: in: an open vgpu node of another vgpu, opened by this process
 * @pad: in: 0
 *
 * Puts this file's vgpu into the GPU address space of @fd (one mirror, as
 * one VM spanning several GPUs): from then on both files see the same
 * explicit objects (by the same handles), the same identity objects and
 * the same SVM attributes, and each vgpu has its own page table, TLB and
 * DMA mappings of them. SVM_ATTR's access and preference apply to the
 * vgpu it is issued on. The file's own address space, with everything in
 * it, is destroyed. The space lives while any of its files is open.
 * Errors: EBADF (@fd is not a vgpu node), EPERM (@fd was opened by another
 * process), EEXIST (this vgpu is in that space already, e.g. @fd is this
 * file), EBUSY (another file joined this file's space), EINVAL (@pad).
 */
struct vgpu_join {
	__s32 fd;
	__u32 pad;
};

#define VGPU_IOCTL_BASE		0xB8
#define VGPU_IOCTL_OBJ_CREATE	_IOWR(VGPU_IOCTL_BASE, 0x40, struct vgpu_obj_create)
#define VGPU_IOCTL_OBJ_DESTROY	_IOW(VGPU_IOCTL_BASE, 0x41, struct vgpu_obj_destroy)
#define VGPU_IOCTL_READ		_IOWR(VGPU_IOCTL_BASE, 0x42, struct vgpu_access)
#define VGPU_IOCTL_WRITE	_IOWR(VGPU_IOCTL_BASE, 0x43, struct vgpu_access)
#define VGPU_IOCTL_STATS	_IOR(VGPU_IOCTL_BASE, 0x44, struct vgpu_stats)
#define VGPU_IOCTL_MIGRATE	_IOWR(VGPU_IOCTL_BASE, 0x45, struct vgpu_migrate)
#define VGPU_IOCTL_ALLOC_LIMIT	_IOW(VGPU_IOCTL_BASE, 0x46, struct vgpu_alloc_limit)
#define VGPU_IOCTL_SVM_ACCESS	_IOWR(VGPU_IOCTL_BASE, 0x47, struct vgpu_svm_access)
#define VGPU_IOCTL_SVM_ATTR	_IOW(VGPU_IOCTL_BASE, 0x48, struct vgpu_svm_attr)
#define VGPU_IOCTL_SVM_PREFETCH	_IOW(VGPU_IOCTL_BASE, 0x49, struct vgpu_svm_prefetch)
#define VGPU_IOCTL_JOIN		_IOW(VGPU_IOCTL_BASE, 0x4a, struct vgpu_join)

#endif /* _UAPI_LINUX_VGPU_H */
