// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: virtual GPU instances for gpumirror.
 */

#include <linux/dma-mapping.h>
#include <linux/ktime.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#include "vgpu.h"

static unsigned int ndevs = 4;
module_param(ndevs, uint, 0444);
MODULE_PARM_DESC(ndevs, "number of virtual GPUs (1-64, default 4)");

static unsigned int peer[GPUMIRROR_MAX_DEVICES];
static unsigned int npeer;
module_param_array(peer, uint, &npeer, 0444);
MODULE_PARM_DESC(peer,
		 "peer group of each vgpu (0: none); peers share a pagemap owner and map each other's memory natively");

static unsigned long coherent_addr[GPUMIRROR_MAX_DEVICES];
static unsigned int ncoherent;
module_param_array(coherent_addr, ulong, &ncoherent, 0444);
MODULE_PARM_DESC(coherent_addr,
		 "physical address of a reserved 256 MiB range per vgpu for device-coherent memory (0: device-private memory)");

static unsigned long nofault_mask;
module_param(nofault_mask, ulong, 0444);
MODULE_PARM_DESC(nofault_mask,
		 "vgpus without recoverable page faults, as a bit mask (default none)");

static int iommu_vgpu = -1;
module_param(iommu_vgpu, int, 0444);
MODULE_PARM_DESC(iommu_vgpu,
		 "vgpu whose DMA goes through QEMU's edu PCI function, behind the IOMMU if any (default -1: none)");

static struct vgpu *vgpus;
static unsigned int nvgpus;

/* Pagemap owners of the peer groups. */
static u8 vgpu_groups[GPUMIRROR_MAX_DEVICES + 1];

/**
 * vgpu_count() - number of vgpu instances
 *
 * Return: how many instances vgpu_get() accepts.
 */
unsigned int vgpu_count(void)
{
	return nvgpus;
}

/**
 * vgpu_get() - look an instance up
 * @id: instance number, below vgpu_count()
 *
 * Return: the instance, or NULL.
 */
struct vgpu *vgpu_get(unsigned int id)
{
	return id < nvgpus ? &vgpus[id] : NULL;
}

static unsigned int tlb_latency_us = 50;
module_param(tlb_latency_us, uint, 0644);
MODULE_PARM_DESC(tlb_latency_us,
		 "modelled TLB invalidation latency in microseconds (default 50)");

/**
 * vgpu_tlb_latency_ns() - the modelled TLB invalidation latency
 *
 * Return: nanoseconds from the start of a TLB invalidation to its end.
 */
u64 vgpu_tlb_latency_ns(void)
{
	return (u64)READ_ONCE(tlb_latency_us) * NSEC_PER_USEC;
}

/**
 * vgpu_tlb_latency_set() - change the modelled TLB invalidation latency
 * @us: the new latency in microseconds
 *
 * Return: the previous latency in microseconds.
 */
unsigned int vgpu_tlb_latency_set(unsigned int us)
{
	return xchg(&tlb_latency_us, us);
}

static struct vgpu_as *to_vgpu_as(struct gpumirror_device *gdev)
{
	return container_of(gdev, struct vgpu_as, gdev);
}

/*
 * The TLB model: an invalidation started now completes after the latency,
 * on its own, while the CPU goes on; several started ones overlap.
 */
static void vgpu_invalidate_start(struct gpumirror_device *gdev,
				  struct gpumirror_object *obj,
				  u64 gpu_start, u64 gpu_end,
				  const struct mmu_notifier_range *event)
{
	struct vgpu_as *as = to_vgpu_as(gdev);

	vgpu_pt_zap(as, gpu_start, gpu_end);
	as->tlb_done_ns = max(as->tlb_done_ns,
			      ktime_get_ns() + vgpu_tlb_latency_ns());
}

/* Poll for completion, as a driver polls a TLB invalidation fence. */
static void vgpu_invalidate_finish(struct gpumirror_device *gdev)
{
	struct vgpu_as *as = to_vgpu_as(gdev);

	while (ktime_get_ns() < as->tlb_done_ns)
		cpu_relax();
	vgpu_tlb_flush(as);
	atomic64_inc(&as->tlb_flushes);
}

