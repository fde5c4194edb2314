// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: character devices; an open file is one GPU address space.
 */

#include <linux/cdev.h>
#include <linux/device.h>
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
 * (&struct vgpu_as) on a gpumirror mirror of the opening process's mm; the
 * file keeps that mm for its whole life, and a command issued from another
 * mm (a forked child using an inherited descriptor) fails with -EPERM.
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

static int vgpu_fops_open(struct inode *inode, struct file *filp)
{
	struct vgpu *vgpu = container_of(inode->i_cdev, struct vgpu, cdev);
	struct vgpu_file *vf;
	int ret;

	vf = kzalloc(sizeof(*vf), GFP_KERNEL);
	if (!vf)
		return -ENOMEM;
	vf->vgpu = vgpu;
	mutex_init(&vf->lock);
	INIT_LIST_HEAD(&vf->objs);
	xa_init_flags(&vf->handles, XA_FLAGS_ALLOC1);
	vgpu_as_init(&vf->as, vgpu, false);
	vf->as.gdev.pagemap_owner = vgpu->owner;
	ret = gpumirror_init(&vf->mirror, current->mm);
	if (ret)
		goto out_free;
	ret = gpumirror_device_attach(&vf->mirror, &vf->as.gdev);
	if (ret)
		goto out_fini;
	filp->private_data = vf;
	return 0;

out_fini:
	gpumirror_fini(&vf->mirror);
out_free:
	vgpu_as_fini(&vf->as);
	kfree(vf);
	return ret;
}

/**
 * vgpu_fobj_destroy() - destroy one of a file's objects
 * @vf: the file, with @vf->lock held (or being released)
 * @fo: the object
 */
void vgpu_fobj_destroy(struct vgpu_file *vf, struct vgpu_fobj *fo)
{
	list_del(&fo->link);
	if (fo->handle)
		xa_erase(&vf->handles, fo->handle);
	gpumirror_object_destroy(fo->obj);
	kfree(fo);
}

static int vgpu_fops_release(struct inode *inode, struct file *filp)
{
	struct vgpu_file *vf = filp->private_data;
	struct vgpu_fobj *fo, *tmp;

	list_for_each_entry_safe(fo, tmp, &vf->objs, link)
		vgpu_fobj_destroy(vf, fo);
	gpumirror_device_detach(&vf->as.gdev);
	gpumirror_fini(&vf->mirror);
	vgpu_as_fini(&vf->as);
	xa_destroy(&vf->handles);
	mutex_destroy(&vf->lock);
	kfree(vf);
	return 0;
}

/**
 * vgpu_file_reap() - destroy identity objects a fault replaces
 * @vf: the file, with @vf->lock held
 * @start: start of the range about to be faulted
 * @end: its end
 *
 * Destroys the identity objects that overlap [@start, @end) and those an
 * munmap() hit (their memory is gone; a new mapping gets a new object).
 */
void vgpu_file_reap(struct vgpu_file *vf, unsigned long start,
		    unsigned long end)
{
	struct vgpu_fobj *fo, *tmp;

	lockdep_assert_held(&vf->lock);
	list_for_each_entry_safe(fo, tmp, &vf->objs, link) {
		if (fo->handle)
			continue;
		if ((fo->start < end && start < fo->end) ||
		    READ_ONCE(fo->obj->retired))
			vgpu_fobj_destroy(vf, fo);
	}
}

/**
 * vgpu_file_bind() - map an object for the file's GPU and program its PTEs
 * @vf: the file, with @vf->lock held
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

	lockdep_assert_held(&vf->lock);
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
 * @vf: the file, with @vf->lock held
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
	struct gpumirror_range r = { .addr = start, .len = end - start };
	struct vgpu_fobj *fo;
	int ret;

	if (end > VGPU_GPU_VA_EXPLICIT)
		return -EFAULT;
	vgpu_file_reap(vf, start, end);
	fo = kzalloc(sizeof(*fo), GFP_KERNEL);
	if (!fo)
		return -ENOMEM;
	fo->obj = gpumirror_object_create(&vf->mirror, &r, 1, start);
	if (IS_ERR(fo->obj)) {
		ret = PTR_ERR(fo->obj);
		kfree(fo);
		return ret;
	}
	fo->start = start;
	fo->end = end;
	list_add_tail(&fo->link, &vf->objs);
	ret = vgpu_file_bind(vf, fo->obj, flags);
	if (ret)
		vgpu_fobj_destroy(vf, fo);
	return ret;
}

static long vgpu_fops_ioctl(struct file *filp, unsigned int cmd,
			    unsigned long arg)
{
	struct vgpu_file *vf = filp->private_data;

	/* The mirror is of the opener's mm; nobody else may drive it. */
	if (current->mm != vf->mirror.mm)
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
