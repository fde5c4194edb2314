// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: the command set of lib/test_hmm_uapi.h, on gpumirror.
 */

#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "test_hmm_uapi.h"
#include "vgpu_file.h"

/**
 * DOC: test_hmm commands
 *
 * vgpu answers the ioctls of lib/test_hmm_uapi.h with the same meaning, so
 * that hmm-tests, written for lib/test_hmm, tests gpumirror through vgpu:
 *
 * - READ, WRITE: a GPU access through the page table and TLB of the file's
 *   address space. A missing or read-only PTE is a GPU fault: vgpu makes an
 *   identity gpumirror object from the faulting page to the end of the
 *   command, maps it (gpumirror_object_map()) and binds it, then goes on;
 *   each such fault counts in &hmm_dmirror_cmd.faults. A vgpu in no-fault
 *   mode fails with -EFAULT instead.
 * - MIGRATE_TO_DEV: gpumirror_migrate_to_devmem() of what is in system
 *   memory (%GPUMIRROR_MIGRATE_SYSTEM_ONLY), then map the range with
 *   %GPUMIRROR_MAP_DEVMEM and read it back: -ENOENT if some page is not in
 *   the vgpu's memory. MIGRATE_TO_SYS: gpumirror_migrate_to_ram().
 * - EXCLUSIVE: map with %GPUMIRROR_MAP_EXCLUSIVE and read back;
 *   CHECK_EXCLUSIVE: -EPERM while a PTE still holds exclusive access.
 * - SNAPSHOT: the state of the CPU page table, one byte per page, taken with
 *   hmm_range_fault() without faulting. It describes the CPU side, which
 *   no gpumirror page set records (zero page, huge mappings, whose device
 *   memory), so it is the one command that does not go through gpumirror.
 * - RELEASE: evict all of the vgpu's memory to system memory.
 *
 * Errors: -EINVAL (an unaligned, empty or wrapping range), -EFAULT (no
 * mapping, a no-fault vgpu, or a bad pointer), -EPERM (a write to
 * read-only memory; CHECK_EXCLUSIVE), -ENOENT (MIGRATE_TO_DEV or EXCLUSIVE
 * left a page elsewhere), -EBUSY (the pages kept changing), -ENOMEM (the
 * bounce buffer or device memory), -EINTR (a fatal signal), -EOPNOTSUPP
 * (a page the vgpu could reach only through a DMA bounce buffer), -ENOTTY
 * (an unknown command).
 */

/* The range of any command, checked once as lib/test_hmm checks it. */
static int vgpu_hmm_range(const struct hmm_dmirror_cmd *c,
			  unsigned long *start, unsigned long *end)
{
	*start = c->addr;
	*end = c->addr + (c->npages << PAGE_SHIFT);
	if (!PAGE_ALIGNED(*start) || *end <= *start ||
	    c->npages > (ULONG_MAX >> PAGE_SHIFT))
		return -EINVAL;
	return 0;
}

/* GPU read or write of a command's range, faulting what is missing. */
static int vgpu_hmm_rw(struct vgpu_file *vf, struct hmm_dmirror_cmd *c,
		       unsigned long start, unsigned long end, bool write)
{
	unsigned long size = end - start, done = 0;
	unsigned int stalls = 0;
	void *bounce;
	size_t n;
	int ret;

	bounce = kvmalloc(size, VGPU_BOUNCE_GFP);
	if (!bounce)
		return -ENOMEM;
	if (write && copy_from_user(bounce, u64_to_user_ptr(c->ptr), size)) {
		ret = -EFAULT;
		goto out_free;
	}
	for (;;) {
		ret = vgpu_as_access(&vf->as, start + done, bounce + done,
				     size - done, write, &n);
		done += n;
		if (ret != -ENOENT)
			break;
		/* A fault that maps nothing new cannot go on forever. */
		stalls = n ? 0 : stalls + 1;
		ret = vf->vgpu->nofault ? -EFAULT : -EBUSY;
		if (vf->vgpu->nofault || stalls > 8)
			break;
		ret = vgpu_file_fault(vf, start + done, end,
				      write ? GPUMIRROR_MAP_WRITE : 0);
		if (ret)
			break;
		c->faults++;
	}
	if (!ret && !write &&
	    copy_to_user(u64_to_user_ptr(c->ptr), bounce, size))
		ret = -EFAULT;
	c->cpages = done >> PAGE_SHIFT;
out_free:
	kvfree(bounce);
	return ret;
}

