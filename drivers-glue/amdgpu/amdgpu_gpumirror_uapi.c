// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * amdgpu glue to gpumirror: the render-node ioctl, the per-file mirror and
 * the entry from amdgpu's VM fault handler.
 */

#include <drm/drm_file.h>
#include <kunit/visibility.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait_bit.h>
#include <drm/amdgpu_gpumirror_drm.h>

#include "amdgpu.h"
#include "amdgpu_cs.h"
#include "amdgpu_gpumirror.h"
#include "amdgpu_vm.h"

/**
 * DOC: amdgpu gpumirror ioctl
 *
 * DRM_IOCTL_AMDGPU_GPUMIRROR is a render-node ioctl. Its first call on a
 * file creates the file VM's mirror over the caller's mm; calls from
 * another mm fail with -EPERM. The mirror goes with the file
 * (amdgpu_gpumirror_file_fini() from amdgpu_driver_postclose_kms()).
 *
 * USERPTR_CREATE takes the ranges as an array and hands them to
 * gpumirror_object_create(), which checks them (alignment, overlap,
 * wrap-around, the user address space, the segment limit); the glue adds
 * the flags, the count limit and the GPU VA claim in the VM. The allocation
 * is mapped before the call returns, so memory that cannot be mapped fails
 * the call and leaves nothing behind.
 *
 * The SVM operations map onto gpumirror_attr_set_devices() (for this VM's
 * slot only: a VM shares attributes with the other VMs of a shared mirror
 * but sets only its own access), gpumirror_attr_get() and
 * gpumirror_prefetch(). After the first of them, the VM's GPU page faults
 * at CPU addresses go to gpumirror_fault().
 *
 * Command submission on a VM with a mirror follows amdgpu's userptr
 * protocol: amdgpu_gpumirror_cs_prepare() maps the allocations an
 * invalidation unmapped before the submission reserves any BO (the walk
 * takes mmap_lock, which ranks above reservations), and the submission
 * holds the mirror's notifier lock from amdgpu_gpumirror_cs_lock(), taken
 * before the device's notifier_lock, until its fences are in the VM's
 * reservation object: amdgpu_gpumirror_cs_stale() makes it restart with
 * -EAGAIN if an allocation went stale meanwhile, and an invalidation after
 * that waits for the job (a VM without KFD queues cannot be stopped).
 *
 * SVM ranges claim no GPU VA: a fault or prefetch is refused (-EEXIST)
 * where the VM maps a BO, and SVM is refused (-EOPNOTSUPP) on a VM that
 * can neither fault nor stop its queues.
 */

/**
 * struct amdgpu_gpumirror_file - the mirror of one render-node file's VM
 * @proc: the mirror, this VM its only device
 * @gvm: the VM on it
 * @users: fault handlers using @gvm; teardown waits for none
 */
struct amdgpu_gpumirror_file {
	struct amdgpu_gpumirror_process proc;
	struct amdgpu_gpumirror_vm gvm;
	atomic_t users;
};

/* Passing failures in a row after which a fault is left to amdgpu. */
#define AMDGPU_GPUMIRROR_FAULT_RETRIES	64

/* Serializes the creation of a file's mirror. */
static DEFINE_MUTEX(amdgpu_gpumirror_file_lock);

static int amdgpu_gpumirror_copy_ranges(const struct drm_amdgpu_gpumirror *args,
					struct gpumirror_segment **out,
					u64 *total)
{
	struct drm_amdgpu_gpumirror_range *u;
	struct gpumirror_segment *r;
	unsigned int i;
	int ret = 0;

	if (!args->count)
		return -EINVAL;
	if (args->count > AMDGPU_GPUMIRROR_MAX_RANGES)
		return -E2BIG;
	u = vmemdup_array_user(u64_to_user_ptr(args->ptr), args->count,
			       sizeof(*u));
	if (IS_ERR(u))
		return PTR_ERR(u);
	r = kvmalloc_array(args->count, sizeof(*r), GFP_KERNEL);
	if (!r) {
		ret = -ENOMEM;
		goto free_u;
	}
	*total = 0;
	for (i = 0; i < args->count; i++) {
		if (u[i].addr > ULONG_MAX || u[i].size > ULONG_MAX ||
		    check_add_overflow(*total, u[i].size, total)) {
			ret = -EOVERFLOW;
			break;
		}
		r[i].addr = u[i].addr;
		r[i].len = u[i].size;
	}
	if (ret)
		kvfree(r);
	else
		*out = r;
free_u:
	kvfree(u);
	return ret;
}

