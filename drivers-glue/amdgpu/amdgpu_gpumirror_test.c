// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * KUnit suite for the amdgpu gpumirror glue, with a recording fake backend
 * that enforces the real backend's contracts.
 */

#include <kunit/device.h>
#include <kunit/test-bug.h>
#include <kunit/test.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/mman.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>

#include "amdgpu.h"
#include "amdgpu_gpumirror.h"

#define FAKE_LOG	256
#define FAKE_CLAIMS	16
#define RW		(PROT_READ | PROT_WRITE)

struct fake_call {
	/*
	 * R)eserve N) unreserve a) VA claim d) VA release u)pdate p) PDEs
	 * c)lear w)ait f)lush q)uiesce s) resume i) wait idle; upper case:
	 * failed;
	 * X: a call that needed the reservation without it.
	 */
	char op;
	int vm;
	u64 start, last, flags;
	u64 fence;		/* seqno of the fence made or waited for */
	dma_addr_t first_addr;
};

struct fake_claim {
	u64 start, last;
	bool used;
};

struct fake_vm {
	struct amdgpu_gpumirror_vm gvm;
	int id;
	u64 context, seqno;
	/* The page directory's reservation: a real one, for lockdep. */
	struct dma_resv resv;
	struct fake_claim claims[FAKE_CLAIMS];
	int fail_update_at;	/* fail the n-th update (1-based), 0: never */
	bool fail_updates;	/* fail every update */
	int updates;
	bool fail_clear;
	bool stolen;		/* a GEM VA ioctl cleared the claims */
	int zap_at_reserve;	/* zap @zap_addr in the n-th @reserve from now */
	unsigned long zap_addr;
	atomic_t depth;		/* quiesce nesting */
	bool no_queues;		/* a gfx VM: no KFD queues to quiesce */
	atomic_t violations;
};

struct fake_ctx {
	struct amdgpu_gpumirror_process proc;
	struct fake_vm vm[2];
	struct fake_call log[FAKE_LOG];
	int nlog;
	spinlock_t log_lock;		/* the test, the workers */
	atomic_t live_fences;
	spinlock_t fence_lock;		/* of the fake fences */
	bool done;
};

/* The running test's context; the restore worker calls the fake too. */
static struct fake_ctx *fake_the_ctx;

static struct fake_ctx *fake_ctx(void)
{
	return fake_the_ctx;
}

static struct fake_vm *to_fake(struct amdgpu_gpumirror_vm *gvm)
{
	return container_of(gvm, struct fake_vm, gvm);
}

static void fake_log(struct fake_vm *fv, char op, u64 start, u64 last,
		     u64 flags, u64 fence, dma_addr_t addr)
{
	struct fake_ctx *ctx = fake_ctx();

	spin_lock(&ctx->log_lock);
	if (ctx->nlog < FAKE_LOG)
		ctx->log[ctx->nlog++] = (struct fake_call){
			op, fv->id, start, last, flags, fence, addr };
	spin_unlock(&ctx->log_lock);
}

/* The contract: the page directory reserved, by this VM's reserve. */
static bool fake_held(struct fake_vm *fv, struct amdgpu_gpumirror_resv *resv)
{
	if (resv && resv->gvm == &fv->gvm && dma_resv_is_locked(&fv->resv) &&
	    dma_resv_held(&fv->resv))
		return true;
	atomic_inc(&fv->violations);
	fake_log(fv, 'X', 0, 0, 0, 0, 0);
	return false;
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

/* A job's fence, allocated as amdgpu_job_alloc() does: GFP_KERNEL. */
static struct dma_fence *fake_fence(struct fake_vm *fv)
{
	struct fake_ctx *ctx = fake_ctx();
	struct dma_fence *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (f) {
		dma_fence_init(f, &fake_fence_ops, &ctx->fence_lock,
			       fv->context, ++fv->seqno);
		atomic_inc(&ctx->live_fences);
	}
	return f;
}

static int fake_reserve(struct amdgpu_gpumirror_vm *gvm,
			struct amdgpu_gpumirror_resv *resv)
{
	struct fake_vm *fv = to_fake(gvm);

	/* An invalidation racing the map path, maybe from the worker. */
	if (fv->zap_at_reserve > 0 && !--fv->zap_at_reserve)
		do_madvise(gvm->gdev.mirror->mm, fv->zap_addr, PAGE_SIZE,
			   MADV_DONTNEED);
	dma_resv_lock(&fv->resv, NULL);
	resv->gvm = gvm;
	fake_log(fv, 'R', 0, 0, 0, 0, 0);
	return 0;
}

static void fake_unreserve(struct amdgpu_gpumirror_vm *gvm,
			   struct amdgpu_gpumirror_resv *resv)
{
	struct fake_vm *fv = to_fake(gvm);

	if (fake_held(fv, resv)) {
		resv->gvm = NULL;
		dma_resv_unlock(&fv->resv);
	}
	fake_log(fv, 'N', 0, 0, 0, 0, 0);
}

static struct fake_claim *fake_claim_at(struct fake_vm *fv, u64 start)
{
	int i;

	for (i = 0; i < FAKE_CLAIMS; i++)
		if (fv->claims[i].used && fv->claims[i].start == start)
			return &fv->claims[i];
	return NULL;
}

static int fake_va_reserve(struct amdgpu_gpumirror_vm *gvm,
			   struct amdgpu_gpumirror_resv *resv, u64 start,
			   u64 last)
{
	struct fake_vm *fv = to_fake(gvm);
	struct fake_claim *free = NULL;
	int i;

	if (!fake_held(fv, resv))
		return -EDEADLK;
	for (i = 0; i < FAKE_CLAIMS; i++) {
		struct fake_claim *c = &fv->claims[i];

		if (!c->used) {
			free = free ?: c;
		} else if (c->start <= last && start <= c->last) {
			fake_log(fv, 'A', start, last, 0, 0, 0);
			return -EEXIST;
		}
	}
	if (!free)
		return -ENOMEM;
	*free = (struct fake_claim){ start, last, true };
	fake_log(fv, 'a', start, last, 0, 0, 0);
	return 0;
}

static void fake_va_release(struct amdgpu_gpumirror_vm *gvm,
			    struct amdgpu_gpumirror_resv *resv, u64 start)
{
	struct fake_vm *fv = to_fake(gvm);
	struct fake_claim *c;

	if (!fake_held(fv, resv))
		return;
	c = fake_claim_at(fv, start);
	if (c)
		c->used = false;
	fake_log(fv, 'd', start, 0, 0, 0, 0);
}

static bool fake_va_check(struct amdgpu_gpumirror_vm *gvm,
			  struct amdgpu_gpumirror_resv *resv, u64 start,
			  u64 last)
{
	struct fake_vm *fv = to_fake(gvm);
	struct fake_claim *c;

	if (!fake_held(fv, resv))
		return false;
	c = fake_claim_at(fv, start);
	return !fv->stolen && c && c->last >= last;
}

static bool fake_va_free(struct amdgpu_gpumirror_vm *gvm,
			 struct amdgpu_gpumirror_resv *resv, u64 start,
			 u64 last)
{
	struct fake_vm *fv = to_fake(gvm);
	int i;

	if (!fake_held(fv, resv))
		return false;
	for (i = 0; i < FAKE_CLAIMS; i++)
		if (fv->claims[i].used && fv->claims[i].start <= last &&
		    start <= fv->claims[i].last)
			return false;
	return true;
}

#define PTE_BASE (AMDGPU_PTE_VALID | AMDGPU_PTE_SYSTEM | AMDGPU_PTE_SNOOPED | \
		  AMDGPU_PTE_READABLE)

