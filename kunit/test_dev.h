/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal in-kernel GPU for the gpumirror KUnit suites: a real struct
 * device with a 64-bit DMA mask, ops that record what they are asked, and a
 * page table + TLB model for one bound object.
 */
#ifndef _GPUMIRROR_TEST_DEV_H
#define _GPUMIRROR_TEST_DEV_H

#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/mman.h>

/**
 * struct gm_test_dev - a test device
 * @gdev: the gpumirror device, attached by the tests
 * @invalidates: invalidate or invalidate_start calls
 * @finishes: invalidate_finish calls
 * @detaches: &gpumirror_device_ops.detach calls
 * @last_start: GPU VA start of the last invalidation
 * @last_end: GPU VA end of the last invalidation
 * @last_event: &mmu_notifier_range.event of the last invalidation, or -1
 *	if gpumirror invalidated on its own
 * @start_clock: gm_test_clock value of the last invalidate_start
 * @finish_clock: gm_test_clock value of the first invalidate_finish
 * @bound: the object whose pages @pte maps, or NULL
 * @pte: the GPU page table of @bound, one entry per object page
 * @tlb: translations the "hardware" caches from @pte
 * @inflight: GPU accesses in progress, drained by a TLB flush
 * @last_bound: the object &gpumirror_device_ops.bind bound last
 * @binds: successful bind calls
 * @suspended: the queues are suspended
 * @suspends: &gpumirror_device_ops.suspend calls
 * @resumes: &gpumirror_device_ops.resume calls
 * @bind_err: if not 0, the next bind fails with it (once)
 * @lock_violations: bind or resume calls made with a gpumirror lock held
 *	that their contract excludes (lockdep)
 * @restore_failed: &gpumirror_device_ops.restore_failed calls
 * @failed_start: start of the range of the last such call
 * @failed_end: its end
 */
struct gm_test_dev {
	struct gpumirror_device gdev;
	atomic_t invalidates;
	atomic_t finishes;
	atomic_t detaches;
	u64 last_start;
	u64 last_end;
	int last_event;
	int start_clock;
	int finish_clock;
	struct gpumirror_object *bound;
	u64 *pte;
	u64 *tlb;
	atomic_t inflight;
	struct gpumirror_object *last_bound;
	atomic_t binds;
	bool suspended;
	atomic_t suspends;
	atomic_t resumes;
	int bind_err;
	atomic_t lock_violations;
	atomic_t restore_failed;
	unsigned long failed_start;
	unsigned long failed_end;
};

/** GM_RW - the protection of the tests' mappings */
#define GM_RW			(PROT_READ | PROT_WRITE)

/** GM_VA_LIMIT - the test devices' GPU VA limit */
#define GM_VA_LIMIT		BIT_ULL(47)
/** GM_FIXTURE_NDEV - test devices of a &struct gm_fixture */
#define GM_FIXTURE_NDEV		4

/**
 * struct gm_fixture - a mirror of the test's mm with attached test devices
 * @mirror: the mirror
 * @td: the devices, in slots 0 to %GM_FIXTURE_NDEV - 1
 * @done: gm_fixture_done() ran
 */
struct gm_fixture {
	struct gpumirror mirror;
	struct gm_test_dev *td[GM_FIXTURE_NDEV];
	bool done;
};

extern const struct gpumirror_device_ops gm_test_ops;
extern const struct gpumirror_device_ops gm_test_ops_two_pass;
extern const struct gpumirror_device_ops gm_test_ops_nofault;
extern atomic_t gm_test_clock;

struct gm_test_dev *gm_test_dev_create(struct kunit *test, u64 va_limit,
				       void *owner);
struct mm_struct *gm_test_mm(struct kunit *test);
unsigned long gm_test_mmap(struct kunit *test, unsigned long len,
			   unsigned long prot);
void gm_test_dev_bind_alloc(struct kunit *test, struct gm_test_dev *td,
			    struct gpumirror_object *obj);
int gm_test_dev_bind(struct gm_test_dev *td);
int gm_test_dev_read(struct gm_test_dev *td, unsigned long idx, u64 *val);
int gm_fixture_init(struct kunit *test, unsigned long two_pass);
void gm_fixture_done(struct kunit *test);
void gm_fixture_exit(struct kunit *test);

#endif /* _GPUMIRROR_TEST_DEV_H */
