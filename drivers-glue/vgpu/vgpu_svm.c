// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: shared virtual memory commands, fault and no-fault mode.
 */

#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "vgpu_file.h"

/**
 * DOC: vgpu shared virtual memory
 *
 * Below %VGPU_GPU_VA_EXPLICIT the vgpu sees the process's address space at
 * the same addresses. Its queue accesses it with SVM_ACCESS. A vgpu in
 * fault mode resolves a missing PTE with gpumirror_fault(), which makes
 * the range (2M, 64K or 4K, within the VMA and the attributes), migrates
 * it to the vgpu if the attributes prefer its memory, and binds it. A vgpu
 * in no-fault mode (vgpu.nofault_mask) never faults: SVM_ATTR granting it
 * access, or SVM_PREFETCH, maps the memory ahead with gpumirror_prefetch();
 * when an invalidation would zap such a mapping gpumirror suspends the
 * vgpu's queues and its restore worker maps the ranges back and resumes
 * them; accesses wait meanwhile. Its counters are in VGPU_IOCTL_STATS.
 */

/* How long a no-fault queue waits for a restore before it gives up. */
#define VGPU_RESUME_TIMEOUT	(2 * HZ)

static int vgpu_svm_range(u64 start, u64 len)
{
	u64 end;

	if (!len || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(len) ||
	    check_add_overflow(start, len, &end) || end > VGPU_GPU_VA_EXPLICIT)
		return -EINVAL;
	return 0;
}

/* A no-fault queue runs only while the vgpu is not suspended. */
static int vgpu_svm_wait_resumed(struct vgpu_as *as)
{
	if (!READ_ONCE(as->suspended))
		return 0;
	atomic64_inc(&as->queue_waits);
	if (!wait_event_timeout(as->resume_wq, !READ_ONCE(as->suspended),
				VGPU_RESUME_TIMEOUT))
		return -ETIMEDOUT;
	return 0;
}

/* The GPU side of SVM_ACCESS on a kernel buffer. */
static int vgpu_svm_gpu_access(struct vgpu_file *vf,
			       struct vgpu_svm_access *a, void *buf)
{
	bool write = a->flags & VGPU_SVM_WRITE;
	unsigned int restores = 0;
	u64 last_fault = U64_MAX, mark = 0;
	unsigned long busy = 0;
	size_t done = 0, n;
	int ret;

	for (;;) {
		if (vf->vgpu->nofault) {
			ret = vgpu_svm_wait_resumed(&vf->as);
			if (ret)
				return ret;
		}
		ret = vgpu_as_access(&vf->as, a->addr + done, buf + done,
				     a->len - done, write, &n);
		done += n;
		if (ret != -ENOENT)
			return ret;
		/*
		 * No recoverable faults. A restore in progress (the PTE went
		 * while the queue ran) is waited for; otherwise the memory was
		 * not mapped ahead.
		 */
		if (vf->vgpu->nofault) {
			if (!READ_ONCE(vf->as.suspended) || ++restores > 100)
				return -EFAULT;
			continue;
		}
		ret = vgpu_as_replay(&vf->as, a->addr + done, &last_fault,
				     &mark);
		if (ret)
			return ret;
		ret = gpumirror_fault(&vf->space->mirror, &vf->as.gdev, last_fault,
				      write);
		if (vgpu_as_fault_transient(ret, &last_fault, &busy))
			continue;
		if (ret)
			return ret;
		a->faults++;
	}
}

/**
 * vgpu_svm_access() - SVM_ACCESS: a queue's access to process memory
 * @vf: the file
 * @a: the command
 *
 * Return: 0 or -errno, see <uapi/linux/vgpu.h>.
 */
