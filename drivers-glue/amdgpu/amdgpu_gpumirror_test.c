// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * KUnit suite for the amdgpu gpumirror glue, with a recording fake backend.
 */

#include <kunit/device.h>
#include <kunit/test-bug.h>
#include <kunit/test.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/mman.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>
#include <uapi/linux/kfd_ioctl.h>

#include "amdgpu.h"
#include "amdgpu_gpumirror.h"

#define FAKE_LOG	64
#define RW		(PROT_READ | PROT_WRITE)
#define USERPTR_RW	(KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | \
			 KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE)

struct fake_call {
	char op;		/* u)pdate c)lear w)ait f)lush q)uiesce r)esume */
	int vm;
	u64 start, last, flags;
	u64 fence;		/* seqno of the fence made or waited for */
	dma_addr_t first_addr;
};

struct fake_vm {
	struct amdgpu_gpumirror_vm gvm;
	int id;
	u64 context, seqno;
	int fail_update_at;	/* fail the n-th update (1-based), 0: never */
	int updates;
	bool fail_clear;
};

struct fake_ctx {
	struct amdgpu_gpumirror_process proc;
	struct fake_vm vm[2];
	struct fake_call log[FAKE_LOG];
	int nlog;
	atomic_t live_fences;
	spinlock_t fence_lock;		/* of the fake fences */
	bool done;
};

static struct fake_ctx *fake_ctx(void)
{
	return kunit_get_current_test()->priv;
}

static struct fake_vm *to_fake(struct amdgpu_gpumirror_vm *gvm)
{
	return container_of(gvm, struct fake_vm, gvm);
}

static void fake_log(struct fake_vm *fv, char op, u64 start, u64 last,
		     u64 flags, u64 fence, dma_addr_t addr)
{
	struct fake_ctx *ctx = fake_ctx();

	if (ctx->nlog < FAKE_LOG)
		ctx->log[ctx->nlog++] = (struct fake_call){
			op, fv->id, start, last, flags, fence, addr };
}

static const char *fake_fence_name(struct dma_fence *f)
{
	return "amdgpu-gpumirror-fake";
}

static void fake_fence_release(struct dma_fence *f)
{
	atomic_dec(&fake_ctx()->live_fences);
	dma_fence_free(f);
}

static const struct dma_fence_ops fake_fence_ops = {
	.get_driver_name = fake_fence_name,
	.get_timeline_name = fake_fence_name,
	.release = fake_fence_release,
};

static struct dma_fence *fake_fence(struct fake_vm *fv)
{
	struct fake_ctx *ctx = fake_ctx();
	struct dma_fence *f = kzalloc(sizeof(*f), GFP_NOWAIT);

	if (f) {
		dma_fence_init(f, &fake_fence_ops, &ctx->fence_lock,
			       fv->context, ++fv->seqno);
		atomic_inc(&ctx->live_fences);
	}
	return f;
}

static int fake_update(struct amdgpu_gpumirror_vm *gvm, u64 start, u64 last,
		       u64 flags, dma_addr_t *pages_addr,
		       struct dma_fence **fence)
{
	struct fake_vm *fv = to_fake(gvm);

	if (++fv->updates == fv->fail_update_at) {
		fake_log(fv, 'U', start, last, flags, 0, pages_addr[0]);
		return -ENOMEM;
	}
	*fence = fake_fence(fv);
	fake_log(fv, 'u', start, last, flags, fv->seqno, pages_addr[0]);
	return *fence ? 0 : -ENOMEM;
}

static int fake_clear(struct amdgpu_gpumirror_vm *gvm, u64 start, u64 last,
		      struct dma_fence **fence)
{
	struct fake_vm *fv = to_fake(gvm);

	if (fv->fail_clear) {
		fake_log(fv, 'C', start, last, 0, 0, 0);
		return -ENOMEM;
	}
	*fence = fake_fence(fv);
	fake_log(fv, 'c', start, last, 0, fv->seqno, 0);
	return *fence ? 0 : -ENOMEM;
}

static void fake_wait(struct amdgpu_gpumirror_vm *gvm, struct dma_fence *f)
{
	fake_log(to_fake(gvm), 'w', 0, 0, 0, f->seqno, 0);
	dma_fence_signal(f);
}

static void fake_flush_tlb(struct amdgpu_gpumirror_vm *gvm)
{
	fake_log(to_fake(gvm), 'f', 0, 0, 0, 0, 0);
}

static int fake_quiesce(struct amdgpu_gpumirror_vm *gvm)
{
	fake_log(to_fake(gvm), 'q', 0, 0, 0, 0, 0);
	return 0;
}