static void vgpu_invalidate(struct gpumirror_device *gdev,
			    struct gpumirror_object *obj,
			    u64 gpu_start, u64 gpu_end,
			    const struct mmu_notifier_range *event)
{
	vgpu_invalidate_start(gdev, obj, gpu_start, gpu_end, event);
	vgpu_invalidate_finish(gdev);
}

static int vgpu_bind(struct gpumirror_device *gdev,
		     struct gpumirror_object *obj)
{
	return vgpu_as_bind(to_vgpu_as(gdev), obj);
}

/* No-fault mode: the queues stop until the restore worker is done. */
static void vgpu_suspend(struct gpumirror_device *gdev)
{
	struct vgpu_as *as = to_vgpu_as(gdev);

	WRITE_ONCE(as->suspended, true);
	atomic64_inc(&as->suspends);
}

static void vgpu_resume(struct gpumirror_device *gdev)
{
	struct vgpu_as *as = to_vgpu_as(gdev);

	WRITE_ONCE(as->suspended, false);
	atomic64_inc(&as->resumes);
	wake_up_all(&as->resume_wq);
}

/*
 * Out of the mirror (a close, a JOIN): queues a suspend stopped would wait
 * for a restore that never comes; nothing is mapped any more, so run.
 */
static void vgpu_detach(struct gpumirror_device *gdev)
{
	struct vgpu_as *as = to_vgpu_as(gdev);

	WRITE_ONCE(as->suspended, false);
	wake_up_all(&as->resume_wq);
}

static const struct gpumirror_device_ops vgpu_gpumirror_ops = {
	.invalidate_start = vgpu_invalidate_start,
	.invalidate_finish = vgpu_invalidate_finish,
	.bind = vgpu_bind,
	.suspend = vgpu_suspend,
	.resume = vgpu_resume,
	.detach = vgpu_detach,
};

/* A GPU whose driver waits for each invalidation before the next. */
static const struct gpumirror_device_ops vgpu_gpumirror_serial_ops = {
	.invalidate = vgpu_invalidate,
	.bind = vgpu_bind,
	.suspend = vgpu_suspend,
	.resume = vgpu_resume,
	.detach = vgpu_detach,
};

/**
 * vgpu_as_init() - prepare an address space of @vgpu for attaching
 * @as: the address space
 * @vgpu: the GPU
 * @serial: offer only single-pass invalidation
 */
void vgpu_as_init(struct vgpu_as *as, struct vgpu *vgpu, bool serial)
{
	unsigned int i;

	memset(as, 0, sizeof(*as));
	xa_init(&as->pt);
	spin_lock_init(&as->tlb_lock);
	for (i = 0; i < VGPU_TLB_ENTRIES; i++)
		as->tlb[i].gpfn = U64_MAX;
	as->vgpu = vgpu;
	as->gdev.dev = vgpu->dma_dev;
	as->gdev.ops = serial ? &vgpu_gpumirror_serial_ops :
				&vgpu_gpumirror_ops;
	as->gdev.va_limit = 1ULL << 48;
	as->gdev.pagemap_owner = vgpu->owner;
	as->gdev.devmem = &vgpu->mem.devmem;
	if (vgpu->nofault)
		as->gdev.flags |= GPUMIRROR_DEVICE_NOFAULT;
	init_waitqueue_head(&as->resume_wq);
}

/**
 * vgpu_as_fini() - free an address space's page table, leave its checker
 * @as: an address space no longer attached
 */
void vgpu_as_fini(struct vgpu_as *as)
{
	vgpu_as_unwatch(as);
	xa_destroy(&as->pt);
}