/* Read back what is mapped, without faulting: -ENOENT at a hole. */
static int vgpu_hmm_readback(struct vgpu_file *vf, struct hmm_dmirror_cmd *c,
			     unsigned long start, unsigned long end)
{
	void *bounce = kvmalloc(end - start, VGPU_BOUNCE_GFP);
	size_t done;
	int ret;

	if (!bounce)
		return -ENOMEM;
	ret = vgpu_as_access(&vf->as, start, bounce, end - start, false,
			     &done);
	c->cpages = done >> PAGE_SHIFT;
	if (!ret && copy_to_user(u64_to_user_ptr(c->ptr), bounce, end - start))
		ret = -EFAULT;
	kvfree(bounce);
	return ret;
}

static int vgpu_hmm_migrate_to_dev(struct vgpu_file *vf,
				   struct hmm_dmirror_cmd *c,
				   unsigned long start, unsigned long end)
{
	int ret;

	/* What is in system memory moves; the readback reports the rest. */
	ret = vgpu_migrate_to_dev(vf->vgpu, vf->mm, start, end,
				  GPUMIRROR_MIGRATE_SYSTEM_ONLY, NULL);
	if (ret && ret != -EBUSY)
		return ret;
	ret = vgpu_file_fault(vf, start, end, GPUMIRROR_MAP_DEVMEM);
	if (ret)
		return ret;
	return vgpu_hmm_readback(vf, c, start, end);
}

static int vgpu_hmm_migrate_to_sys(struct vgpu_file *vf,
				   struct hmm_dmirror_cmd *c,
				   unsigned long start, unsigned long end)
{
	unsigned long moved = 0;
	int ret;

	ret = vgpu_migrate_to_ram(vf->vgpu, vf->mm, start, end, &moved);
	c->cpages = moved;
	return ret;
}

static int vgpu_hmm_exclusive(struct vgpu_file *vf, struct hmm_dmirror_cmd *c,
			      unsigned long start, unsigned long end)
{
	int ret;

	ret = vgpu_file_fault(vf, start, end, GPUMIRROR_MAP_EXCLUSIVE);
	if (ret)
		return ret;
	return vgpu_hmm_readback(vf, c, start, end);
}