static int fake_resume(struct amdgpu_gpumirror_vm *gvm)
{
	fake_log(to_fake(gvm), 'r', 0, 0, 0, 0, 0);
	return 0;
}

static const struct amdgpu_gpumirror_backend fake_backend = {
	.update = fake_update,
	.clear = fake_clear,
	.wait = fake_wait,
	.flush_tlb = fake_flush_tlb,
	.quiesce = fake_quiesce,
	.resume = fake_resume,
};

static unsigned long fake_mmap(struct kunit *test, unsigned long len,
			       unsigned long prot)
{
	unsigned long addr = kunit_vm_mmap(test, NULL, 0, len, prot,
					   MAP_PRIVATE | MAP_ANONYMOUS, 0);

	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_NE(test, addr, 0);
	return addr;
}

static int fake_init(struct kunit *test)
{
	struct fake_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	int i;

	if (!ctx)
		return -ENOMEM;
	test->priv = ctx;
	spin_lock_init(&ctx->fence_lock);
	fake_mmap(test, PAGE_SIZE, RW);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_process_init(&ctx->proc,
							    current->mm), 0);
	for (i = 0; i < ARRAY_SIZE(ctx->vm); i++) {
		struct fake_vm *fv = &ctx->vm[i];
		struct device *dev;
		char name[32];

		snprintf(name, sizeof(name), "amdgpu-gm-fake%d", i);
		dev = kunit_device_register(test, name);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
		dev->dma_mask = &dev->coherent_dma_mask;
		KUNIT_ASSERT_EQ(test,
				dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)),
				0);
		fv->id = i;
		fv->context = dma_fence_context_alloc(1);
		fv->gvm.gdev.dev = dev;
		fv->gvm.gdev.va_limit = BIT_ULL(47);
		fv->gvm.backend = &fake_backend;
		KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_attach(&ctx->proc,
								 &fv->gvm), 0);
	}
	return 0;
}

static void fake_done(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;

	amdgpu_gpumirror_process_fini(&ctx->proc);
	ctx->done = true;
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live_fences), 0);
}

static void fake_exit(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;

	if (ctx && !ctx->done)
		amdgpu_gpumirror_process_fini(&ctx->proc);
}

static int fake_count(struct fake_ctx *ctx, int vm, char op)
{
	int i, n = 0;

	for (i = 0; i < ctx->nlog; i++)
		n += ctx->log[i].vm == vm && ctx->log[i].op == op;
	return n;
}

static int fake_first(struct fake_ctx *ctx, int vm, char op)
{
	int i;

	for (i = 0; i < ctx->nlog; i++)
		if (ctx->log[i].vm == vm && ctx->log[i].op == op)
			return i;
	return INT_MAX;
}

/* ---- PTE flags ---------------------------------------------------------- */

struct pte_case {
	const char *name;
	gpumirror_addr_t entry;
	u32 kfd_flags;
	u64 want;
};

#define PTE_BASE (AMDGPU_PTE_VALID | AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED | \
		  AMDGPU_PTE_READABLE)

static const struct pte_case pte_cases[] = {
	{ "ro_alloc_rw_page", GPUMIRROR_ADDR_WRITE, 0, PTE_BASE },
	{ "rw_alloc_ro_page", 0, KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE, PTE_BASE },
	{ "rw_alloc_rw_page", GPUMIRROR_ADDR_WRITE,
	  KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE, PTE_BASE | AMDGPU_PTE_WRITEABLE },
	{ "executable", 0, KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE,
	  PTE_BASE | AMDGPU_PTE_EXECUTABLE },
};

KUNIT_ARRAY_PARAM_DESC(pte, pte_cases, name);

static void gm_amdgpu_pte_flags(struct kunit *test)
{
	const struct pte_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_pte_flags(c->entry | 0x1000,
							 c->kfd_flags), c->want);
	fake_done(test);
}

/* ---- batch userptr: segments -> one GPU VA range -> update calls -------- */