static u64 fake_pte_flags(struct amdgpu_gpumirror_vm *gvm, bool writable,
			  bool executable)
{
	return PTE_BASE | (writable ? AMDGPU_PTE_WRITEABLE : 0) |
	       (executable ? AMDGPU_PTE_EXECUTABLE : 0);
}

static int fake_update(struct amdgpu_gpumirror_vm *gvm,
		       struct amdgpu_gpumirror_resv *resv, u64 start, u64 last,
		       u64 flags, dma_addr_t *pages_addr,
		       struct dma_fence **fence)
{
	struct fake_vm *fv = to_fake(gvm);

	if (!fake_held(fv, resv))
		return -EDEADLK;
	if (++fv->updates == fv->fail_update_at ||
	    READ_ONCE(fv->fail_updates)) {
		fake_log(fv, 'U', start, last, flags, 0, pages_addr[0]);
		return -ENOMEM;
	}
	*fence = fake_fence(fv);
	fake_log(fv, 'u', start, last, flags, fv->seqno, pages_addr[0]);
	return *fence ? 0 : -ENOMEM;
}

static int fake_update_pdes(struct amdgpu_gpumirror_vm *gvm,
			    struct amdgpu_gpumirror_resv *resv)
{
	struct fake_vm *fv = to_fake(gvm);

	if (!fake_held(fv, resv))
		return -EDEADLK;
	/* amdgpu_vm_update_pdes() allocates a job. */
	kfree(kmalloc(64, GFP_KERNEL));
	fake_log(fv, 'p', 0, 0, 0, 0, 0);
	return 0;
}

static int fake_clear(struct amdgpu_gpumirror_vm *gvm, u64 start, u64 last,
		      struct dma_fence **fence)
{
	struct fake_vm *fv = to_fake(gvm);

	if (READ_ONCE(fv->fail_clear)) {
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

static bool fake_has_queues(struct amdgpu_gpumirror_vm *gvm)
{
	return !to_fake(gvm)->no_queues;
}

static int fake_quiesce(struct amdgpu_gpumirror_vm *gvm)
{
	/* kgd2kfd_quiesce_mm() without a KFD process */
	if (to_fake(gvm)->no_queues) {
		atomic_inc(&to_fake(gvm)->violations);
		return -ESRCH;
	}
	atomic_inc(&to_fake(gvm)->depth);
	fake_log(to_fake(gvm), 'q', 0, 0, 0, 0, 0);
	return 0;
}

static int fake_resume(struct amdgpu_gpumirror_vm *gvm)
{
	struct fake_vm *fv = to_fake(gvm);

	if (atomic_dec_return(&fv->depth) < 0)
		atomic_inc(&fv->violations);
	fake_log(fv, 's', 0, 0, 0, 0, 0);
	return 0;
}

static void fake_wait_idle(struct amdgpu_gpumirror_vm *gvm)
{
	fake_log(to_fake(gvm), 'i', 0, 0, 0, 0, 0);
}

static const struct amdgpu_gpumirror_backend fake_backend = {
	.reserve = fake_reserve,
	.unreserve = fake_unreserve,
	.va_reserve = fake_va_reserve,
	.va_release = fake_va_release,
	.va_check = fake_va_check,
	.va_free = fake_va_free,
	.pte_flags = fake_pte_flags,
	.update = fake_update,
	.update_pdes = fake_update_pdes,
	.clear = fake_clear,
	.wait = fake_wait,
	.flush_tlb = fake_flush_tlb,
	.has_queues = fake_has_queues,
	.quiesce = fake_quiesce,
	.resume = fake_resume,
	.wait_idle = fake_wait_idle,
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
	fake_the_ctx = ctx;
	spin_lock_init(&ctx->fence_lock);
	spin_lock_init(&ctx->log_lock);
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
		dma_resv_init(&fv->resv);
		fv->gvm.gdev.dev = dev;
		fv->gvm.gdev.va_limit = BIT_ULL(47);
		fv->gvm.backend = &fake_backend;
		/* VM 1 cannot fault (XNACK off), VM 0 can. */
		fv->gvm.no_fault = i == 1;
		KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_attach(&ctx->proc,
								 &fv->gvm), 0);
	}
	return 0;
}

static void fake_teardown(struct fake_ctx *ctx)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(ctx->vm); i++)
		amdgpu_gpumirror_vm_detach(&ctx->vm[i].gvm);
	amdgpu_gpumirror_process_fini(&ctx->proc);
	for (i = 0; i < ARRAY_SIZE(ctx->vm); i++)
		dma_resv_fini(&ctx->vm[i].resv);
	ctx->done = true;
}

/* End of a test: everything released, no contract broken. */
static void fake_done(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	int i, c;

	fake_teardown(ctx);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live_fences), 0);
	for (i = 0; i < ARRAY_SIZE(ctx->vm); i++) {
		struct fake_vm *fv = &ctx->vm[i];

		KUNIT_EXPECT_EQ(test, atomic_read(&fv->violations), 0);
		/* Every queue stop undone, by the restore or the detach. */
		KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);
		KUNIT_EXPECT_EQ(test, fv->gvm.state &
				(BIT(AMDGPU_GPUMIRROR_QUIESCED) |
				 BIT(AMDGPU_GPUMIRROR_SVM_QUIESCED) |
				 BIT(AMDGPU_GPUMIRROR_DIRTY)), 0UL);
		for (c = 0; c < FAKE_CLAIMS; c++)
			KUNIT_EXPECT_FALSE(test, ctx->vm[i].claims[c].used);
	}
}

