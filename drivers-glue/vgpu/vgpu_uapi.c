// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: its own commands, <uapi/linux/vgpu.h>.
 */

#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "vgpu_file.h"

/**
 * DOC: vgpu commands
 *
 * OBJ_CREATE makes one gpumirror object of N scattered CPU blocks at a GPU
 * VA of the explicit range and maps it strictly: a block that is not mapped
 * or not writable fails the command. Later GPU faults on it map with
 * %GPUMIRROR_MAP_PARTIAL, so a block freed or unmapped meanwhile becomes
 * unreachable (-EFAULT) while the others stay mapped. READ and WRITE are
 * GPU accesses through the page table; STATS reads the gpumirror counters
 * of the file's address space and the vgpu's memory counters. MIGRATE
 * moves a CPU range to the vgpu's memory or back with gpumirror's
 * migration (driver_migrate_lock protocol included); ALLOC_LIMIT makes the
 * vgpu's page allocator fail after a budget, to test what a failure in the
 * middle of a migration leaves behind.
 */

/* The explicit object covering @gpu_va, or NULL. */
static struct vgpu_fobj *vgpu_uapi_find(struct vgpu_file *vf, u64 gpu_va)
{
	struct vgpu_fobj *fo;

	list_for_each_entry(fo, &vf->space->objs, link)
		if (fo->handle && fo->start <= gpu_va && gpu_va < fo->end)
			return fo;
	return NULL;
}

static bool vgpu_uapi_overlaps(struct vgpu_file *vf, u64 start, u64 end)
{
	struct vgpu_fobj *fo;

	list_for_each_entry(fo, &vf->space->objs, link)
		if (fo->handle && fo->start < end && start < fo->end)
			return true;
	return false;
}

static struct gpumirror_segment *
vgpu_uapi_ranges(const struct vgpu_obj_create *a)
{
	struct vgpu_range __user *u = u64_to_user_ptr(a->ranges);
	struct gpumirror_segment *r;
	struct vgpu_range v;
	u32 i;

	r = kvmalloc_array(a->nranges, sizeof(*r), VGPU_BOUNCE_GFP);
	if (!r)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < a->nranges; i++) {
		if (copy_from_user(&v, &u[i], sizeof(v))) {
			kvfree(r);
			return ERR_PTR(-EFAULT);
		}
		r[i].addr = v.addr;
		r[i].len = v.len;
	}
	return r;
}

/* Publish a created object under a new handle, mapped. */
static int vgpu_uapi_install(struct vgpu_file *vf, struct vgpu_fobj *fo,
			     unsigned int flags)
{
	int ret;

	fo->start = fo->obj->gpu_start;
	fo->end = fo->obj->gpu_start + ((u64)fo->obj->npages << PAGE_SHIFT);
	if (vgpu_uapi_overlaps(vf, fo->start, fo->end))
		return -EEXIST;
	ret = xa_alloc(&vf->space->handles, &fo->handle, fo, xa_limit_31b,
		       GFP_KERNEL);
	if (ret)
		return ret;
	list_add_tail(&fo->link, &vf->space->objs);
	ret = vgpu_file_bind(vf, fo->obj, flags);
	if (ret) {
		list_del(&fo->link);
		xa_erase(&vf->space->handles, fo->handle);
	}
	return ret;
}

static int vgpu_uapi_create(struct vgpu_file *vf, struct vgpu_obj_create *a)
{
	struct gpumirror_segment *r;
	struct vgpu_fobj *fo;
	int ret;

	if (a->pad || (a->flags & ~VGPU_OBJ_READ_ONLY) ||
	    a->gpu_va < VGPU_GPU_VA_EXPLICIT)
		return -EINVAL;
	if (!a->nranges)
		return -ENOENT;
	if (a->nranges > READ_ONCE(vf->space->mirror.max_segments))
		return -E2BIG;
	r = vgpu_uapi_ranges(a);
	if (IS_ERR(r))
		return PTR_ERR(r);
	ret = -ENOMEM;
	fo = kzalloc(sizeof(*fo), GFP_KERNEL);
	if (!fo)
		goto out_free_ranges;
	fo->obj = gpumirror_object_create(&vf->space->mirror, r, a->nranges,
					  a->gpu_va);
	if (IS_ERR(fo->obj)) {
		ret = PTR_ERR(fo->obj);
		goto out_free_fo;
	}
	ret = vgpu_uapi_install(vf, fo, a->flags & VGPU_OBJ_READ_ONLY ? 0 :
					GPUMIRROR_MAP_WRITE);
	if (ret)
		goto out_destroy;
	a->handle = fo->handle;
	fo->read_only = a->flags & VGPU_OBJ_READ_ONLY;
	kvfree(r);
	return 0;

out_destroy:
	gpumirror_object_destroy(fo->obj);
out_free_fo:
	kfree(fo);
out_free_ranges:
	kvfree(r);
	return ret;
}