static int amdgpu_gpumirror_op_create(struct amdgpu_gpumirror_vm *gvm,
				      struct drm_amdgpu_gpumirror *args)
{
	const u32 known = AMDGPU_GPUMIRROR_USERPTR_WRITABLE |
			  AMDGPU_GPUMIRROR_USERPTR_EXECUTABLE;
	struct amdgpu_gpumirror_process *p = gvm->proc;
	struct amdgpu_gpumirror_mem *mem;
	struct gpumirror_segment *ranges;
	bool writable, executable;
	u64 total;
	u32 id;
	int ret;

	/* Below it, amdgpu keeps GPU VA for itself (GEM VA refuses it too). */
	if (args->flags & ~known || args->va < AMDGPU_VA_RESERVED_BOTTOM)
		return -EINVAL;
	ret = amdgpu_gpumirror_copy_ranges(args, &ranges, &total);
	if (ret)
		return ret;
	writable = args->flags & AMDGPU_GPUMIRROR_USERPTR_WRITABLE;
	executable = args->flags & AMDGPU_GPUMIRROR_USERPTR_EXECUTABLE;
	mem = amdgpu_gpumirror_userptr_create(p, ranges, args->count, args->va,
					      writable, executable);
	kvfree(ranges);
	if (IS_ERR(mem))
		return PTR_ERR(mem);
	mutex_lock(&p->lock);
	ret = amdgpu_gpumirror_mem_map(gvm, mem);
	if (!ret) {
		ret = xa_alloc(&p->handles, &id, mem, xa_limit_31b, GFP_KERNEL);
		/* xa_alloc()'s "no free handle" */
		if (ret == -EBUSY)
			ret = -ENOSPC;
	}
	mutex_unlock(&p->lock);
	if (ret) {
		amdgpu_gpumirror_mem_free(p, mem);
		return ret;
	}
	args->handle = id;
	args->size = total;
	return 0;
}

static int amdgpu_gpumirror_op_destroy(struct amdgpu_gpumirror_vm *gvm,
				       struct drm_amdgpu_gpumirror *args)
{
	struct amdgpu_gpumirror_process *p = gvm->proc;
	struct amdgpu_gpumirror_mem *mem;

	if (args->flags || args->ptr || args->count)
		return -EINVAL;
	mem = xa_erase(&p->handles, args->handle);
	if (!mem)
		return -ENOENT;
	amdgpu_gpumirror_mem_free(p, mem);
	return 0;
}

/*
 * SVM needs a VM that can fault pages back in (XNACK on) or whose queues
 * can be stopped while its ranges are mapped back (a compute VM): a gfx VM
 * without retry faults would run into ranges still being restored.
 */
static bool amdgpu_gpumirror_svm_ok(struct amdgpu_gpumirror_vm *gvm)
{
	return !gvm->no_fault || gvm->backend->has_queues(gvm);
}

/*
 * [*start, *end) of an SVM op that maps: page aligned, not empty, no
 * wrap, on a VM where SVM is safe.
 */
static int amdgpu_gpumirror_svm_span(struct amdgpu_gpumirror_vm *gvm,
				     const struct drm_amdgpu_gpumirror *args,
				     unsigned long *start, unsigned long *end)
{
	u64 e;

	if (!args->size || !PAGE_ALIGNED(args->va) ||
	    !PAGE_ALIGNED(args->size))
		return -EINVAL;
	if (check_add_overflow(args->va, args->size, &e) || e > ULONG_MAX)
		return -EOVERFLOW;
	if (!amdgpu_gpumirror_svm_ok(gvm))
		return -EOPNOTSUPP;
	*start = args->va;
	*end = e;
	return 0;
}