int vgpu_svm_access(struct vgpu_file *vf, struct vgpu_svm_access *a)
{
	void __user *ptr = u64_to_user_ptr(a->ptr);
	void *buf;
	u64 end;
	int ret;

	if (a->pad || (a->flags & ~VGPU_SVM_WRITE) || !a->len ||
	    a->len > SZ_1G || check_add_overflow(a->addr, a->len, &end) ||
	    end > VGPU_GPU_VA_EXPLICIT)
		return -EINVAL;
	buf = kvmalloc(a->len, VGPU_BOUNCE_GFP);
	if (!buf)
		return -ENOMEM;
	ret = -EFAULT;
	if ((a->flags & VGPU_SVM_WRITE) && copy_from_user(buf, ptr, a->len))
		goto out_free;
	a->faults = 0;
	ret = vgpu_svm_gpu_access(vf, a, buf);
	if (!ret && !(a->flags & VGPU_SVM_WRITE) &&
	    copy_to_user(ptr, buf, a->len))
		ret = -EFAULT;
out_free:
	kvfree(buf);
	return ret;
}

/* The gpumirror attributes an SVM_ATTR command asks for. */
static int vgpu_svm_attrs(struct vgpu_file *vf, const struct vgpu_svm_attr *a,
			  struct gpumirror_attrs *attrs, unsigned int *mask)
{
	unsigned long me = BIT(vf->as.gdev.index);

	gpumirror_attr_default(attrs);
	*mask = 0;
	if (a->mask & VGPU_SVM_ATTR_PREFERRED) {
		attrs->preferred_loc = a->preferred ? (int)vf->as.gdev.index :
						      GPUMIRROR_LOC_SYSTEM;
		*mask |= GPUMIRROR_ATTR_PREFERRED_LOC;
	}
	if (a->mask & VGPU_SVM_ATTR_GRANULARITY) {
		if (a->granularity > GPUMIRROR_MAX_GRANULARITY)
			return -EINVAL;
		attrs->granularity = a->granularity;
		*mask |= GPUMIRROR_ATTR_GRANULARITY;
	}
	if (a->mask & VGPU_SVM_ATTR_READ_ONLY) {
		attrs->read_only = a->read_only;
		*mask |= GPUMIRROR_ATTR_READ_ONLY;
	}
	if (a->mask & VGPU_SVM_ATTR_ACCESS) {
		if (a->access > VGPU_SVM_ACCESS_RW)
			return -EINVAL;
		if (a->access == VGPU_SVM_ACCESS_NONE)
			attrs->access_read &= ~me;
		if (a->access != VGPU_SVM_ACCESS_RW)
			attrs->access_write &= ~me;
		*mask |= GPUMIRROR_ATTR_ACCESS;
	}
	return 0;
}

/**
 * vgpu_svm_attr() - SVM_ATTR: set attributes, prefetch in no-fault mode
 * @vf: the file
 * @a: the command
 *
 * Return: 0 or -errno, see <uapi/linux/vgpu.h>.
 */
int vgpu_svm_attr(struct vgpu_file *vf, const struct vgpu_svm_attr *a)
{
	struct gpumirror_attrs attrs;
	unsigned int mask;
	int ret;

	ret = vgpu_svm_range(a->start, a->len);
	if (ret || a->pad || (a->mask & ~(VGPU_SVM_ATTR_PREFERRED |
					  VGPU_SVM_ATTR_GRANULARITY |
					  VGPU_SVM_ATTR_READ_ONLY |
					  VGPU_SVM_ATTR_ACCESS)))
		return -EINVAL;
	ret = vgpu_svm_attrs(vf, a, &attrs, &mask);
	if (!ret)
		ret = gpumirror_attr_set_devices(&vf->space->mirror, a->start,
						 a->start + a->len, &attrs,
						 mask,
						 BIT(vf->as.gdev.index));
	if (ret || !vf->vgpu->nofault || !(a->mask & VGPU_SVM_ATTR_ACCESS) ||
	    a->access == VGPU_SVM_ACCESS_NONE)
		return ret;
	return gpumirror_prefetch(&vf->space->mirror, &vf->as.gdev, a->start,
				  a->start + a->len);
}

/**
 * vgpu_svm_prefetch() - SVM_PREFETCH: map a range ahead
 * @vf: the file
 * @a: the command
 *
 * Return: 0 or -errno, see <uapi/linux/vgpu.h>.
 */
int vgpu_svm_prefetch(struct vgpu_file *vf, const struct vgpu_svm_prefetch *a)
{
	int ret = vgpu_svm_range(a->start, a->len);

	return ret ?: gpumirror_prefetch(&vf->space->mirror, &vf->as.gdev, a->start,
					 a->start + a->len);
}
