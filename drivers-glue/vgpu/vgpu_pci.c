// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: DMA through an emulated PCI function, behind the machine's IOMMU.
 *
 * A vgpu is a platform device, which no IOMMU translates. With
 * vgpu.iommu_vgpu=N, vgpu N makes its DMA mappings on QEMU's "edu" PCI
 * function instead, so that an IOMMU in front of it (virtio-iommu, VT-d)
 * translates them as it would a GPU's: gpumirror's DMA addresses are then
 * IOVAs, and vgpu reaches the page behind one through the IOMMU's page
 * table (vgpu_entry_map()), where an IOVA the library already unmapped
 * translates to nothing (until it is reused) and the access is a reported
 * IOMMU fault.
 *
 * The function is only a DMA handle: nothing is enabled on it, vgpu never
 * touches its registers. It is bound for the module's lifetime (no sysfs
 * unbind, no hot removal).
 */

#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/pci.h>

#include "vgpu.h"

/* QEMU's educational PCI device, docs/specs/edu.rst */
#define VGPU_EDU_VENDOR		0x1234
#define VGPU_EDU_DEVICE		0x11e8

static struct pci_dev *vgpu_pci_func;

static int vgpu_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int ret;

	/* One is enough; others stay unbound. */
	if (vgpu_pci_func)
		return -ENODEV;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	/* Put in vgpu_pci_exit(), once no vgpu uses the device. */
	vgpu_pci_func = pci_dev_get(pdev);
	return 0;
}

static const struct pci_device_id vgpu_pci_ids[] = {
	{ PCI_DEVICE(VGPU_EDU_VENDOR, VGPU_EDU_DEVICE) },
	{ }
};

static struct pci_driver vgpu_pci_driver = {
	.name = "vgpu-dma",
	.id_table = vgpu_pci_ids,
	.probe = vgpu_pci_probe,
	.driver = {
		/* Bound now, for vgpu_init(); kept until vgpu_exit(). */
		.probe_type = PROBE_FORCE_SYNCHRONOUS,
		.suppress_bind_attrs = true,
	},
};

/**
 * vgpu_pci_init() - bind the emulated PCI function
 *
 * Return: 0, -ENODEV if the machine has none, or -errno from
 * pci_register_driver().
 */
int vgpu_pci_init(void)
{
	int ret = pci_register_driver(&vgpu_pci_driver);

	if (!ret && !vgpu_pci_func) {
		pci_unregister_driver(&vgpu_pci_driver);
		ret = -ENODEV;
	}
	return ret;
}

/**
 * vgpu_pci_exit() - let the PCI function go
 *
 * After every vgpu using it is gone.
 */
void vgpu_pci_exit(void)
{
	pci_unregister_driver(&vgpu_pci_driver);
	pci_dev_put(vgpu_pci_func);
	vgpu_pci_func = NULL;
}

/**
 * vgpu_pci_dma_dev() - the PCI function's device, for DMA
 *
 * Return: the device; only after vgpu_pci_init() succeeded.
 */
struct device *vgpu_pci_dma_dev(void)
{
	return &vgpu_pci_func->dev;
}