static void gm_amdgpu_batch_map(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	unsigned long a = fake_mmap(test, 8 * PAGE_SIZE, RW);
	struct gpumirror_range r[3] = {
		{ a + 6 * PAGE_SIZE, 2 * PAGE_SIZE },
		{ a, PAGE_SIZE },
		{ a + 3 * PAGE_SIZE, 2 * PAGE_SIZE },
	};
	const u64 gpu_va = 0x100000000ULL;
	const u64 base = gpu_va >> AMDGPU_GPU_PAGE_SHIFT;
	struct amdgpu_gpumirror_mem *mem;
	struct fake_call *u;

	KUNIT_EXPECT_PTR_EQ(test,
			    amdgpu_gpumirror_userptr_batch(&ctx->proc, r, 3,
							   gpu_va, 0),
			    ERR_PTR(-EINVAL));
	mem = amdgpu_gpumirror_userptr_batch(&ctx->proc, r, 3, gpu_va,
					     USERPTR_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mem);
	/* One object, one notifier for the three ranges. */
	KUNIT_EXPECT_EQ(test, mem->obj->nsegs, 3U);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_mem_map(&ctx->vm[0].gvm, mem),
			0);

	/* One update over the whole GPU range, its fence waited for. */
	KUNIT_ASSERT_EQ(test, ctx->nlog, 2);
	u = &ctx->log[0];
	KUNIT_EXPECT_EQ(test, u->op, 'u');
	KUNIT_EXPECT_EQ(test, u->start, base);
	KUNIT_EXPECT_EQ(test, u->last, base + 4);
	KUNIT_EXPECT_EQ(test, u->flags, PTE_BASE | AMDGPU_PTE_WRITEABLE);
	gpumirror_notifier_lock(&ctx->proc.mirror);
	KUNIT_EXPECT_EQ(test, u->first_addr,
			(dma_addr_t)gpumirror_addr(gpumirror_object_page(mem->obj,
					&ctx->vm[0].gvm.gdev, 0)));
	gpumirror_notifier_unlock(&ctx->proc.mirror);
	KUNIT_EXPECT_EQ(test, ctx->log[1].op, 'w');
	KUNIT_EXPECT_EQ(test, ctx->log[1].fence, u->fence);
	fake_done(test);
}

/* ---- two passes across GPUs --------------------------------------------- */

static void gm_amdgpu_two_pass(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct gpumirror_range r[2] = { { a, PAGE_SIZE },
					{ a + 2 * PAGE_SIZE, PAGE_SIZE } };
	struct amdgpu_gpumirror_mem *mem;
	int v, clear, wait;

	mem = amdgpu_gpumirror_userptr_batch(&ctx->proc, r, 2, 0, USERPTR_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mem);
	for (v = 0; v < 2; v++)
		KUNIT_ASSERT_EQ(test,
				amdgpu_gpumirror_mem_map(&ctx->vm[v].gvm, mem),
				0);
	ctx->nlog = 0;
	KUNIT_ASSERT_EQ(test, vm_munmap(a + 2 * PAGE_SIZE, PAGE_SIZE), 0);

	for (v = 0; v < 2; v++) {
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'c'), 1);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'w'), 1);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'f'), 1);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'q'), 0);
		clear = fake_first(ctx, v, 'c');
		wait = fake_first(ctx, v, 'w');
		/* The wait is for this VM's clear, after both GPUs cleared. */
		KUNIT_EXPECT_EQ(test, ctx->log[wait].fence,
				ctx->log[clear].fence);
		KUNIT_EXPECT_GT(test, wait, fake_first(ctx, !v, 'c'));
		KUNIT_EXPECT_GT(test, fake_first(ctx, v, 'f'), wait);
		/* The whole allocation's GPU range. */
		KUNIT_EXPECT_EQ(test, ctx->log[clear].start, 0ULL);
		KUNIT_EXPECT_EQ(test, ctx->log[clear].last, 1ULL);
		KUNIT_EXPECT_NULL(test, ctx->vm[v].gvm.pending);
	}
	fake_done(test);
}

/* ---- no-fault processes: quiesce once, resume once ---------------------- */

static void gm_amdgpu_quiesce_resume(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct amdgpu_gpumirror_vm *gvm = &ctx->vm[1].gvm;
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct gpumirror_range r0 = { a, PAGE_SIZE };
	struct gpumirror_range r1 = { a + PAGE_SIZE, PAGE_SIZE };
	struct amdgpu_gpumirror_mem *m0, *m1;

	gvm->no_fault = true;
	m0 = amdgpu_gpumirror_userptr_batch(&ctx->proc, &r0, 1, 0, USERPTR_RW);
	m1 = amdgpu_gpumirror_userptr_batch(&ctx->proc, &r1, 1, SZ_1M,
					    USERPTR_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, m0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, m1);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_restore(&ctx->proc, gvm), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'r'), 0);

	/* One event over both allocations: quiesced once, cleared twice. */
	KUNIT_ASSERT_EQ(test, vm_munmap(a, 2 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'c'), 2);
	KUNIT_EXPECT_LT(test, fake_first(ctx, 1, 'q'), fake_first(ctx, 1, 'c'));
	KUNIT_EXPECT_TRUE(test, gvm->quiesced);

	/* The memory is gone: restore fails, the queues stay stopped. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_restore(&ctx->proc, gvm),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'r'), 0);

	/* Memory back: restore maps both and resumes exactly once. */
	KUNIT_ASSERT_EQ(test, vm_mmap(NULL, a, 2 * PAGE_SIZE, RW,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      0), a);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_restore(&ctx->proc, gvm), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'r'), 1);
	KUNIT_EXPECT_FALSE(test, gvm->quiesced);
	KUNIT_EXPECT_EQ(test, atomic_read(&gvm->stats.quiesces),
			atomic_read(&gvm->stats.resumes));
	/* The fault-mode GPU never quiesced. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'q'), 0);
	fake_done(test);
}

/* ---- errors from the backend -------------------------------------------- */