static void fake_exit(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;

	if (ctx && !ctx->done)
		fake_teardown(ctx);
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

static int fake_last(struct fake_ctx *ctx, int vm, char op)
{
	int i;

	for (i = ctx->nlog - 1; i >= 0; i--)
		if (ctx->log[i].vm == vm && ctx->log[i].op == op)
			return i;
	return -1;
}

/* Create and map @mem on @fv through the glue, as the ioctl does. */
static struct amdgpu_gpumirror_mem *
fake_mem(struct kunit *test, struct fake_vm *fv,
	 const struct gpumirror_segment *r, unsigned int nr, u64 gpu_va,
	 bool writable)
{
	struct fake_ctx *ctx = test->priv;
	struct amdgpu_gpumirror_mem *mem;
	int ret;

	mem = amdgpu_gpumirror_userptr_create(&ctx->proc, r, nr, gpu_va,
					      writable, false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mem);
	mutex_lock(&ctx->proc.lock);
	ret = amdgpu_gpumirror_mem_map(&fv->gvm, mem);
	mutex_unlock(&ctx->proc.lock);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return mem;
}

/*
 * Two one-page allocations mapped on @fv: m[0] at CPU address a (returned)
 * and GPU VA @gpu0, m[1] at a + PAGE_SIZE and @gpu1.
 */
static unsigned long fake_two_mems(struct kunit *test, struct fake_vm *fv,
				   u64 gpu0, u64 gpu1,
				   struct amdgpu_gpumirror_mem **m)
{
	unsigned long a = fake_mmap(test, 2 * PAGE_SIZE, RW);
	struct gpumirror_segment r0 = { a, PAGE_SIZE };
	struct gpumirror_segment r1 = { a + PAGE_SIZE, PAGE_SIZE };

	m[0] = fake_mem(test, fv, &r0, 1, gpu0, true);
	m[1] = fake_mem(test, fv, &r1, 1, gpu1, true);
	return a;
}

/* Run the restore worker @n times. */
static void fake_run_restore_for(struct fake_vm *fv, int n)
{
	while (n--) {
		mod_delayed_work(system_unbound_wq,
				 &fv->gvm.proc->restore_work, 0);
		flush_delayed_work(&fv->gvm.proc->restore_work);
	}
}

/* Run the restore worker until it gave up the glue's quiesce. */
static void fake_run_restore(struct kunit *test, struct fake_vm *fv)
{
	int i;

	for (i = 0; i < 100 && test_bit(AMDGPU_GPUMIRROR_QUIESCED,
					&fv->gvm.state); i++) {
		fake_run_restore_for(fv, 1);
	}
	flush_delayed_work(&fv->gvm.proc->restore_work);
	KUNIT_EXPECT_FALSE(test, test_bit(AMDGPU_GPUMIRROR_QUIESCED,
					  &fv->gvm.state));
}

/* ---- GPU pages of CPU pages: 4K and 64K CPU pages --------------------- */

static void gm_amdgpu_gpu_page(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_gpu_page(100, 3, 1), 103ULL);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_gpu_page(100, 3, 16), 148ULL);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_gpu_page(0, 1UL << 40, 16),
			1ULL << 44);
	fake_done(test);
}

/* ---- the fake itself refuses calls without the reservation ------------- */

static void gm_amdgpu_fake_contract(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	struct amdgpu_gpumirror_resv resv = { .gvm = &fv->gvm };
	struct dma_fence *fence = NULL;
	dma_addr_t addr = 0;

	/* Claimed but not locked, then locked for another VM. */
	KUNIT_EXPECT_EQ(test, fake_backend.update(&fv->gvm, &resv, 0, 0, 0,
						  &addr, &fence), -EDEADLK);
	KUNIT_EXPECT_EQ(test, fake_backend.va_reserve(&fv->gvm, &resv, 0, 0),
			-EDEADLK);
	KUNIT_ASSERT_EQ(test, fake_backend.reserve(&ctx->vm[1].gvm, &resv), 0);
	KUNIT_EXPECT_EQ(test, fake_backend.update_pdes(&fv->gvm, &resv),
			-EDEADLK);
	fake_backend.unreserve(&ctx->vm[1].gvm, &resv);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->violations), 3);
	KUNIT_EXPECT_NULL(test, fence);
	atomic_set(&fv->violations, 0);
	fake_done(test);
}

/* ---- scattered userptr: segments -> one GPU VA range -> one update ----- */

static void gm_amdgpu_batch_map(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	unsigned long a = fake_mmap(test, 8 * PAGE_SIZE, RW);
	struct gpumirror_segment r[3] = {
		{ a + 6 * PAGE_SIZE, 2 * PAGE_SIZE },
		{ a, PAGE_SIZE },
		{ a + 3 * PAGE_SIZE, 2 * PAGE_SIZE },
	};
	const u64 gpu_va = 0x100000000ULL;
	const u64 base = gpu_va >> AMDGPU_GPU_PAGE_SHIFT;
	const u64 last = base + 5 * AMDGPU_GPU_PAGES_IN_CPU_PAGE - 1;
	struct amdgpu_gpumirror_mem *mem;
	struct fake_call *u;
	int i;

	mem = fake_mem(test, &ctx->vm[0], r, 3, gpu_va, true);
	/* One object, one notifier for the three ranges. */
	KUNIT_EXPECT_EQ(test, mem->obj->nsegs, 3U);

	/*
	 * The VA claimed first, under its own reservation; then reserve,
	 * one update, PDEs, unreserve, and the wait.
	 */
	KUNIT_ASSERT_EQ(test, ctx->nlog, 8);
	KUNIT_EXPECT_EQ(test, ctx->log[0].op, 'R');
	KUNIT_EXPECT_EQ(test, ctx->log[1].op, 'a');
	KUNIT_EXPECT_EQ(test, ctx->log[1].start, base);
	KUNIT_EXPECT_EQ(test, ctx->log[1].last, last);
	KUNIT_EXPECT_EQ(test, ctx->log[2].op, 'N');
	KUNIT_EXPECT_EQ(test, ctx->log[3].op, 'R');
	u = &ctx->log[4];
	KUNIT_EXPECT_EQ(test, u->op, 'u');
	KUNIT_EXPECT_EQ(test, u->start, base);
	KUNIT_EXPECT_EQ(test, u->last, last);
	KUNIT_EXPECT_EQ(test, u->flags, PTE_BASE | AMDGPU_PTE_WRITEABLE);
	gpumirror_notifier_lock(&ctx->proc.mirror);
	KUNIT_EXPECT_EQ(test, u->first_addr,
			(dma_addr_t)gpumirror_addr(gpumirror_object_page(mem->obj,
					&ctx->vm[0].gvm.gdev, 0)));
	gpumirror_notifier_unlock(&ctx->proc.mirror);
	KUNIT_EXPECT_EQ(test, ctx->log[5].op, 'p');
	KUNIT_EXPECT_EQ(test, ctx->log[6].op, 'N');
	KUNIT_EXPECT_EQ(test, ctx->log[7].op, 'w');
	KUNIT_EXPECT_EQ(test, ctx->log[7].fence, u->fence);

	/* Mapping again claims nothing new. */
	ctx->nlog = 0;
	mutex_lock(&ctx->proc.lock);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_mem_map(&ctx->vm[0].gvm, mem),
			0);
	mutex_unlock(&ctx->proc.lock);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'a'), 0);

	/* Free: PTEs cleared on the VM, the claim given back. */
	ctx->nlog = 0;
	amdgpu_gpumirror_mem_free(&ctx->proc, mem);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'c'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'd'), 1);
	for (i = 0; i < FAKE_CLAIMS; i++)
		KUNIT_EXPECT_FALSE(test, ctx->vm[0].claims[i].used);
	fake_done(test);
}