static struct drm_amdgpu_gpumirror_attr *
amdgpu_gpumirror_copy_attrs(const struct drm_amdgpu_gpumirror *args)
{
	struct drm_amdgpu_gpumirror_attr *a;
	unsigned long seen = 0;
	unsigned int i;

	if (!args->count)
		return ERR_PTR(-EINVAL);
	if (args->count > AMDGPU_GPUMIRROR_MAX_ATTRS)
		return ERR_PTR(-E2BIG);
	a = memdup_array_user(u64_to_user_ptr(args->ptr), args->count,
			      sizeof(*a));
	if (IS_ERR(a))
		return a;
	for (i = 0; i < args->count; i++) {
		if (a[i].type < AMDGPU_GPUMIRROR_ATTR_PREFERRED_LOC ||
		    a[i].type > AMDGPU_GPUMIRROR_ATTR_GRANULARITY ||
		    (seen & BIT(a[i].type))) {
			kfree(a);
			return ERR_PTR(-EINVAL);
		}
		seen |= BIT(a[i].type);
	}
	return a;
}

/* One uapi attribute into @attrs and @mask; -EINVAL for a bad value. */
static int amdgpu_gpumirror_attr_in(struct amdgpu_gpumirror_vm *gvm,
				    const struct drm_amdgpu_gpumirror_attr *a,
				    struct gpumirror_attrs *attrs,
				    unsigned int *mask)
{
	unsigned long slot = BIT(gvm->gdev.index);

	switch (a->type) {
	case AMDGPU_GPUMIRROR_ATTR_PREFERRED_LOC:
		if (a->value > AMDGPU_GPUMIRROR_LOC_VRAM)
			return -EINVAL;
		attrs->preferred_loc = a->value == AMDGPU_GPUMIRROR_LOC_VRAM ?
				       gvm->gdev.index : GPUMIRROR_LOC_SYSTEM;
		*mask |= GPUMIRROR_ATTR_PREFERRED_LOC;
		return 0;
	case AMDGPU_GPUMIRROR_ATTR_ACCESS:
		if (a->value > AMDGPU_GPUMIRROR_ACCESS_WRITE)
			return -EINVAL;
		attrs->access_read = a->value >= AMDGPU_GPUMIRROR_ACCESS_READ ?
				     slot : 0;
		attrs->access_write = a->value == AMDGPU_GPUMIRROR_ACCESS_WRITE ?
				      slot : 0;
		*mask |= GPUMIRROR_ATTR_ACCESS;
		return 0;
	case AMDGPU_GPUMIRROR_ATTR_READ_ONLY:
	case AMDGPU_GPUMIRROR_ATTR_ALWAYS_MAPPED:
		if (a->value > 1)
			return -EINVAL;
		if (a->type == AMDGPU_GPUMIRROR_ATTR_READ_ONLY) {
			attrs->read_only = a->value;
			*mask |= GPUMIRROR_ATTR_READ_ONLY;
		} else {
			attrs->always_mapped = a->value;
			*mask |= GPUMIRROR_ATTR_ALWAYS_MAPPED;
		}
		return 0;
	default:
		if (a->value > GPUMIRROR_MAX_GRANULARITY)
			return -EINVAL;
		attrs->granularity = a->value;
		*mask |= GPUMIRROR_ATTR_GRANULARITY;
		return 0;
	}
}