/* Memory and device node of instance @id, whose device exists. */
static int vgpu_setup(struct vgpu *vgpu)
{
	unsigned int id = vgpu->id;
	unsigned int group = id < npeer ? peer[id] : 0;
	int ret;

	if (group > GPUMIRROR_MAX_DEVICES)
		return -EINVAL;
	vgpu->owner = group ? (void *)&vgpu_groups[group] : (void *)vgpu;
	/* vgpu_init() bound the PCI function first. */
	if (iommu_vgpu >= 0 && id == (unsigned int)iommu_vgpu) {
		/* Its mask is vgpu_pci_probe()'s business. */
		vgpu->dma_dev = vgpu_pci_dma_dev();
	} else {
		vgpu->dma_dev = &vgpu->pdev->dev;
		/*
		 * platform_device_register_full() sets the mask without
		 * dma_set_mask(), so the DMA API never learnt that the
		 * device is coherent: dma_need_sync() then asks the DMA ops
		 * on every mapping, as no driver's device makes it do. A
		 * bounce through swiotlb still clears the device's flag,
		 * and dma_need_sync() checks that mapping itself.
		 */
		ret = dma_set_mask_and_coherent(vgpu->dma_dev,
						DMA_BIT_MASK(64));
		if (ret)
			return ret;
	}
	vgpu->nofault = id < BITS_PER_LONG && (nofault_mask & BIT(id));
	ret = vgpu_mem_init(vgpu, id < ncoherent ? coherent_addr[id] : 0);
	if (ret)
		return ret;
	ret = vgpu_chardev_add(vgpu);
	if (ret)
		vgpu_mem_fini(vgpu);
	return ret;
}

static void vgpu_destroy_all(void)
{
	while (nvgpus) {
		struct vgpu *vgpu = &vgpus[--nvgpus];

		vgpu_chardev_del(vgpu);
		vgpu_mem_fini(vgpu);
		platform_device_unregister(vgpu->pdev);
	}
	kfree(vgpus);
	vgpus = NULL;
}

static int __init vgpu_init(void)
{
	struct platform_device_info info = {
		.name = "vgpu",
		.dma_mask = DMA_BIT_MASK(64),
	};
	int ret;

	if (!ndevs || ndevs > GPUMIRROR_MAX_DEVICES)
		return -EINVAL;
	vgpus = kcalloc(ndevs, sizeof(*vgpus), GFP_KERNEL);
	if (!vgpus)
		return -ENOMEM;
	ret = vgpu_chardev_init();
	if (ret)
		goto out_free;
	/* The PCI function first, bound before the vgpu that uses it. */
	if (iommu_vgpu >= 0) {
		ret = (unsigned int)iommu_vgpu < ndevs ? vgpu_pci_init() :
							       -EINVAL;
		if (ret)
			goto out_chardev;
	}
	for (nvgpus = 0; nvgpus < ndevs; nvgpus++) {
		struct vgpu *vgpu = &vgpus[nvgpus];

		info.id = nvgpus;
		vgpu->id = nvgpus;
		vgpu->pdev = platform_device_register_full(&info);
		if (IS_ERR(vgpu->pdev)) {
			ret = PTR_ERR(vgpu->pdev);
			goto out_destroy;
		}
		ret = vgpu_setup(vgpu);
		if (ret) {
			platform_device_unregister(vgpu->pdev);
			goto out_destroy;
		}
	}
	ret = vgpu_bench_init();
	if (ret)
		goto out_destroy;
	vgpu_canary_init();
	pr_info("vgpu: %u virtual GPU(s)\n", nvgpus);
	return 0;

out_destroy:
	vgpu_destroy_all();
	if (iommu_vgpu >= 0)
		vgpu_pci_exit();
out_chardev:
	vgpu_chardev_exit();
	return ret;
out_free:
	kfree(vgpus);
	vgpus = NULL;
	return ret;
}

static void __exit vgpu_exit(void)
{
	vgpu_bench_exit();
	vgpu_destroy_all();
	if (iommu_vgpu >= 0)
		vgpu_pci_exit();
	vgpu_chardev_exit();
	/* The checkers vgpu_as_unwatch() put are freed after a grace period. */
	mmu_notifier_synchronize();
}

module_init(vgpu_init);
module_exit(vgpu_exit);
MODULE_DESCRIPTION("Virtual GPU on gpumirror");
MODULE_LICENSE("GPL");
