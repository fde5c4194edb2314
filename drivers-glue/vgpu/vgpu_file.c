// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: character devices; an open file is one GPU address space.
 */

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <uapi/linux/vgpu.h>

#include "vgpu.h"
#include "vgpu_file.h"

/**
 * DOC: vgpu character devices
 *
 * Each vgpu has a character device. Opening it creates a GPU address space
 * (&struct vgpu_space: a gpumirror mirror of the opening process's mm, and
 * the objects in it) with the vgpu's page table and TLB (&struct vgpu_as)
 * attached to it; the file keeps that mm for its whole life, and a command
 * issued from another mm (a forked child using an inherited descriptor)
 * fails with -EPERM.
 *
 * JOIN moves a file's vgpu into another file's space, as one VM spanning
 * GPUs: the mirror then has several devices, so one fault of an object
 * makes one page set per vgpu, one invalidation runs pass 1 on every vgpu
 * before any waits in pass 2, and all vgpus see one attribute tree. The
 * space's lock serializes the commands of all its files; a file's lock is
 * taken before it and keeps the file's space from changing under a
 * command. A space is freed with its last file.
 *
 * The node answers two command sets: the one of lib/test_hmm_uapi.h (so
 * tools/testing/selftests/mm/hmm-tests runs unmodified against vgpu) and
 * vgpu's own, <uapi/linux/vgpu.h>. The node is called hmm_dmirror<N>, the
 * name hmm-tests opens, unless lib/test_hmm is built too, which owns that
 * name; it is vgpu<N> then.
 *
 * The GPU VA space is split as on SVM hardware. Below
 * %VGPU_GPU_VA_EXPLICIT, GPU VA equals CPU VA: the test_hmm commands fault
 * identity objects there on demand. From %VGPU_GPU_VA_EXPLICIT up the user
 * places explicit (scattered) objects. The identity objects of a file never
 * overlap: a fault over a range first destroys the objects it overlaps, and
 * the objects an munmap() hit.
 */

static dev_t vgpu_devt;
static struct class *vgpu_class;
/* Serializes joins; a file's space changes only under it and its lock. */
static DEFINE_MUTEX(vgpu_join_lock);

static struct vgpu_space *vgpu_space_create(struct mm_struct *mm)
{
	struct vgpu_space *vs;
	int ret;

	vs = kzalloc(sizeof(*vs), GFP_KERNEL_ACCOUNT);
	if (!vs)
		return ERR_PTR(-ENOMEM);
	kref_init(&vs->ref);
	mutex_init(&vs->lock);
	INIT_LIST_HEAD(&vs->objs);
	xa_init_flags(&vs->handles, XA_FLAGS_ALLOC1);
	ret = gpumirror_init(&vs->mirror, mm);
	if (ret) {
		mutex_destroy(&vs->lock);
		kfree(vs);
		return ERR_PTR(ret);
	}
	return vs;
}

/* The last file left: destroy the objects, then the mirror. */
static void vgpu_space_free(struct kref *ref)
{
	struct vgpu_space *vs = container_of(ref, struct vgpu_space, ref);
	struct vgpu_fobj *fo, *tmp;

	list_for_each_entry_safe(fo, tmp, &vs->objs, link)
		vgpu_fobj_destroy(vs, fo);
	gpumirror_fini(&vs->mirror);
	xa_destroy(&vs->handles);
	mutex_destroy(&vs->lock);
	kfree(vs);
}

/* Attach @vf's vgpu to @vs's mirror. */
static int vgpu_space_enter(struct vgpu_space *vs, struct vgpu_file *vf)
{
	int ret;

	lockdep_assert_held(&vs->lock);
	if (vs->vgpus & BIT(vf->vgpu->id))
		return -EEXIST;
	ret = gpumirror_device_attach(&vs->mirror, &vf->as.gdev);
	if (!ret)
		vs->vgpus |= BIT(vf->vgpu->id);
	return ret;
}

/* Detach @vf's vgpu from @vs's mirror: its PTEs and page sets go. */
static void vgpu_space_leave(struct vgpu_space *vs, struct vgpu_file *vf)
{
	lockdep_assert_held(&vs->lock);
	gpumirror_device_detach(&vf->as.gdev);
	vs->vgpus &= ~BIT(vf->vgpu->id);
}