/* The uapi value of one attribute in @attrs. */
static u32 amdgpu_gpumirror_attr_out(struct amdgpu_gpumirror_vm *gvm,
				     u32 type,
				     const struct gpumirror_attrs *attrs)
{
	unsigned long slot = BIT(gvm->gdev.index);

	switch (type) {
	case AMDGPU_GPUMIRROR_ATTR_PREFERRED_LOC:
		return attrs->preferred_loc == gvm->gdev.index ?
		       AMDGPU_GPUMIRROR_LOC_VRAM : AMDGPU_GPUMIRROR_LOC_SYSTEM;
	case AMDGPU_GPUMIRROR_ATTR_ACCESS:
		if (attrs->access_write & slot)
			return AMDGPU_GPUMIRROR_ACCESS_WRITE;
		return attrs->access_read & slot ? AMDGPU_GPUMIRROR_ACCESS_READ :
		       AMDGPU_GPUMIRROR_ACCESS_NONE;
	case AMDGPU_GPUMIRROR_ATTR_READ_ONLY:
		return attrs->read_only;
	case AMDGPU_GPUMIRROR_ATTR_ALWAYS_MAPPED:
		return attrs->always_mapped;
	default:
		return attrs->granularity;
	}
}

static int amdgpu_gpumirror_op_set_attr(struct amdgpu_gpumirror_vm *gvm,
					struct drm_amdgpu_gpumirror *args)
{
	struct drm_amdgpu_gpumirror_attr *a;
	struct gpumirror_attrs attrs;
	unsigned long start, end;
	unsigned int i, mask = 0;
	int ret;

	if (args->flags)
		return -EINVAL;
	ret = amdgpu_gpumirror_svm_span(gvm, args, &start, &end);
	if (ret)
		return ret;
	a = amdgpu_gpumirror_copy_attrs(args);
	if (IS_ERR(a))
		return PTR_ERR(a);
	gpumirror_attr_default(&attrs);
	for (i = 0; i < args->count && !ret; i++)
		ret = amdgpu_gpumirror_attr_in(gvm, &a[i], &attrs, &mask);
	kfree(a);
	if (ret)
		return ret;
	ret = gpumirror_attr_set_devices(gvm->gdev.mirror, start, end, &attrs,
					 mask, BIT(gvm->gdev.index));
	if (!ret)
		set_bit(AMDGPU_GPUMIRROR_SVM, &gvm->state);
	return ret;
}

static int amdgpu_gpumirror_op_get_attr(struct amdgpu_gpumirror_vm *gvm,
					struct drm_amdgpu_gpumirror *args)
{
	struct drm_amdgpu_gpumirror_attr *a;
	struct gpumirror_attrs attrs;
	unsigned long end;
	unsigned int i;
	int ret = 0;

	if (args->flags || !PAGE_ALIGNED(args->va))
		return -EINVAL;
	if (args->va >= TASK_SIZE)
		return -EFAULT;
	a = amdgpu_gpumirror_copy_attrs(args);
	if (IS_ERR(a))
		return PTR_ERR(a);
	gpumirror_attr_get(gvm->gdev.mirror, args->va, &attrs, &end);
	for (i = 0; i < args->count; i++)
		a[i].value = amdgpu_gpumirror_attr_out(gvm, a[i].type, &attrs);
	if (copy_to_user(u64_to_user_ptr(args->ptr), a,
			 array_size(args->count, sizeof(*a))))
		ret = -EFAULT;
	kfree(a);
	args->size = end - args->va;
	return ret;
}

static int amdgpu_gpumirror_op_prefetch(struct amdgpu_gpumirror_vm *gvm,
					struct drm_amdgpu_gpumirror *args)
{
	unsigned long start, end;
	int ret;

	if (args->flags || args->ptr || args->count)
		return -EINVAL;
	ret = amdgpu_gpumirror_svm_span(gvm, args, &start, &end);
	if (ret)
		return ret;
	/* Prefetch makes ranges of up to 2M around what it is given. */
	ret = amdgpu_gpumirror_svm_free(gvm, ALIGN_DOWN(start, SZ_2M),
					ALIGN(end, SZ_2M));
	if (ret)
		return ret;
	set_bit(AMDGPU_GPUMIRROR_SVM, &gvm->state);
	return gpumirror_prefetch(gvm->gdev.mirror, &gvm->gdev, start, end);
}