/* One byte of SNAPSHOT for one hmm pfn. */
static u8 vgpu_hmm_prot(struct vgpu *vgpu, unsigned long hpfn)
{
	struct page *page;
	bool local;
	u8 prot;

	if (hpfn & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(hpfn & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;
	page = hmm_pfn_to_page(hpfn);
	local = vgpu_mem_page_owner(page) == vgpu;
	if (is_device_private_page(page))
		prot = local ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
			       HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		prot = local ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
			       HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		prot = HMM_DMIRROR_PROT_ZERO;
	else
		prot = HMM_DMIRROR_PROT_NONE;
	prot |= hpfn & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE :
				       HMM_DMIRROR_PROT_READ;
	if (hmm_pfn_to_map_order(hpfn) + PAGE_SHIFT == PMD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PMD;
	else if (hmm_pfn_to_map_order(hpfn) + PAGE_SHIFT == PUD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PUD;
	return prot;
}

/* A snapshot only needs to know that something changed. */
struct vgpu_snapshot {
	struct mmu_interval_notifier notifier;
	struct mutex lock;		/* orders set_seq against read_retry */
};

static bool vgpu_snapshot_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct vgpu_snapshot *snap =
		container_of(mni, struct vgpu_snapshot, notifier);

	if (!mmu_notifier_range_blockable(range))
		return false;
	mutex_lock(&snap->lock);
	mmu_interval_set_seq(mni, cur_seq);
	mutex_unlock(&snap->lock);
	return true;
}

static const struct mmu_interval_notifier_ops vgpu_snapshot_ops = {
	.invalidate = vgpu_snapshot_invalidate,
};

/* Snapshot one batch of up to 64 pages into @prot. */
static int vgpu_snapshot_batch(struct vgpu_file *vf, struct hmm_range *range,
			       u8 *prot)
{
	unsigned long timeout = jiffies +
				msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct mm_struct *mm = vf->mm;
	struct vgpu_snapshot snap;
	unsigned long i, n;
	int ret;

	mutex_init(&snap.lock);
	range->notifier = &snap.notifier;
	ret = mmu_interval_notifier_insert(&snap.notifier, mm, range->start,
					   range->end - range->start,
					   &vgpu_snapshot_ops);
	if (ret)
		return ret;
	do {
		ret = -EBUSY;
		if (time_after(jiffies, timeout))
			break;
		range->notifier_seq = mmu_interval_read_begin(&snap.notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret)
			continue;
		mutex_lock(&snap.lock);
		if (mmu_interval_read_retry(&snap.notifier,
					    range->notifier_seq)) {
			ret = -EBUSY;
		} else {
			n = (range->end - range->start) >> PAGE_SHIFT;
			for (i = 0; i < n; i++)
				prot[i] = vgpu_hmm_prot(vf->vgpu,
							range->hmm_pfns[i]);
		}
		mutex_unlock(&snap.lock);
	} while (ret == -EBUSY);
	mmu_interval_notifier_remove(&snap.notifier);
	mutex_destroy(&snap.lock);
	return ret;
}

static int vgpu_hmm_snapshot(struct vgpu_file *vf, struct hmm_dmirror_cmd *c,
			     unsigned long start, unsigned long end)
{
	struct mm_struct *mm = vf->mm;
	unsigned long pfns[64], addr, n;
	struct hmm_range range = {
		.hmm_pfns = pfns,
		.dev_private_owner = vf->vgpu->owner,
	};
	u8 __user *uptr = u64_to_user_ptr(c->ptr);
	u8 prot[64];
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	for (addr = start; addr < end; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + (ARRAY_SIZE(pfns) << PAGE_SHIFT));
		ret = vgpu_snapshot_batch(vf, &range, prot);
		if (ret)
			break;
		n = (range.end - range.start) >> PAGE_SHIFT;
		if (copy_to_user(uptr, prot, n)) {
			ret = -EFAULT;
			break;
		}
		uptr += n;
		c->cpages += n;
	}
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
	return ret;
}

static int vgpu_hmm_cmd(struct vgpu_file *vf, unsigned int cmd,
			struct hmm_dmirror_cmd *c)
{
	unsigned long start, end;
	int ret;

	ret = vgpu_hmm_range(c, &start, &end);
	if (ret)
		return ret;
	switch (cmd) {
	case HMM_DMIRROR_READ:
		return vgpu_hmm_rw(vf, c, start, end, false);
	case HMM_DMIRROR_WRITE:
		return vgpu_hmm_rw(vf, c, start, end, true);
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		return vgpu_hmm_migrate_to_dev(vf, c, start, end);
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		return vgpu_hmm_migrate_to_sys(vf, c, start, end);
	case HMM_DMIRROR_SNAPSHOT:
		return vgpu_hmm_snapshot(vf, c, start, end);
	case HMM_DMIRROR_EXCLUSIVE:
		return vgpu_hmm_exclusive(vf, c, start, end);
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		return vgpu_as_exclusive(&vf->as, start, end) ? -EPERM : 0;
	case HMM_DMIRROR_RELEASE:
		vgpu_mem_evict(vf->vgpu);
		return 0;
	}
	return -ENOTTY;
}

static bool vgpu_hmm_known(unsigned int cmd)
{
	switch (cmd) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_MIGRATE_TO_DEV:
	case HMM_DMIRROR_MIGRATE_TO_SYS:
	case HMM_DMIRROR_SNAPSHOT:
	case HMM_DMIRROR_EXCLUSIVE:
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
		return true;
	}
	return false;
}

/**
 * vgpu_hmm_ioctl() - run one lib/test_hmm_uapi.h command
 * @vf: the file, used from its own mm
 * @cmd: the ioctl number
 * @arg: the user's &struct hmm_dmirror_cmd
 *
 * Return: 0 or -errno, as lib/test_hmm answers (see the DOC above); -ENOTTY
 * for a command it does not know.
 */
long vgpu_hmm_ioctl(struct vgpu_file *vf, unsigned int cmd, void __user *arg)
{
	struct hmm_dmirror_cmd c;
	int ret;

	if (!vgpu_hmm_known(cmd))
		return -ENOTTY;
	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	c.cpages = 0;
	c.faults = 0;
	mutex_lock(&vf->lock);
	mutex_lock(&vf->space->lock);
	ret = vgpu_hmm_cmd(vf, cmd, &c);
	mutex_unlock(&vf->space->lock);
	mutex_unlock(&vf->lock);
	if (ret)
		return ret;
	return copy_to_user(arg, &c, sizeof(c)) ? -EFAULT : 0;
}