/* A failed update leaves no PTE: the runs done before are cleared. */
static void gm_amdgpu_update_unwind(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct gpumirror_range r = { a, 4 * PAGE_SIZE };
	struct amdgpu_gpumirror_mem *mem;
	u64 one = 1;

	/* Pages 0-1 written (writable PTEs), 2-3 never (the zero page). */
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)a, &one, 8), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(a + PAGE_SIZE),
					   &one, 8), 0);
	mem = amdgpu_gpumirror_userptr_batch(&ctx->proc, &r, 1, 0, USERPTR_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mem);
	/* Map for read so the writable and read-only runs differ. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(mem->obj,
						   BIT(fv->gvm.gdev.index), 0),
			0);

	fv->fail_update_at = 2;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_bind(&fv->gvm, mem), -ENOMEM);
	KUNIT_ASSERT_EQ(test, ctx->nlog, 4);
	KUNIT_EXPECT_EQ(test, ctx->log[0].op, 'u');
	KUNIT_EXPECT_EQ(test, ctx->log[0].last, 1ULL);
	KUNIT_EXPECT_EQ(test, ctx->log[0].flags, PTE_BASE | AMDGPU_PTE_WRITEABLE);
	KUNIT_EXPECT_EQ(test, ctx->log[1].op, 'U');
	KUNIT_EXPECT_EQ(test, ctx->log[1].start, 2ULL);
	KUNIT_EXPECT_EQ(test, ctx->log[1].flags, PTE_BASE);
	KUNIT_EXPECT_EQ(test, ctx->log[2].op, 'c');
	KUNIT_EXPECT_EQ(test, ctx->log[2].start, 0ULL);
	KUNIT_EXPECT_EQ(test, ctx->log[2].last, 1ULL);
	KUNIT_EXPECT_EQ(test, ctx->log[3].op, 'w');

	/* Without the failure: two runs, two updates, one wait. */
	ctx->nlog = 0;
	fv->fail_update_at = 0;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_bind(&fv->gvm, mem), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'u'), 2);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'w'), 1);
	fake_done(test);
}

/* A failed PTE clear stops the queues even of a fault-mode GPU. */
static void gm_amdgpu_clear_failure(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, PAGE_SIZE, RW);
	struct gpumirror_range r = { a, PAGE_SIZE };
	struct amdgpu_gpumirror_mem *mem;

	mem = amdgpu_gpumirror_userptr_batch(&ctx->proc, &r, 1, 0, USERPTR_RW);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mem);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_mem_map(&fv->gvm, mem), 0);
	ctx->nlog = 0;
	fv->fail_clear = true;
	KUNIT_ASSERT_EQ(test, vm_munmap(a, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'C'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'q'), 1);
	/* Nothing to wait for, the TLB is still flushed. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'w'), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'f'), 1);
	KUNIT_EXPECT_TRUE(test, fv->gvm.quiesced);
	fv->fail_clear = false;
	fake_done(test);
}

static struct kunit_case gm_amdgpu_cases[] = {
	KUNIT_CASE_PARAM(gm_amdgpu_pte_flags, pte_gen_params),
	KUNIT_CASE(gm_amdgpu_batch_map),
	KUNIT_CASE(gm_amdgpu_two_pass),
	KUNIT_CASE(gm_amdgpu_quiesce_resume),
	KUNIT_CASE(gm_amdgpu_update_unwind),
	KUNIT_CASE(gm_amdgpu_clear_failure),
	{}
};

static struct kunit_suite gm_amdgpu_suite = {
	.name = "amdgpu_gpumirror",
	.init = fake_init,
	.exit = fake_exit,
	.test_cases = gm_amdgpu_cases,
};

kunit_test_suite(gm_amdgpu_suite);