static int vgpu_uapi_destroy(struct vgpu_file *vf,
			     const struct vgpu_obj_destroy *a)
{
	struct vgpu_fobj *fo;

	if (a->pad)
		return -EINVAL;
	fo = a->handle ? xa_load(&vf->space->handles, a->handle) : NULL;
	if (!fo)
		return -ENOENT;
	vgpu_fobj_destroy(vf->space, fo);
	return 0;
}

/*
 * Serve a GPU fault at @gpu_va: map the object holding it again. A write
 * fault on a set mapped for reading maps it for write (gpumirror takes the
 * read-only set away first).
 */
static int vgpu_uapi_fault(struct vgpu_file *vf, u64 gpu_va, bool write)
{
	struct vgpu_fobj *fo = vgpu_uapi_find(vf, gpu_va);

	if (!fo || vf->vgpu->nofault)
		return -EFAULT;
	if (write && fo->read_only)
		return -EPERM;
	return vgpu_file_bind(vf, fo->obj, GPUMIRROR_MAP_PARTIAL |
				(write ? GPUMIRROR_MAP_WRITE : 0));
}

static int vgpu_uapi_access(struct vgpu_file *vf, struct vgpu_access *a,
			    bool write)
{
	size_t done = 0, n;
	u64 last_fault = U64_MAX, mark = 0, end;
	unsigned long busy = 0;
	void *bounce;
	int ret;

	if (!a->len || check_add_overflow(a->gpu_va, a->len, &end) ||
	    a->len > SZ_1G)
		return -EINVAL;
	bounce = kvmalloc(a->len, VGPU_BOUNCE_GFP);
	if (!bounce)
		return -ENOMEM;
	if (write && copy_from_user(bounce, u64_to_user_ptr(a->ptr), a->len)) {
		ret = -EFAULT;
		goto out_free;
	}
	for (;;) {
		ret = vgpu_as_access(&vf->as, a->gpu_va + done, bounce + done,
				     a->len - done, write, &n);
		done += n;
		if (ret != -ENOENT)
			break;
		ret = vgpu_as_replay(&vf->as, a->gpu_va + done, &last_fault,
				     &mark);
		/* Served, and still no write access: a read-only block. */
		if (ret == -EFAULT && write &&
		    vgpu_as_read_only(&vf->as, a->gpu_va + done))
			ret = -EPERM;
		if (ret)
			break;
		ret = vgpu_uapi_fault(vf, last_fault, write);
		if (vgpu_as_fault_transient(ret, &last_fault, &busy))
			continue;
		if (ret)
			break;
		a->faults++;
	}
	if (!ret && !write &&
	    copy_to_user(u64_to_user_ptr(a->ptr), bounce, a->len))
		ret = -EFAULT;
out_free:
	kvfree(bounce);
	return ret;
}

static void vgpu_uapi_stats(struct vgpu_file *vf, struct vgpu_stats *st)
{
	struct gpumirror_device_counters c;
	struct vgpu_mem *mem = &vf->vgpu->mem;

	gpumirror_device_stats_read(&vf->as.gdev, &c);
	memset(st, 0, sizeof(*st));
	st->faults = c.faults;
	st->retries = c.retries;
	st->invalidations = c.invalidations;
	st->tlb_flushes = c.tlb_flushes;
	st->dma_maps = c.dma_maps;
	st->dma_unmaps = c.dma_unmaps;
	st->migrations_to_dev = atomic64_read(&mem->devmem.stats.to_dev);
	st->migrations_to_ram = atomic64_read(&mem->devmem.stats.to_ram);
	st->dev_pages = atomic_long_read(&mem->used);
	st->migrate_races = atomic64_read(&mem->devmem.stats.races);
	st->migrate_busy = atomic64_read(&mem->devmem.stats.busy);
	st->suspends = c.suspends;
	st->resumes = c.resumes;
	st->restore_ns = c.restore_ns;
	st->restore_failed = c.restore_failed;
	st->queue_waits = atomic64_read(&vf->as.queue_waits);
	st->migrations_from_peer = atomic64_read(&mem->devmem.stats.from_peer);
	st->migrations_to_peer = atomic64_read(&mem->devmem.stats.to_peer);
}