/**
 * amdgpu_gpumirror_vm_ioctl() - DRM_IOCTL_AMDGPU_GPUMIRROR on one VM
 * @gvm: the VM, attached to its mirror
 * @args: the ioctl's argument, copied in; results are written back to it
 *
 * The parse, check and dispatch core of the ioctl, which the KUnit suite
 * drives with user arrays of its own.
 *
 * Context: process context of the mirror's mm, no lock held.
 * Return: 0 or the negative errno the uapi header lists.
 */
VISIBLE_IF_KUNIT int amdgpu_gpumirror_vm_ioctl(struct amdgpu_gpumirror_vm *gvm,
					       struct drm_amdgpu_gpumirror *args)
{
	switch (args->op) {
	case AMDGPU_GPUMIRROR_OP_USERPTR_CREATE:
		return amdgpu_gpumirror_op_create(gvm, args);
	case AMDGPU_GPUMIRROR_OP_USERPTR_DESTROY:
		return amdgpu_gpumirror_op_destroy(gvm, args);
	case AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR:
		return amdgpu_gpumirror_op_set_attr(gvm, args);
	case AMDGPU_GPUMIRROR_OP_SVM_GET_ATTR:
		return amdgpu_gpumirror_op_get_attr(gvm, args);
	case AMDGPU_GPUMIRROR_OP_SVM_PREFETCH:
		return amdgpu_gpumirror_op_prefetch(gvm, args);
	default:
		return -EINVAL;
	}
}
EXPORT_SYMBOL_IF_KUNIT(amdgpu_gpumirror_vm_ioctl);

static struct amdgpu_gpumirror_file *
amdgpu_gpumirror_file_create(struct amdgpu_device *adev,
			     struct amdgpu_fpriv *fpriv)
{
	struct amdgpu_gpumirror_file *gf;
	unsigned long irqflags;
	int ret;

	gf = kzalloc(sizeof(*gf), GFP_KERNEL);
	if (!gf)
		return ERR_PTR(-ENOMEM);
	ret = amdgpu_gpumirror_process_init(&gf->proc, current->mm);
	if (ret)
		goto free_gf;
	gf->gvm.gdev.dev = adev->dev;
	/* GEM VA's limit: amdgpu keeps the top for the trap handler. */
	gf->gvm.gdev.va_limit = ((u64)adev->vm_manager.max_pfn <<
				 AMDGPU_GPU_PAGE_SHIFT) - AMDGPU_VA_RESERVED_TOP;
	gf->gvm.backend = &amdgpu_gpumirror_amdgpu_backend;
	gf->gvm.adev = adev;
	gf->gvm.vm = &fpriv->vm;
	/* Without retry faults the GPU cannot fault pages back in. */
	gf->gvm.no_fault = adev->gmc.noretry;
	ret = amdgpu_gpumirror_vm_attach(&gf->proc, &gf->gvm);
	if (ret)
		goto fini_proc;
	/* The fault handler finds the VM by PASID under this lock. */
	xa_lock_irqsave(&adev->vm_manager.pasids, irqflags);
	fpriv->vm.gpumirror = &gf->gvm;
	xa_unlock_irqrestore(&adev->vm_manager.pasids, irqflags);
	return gf;

fini_proc:
	amdgpu_gpumirror_process_fini(&gf->proc);
free_gf:
	kfree(gf);
	return ERR_PTR(ret);
}

static struct amdgpu_gpumirror_file *
amdgpu_gpumirror_file_get(struct amdgpu_device *adev,
			  struct amdgpu_fpriv *fpriv)
{
	/* Pairs with the smp_store_release() below. */
	struct amdgpu_gpumirror_file *gf = smp_load_acquire(&fpriv->gpumirror);

	if (gf)
		return gf;
	mutex_lock(&amdgpu_gpumirror_file_lock);
	gf = fpriv->gpumirror;
	if (!gf) {
		gf = amdgpu_gpumirror_file_create(adev, fpriv);
		if (!IS_ERR(gf))
			/* Pairs with the smp_load_acquire() above. */
			smp_store_release(&fpriv->gpumirror, gf);
	}
	mutex_unlock(&amdgpu_gpumirror_file_lock);
	return gf;
}