static int vgpu_fops_open(struct inode *inode, struct file *filp)
{
	struct vgpu *vgpu = container_of(inode->i_cdev, struct vgpu, cdev);
	struct vgpu_file *vf;
	int ret;

	/* Only a process's own memory can be mirrored. */
	if (!current->mm)
		return -EINVAL;
	vf = kzalloc(sizeof(*vf), GFP_KERNEL_ACCOUNT);
	if (!vf)
		return -ENOMEM;
	vf->vgpu = vgpu;
	vf->mm = current->mm;
	mutex_init(&vf->lock);
	vgpu_as_init(&vf->as, vgpu, false);
	vf->as.gdev.pagemap_owner = vgpu->owner;
	/* The checker of this mm, see vgpu_as_watch(). */
	ret = vgpu_as_watch(&vf->as, current->mm);
	if (ret)
		goto out_free;
	vf->space = vgpu_space_create(current->mm);
	if (IS_ERR(vf->space)) {
		ret = PTR_ERR(vf->space);
		goto out_free;
	}
	mutex_lock(&vf->space->lock);
	ret = vgpu_space_enter(vf->space, vf);
	mutex_unlock(&vf->space->lock);
	if (ret)
		goto out_put_space;
	filp->private_data = vf;
	return 0;

out_put_space:
	kref_put(&vf->space->ref, vgpu_space_free);
out_free:
	vgpu_as_fini(&vf->as);
	mutex_destroy(&vf->lock);
	kfree(vf);
	return ret;
}

/**
 * vgpu_fobj_destroy() - destroy one of an address space's objects
 * @vs: the address space, with @vs->lock held (or being freed)
 * @fo: the object
 */
void vgpu_fobj_destroy(struct vgpu_space *vs, struct vgpu_fobj *fo)
{
	list_del(&fo->link);
	if (fo->handle)
		xa_erase(&vs->handles, fo->handle);
	gpumirror_object_destroy(fo->obj);
	kfree(fo);
}

static int vgpu_fops_release(struct inode *inode, struct file *filp)
{
	struct vgpu_file *vf = filp->private_data;
	struct vgpu_space *vs = vf->space;

	mutex_lock(&vs->lock);
	vgpu_space_leave(vs, vf);
	mutex_unlock(&vs->lock);
	/* Pairs with kref_init() at open or kref_get() in a join. */
	kref_put(&vs->ref, vgpu_space_free);
	vgpu_as_fini(&vf->as);
	mutex_destroy(&vf->lock);
	kfree(vf);
	return 0;
}

static const struct file_operations vgpu_fops;

/* The vgpu file behind @fd, with a reference, or NULL. */
static struct file *vgpu_file_get(int fd)
{
	struct file *file = fget(fd);

	if (file && file->f_op != &vgpu_fops) {
		fput(file);
		return NULL;
	}
	return file;
}

/*
 * Join @vf to @vs: leave its own space, which nothing else uses. Every
 * check that can fail comes first: leaving detaches the vgpu, which resets
 * its attributes and drops its mappings, so a refused join must not leave.
 * Return: 0 with the own space to put in *@old, or -errno.
 */
static int vgpu_file_move(struct vgpu_file *vf, struct vgpu_space *vs,
			  struct vgpu_space **old)
{
	struct vgpu_space *own = vf->space;
	int ret;

	lockdep_assert_held(&vgpu_join_lock);
	if (kref_read(&own->ref) != 1)
		return -EBUSY;
	/* Only joins add devices, and they are serialized: this holds. */
	mutex_lock(&vs->lock);
	ret = vs->vgpus & BIT(vf->vgpu->id) ? -EEXIST : 0;
	mutex_unlock(&vs->lock);
	if (ret)
		return ret;
	mutex_lock(&own->lock);
	vgpu_space_leave(own, vf);
	mutex_unlock(&own->lock);
	mutex_lock(&vs->lock);
	ret = vgpu_space_enter(vs, vf);
	mutex_unlock(&vs->lock);
	if (ret) {
		/* Back home: the slot we left is free, this cannot fail. */
		mutex_lock(&own->lock);
		WARN_ON_ONCE(vgpu_space_enter(own, vf));
		mutex_unlock(&own->lock);
		return ret;
	}
	/* Pairs with the kref_put() when @vf is released. */
	kref_get(&vs->ref);
	vf->space = vs;
	*old = own;
	return 0;
}