static int vgpu_uapi_migrate(struct vgpu_file *vf, struct vgpu_migrate *a)
{
	struct mm_struct *mm = vf->mm;
	unsigned long moved = 0;
	u64 end;
	int ret;

	if (a->pad || (a->flags & ~(VGPU_MIGRATE_TO_RAM | VGPU_MIGRATE_MIXED)) ||
	    !a->len || check_add_overflow(a->addr, a->len, &end))
		return -EINVAL;
	if (a->flags & VGPU_MIGRATE_TO_RAM)
		ret = vgpu_migrate_to_ram(vf->vgpu, mm, a->addr,
					  a->addr + a->len, &moved);
	else
		ret = vgpu_migrate_to_dev(vf->vgpu, mm, a->addr,
					  a->addr + a->len,
					  a->flags & VGPU_MIGRATE_MIXED ?
					  GPUMIRROR_MIGRATE_MIXED : 0, &moved);
	a->migrated = moved;
	return ret;
}

static int vgpu_uapi_alloc_limit(struct vgpu_file *vf,
				 const struct vgpu_alloc_limit *a)
{
	if (a->budget < -1 || a->budget > INT_MAX)
		return -EINVAL;
	atomic_set(&vf->vgpu->mem.alloc_budget, a->budget);
	return 0;
}

/* The argument sizes by command; copied in and out around the handler. */
union vgpu_uapi_arg {
	struct vgpu_obj_create create;
	struct vgpu_obj_destroy destroy;
	struct vgpu_access access;
	struct vgpu_stats stats;
	struct vgpu_migrate migrate;
	struct vgpu_alloc_limit alloc_limit;
	struct vgpu_svm_access svm_access;
	struct vgpu_svm_attr svm_attr;
	struct vgpu_svm_prefetch svm_prefetch;
	struct vgpu_join join;
};

static int vgpu_uapi_cmd(struct vgpu_file *vf, unsigned int cmd,
			 union vgpu_uapi_arg *u)
{
	switch (cmd) {
	case VGPU_IOCTL_OBJ_CREATE:
		return vgpu_uapi_create(vf, &u->create);
	case VGPU_IOCTL_OBJ_DESTROY:
		return vgpu_uapi_destroy(vf, &u->destroy);
	case VGPU_IOCTL_READ:
		u->access.faults = 0;
		return vgpu_uapi_access(vf, &u->access, false);
	case VGPU_IOCTL_WRITE:
		u->access.faults = 0;
		return vgpu_uapi_access(vf, &u->access, true);
	case VGPU_IOCTL_STATS:
		vgpu_uapi_stats(vf, &u->stats);
		return 0;
	case VGPU_IOCTL_MIGRATE:
		return vgpu_uapi_migrate(vf, &u->migrate);
	case VGPU_IOCTL_ALLOC_LIMIT:
		return vgpu_uapi_alloc_limit(vf, &u->alloc_limit);
	case VGPU_IOCTL_SVM_ACCESS:
		return vgpu_svm_access(vf, &u->svm_access);
	case VGPU_IOCTL_SVM_ATTR:
		return vgpu_svm_attr(vf, &u->svm_attr);
	case VGPU_IOCTL_SVM_PREFETCH:
		return vgpu_svm_prefetch(vf, &u->svm_prefetch);
	}
	return -ENOTTY;
}

/**
 * vgpu_uapi_ioctl() - run one <uapi/linux/vgpu.h> command
 * @vf: the file, used from its own mm
 * @cmd: the ioctl number
 * @arg: the user's argument
 *
 * Return: 0 or -errno, see <uapi/linux/vgpu.h>.
 */
long vgpu_uapi_ioctl(struct vgpu_file *vf, unsigned int cmd, void __user *arg)
{
	union vgpu_uapi_arg u;
	size_t size = _IOC_SIZE(cmd);
	int ret;

	if (size > sizeof(u))
		return -ENOTTY;
	memset(&u, 0, sizeof(u));
	if ((_IOC_DIR(cmd) & _IOC_WRITE) && copy_from_user(&u, arg, size))
		return -EFAULT;
	mutex_lock(&vf->lock);
	if (cmd == VGPU_IOCTL_JOIN) {
		ret = vgpu_file_join(vf, &u.join);
	} else {
		mutex_lock(&vf->space->lock);
		ret = vgpu_uapi_cmd(vf, cmd, &u);
		mutex_unlock(&vf->space->lock);
	}
	mutex_unlock(&vf->lock);
	if (ret)
		return ret;
	if ((_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(arg, &u, size))
		return -EFAULT;
	return 0;
}