/* ---- two passes across GPUs --------------------------------------------- */

static void gm_amdgpu_two_pass(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct gpumirror_segment r[2] = { { a, PAGE_SIZE },
					{ a + 2 * PAGE_SIZE, PAGE_SIZE } };
	struct amdgpu_gpumirror_mem *mem;
	int v, clear, wait;

	mem = fake_mem(test, &ctx->vm[0], r, 2, 0, true);
	mutex_lock(&ctx->proc.lock);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_mem_map(&ctx->vm[1].gvm, mem),
			0);
	mutex_unlock(&ctx->proc.lock);
	ctx->nlog = 0;
	KUNIT_ASSERT_EQ(test, vm_munmap(a + 2 * PAGE_SIZE, PAGE_SIZE), 0);

	for (v = 0; v < 2; v++) {
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'c'), 1);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'w'), 1);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, v, 'f'), 1);
		clear = fake_first(ctx, v, 'c');
		wait = fake_first(ctx, v, 'w');
		/* The wait is for this VM's clear, after both GPUs cleared. */
		KUNIT_EXPECT_EQ(test, ctx->log[wait].fence,
				ctx->log[clear].fence);
		KUNIT_EXPECT_GT(test, wait, fake_first(ctx, !v, 'c'));
		KUNIT_EXPECT_GT(test, fake_first(ctx, v, 'f'), wait);
		/* The whole allocation's GPU range. */
		KUNIT_EXPECT_EQ(test, ctx->log[clear].start, 0ULL);
		KUNIT_EXPECT_EQ(test, ctx->log[clear].last,
				2ULL * AMDGPU_GPU_PAGES_IN_CPU_PAGE - 1);
		KUNIT_EXPECT_NULL(test, ctx->vm[v].gvm.pending);
	}
	/* Only the XNACK-off VM stopped its queues, before clearing. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'q'), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 1);
	KUNIT_EXPECT_LT(test, fake_first(ctx, 1, 'q'), fake_first(ctx, 1, 'c'));
	fake_done(test);
}

/* ---- XNACK off: the restore worker ------------------------------------- */

/*
 * One event over two allocations quiesces once; the worker maps both
 * again and resumes once, with every allocation valid.
 */
static void gm_amdgpu_restore_worker(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	struct amdgpu_gpumirror_mem *m[2];
	unsigned long a;

	a = fake_two_mems(test, fv, 0, SZ_1M, m);
	ctx->nlog = 0;
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, 2 * PAGE_SIZE,
					 MADV_DONTNEED), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'c'), 2);
	/* The worker may already be running: it was queued by pass 1. */
	fake_run_restore(test, fv);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 's'), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);
	/* Both mapped again before the queues resumed. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'u'), 2);
	KUNIT_EXPECT_LT(test, fake_last(ctx, 1, 'u'), fake_first(ctx, 1, 's'));
	gpumirror_notifier_lock(&ctx->proc.mirror);
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(m[0]->obj, &fv->gvm.gdev));
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(m[1]->obj, &fv->gvm.gdev));
	gpumirror_notifier_unlock(&ctx->proc.mirror);
	/* The XNACK-on VM never quiesced. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'q'), 0);
	fake_done(test);
}

/*
 * An invalidation during the restore (of m0, valid, while m1 is being
 * mapped) keeps the queues stopped until a later run finds every
 * allocation valid: resuming on the first run would leave m0 unmapped
 * under running queues.
 */
static void gm_amdgpu_restore_race(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	struct amdgpu_gpumirror_mem *m[2];
	unsigned long a;
	int zap;

	a = fake_two_mems(test, fv, 0, SZ_1M, m);
	ctx->nlog = 0;
	fv->zap_addr = a;
	/* The restore maps only the stale m1: zap m0 as it does. */
	fv->zap_at_reserve = 1;
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a + PAGE_SIZE, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	fake_run_restore(test, fv);
	KUNIT_EXPECT_EQ(test, fv->zap_at_reserve, 0);
	/* m1 zapped by the test, then m0 by the race: two clears. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'c'), 2);
	zap = fake_last(ctx, 1, 'c');
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 's'), 1);
	/* m0 mapped again after the race, before the queues resumed. */
	KUNIT_EXPECT_GT(test, fake_last(ctx, 1, 'u'), zap);
	KUNIT_EXPECT_LT(test, fake_last(ctx, 1, 'u'), fake_first(ctx, 1, 's'));
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);
	gpumirror_notifier_lock(&ctx->proc.mirror);
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(m[0]->obj, &fv->gvm.gdev));
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(m[1]->obj, &fv->gvm.gdev));
	gpumirror_notifier_unlock(&ctx->proc.mirror);
	fake_done(test);
}

/*
 * Eviction and restore cycles under munmap: memory that is gone is left
 * unmapped and the queues resume without it; mapped back, it is restored.
 */
static void gm_amdgpu_restore_munmap(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	struct amdgpu_gpumirror_mem *m[2];
	unsigned long a;
	int cycle;

	a = fake_two_mems(test, fv, 0, SZ_1M, m);
	for (cycle = 0; cycle < 4; cycle++) {
		ctx->nlog = 0;
		KUNIT_ASSERT_EQ(test, vm_munmap(a + PAGE_SIZE, PAGE_SIZE), 0);
		fake_run_restore(test, fv);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 1);
		KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 's'), 1);
		KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);
		gpumirror_notifier_lock(&ctx->proc.mirror);
		KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(m[0]->obj,
							       &fv->gvm.gdev));
		KUNIT_EXPECT_FALSE(test, gpumirror_object_valid(m[1]->obj,
								&fv->gvm.gdev));
		gpumirror_notifier_unlock(&ctx->proc.mirror);

		/* Back again: the next eviction restores both. */
		KUNIT_ASSERT_EQ(test, vm_mmap(NULL, a + PAGE_SIZE, PAGE_SIZE,
					      RW, MAP_PRIVATE | MAP_ANONYMOUS |
					      MAP_FIXED, 0), a + PAGE_SIZE);
		ctx->nlog = 0;
		KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, PAGE_SIZE,
						 MADV_DONTNEED), 0);
		fake_run_restore(test, fv);
		gpumirror_notifier_lock(&ctx->proc.mirror);
		KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(m[1]->obj,
							       &fv->gvm.gdev));
		gpumirror_notifier_unlock(&ctx->proc.mirror);
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->gvm.stats.lost), 4);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->gvm.stats.quiesces),
			atomic_read(&fv->gvm.stats.resumes));
	fake_done(test);
}

