/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * amdgpu render-node interface to gpumirror: scattered userptr allocations
 * and shared virtual memory attributes of one GPU VM.
 */
#ifndef _UAPI_AMDGPU_GPUMIRROR_DRM_H
#define _UAPI_AMDGPU_GPUMIRROR_DRM_H

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_AMDGPU_GPUMIRROR		0x1f

#define DRM_IOCTL_AMDGPU_GPUMIRROR	DRM_IOWR(DRM_COMMAND_BASE + \
					DRM_AMDGPU_GPUMIRROR, \
					struct drm_amdgpu_gpumirror)

/*
 * AMDGPU_GPUMIRROR_OP_USERPTR_CREATE: one allocation over @count CPU
 * ranges (@ptr: an array of struct drm_amdgpu_gpumirror_range, in GPU VA
 * order), mapped at GPU VA @va of the file's VM, back to back. Returns its
 * @handle. The GPU VA range is reserved in the VM like a GEM VA mapping: a
 * later AMDGPU_VA_OP_MAP over it fails.
 * AMDGPU_GPUMIRROR_OP_USERPTR_DESTROY: unmap and free allocation @handle.
 * AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR: set the @count attributes at @ptr
 * (struct drm_amdgpu_gpumirror_attr) on the CPU VA range [@va, @va + @size)
 * for this VM; the VM's GPU VA of a CPU address is the address itself.
 * AMDGPU_GPUMIRROR_OP_SVM_GET_ATTR: fill in the value of each attribute at
 * @ptr as it is at @va; @size returns how far from @va they stay the same.
 * AMDGPU_GPUMIRROR_OP_SVM_PREFETCH: map [@va, @va + @size) now; on a GPU
 * without recoverable page faults it is kept mapped until unmapped.
 */
#define AMDGPU_GPUMIRROR_OP_USERPTR_CREATE	1
#define AMDGPU_GPUMIRROR_OP_USERPTR_DESTROY	2
#define AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR	3
#define AMDGPU_GPUMIRROR_OP_SVM_GET_ATTR	4
#define AMDGPU_GPUMIRROR_OP_SVM_PREFETCH	5

/* USERPTR_CREATE @flags: the GPU may write (where the CPU may) / execute. */
#define AMDGPU_GPUMIRROR_USERPTR_WRITABLE	(1 << 0)
#define AMDGPU_GPUMIRROR_USERPTR_EXECUTABLE	(1 << 1)

/* Most ranges one USERPTR_CREATE takes. */
#define AMDGPU_GPUMIRROR_MAX_RANGES		(1 << 18)
/* Most attributes one SVM_SET_ATTR or SVM_GET_ATTR takes. */
#define AMDGPU_GPUMIRROR_MAX_ATTRS		16

/**
 * struct drm_amdgpu_gpumirror_range - one CPU range of an allocation
 * @addr: CPU address, page aligned
 * @size: bytes, page aligned, not zero
 */
struct drm_amdgpu_gpumirror_range {
	__u64 addr;
	__u64 size;
};

/*
 * SVM attributes (struct drm_amdgpu_gpumirror_attr.type) and their values:
 * PREFERRED_LOC: AMDGPU_GPUMIRROR_LOC_SYSTEM or AMDGPU_GPUMIRROR_LOC_VRAM
 *	(the memory of this file's GPU);
 * ACCESS: AMDGPU_GPUMIRROR_ACCESS_NONE, _READ or _WRITE, for this GPU;
 * READ_ONLY: 1 maps the range read-only on every GPU, 0 undoes it;
 * ALWAYS_MAPPED: 1 keeps the range mapped, 0 undoes it;
 * GRANULARITY: log2 of the migration granularity in pages, at most 18.
 */
#define AMDGPU_GPUMIRROR_ATTR_PREFERRED_LOC	1
#define AMDGPU_GPUMIRROR_ATTR_ACCESS		2
#define AMDGPU_GPUMIRROR_ATTR_READ_ONLY		3
#define AMDGPU_GPUMIRROR_ATTR_ALWAYS_MAPPED	4
#define AMDGPU_GPUMIRROR_ATTR_GRANULARITY	5

#define AMDGPU_GPUMIRROR_LOC_SYSTEM		0
#define AMDGPU_GPUMIRROR_LOC_VRAM		1

#define AMDGPU_GPUMIRROR_ACCESS_NONE		0
#define AMDGPU_GPUMIRROR_ACCESS_READ		1
#define AMDGPU_GPUMIRROR_ACCESS_WRITE		2

/**
 * struct drm_amdgpu_gpumirror_attr - one SVM attribute
 * @type: AMDGPU_GPUMIRROR_ATTR_*, each at most once per call
 * @value: its value (SET_ATTR), or where the value is returned (GET_ATTR)
 */
struct drm_amdgpu_gpumirror_attr {
	__u32 type;
	__u32 value;
};

/**
 * struct drm_amdgpu_gpumirror - argument of DRM_IOCTL_AMDGPU_GPUMIRROR
 * @op: AMDGPU_GPUMIRROR_OP_*
 * @flags: USERPTR_CREATE: AMDGPU_GPUMIRROR_USERPTR_*; otherwise 0
 * @ptr: user pointer to the array of @count ranges or attributes
 * @count: entries at @ptr; 0 for DESTROY and PREFETCH
 * @handle: USERPTR_CREATE: returned; USERPTR_DESTROY: the allocation
 * @va: USERPTR_CREATE: GPU VA; SVM ops: CPU address; page aligned
 * @size: SVM_SET_ATTR, SVM_PREFETCH: bytes, page aligned; SVM_GET_ATTR:
 *	returned; USERPTR_CREATE: returned, the bytes of all ranges
 *
 * Errors: EINVAL for an unknown @op, unknown or misplaced @flags, a GPU VA
 * below the range amdgpu keeps for itself, a
 * @count of 0 where one is needed, an unaligned address or size, an
 * unknown or repeated attribute type or value; E2BIG for more than
 * AMDGPU_GPUMIRROR_MAX_RANGES ranges or AMDGPU_GPUMIRROR_MAX_ATTRS
 * attributes; EFAULT for an unreadable @ptr, a range beyond the user
 * address space, or memory that cannot be mapped; EEXIST for overlapping
 * ranges or a GPU VA range already in use; ENODATA for an empty range;
 * EOVERFLOW for a range that wraps around; ERANGE for a GPU VA range
 * beyond the VM; ENOENT for an unknown @handle; EPERM from a process other
 * than the one that first used this interface on the file; ENOMEM;
 * ENOSPC for more than 2^31 allocations on one file; EBUSY if the memory
 * kept changing while being mapped; EOPNOTSUPP for memory the GPU would
 * reach only through a bounce buffer, and for SVM operations on a VM that
 * can neither fault (XNACK off) nor have its queues stopped (no KFD
 * process uses it).
 */
struct drm_amdgpu_gpumirror {
	__u32 op;
	__u32 flags;
	__u64 ptr;
	__u32 count;
	__u32 handle;
	__u64 va;
	__u64 size;
};

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_AMDGPU_GPUMIRROR_DRM_H */