/**
 * vgpu_file_join() - JOIN: put the file's vgpu into another file's space
 * @vf: the file, with @vf->lock held
 * @a: the command
 *
 * Return: 0 or -errno, see <uapi/linux/vgpu.h>.
 */
int vgpu_file_join(struct vgpu_file *vf, const struct vgpu_join *a)
{
	struct vgpu_space *old = NULL;
	struct vgpu_file *other;
	struct file *file;
	int ret;

	lockdep_assert_held(&vf->lock);
	if (a->pad)
		return -EINVAL;
	file = vgpu_file_get(a->fd);
	if (!file)
		return -EBADF;
	other = file->private_data;
	ret = -EPERM;
	if (other->mm != vf->mm)
		goto out_fput;
	mutex_lock(&vgpu_join_lock);
	/* other->space changes only under vgpu_join_lock. */
	ret = other->space == vf->space ? -EEXIST :
					  vgpu_file_move(vf, other->space, &old);
	mutex_unlock(&vgpu_join_lock);
	/* Pairs with kref_init() at open; not under the join lock. */
	if (old)
		kref_put(&old->ref, vgpu_space_free);
out_fput:
	fput(file);
	return ret;
}

/**
 * vgpu_file_reap() - destroy identity objects a fault replaces
 * @vf: the file, with its space's lock held
 * @start: start of the range about to be faulted
 * @end: its end
 *
 * Destroys the identity objects that overlap [@start, @end) and those an
 * munmap() hit (their memory is gone; a new mapping gets a new object).
 */
void vgpu_file_reap(struct vgpu_file *vf, unsigned long start,
		    unsigned long end)
{
	struct vgpu_space *vs = vf->space;
	struct vgpu_fobj *fo, *tmp;

	lockdep_assert_held(&vs->lock);
	list_for_each_entry_safe(fo, tmp, &vs->objs, link) {
		if (fo->handle)
			continue;
		if ((fo->start < end && start < fo->end) ||
		    READ_ONCE(fo->obj->retired))
			vgpu_fobj_destroy(vs, fo);
	}
}

/**
 * vgpu_file_bind() - map an object for the file's GPU and program its PTEs
 * @vf: the file, with its space's lock held
 * @obj: an object of the file's mirror
 * @flags: gpumirror_object_map() flags
 *
 * Return: 0, or the error of gpumirror_object_map(), -EBUSY if the set kept
 * going stale before it was bound, -ENOMEM.
 */
int vgpu_file_bind(struct vgpu_file *vf, struct gpumirror_object *obj,
		   unsigned int flags)
{
	unsigned int tries;
	int ret;

	lockdep_assert_held(&vf->space->lock);
	for (tries = 0; tries < 16; tries++) {
		ret = gpumirror_object_map(obj, BIT(vf->as.gdev.index), flags);
		if (ret)
			return ret;
		ret = vgpu_as_bind(&vf->as, obj);
		if (ret != -EAGAIN)
			return ret;
	}
	return -EBUSY;
}

/**
 * vgpu_file_fault() - make and bind an identity object over a range
 * @vf: the file, with its space's lock held
 * @start: page-aligned start (CPU VA == GPU VA)
 * @end: page-aligned end
 * @flags: gpumirror_object_map() flags
 *
 * Return: 0, or the errors of gpumirror_object_create() and
 * vgpu_file_bind(); nothing is left behind on error.
 */
