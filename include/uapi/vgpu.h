/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vgpu: the virtual GPU on gpumirror, its own commands.
 *
 * An open vgpu node (/dev/hmm_dmirror<N>, or /dev/vgpu<N> beside
 * lib/test_hmm) is one GPU address space mirroring the opener's process;
 * commands from another process fail with EPERM. GPU VAs below
 * VGPU_GPU_VA_EXPLICIT mirror the CPU VA one to one (the lib/test_hmm
 * commands use them); explicit objects live from VGPU_GPU_VA_EXPLICIT up.
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
 * it fail with EFAULT) while the other blocks stay mapped.
 *
 * Errors: EINVAL (bad flags, pad, unaligned address or length, GPU VA
 * below the explicit range), ENOENT (no ranges), ENODATA (a zero length),
 * EEXIST (overlapping blocks, or GPU VAs overlapping another object),
 * EOVERFLOW (a block wraps), EFAULT (a block beyond the user address
 * space, or no block mapped at all), ERANGE (beyond the GPU VA space),
 * E2BIG (too many blocks), EPERM (a block is read-only without
 * VGPU_OBJ_READ_ONLY), ENOMEM.
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
 * mode). Errors: EFAULT (no object there, an unreachable block, or a bad
 * @ptr), EPERM (write to a read-only object or block), EINVAL (@len 0 or
 * wrapping).
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
 * ENOMEM (vgpu memory full).
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

#define VGPU_IOCTL_BASE		0xB8
#define VGPU_IOCTL_OBJ_CREATE	_IOWR(VGPU_IOCTL_BASE, 0x40, struct vgpu_obj_create)
#define VGPU_IOCTL_OBJ_DESTROY	_IOW(VGPU_IOCTL_BASE, 0x41, struct vgpu_obj_destroy)
#define VGPU_IOCTL_READ		_IOWR(VGPU_IOCTL_BASE, 0x42, struct vgpu_access)
#define VGPU_IOCTL_WRITE	_IOWR(VGPU_IOCTL_BASE, 0x43, struct vgpu_access)
#define VGPU_IOCTL_STATS	_IOR(VGPU_IOCTL_BASE, 0x44, struct vgpu_stats)
#define VGPU_IOCTL_MIGRATE	_IOWR(VGPU_IOCTL_BASE, 0x45, struct vgpu_migrate)
#define VGPU_IOCTL_ALLOC_LIMIT	_IOW(VGPU_IOCTL_BASE, 0x46, struct vgpu_alloc_limit)

#endif /* _UAPI_LINUX_VGPU_H */
