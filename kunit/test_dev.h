/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal in-kernel GPU for the gpumirror KUnit suites: a real struct
 * device with a 64-bit DMA mask and ops that record what they are asked.
 */
#ifndef _GPUMIRROR_TEST_DEV_H
#define _GPUMIRROR_TEST_DEV_H

#include <kunit/test.h>
#include <linux/gpumirror.h>

/**
 * struct gm_test_dev - a test device
 * @gdev: the gpumirror device, attached by the tests
 * @invalidates: &gpumirror_device_ops.invalidate calls
 * @detaches: &gpumirror_device_ops.detach calls
 * @last_start: GPU VA start of the last invalidation
 * @last_end: GPU VA end of the last invalidation
 */
struct gm_test_dev {
	struct gpumirror_device gdev;
	atomic_t invalidates;
	atomic_t detaches;
	u64 last_start;
	u64 last_end;
};

extern const struct gpumirror_device_ops gm_test_ops;

struct gm_test_dev *gm_test_dev_create(struct kunit *test, u64 va_limit,
				       void *owner);
struct mm_struct *gm_test_mm(struct kunit *test);
unsigned long gm_test_mmap(struct kunit *test, unsigned long len,
			   unsigned long prot);

#endif /* _GPUMIRROR_TEST_DEV_H */