int vgpu_file_fault(struct vgpu_file *vf, unsigned long start,
		    unsigned long end, unsigned int flags)
{
	struct gpumirror_segment r = { .addr = start, .len = end - start };
	struct vgpu_fobj *fo;
	int ret;

	if (end > VGPU_GPU_VA_EXPLICIT)
		return -EFAULT;
	vgpu_file_reap(vf, start, end);
	fo = kzalloc(sizeof(*fo), GFP_KERNEL);
	if (!fo)
		return -ENOMEM;
	fo->obj = gpumirror_object_create(&vf->space->mirror, &r, 1, start);
	if (IS_ERR(fo->obj)) {
		ret = PTR_ERR(fo->obj);
		kfree(fo);
		return ret;
	}
	fo->start = start;
	fo->end = end;
	list_add_tail(&fo->link, &vf->space->objs);
	ret = vgpu_file_bind(vf, fo->obj, flags);
	if (ret)
		vgpu_fobj_destroy(vf->space, fo);
	return ret;
}

static long vgpu_fops_ioctl(struct file *filp, unsigned int cmd,
			    unsigned long arg)
{
	struct vgpu_file *vf = filp->private_data;

	/* The mirror is of the opener's mm; nobody else may drive it. */
	if (current->mm != vf->mm)
		return -EPERM;
	if (_IOC_TYPE(cmd) == VGPU_IOCTL_BASE)
		return vgpu_uapi_ioctl(vf, cmd, (void __user *)arg);
	return vgpu_hmm_ioctl(vf, cmd, (void __user *)arg);
}

/*
 * Mapping the node gives zeroed kernel pages (a VM_MIXEDMAP mapping), as
 * lib/test_hmm does: hmm-tests checks that such memory can be mirrored.
 */
static int vgpu_fops_mmap(struct file *filp, struct vm_area_struct *vma)
{
	unsigned long addr;
	struct page *page;
	int ret;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		/* The mapping holds its own reference now, or failed. */
		put_page(page);
		if (ret)
			return ret;
	}
	return 0;
}

static const struct file_operations vgpu_fops = {
	.owner = THIS_MODULE,
	.open = vgpu_fops_open,
	.release = vgpu_fops_release,
	.unlocked_ioctl = vgpu_fops_ioctl,
	.mmap = vgpu_fops_mmap,
	.llseek = noop_llseek,
};

/**
 * vgpu_chardev_add() - create a vgpu's device node
 * @vgpu: the GPU
 *
 * Return: 0 or -errno.
 */
int vgpu_chardev_add(struct vgpu *vgpu)
{
	const char *fmt = IS_ENABLED(CONFIG_TEST_HMM) ? "vgpu%u" :
						       "hmm_dmirror%u";
	dev_t devt = MKDEV(MAJOR(vgpu_devt), vgpu->id);
	int ret;

	cdev_init(&vgpu->cdev, &vgpu_fops);
	vgpu->cdev.owner = THIS_MODULE;
	ret = cdev_add(&vgpu->cdev, devt, 1);
	if (ret)
		return ret;
	vgpu->chardev = device_create(vgpu_class, &vgpu->pdev->dev, devt, vgpu,
				      fmt, vgpu->id);
	if (IS_ERR(vgpu->chardev)) {
		ret = PTR_ERR(vgpu->chardev);
		vgpu->chardev = NULL;
		cdev_del(&vgpu->cdev);
	}
	return ret;
}

/**
 * vgpu_chardev_del() - remove a vgpu's device node
 * @vgpu: the GPU, with its node added
 */
void vgpu_chardev_del(struct vgpu *vgpu)
{
	device_destroy(vgpu_class, vgpu->cdev.dev);
	cdev_del(&vgpu->cdev);
}

/**
 * vgpu_chardev_init() - register the vgpu character device region
 *
 * Return: 0 or -errno.
 */
int vgpu_chardev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&vgpu_devt, 0, GPUMIRROR_MAX_DEVICES, "vgpu");
	if (ret)
		return ret;
	vgpu_class = class_create("vgpu");
	if (IS_ERR(vgpu_class)) {
		unregister_chrdev_region(vgpu_devt, GPUMIRROR_MAX_DEVICES);
		return PTR_ERR(vgpu_class);
	}
	return 0;
}

/**
 * vgpu_chardev_exit() - undo vgpu_chardev_init()
 */
void vgpu_chardev_exit(void)
{
	class_destroy(vgpu_class);
	unregister_chrdev_region(vgpu_devt, GPUMIRROR_MAX_DEVICES);
}
