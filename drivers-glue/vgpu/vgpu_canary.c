// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: canaries for the test logs' scanner. Test-only.
 */

#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "vgpu.h"

/**
 * DOC: Canaries
 *
 * A scan of a kernel log that finds nothing proves something only if the
 * scan would have found a report. With %CONFIG_VGPU_CANARY, writing a name
 * to /sys/kernel/debug/vgpu_canary makes the kernel print a real report of
 * that kind, so that a boot can check the whole way from the detector to
 * the scan of its console:
 *
 * - ``warn``: a WARN().
 * - ``lockdep``: two mutexes taken in both orders, one after the other
 *   (no deadlock, but lockdep reports the circular dependency).
 * - ``leak``: an allocation whose only pointer is dropped, for the next
 *   two kmemleak scans to report.
 * - ``dma``: a DMA mapping of vgpu 0's device unmapped with the wrong
 *   size, which DMA-API debugging reports.
 *
 * Each report disables or taints something (lockdep stops validating, the
 * kernel is tainted): a boot runs the canaries last, after its tests.
 */

static DEFINE_MUTEX(vgpu_canary_a);
static DEFINE_MUTEX(vgpu_canary_b);
static void *vgpu_canary_leaked;

static void vgpu_canary_lockdep(void)
{
	mutex_lock(&vgpu_canary_a);
	mutex_lock(&vgpu_canary_b);
	mutex_unlock(&vgpu_canary_b);
	mutex_unlock(&vgpu_canary_a);
	/* The other order: a cycle lockdep reports at once. */
	mutex_lock(&vgpu_canary_b);
	mutex_lock(&vgpu_canary_a);
	mutex_unlock(&vgpu_canary_a);
	mutex_unlock(&vgpu_canary_b);
}

static int vgpu_canary_leak(void)
{
	void *p = kmalloc(128, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	memset(p, 0x5a, 128);
	/*
	 * Kept only inverted, which points into no object: kmemleak finds
	 * no reference to it, as for a real leak.
	 */
	WRITE_ONCE(vgpu_canary_leaked, (void *)~(unsigned long)p);
	return 0;
}

static int vgpu_canary_dma(void)
{
	struct vgpu *vgpu = vgpu_get(0);
	struct page *page;
	dma_addr_t dma;

	if (!vgpu)
		return -ENODEV;
	page = alloc_pages(GFP_KERNEL, 1);
	if (!page)
		return -ENOMEM;
	dma = dma_map_page(&vgpu->pdev->dev, page, 0, PAGE_SIZE,
			   DMA_BIDIRECTIONAL);
	if (dma_mapping_error(&vgpu->pdev->dev, dma)) {
		__free_pages(page, 1);
		return -EIO;
	}
	/* The misuse: a size other than the mapping's. */
	dma_unmap_page(&vgpu->pdev->dev, dma, 2 * PAGE_SIZE,
		       DMA_BIDIRECTIONAL);
	__free_pages(page, 1);
	return 0;
}

static ssize_t vgpu_canary_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	char buf[16];
	int ret = 0;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	strim(buf);
	if (!strcmp(buf, "warn"))
		WARN(1, "vgpu: canary WARN\n");
	else if (!strcmp(buf, "lockdep"))
		vgpu_canary_lockdep();
	else if (!strcmp(buf, "leak"))
		ret = vgpu_canary_leak();
	else if (!strcmp(buf, "dma"))
		ret = vgpu_canary_dma();
	else
		ret = -EINVAL;
	return ret ? ret : len;
}

static const struct file_operations vgpu_canary_fops = {
	.owner = THIS_MODULE,
	.write = vgpu_canary_write,
};

/**
 * vgpu_canary_init() - create /sys/kernel/debug/vgpu_canary
 */
void vgpu_canary_init(void)
{
	debugfs_create_file("vgpu_canary", 0200, NULL, NULL,
			    &vgpu_canary_fops);
}