/* ---- a gfx VM: no queues, command submission maps again --------------- */

static bool fake_stale(struct fake_ctx *ctx, struct fake_vm *fv)
{
	bool stale;

	gpumirror_notifier_lock(&ctx->proc.mirror);
	stale = amdgpu_gpumirror_stale(&fv->gvm);
	gpumirror_notifier_unlock(&ctx->proc.mirror);
	return stale;
}

static void gm_amdgpu_gfx_submit(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	struct amdgpu_gpumirror_mem *m[2];
	unsigned long a;

	fv->no_queues = true;
	a = fake_two_mems(test, fv, 0, SZ_1M, m);
	KUNIT_EXPECT_FALSE(test, fake_stale(ctx, fv));

	/* Pass 1 waits for the VM's jobs before it clears the PTEs. */
	ctx->nlog = 0;
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'i'), 1);
	KUNIT_EXPECT_LT(test, fake_first(ctx, 1, 'i'), fake_first(ctx, 1, 'c'));
	KUNIT_EXPECT_FALSE(test, test_bit(AMDGPU_GPUMIRROR_QUIESCED,
					  &fv->gvm.state));
	/* A submission now would restart; preparing it maps again. */
	KUNIT_EXPECT_TRUE(test, fake_stale(ctx, fv));
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_validate(&fv->gvm), 0);
	KUNIT_EXPECT_FALSE(test, fake_stale(ctx, fv));
	/* Only the stale one was mapped. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'u'), 1);

	/* Invalidated between prepare and submit: the submit restarts. */
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a + PAGE_SIZE, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	KUNIT_EXPECT_TRUE(test, fake_stale(ctx, fv));

	/* Memory gone: left unmapped, it no longer holds submissions up. */
	KUNIT_ASSERT_EQ(test, vm_munmap(a + PAGE_SIZE, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_validate(&fv->gvm), 0);
	KUNIT_EXPECT_FALSE(test, fake_stale(ctx, fv));
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->gvm.stats.lost), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 's'), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);

	/* SVM on it would run into ranges still being restored. */
	{
		struct drm_amdgpu_gpumirror args = {
			.op = AMDGPU_GPUMIRROR_OP_SVM_PREFETCH, .va = a,
			.size = PAGE_SIZE };

		KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm,
								&args),
				-EOPNOTSUPP);
	}
	fake_done(test);
}

/* ---- XNACK on: fault dispatch ------------------------------------------ */

static void gm_amdgpu_fault_dispatch(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct gpumirror_segment r[2] = { { a + 2 * PAGE_SIZE, PAGE_SIZE },
					{ a, PAGE_SIZE } };
	const u64 gpu_va = 0x200000000ULL;
	struct amdgpu_gpumirror_mem *mem, *ro;
	struct gpumirror_segment rr = { a + 3 * PAGE_SIZE, PAGE_SIZE };
	int u;

	mem = fake_mem(test, fv, r, 2, gpu_va, true);
	ro = fake_mem(test, fv, &rr, 1, gpu_va + SZ_1M, false);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, 4 * PAGE_SIZE,
					 MADV_DONTNEED), 0);
	ctx->nlog = 0;
	/* GPU VA of the second page, whose CPU address is a. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm,
						     gpu_va + PAGE_SIZE + 0x10,
						     true), 0);
	u = fake_first(ctx, 0, 'u');
	KUNIT_ASSERT_LT(test, u, ctx->nlog);
	KUNIT_EXPECT_EQ(test, ctx->log[u].start,
			gpu_va >> AMDGPU_GPU_PAGE_SHIFT);
	gpumirror_notifier_lock(&ctx->proc.mirror);
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(mem->obj,
						       &fv->gvm.gdev));
	gpumirror_notifier_unlock(&ctx->proc.mirror);

	/* Nothing at that GPU VA, nor SVM: not the glue's fault. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, gpu_va + SZ_2M,
						     false), -ENOENT);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, a, false),
			-ENOENT);
	/* A write to a read-only allocation stays a fault. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, gpu_va + SZ_1M,
						     true), -EPERM);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, gpu_va + SZ_1M,
						     false), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->gvm.stats.faults), 2);
	amdgpu_gpumirror_mem_free(&ctx->proc, ro);
	fake_done(test);
}

/* ---- the ioctl core ------------------------------------------------------ */

/* A user copy of @n bytes at @src, for the ioctl's @ptr. */
static u64 fake_user(struct kunit *test, const void *src, size_t n)
{
	unsigned long u = fake_mmap(test, PAGE_ALIGN(n), RW);

	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)u, src, n), 0UL);
	return u;
}

struct ioctl_case {
	const char *name;
	u32 op, flags, count;
	int ranges;	/* which range array: see gm_amdgpu_ioctl_bad() */
	u64 va, size;
	int err;
};

static const struct ioctl_case ioctl_cases[] = {
	{ "no_op", 0, 0, 1, 0, 0, 0, -EINVAL },
	{ "unknown_op", 99, 0, 1, 0, 0, 0, -EINVAL },
	{ "create_unknown_flag", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 4, 1, 0,
	  0, 0, -EINVAL },
	{ "create_no_ranges", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 0, 0, 0,
	  0, -EINVAL },
	{ "create_too_many", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0,
	  AMDGPU_GPUMIRROR_MAX_RANGES + 1, 0, 0, 0, -E2BIG },
	{ "create_bad_ptr", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, -1, 0, 0,
	  -EFAULT },
	{ "create_unaligned", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, 1, 0, 0,
	  -EINVAL },
	{ "create_empty", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, 2, 0, 0,
	  -ENODATA },
	{ "create_overlap", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 2, 3, 0, 0,
	  -EEXIST },
	{ "create_wrap", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, 4, 0, 0,
	  -EOVERFLOW },
	{ "create_kernel_addr", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, 5, 0,
	  0, -EFAULT },
	{ "create_gpu_va_unaligned", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1,
	  0, SZ_1G + 0x800, 0, -EINVAL },
	{ "create_gpu_va_reserved", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1,
	  0, PAGE_SIZE, 0, -EINVAL },
	{ "create_gpu_va_beyond", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, 0,
	  BIT_ULL(47), 0, -ERANGE },
	{ "create_unmapped", AMDGPU_GPUMIRROR_OP_USERPTR_CREATE, 0, 1, 6, 0, 0,
	  -EFAULT },
	{ "destroy_unknown", AMDGPU_GPUMIRROR_OP_USERPTR_DESTROY, 0, 0, -2, 0,
	  0, -ENOENT },
	{ "destroy_flags", AMDGPU_GPUMIRROR_OP_USERPTR_DESTROY, 1, 0, -2, 0, 0,
	  -EINVAL },
	{ "set_attr_no_size", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 1, 10, 0, 0,
	  -EINVAL },
	{ "set_attr_unaligned", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 1, 10,
	  0x10, PAGE_SIZE, -EINVAL },
	{ "set_attr_wrap", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 1, 10,
	  -(u64)PAGE_SIZE, 2 * PAGE_SIZE, -EOVERFLOW },
	{ "set_attr_no_attrs", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 0, 10,
	  0, PAGE_SIZE, -EINVAL },
	{ "set_attr_too_many", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0,
	  AMDGPU_GPUMIRROR_MAX_ATTRS + 1, 10, 0, PAGE_SIZE, -E2BIG },
	{ "set_attr_unknown_type", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 1, 11,
	  0, PAGE_SIZE, -EINVAL },
	{ "set_attr_repeated", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 2, 12,
	  0, PAGE_SIZE, -EINVAL },
	{ "set_attr_bad_value", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 1, 13,
	  0, PAGE_SIZE, -EINVAL },
	{ "set_attr_kernel_addr", AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, 0, 1, 10,
	  -(u64)SZ_1G, PAGE_SIZE, -EFAULT },
	{ "prefetch_ptr", AMDGPU_GPUMIRROR_OP_SVM_PREFETCH, 0, 0, 10, 0,
	  PAGE_SIZE, -EINVAL },
	{ "prefetch_no_size", AMDGPU_GPUMIRROR_OP_SVM_PREFETCH, 0, 0, -2, 0, 0,
	  -EINVAL },
};

