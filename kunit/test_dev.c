// SPDX-License-Identifier: GPL-2.0
/*
 * The KUnit suites' test device and user-memory helpers.
 */

#include <kunit/device.h>
#include <linux/dma-mapping.h>
#include <linux/mman.h>

#include "test_dev.h"

static struct gm_test_dev *to_test_dev(struct gpumirror_device *gdev)
{
	return container_of(gdev, struct gm_test_dev, gdev);
}

static void gm_test_invalidate(struct gpumirror_device *gdev,
			       struct gpumirror_object *obj,
			       u64 gpu_start, u64 gpu_end)
{
	struct gm_test_dev *td = to_test_dev(gdev);

	WRITE_ONCE(td->last_start, gpu_start);
	WRITE_ONCE(td->last_end, gpu_end);
	atomic_inc(&td->invalidates);
}

static void gm_test_detach(struct gpumirror_device *gdev)
{
	atomic_inc(&to_test_dev(gdev)->detaches);
}

const struct gpumirror_device_ops gm_test_ops = {
	.invalidate = gm_test_invalidate,
	.detach = gm_test_detach,
};

/* A device on the KUnit bus, released when the test ends. */
struct gm_test_dev *gm_test_dev_create(struct kunit *test, u64 va_limit,
				       void *owner)
{
	static atomic_t seq = ATOMIC_INIT(0);
	struct gm_test_dev *td;
	struct device *dev;
	char name[32];

	snprintf(name, sizeof(name), "gm-test-%d", atomic_inc_return(&seq));
	dev = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	dev->dma_mask = &dev->coherent_dma_mask;
	KUNIT_ASSERT_EQ(test, dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)),
			0);

	td = kunit_kzalloc(test, sizeof(*td), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, td);
	td->gdev.dev = dev;
	td->gdev.ops = &gm_test_ops;
	td->gdev.va_limit = va_limit;
	td->gdev.pagemap_owner = owner;
	return td;
}

/* Anonymous user memory in the test's own mm. */
unsigned long gm_test_mmap(struct kunit *test, unsigned long len,
			   unsigned long prot)
{
	unsigned long addr;

	addr = kunit_vm_mmap(test, NULL, 0, len, prot,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_NE(test, addr, 0);
	return addr;
}

/* The test thread's user mm, created on first use. */
struct mm_struct *gm_test_mm(struct kunit *test)
{
	gm_test_mmap(test, PAGE_SIZE, PROT_READ | PROT_WRITE);
	KUNIT_ASSERT_NOT_NULL(test, current->mm);
	return current->mm;
}