/**
 * amdgpu_gpumirror_ioctl() - DRM_IOCTL_AMDGPU_GPUMIRROR
 * @dev: the DRM device
 * @data: &struct drm_amdgpu_gpumirror, copied in by the DRM core
 * @filp: the render-node file
 *
 * Return: 0 or a negative errno (see the uapi header).
 */
int amdgpu_gpumirror_ioctl(struct drm_device *dev, void *data,
			   struct drm_file *filp)
{
	struct amdgpu_gpumirror_file *gf;

	if (!current->mm)
		return -EPERM;
	gf = amdgpu_gpumirror_file_get(drm_to_adev(dev), filp->driver_priv);
	if (IS_ERR(gf))
		return PTR_ERR(gf);
	if (gf->proc.mirror.mm != current->mm)
		return -EPERM;
	return amdgpu_gpumirror_vm_ioctl(&gf->gvm, data);
}

/**
 * amdgpu_gpumirror_file_fini() - tear down a file's mirror
 * @adev: the GPU
 * @fpriv: the file, being closed
 *
 * Called from amdgpu_driver_postclose_kms() before the VM goes away: waits
 * for the fault handlers using the mirror, releases the GPU VA claims,
 * frees the allocations and the mirror.
 */
void amdgpu_gpumirror_file_fini(struct amdgpu_device *adev,
				struct amdgpu_fpriv *fpriv)
{
	struct amdgpu_gpumirror_file *gf = fpriv->gpumirror;
	struct amdgpu_bo *root = fpriv->vm.root.bo;
	unsigned long irqflags;

	if (!gf)
		return;
	xa_lock_irqsave(&adev->vm_manager.pasids, irqflags);
	fpriv->vm.gpumirror = NULL;
	xa_unlock_irqrestore(&adev->vm_manager.pasids, irqflags);
	/* Pairs with atomic_dec_and_test() in amdgpu_gpumirror_vm_fault(). */
	wait_var_event(&gf->users, !atomic_read(&gf->users));

	amdgpu_gpumirror_vm_detach(&gf->gvm);
	if (gf->gvm.va_bo_va && !WARN_ON(amdgpu_bo_reserve(root, true))) {
		amdgpu_vm_bo_del(adev, gf->gvm.va_bo_va);
		amdgpu_bo_unreserve(root);
	}
	amdgpu_gpumirror_process_fini(&gf->proc);
	fpriv->gpumirror = NULL;
	kfree(gf);
}

/**
 * amdgpu_gpumirror_vm_fault() - offer a retry fault to gpumirror
 * @adev: the GPU
 * @pasid: the faulting VM's PASID
 * @addr: the faulting GPU address, in bytes
 * @write_fault: a write fault
 *
 * Called by amdgpu_vm_handle_fault() before amdkfd's SVM sees the fault.
 *
 * Context: process context (the IH worker).
 * Return: true if gpumirror mapped the page, or failed for a passing
 * reason (no memory, busy pages) fewer than
 * %AMDGPU_GPUMIRROR_FAULT_RETRIES times in a row: the fault is handled and
 * the GPU retries. False if the VM has no mirror, nothing of it covers @addr, or
 * mapping failed for good: amdgpu handles the fault as usual then
 * (amdkfd's SVM refuses a GPU VA an allocation claims).
 */