KUNIT_ARRAY_PARAM_DESC(ioctl, ioctl_cases, name);

/* Every bad argument fails with its errno and leaves nothing behind. */
static void gm_amdgpu_ioctl_bad(struct kunit *test)
{
	const struct ioctl_case *c = test->param_value;
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	/* Inaccessible, and never reused by the mmaps below. */
	unsigned long hole = fake_mmap(test, PAGE_SIZE, PROT_NONE);
	struct drm_amdgpu_gpumirror_range r[2] = {
		{ a, PAGE_SIZE }, { a + 2 * PAGE_SIZE, PAGE_SIZE } };
	struct drm_amdgpu_gpumirror_attr at[2] = {
		{ AMDGPU_GPUMIRROR_ATTR_ACCESS, AMDGPU_GPUMIRROR_ACCESS_READ },
		{ AMDGPU_GPUMIRROR_ATTR_READ_ONLY, 1 } };
	struct drm_amdgpu_gpumirror args = {
		.op = c->op, .flags = c->flags, .count = c->count,
		.va = c->va, .size = c->size };

	switch (c->ranges) {
	case -2:
		break;
	case -1:
		args.ptr = hole;
		break;
	case 1:
		r[0].addr += 0x10;
		break;
	case 2:
		r[0].size = 0;
		break;
	case 3:
		r[1].addr = a;
		break;
	case 4:
		r[0].addr = -(u64)PAGE_SIZE;
		r[0].size = 2 * PAGE_SIZE;
		break;
	case 5:
		r[0].addr = -(u64)SZ_1G;
		break;
	case 6:
		r[0].addr = hole;
		break;
	case 11:
		at[0].type = 9;
		break;
	case 12:
		at[1].type = at[0].type;
		break;
	case 13:
		at[0].value = 3;
		break;
	}
	if (c->ranges >= 0 && c->ranges < 10)
		args.ptr = fake_user(test, r, sizeof(r));
	else if (c->ranges >= 10)
		args.ptr = fake_user(test, at, sizeof(at));
	/* Allocations at 1G, SVM ops at the test's memory, unless told. */
	if (c->op == AMDGPU_GPUMIRROR_OP_USERPTR_CREATE && !c->va)
		args.va = SZ_1G;
	if ((c->op == AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR ||
	     c->op == AMDGPU_GPUMIRROR_OP_SVM_PREFETCH) && !c->va)
		args.va = a;

	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args),
			c->err);
	/* Nothing claimed, mapped, or handed out. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'a'), fake_count(ctx, 0, 'd'));
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'u'), 0);
	KUNIT_EXPECT_TRUE(test, xa_empty(&ctx->proc.handles));
	KUNIT_EXPECT_TRUE(test, list_empty(&ctx->proc.mems));
	fake_done(test);
}

/* Create, a GPU VA in use, destroy: claims and PTEs follow the handle. */
static void gm_amdgpu_ioctl_userptr(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct drm_amdgpu_gpumirror_range r[2] = {
		{ a + 2 * PAGE_SIZE, 2 * PAGE_SIZE }, { a, PAGE_SIZE } };
	struct drm_amdgpu_gpumirror args = {
		.op = AMDGPU_GPUMIRROR_OP_USERPTR_CREATE,
		.flags = AMDGPU_GPUMIRROR_USERPTR_WRITABLE,
		.count = 2, .va = SZ_1G };
	struct drm_amdgpu_gpumirror again;
	u32 handle;

	args.ptr = fake_user(test, r, sizeof(r));
	again = args;
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args), 0);
	KUNIT_EXPECT_EQ(test, args.size, 3ULL * PAGE_SIZE);
	KUNIT_EXPECT_NE(test, args.handle, 0U);
	handle = args.handle;
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'a'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'u'), 1);

	/* The same GPU VA again: in use, nothing left behind. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &again),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'a'), 1);

	/*
	 * A GEM VA ioctl took the range: mapping refuses to write PTEs, and
	 * from then on invalidations leave the range (a BO's now) alone.
	 */
	fv->stolen = true;
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	ctx->nlog = 0;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, SZ_1G, false),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'u'), 0);
	fv->stolen = false;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, SZ_1G, false),
			-EEXIST);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, 4 * PAGE_SIZE,
					 MADV_DONTNEED), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'c'), 0);

	args = (struct drm_amdgpu_gpumirror){
		.op = AMDGPU_GPUMIRROR_OP_USERPTR_DESTROY, .handle = handle };
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'c'), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'd'), 1);
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args),
			-ENOENT);
	KUNIT_EXPECT_TRUE(test, xa_empty(&ctx->proc.handles));
	fake_done(test);
}

