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
 * translates to nothing and the access is a reported IOMMU fault.
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

	if (vgpu_pci_func)
		return -EBUSY;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	vgpu_pci_func = pdev;
	return 0;
}

static void vgpu_pci_remove(struct pci_dev *pdev)
{
	if (vgpu_pci_func == pdev)
		vgpu_pci_func = NULL;
}

static const struct pci_device_id vgpu_pci_ids[] = {
	{ PCI_DEVICE(VGPU_EDU_VENDOR, VGPU_EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vgpu_pci_ids);

static struct pci_driver vgpu_pci_driver = {
	.name = "vgpu-dma",
	.id_table = vgpu_pci_ids,
	.probe = vgpu_pci_probe,
	.remove = vgpu_pci_remove,
};

/**
 * vgpu_pci_init() - bind the emulated PCI function, if the machine has one
 *
 * Return: 0 or -errno from pci_register_driver().
 */
int vgpu_pci_init(void)
{
	return pci_register_driver(&vgpu_pci_driver);
}

/** vgpu_pci_exit() - let the PCI function go */
void vgpu_pci_exit(void)
{
	pci_unregister_driver(&vgpu_pci_driver);
}

/**
 * vgpu_pci_dma_dev() - the PCI function's device, for DMA
 *
 * Return: the device, or NULL if the machine has no such function.
 */
struct device *vgpu_pci_dma_dev(void)
{
	return vgpu_pci_func ? &vgpu_pci_func->dev : NULL;
}