bool amdgpu_gpumirror_vm_fault(struct amdgpu_device *adev, u32 pasid,
			       u64 addr, bool write_fault)
{
	struct amdgpu_gpumirror_file *gf = NULL;
	struct amdgpu_vm *vm;
	unsigned long irqflags;
	int ret;

	xa_lock_irqsave(&adev->vm_manager.pasids, irqflags);
	vm = xa_load(&adev->vm_manager.pasids, pasid);
	if (vm && vm->gpumirror) {
		gf = container_of(vm->gpumirror, struct amdgpu_gpumirror_file,
				  gvm);
		atomic_inc(&gf->users);
	}
	xa_unlock_irqrestore(&adev->vm_manager.pasids, irqflags);
	if (!gf)
		return false;
	ret = amdgpu_gpumirror_fault(&gf->gvm, addr, write_fault);
	switch (ret) {
	case 0:
		atomic_set(&gf->gvm.fault_retries, 0);
		break;
	case -ENOMEM:
	case -EBUSY:
	case -EINTR:
	case -EAGAIN:
		/* Ours, not mapped this time: let the GPU retry, a while. */
		if (atomic_inc_return(&gf->gvm.fault_retries) >
		    AMDGPU_GPUMIRROR_FAULT_RETRIES)
			break;
		addr = ALIGN_DOWN(addr, AMDGPU_GPU_PAGE_SIZE);
		amdgpu_gmc_filter_faults_remove(adev, addr, pasid);
		ret = 0;
		break;
	}
	/* Pairs with wait_var_event() in amdgpu_gpumirror_file_fini(). */
	if (atomic_dec_and_test(&gf->users))
		wake_up_var(&gf->users);
	return !ret;
}

static struct amdgpu_gpumirror_file *
amdgpu_gpumirror_file_of(struct amdgpu_fpriv *fpriv)
{
	/* Pairs with smp_store_release() in amdgpu_gpumirror_file_get(). */
	return smp_load_acquire(&fpriv->gpumirror);
}

/**
 * amdgpu_gpumirror_cs_prepare() - map again before a command submission
 * @fpriv: the submitting file
 *
 * Called by amdgpu_cs_ioctl() before amdgpu_cs_parser_bos() reserves
 * anything.
 *
 * Return: 0, -EPERM from another process than the mirror's while the file
 * has allocations, or the error of amdgpu_gpumirror_validate().
 */
int amdgpu_gpumirror_cs_prepare(struct amdgpu_fpriv *fpriv)
{
	struct amdgpu_gpumirror_file *gf = amdgpu_gpumirror_file_of(fpriv);

	if (!gf)
		return 0;
	/* As amdgpu's userptr BOs: only their own process submits them. */
	if (gf->proc.mirror.mm != current->mm)
		return list_empty_careful(&gf->proc.mems) ? 0 : -EPERM;
	return amdgpu_gpumirror_validate(&gf->gvm);
}

/**
 * amdgpu_gpumirror_cs_lock() - hold off invalidations until submitted
 * @p: the command submission, before it takes the device's notifier_lock
 *
 * Takes the mirror's notifier lock for read until
 * amdgpu_gpumirror_cs_unlock(). Taken before the device-wide
 * notifier_lock, so that waiting behind an invalidation (which may wait
 * for this VM's jobs) holds up no other submission.
 */
void amdgpu_gpumirror_cs_lock(struct amdgpu_cs_parser *p)
{
	struct amdgpu_fpriv *fpriv = p->filp->driver_priv;
	struct amdgpu_gpumirror_file *gf = amdgpu_gpumirror_file_of(fpriv);

	if (!gf)
		return;
	gpumirror_notifier_lock(&gf->proc.mirror);
	p->gpumirror = &gf->gvm;
}

/**
 * amdgpu_gpumirror_cs_stale() - did an allocation go stale since prepared?
 * @p: the command submission, after amdgpu_gpumirror_cs_lock()
 *
 * Return: 0, or 1 if an allocation went stale since
 * amdgpu_gpumirror_cs_prepare(): the submission restarts with -EAGAIN.
 */
int amdgpu_gpumirror_cs_stale(struct amdgpu_cs_parser *p)
{
	return p->gpumirror ? amdgpu_gpumirror_stale(p->gpumirror) : 0;
}

/**
 * amdgpu_gpumirror_cs_unlock() - let invalidations in again
 * @p: the command submission; its fences are in the reservation objects
 */
void amdgpu_gpumirror_cs_unlock(struct amdgpu_cs_parser *p)
{
	if (!p->gpumirror)
		return;
	gpumirror_notifier_unlock(p->gpumirror->gdev.mirror);
	p->gpumirror = NULL;
}