/* SVM: attributes in and out, prefetch, and a fault at a CPU address. */
static void gm_amdgpu_ioctl_svm(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct drm_amdgpu_gpumirror_attr at[2] = {
		{ AMDGPU_GPUMIRROR_ATTR_ACCESS, AMDGPU_GPUMIRROR_ACCESS_READ },
		{ AMDGPU_GPUMIRROR_ATTR_GRANULARITY, 0 } };
	struct drm_amdgpu_gpumirror args = {
		.op = AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, .count = 2,
		.va = a, .size = 2 * PAGE_SIZE };
	u64 uat = fake_user(test, at, sizeof(at));
	int u;

	/* Before any SVM operation, CPU addresses are not the glue's. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, a, false),
			-ENOENT);
	args.ptr = uat;
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args), 0);

	at[0].value = 7;
	at[1].value = 7;
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)uat, at, sizeof(at)),
			0UL);
	args = (struct drm_amdgpu_gpumirror){
		.op = AMDGPU_GPUMIRROR_OP_SVM_GET_ATTR, .count = 2, .va = a,
		.ptr = uat };
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(at, (void __user *)uat,
					     sizeof(at)), 0UL);
	KUNIT_EXPECT_EQ(test, at[0].value, (u32)AMDGPU_GPUMIRROR_ACCESS_READ);
	KUNIT_EXPECT_EQ(test, at[1].value, 0U);
	KUNIT_EXPECT_EQ(test, args.size, 2ULL * PAGE_SIZE);

	/* A read fault at the CPU address maps it there, read-only. */
	ctx->nlog = 0;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, a + 8, false),
			0);
	u = fake_first(ctx, 0, 'u');
	KUNIT_ASSERT_LT(test, u, ctx->nlog);
	KUNIT_EXPECT_EQ(test, ctx->log[u].start,
			(u64)a >> AMDGPU_GPU_PAGE_SHIFT);
	KUNIT_EXPECT_EQ(test, ctx->log[u].flags & AMDGPU_PTE_WRITEABLE, 0ULL);
	/* Read access only: a write fault is refused. */
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, a, true),
			-EPERM);

	/* Prefetch maps the rest with no fault. */
	ctx->nlog = 0;
	args = (struct drm_amdgpu_gpumirror){
		.op = AMDGPU_GPUMIRROR_OP_SVM_PREFETCH, .va = a + 2 * PAGE_SIZE,
		.size = 2 * PAGE_SIZE };
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args), 0);
	KUNIT_EXPECT_GT(test, fake_count(ctx, 0, 'u'), 0);
	/* Every bind links PDEs; one more reservation checked the VA. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'p'),
			fake_count(ctx, 0, 'R') - 1);
	fake_done(test);
}

/* ---- errors from the backend -------------------------------------------- */

/* A failed update leaves no PTE: the runs done before are cleared. */
static void gm_amdgpu_update_unwind(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 4 * PAGE_SIZE, RW);
	struct gpumirror_segment r = { a, 4 * PAGE_SIZE };
	struct amdgpu_gpumirror_mem *mem;
	u64 one = 1;

	/* Pages 0-1 written (writable PTEs), 2-3 never (the zero page). */
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)a, &one, 8), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(a + PAGE_SIZE),
					   &one, 8), 0);
	mem = amdgpu_gpumirror_userptr_create(&ctx->proc, &r, 1, 0, true,
					      false);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mem);
	/* Map for read so the writable and read-only runs differ. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(mem->obj,
						   BIT(fv->gvm.gdev.index), 0),
			0);

	fv->fail_update_at = 2;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_bind(&fv->gvm, mem->obj, true,
						    false), -ENOMEM);
	KUNIT_ASSERT_EQ(test, ctx->nlog, 6);
	KUNIT_EXPECT_EQ(test, ctx->log[0].op, 'R');
	KUNIT_EXPECT_EQ(test, ctx->log[1].op, 'u');
	KUNIT_EXPECT_EQ(test, ctx->log[1].last,
			2ULL * AMDGPU_GPU_PAGES_IN_CPU_PAGE - 1);
	KUNIT_EXPECT_EQ(test, ctx->log[1].flags, PTE_BASE | AMDGPU_PTE_WRITEABLE);
	KUNIT_EXPECT_EQ(test, ctx->log[2].op, 'U');
	KUNIT_EXPECT_EQ(test, ctx->log[2].start,
			2ULL * AMDGPU_GPU_PAGES_IN_CPU_PAGE);
	KUNIT_EXPECT_EQ(test, ctx->log[2].flags, PTE_BASE);
	KUNIT_EXPECT_EQ(test, ctx->log[3].op, 'c');
	KUNIT_EXPECT_EQ(test, ctx->log[3].start, 0ULL);
	KUNIT_EXPECT_EQ(test, ctx->log[3].last,
			2ULL * AMDGPU_GPU_PAGES_IN_CPU_PAGE - 1);
	/* The clear's fence is waited for after the reservation is gone. */
	KUNIT_EXPECT_EQ(test, ctx->log[4].op, 'N');
	KUNIT_EXPECT_EQ(test, ctx->log[5].op, 'w');
	KUNIT_EXPECT_EQ(test, ctx->log[5].fence, ctx->log[3].fence);

	/* Without the failure: two runs, two updates, PDEs, one wait. */
	ctx->nlog = 0;
	fv->fail_update_at = 0;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_bind(&fv->gvm, mem->obj, true,
						    false), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'u'), 2);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'p'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'w'), 1);
	fake_done(test);
}

/*
 * A failed PTE clear stops the queues even of an XNACK-on GPU; the restore
 * clears the span again before it gives anything up or resumes, or the GPU
 * would run on PTEs of freed pages.
 */
static void gm_amdgpu_clear_failure(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, PAGE_SIZE, RW);
	struct gpumirror_segment r = { a, PAGE_SIZE };
	int failed, again;

	fake_mem(test, fv, &r, 1, 0, true);
	ctx->nlog = 0;
	WRITE_ONCE(fv->fail_clear, true);
	KUNIT_ASSERT_EQ(test, vm_munmap(a, PAGE_SIZE), 0);
	/* The worker may already be trying again (and failing). */
	KUNIT_EXPECT_GE(test, fake_count(ctx, 0, 'C'), 1);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'q'), 1);
	/* Nothing to wait for, the TLB is still flushed. */
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'w'), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'f'), 1);
	/* While the clear keeps failing, nothing resumes. */
	fake_run_restore_for(fv, 5);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 's'), 0);
	KUNIT_EXPECT_TRUE(test, test_bit(AMDGPU_GPUMIRROR_DIRTY,
					 &fv->gvm.state));
	WRITE_ONCE(fv->fail_clear, false);
	fake_run_restore(test, fv);
	failed = fake_last(ctx, 0, 'C');
	again = fake_first(ctx, 0, 'c');
	KUNIT_EXPECT_GT(test, again, failed);
	KUNIT_EXPECT_EQ(test, ctx->log[again].start, ctx->log[failed].start);
	KUNIT_EXPECT_EQ(test, ctx->log[again].last, ctx->log[failed].last);
	KUNIT_EXPECT_LT(test, again, fake_first(ctx, 0, 's'));
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->gvm.stats.lost), 1);
	fake_done(test);
}

