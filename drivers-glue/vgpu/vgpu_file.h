/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vgpu: an open character device, shared by the command sets.
 */
#ifndef _VGPU_FILE_H
#define _VGPU_FILE_H

#include <linux/gpumirror.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/xarray.h>

#include <uapi/linux/vgpu.h>

#include "vgpu.h"

/*
 * VGPU_GPU_VA_EXPLICIT - GPU VAs from here up hold explicit objects; below,
 * GPU VA == CPU VA
 */
#define VGPU_GPU_VA_EXPLICIT	BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)

/*
 * VGPU_BOUNCE_GFP - how a command allocates its bounce buffer: the size
 * comes from the user, so it may fail (never the OOM killer, never a
 * warning) and it is charged to the caller.
 */
#define VGPU_BOUNCE_GFP	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | \
			 __GFP_NOWARN)

/**
 * struct vgpu_fobj - a gpumirror object of an address space
 * @link: entry in &vgpu_space.objs
 * @obj: the object
 * @start: first GPU VA
 * @end: GPU VA after the last page
 * @handle: the handle of an explicit object; 0 for an identity object
 * @read_only: the GPU may only read the object
 */
struct vgpu_fobj {
	struct list_head link;
	struct gpumirror_object *obj;
	u64 start;
	u64 end;
	u32 handle;
	bool read_only;
};

/**
 * struct vgpu_space - a GPU address space, shared by the files joined to it
 * @ref: the files using it
 * @mirror: the mirror of the opener's mm
 * @lock: serializes the commands of its files; protects @objs, @handles
 *	and @vgpus
 * @objs: its objects
 * @handles: explicit objects by handle
 * @vgpus: ids of the vgpus attached to @mirror, one file each
 */
struct vgpu_space {
	struct kref ref;
	struct gpumirror mirror;
	struct mutex lock;		/* serializes commands */
	struct list_head objs;
	struct xarray handles;
	unsigned long vgpus;
};

/**
 * struct vgpu_file - an open vgpu node: one vgpu in a GPU address space
 * @vgpu: the GPU
 * @mm: the opener's mm, only compared (the mirror holds it)
 * @lock: taken around each command; a JOIN changes @space under it
 * @space: the address space: the file's own, or the one it joined
 * @as: the vgpu's page table and TLB, attached to @space's mirror
 */
struct vgpu_file {
	struct vgpu *vgpu;
	struct mm_struct *mm;
	struct mutex lock;		/* protects space */
	struct vgpu_space *space;
	struct vgpu_as as;
};

void vgpu_fobj_destroy(struct vgpu_space *vs, struct vgpu_fobj *fo);
void vgpu_file_reap(struct vgpu_file *vf, unsigned long start,
		    unsigned long end);
int vgpu_file_bind(struct vgpu_file *vf, struct gpumirror_object *obj,
		   unsigned int flags);
int vgpu_file_fault(struct vgpu_file *vf, unsigned long start,
		    unsigned long end, unsigned int flags);
int vgpu_file_join(struct vgpu_file *vf, const struct vgpu_join *a);

int vgpu_svm_access(struct vgpu_file *vf, struct vgpu_svm_access *a);
int vgpu_svm_attr(struct vgpu_file *vf, const struct vgpu_svm_attr *a);
int vgpu_svm_prefetch(struct vgpu_file *vf, const struct vgpu_svm_prefetch *a);

long vgpu_hmm_ioctl(struct vgpu_file *vf, unsigned int cmd, void __user *arg);
long vgpu_uapi_ioctl(struct vgpu_file *vf, unsigned int cmd, void __user *arg);

#endif /* _VGPU_FILE_H */