/* Memory still there: the span is cleared again and mapped again. */
static void gm_amdgpu_clear_failure_remap(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	unsigned long a = fake_mmap(test, PAGE_SIZE, RW);
	struct gpumirror_segment r = { a, PAGE_SIZE };
	struct amdgpu_gpumirror_mem *mem;

	mem = fake_mem(test, fv, &r, 1, 0, true);
	ctx->nlog = 0;
	WRITE_ONCE(fv->fail_clear, true);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	WRITE_ONCE(fv->fail_clear, false);
	fake_run_restore(test, fv);
	KUNIT_EXPECT_GT(test, fake_last(ctx, 1, 'u'), fake_first(ctx, 1, 'c'));
	KUNIT_EXPECT_LT(test, fake_last(ctx, 1, 'u'), fake_first(ctx, 1, 's'));
	gpumirror_notifier_lock(&ctx->proc.mirror);
	KUNIT_EXPECT_TRUE(test, gpumirror_object_valid(mem->obj, &fv->gvm.gdev));
	gpumirror_notifier_unlock(&ctx->proc.mirror);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->gvm.stats.lost), 0);
	fake_done(test);
}

/* Two failed clears are cleared again exactly, not what lies between. */
static void gm_amdgpu_clear_failure_spans(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	const u64 g0 = SZ_1G >> AMDGPU_GPU_PAGE_SHIFT;
	const u64 g1 = SZ_2G >> AMDGPU_GPU_PAGE_SHIFT;
	struct amdgpu_gpumirror_mem *m[2];
	unsigned long a;
	int i, n = 0;

	a = fake_two_mems(test, fv, SZ_1G, SZ_2G, m);
	ctx->nlog = 0;
	WRITE_ONCE(fv->fail_clear, true);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a + PAGE_SIZE, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	WRITE_ONCE(fv->fail_clear, false);
	fake_run_restore(test, fv);
	for (i = 0; i < ctx->nlog; i++) {
		struct fake_call *c = &ctx->log[i];

		if (c->vm != 1 || c->op != 'c')
			continue;
		/* Each clear is one allocation's span, never both. */
		KUNIT_EXPECT_TRUE(test,
				  (c->start == g0 && c->last < g1) ||
				  c->start == g1);
		n++;
	}
	KUNIT_EXPECT_GE(test, n, 2);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 's'), 1);
	fake_done(test);
}

/* SVM goes only where the VM maps nothing: never over a BO's PTEs. */
static void gm_amdgpu_svm_over_bo(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[0];
	unsigned long a = fake_mmap(test, 2 * PAGE_SIZE, RW);
	unsigned long b = fake_mmap(test, PAGE_SIZE, RW);
	struct gpumirror_segment r = { b, PAGE_SIZE };
	struct drm_amdgpu_gpumirror_attr at = {
		AMDGPU_GPUMIRROR_ATTR_ACCESS, AMDGPU_GPUMIRROR_ACCESS_WRITE };
	struct drm_amdgpu_gpumirror args = {
		.op = AMDGPU_GPUMIRROR_OP_SVM_SET_ATTR, .count = 1,
		.va = a, .size = 2 * PAGE_SIZE };

	/* An allocation whose GPU VA is the SVM range's own address. */
	fake_mem(test, fv, &r, 1, a + PAGE_SIZE, true);
	args.ptr = fake_user(test, &at, sizeof(at));
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args), 0);
	ctx->nlog = 0;
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_fault(&fv->gvm, a, true),
			-EEXIST);
	args = (struct drm_amdgpu_gpumirror){
		.op = AMDGPU_GPUMIRROR_OP_SVM_PREFETCH, .va = a,
		.size = 2 * PAGE_SIZE };
	KUNIT_EXPECT_EQ(test, amdgpu_gpumirror_vm_ioctl(&fv->gvm, &args),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'u'), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 0, 'c'), 0);
	fake_done(test);
}

/* A VM detached while its queues are stopped gets them back. */
static void gm_amdgpu_detach_quiesced(struct kunit *test)
{
	struct fake_ctx *ctx = test->priv;
	struct fake_vm *fv = &ctx->vm[1];
	unsigned long a = fake_mmap(test, PAGE_SIZE, RW);
	struct gpumirror_segment r = { a, PAGE_SIZE };

	fake_mem(test, fv, &r, 1, 0, true);
	/* Every restore fails: the queues stay stopped for a while. */
	WRITE_ONCE(fv->fail_updates, true);
	ctx->nlog = 0;
	KUNIT_ASSERT_EQ(test, do_madvise(current->mm, a, PAGE_SIZE,
					 MADV_DONTNEED), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 'q'), 1);
	amdgpu_gpumirror_vm_detach(&fv->gvm);
	KUNIT_EXPECT_EQ(test, atomic_read(&fv->depth), 0);
	KUNIT_EXPECT_EQ(test, fake_count(ctx, 1, 's'), 1);
	/* Attached again for the fixture's teardown. */
	WRITE_ONCE(fv->fail_updates, false);
	KUNIT_ASSERT_EQ(test, amdgpu_gpumirror_vm_attach(&ctx->proc, &fv->gvm),
			0);
	fake_done(test);
}

static struct kunit_case gm_amdgpu_cases[] = {
	KUNIT_CASE(gm_amdgpu_gpu_page),
	KUNIT_CASE(gm_amdgpu_fake_contract),
	KUNIT_CASE(gm_amdgpu_batch_map),
	KUNIT_CASE(gm_amdgpu_two_pass),
	KUNIT_CASE(gm_amdgpu_restore_worker),
	KUNIT_CASE(gm_amdgpu_restore_race),
	KUNIT_CASE(gm_amdgpu_restore_munmap),
	KUNIT_CASE(gm_amdgpu_gfx_submit),
	KUNIT_CASE(gm_amdgpu_fault_dispatch),
	KUNIT_CASE_PARAM(gm_amdgpu_ioctl_bad, ioctl_gen_params),
	KUNIT_CASE(gm_amdgpu_ioctl_userptr),
	KUNIT_CASE(gm_amdgpu_ioctl_svm),
	KUNIT_CASE(gm_amdgpu_update_unwind),
	KUNIT_CASE(gm_amdgpu_clear_failure),
	KUNIT_CASE(gm_amdgpu_clear_failure_remap),
	KUNIT_CASE(gm_amdgpu_clear_failure_spans),
	KUNIT_CASE(gm_amdgpu_svm_over_bo),
	KUNIT_CASE(gm_amdgpu_detach_quiesced),
	{}
};

static struct kunit_suite gm_amdgpu_suite = {
	.name = "amdgpu_gpumirror",
	.init = fake_init,
	.exit = fake_exit,
	.test_cases = gm_amdgpu_cases,
};

kunit_test_suite(gm_amdgpu_suite);
