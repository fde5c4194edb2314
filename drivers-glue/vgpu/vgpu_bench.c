// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: gpumirror benchmarks, run by reading /sys/kernel/debug/vgpu/bench/.
 *
 * Each file runs its benchmark in the reader's own address space and prints
 * one JSON object per line. Times are nanoseconds of ktime_get_ns(); ratios
 * are left to the reader (scripts/run.sh), which prints them.
 */

#include <linux/bitmap.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/maple_tree.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/random.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "gpumirror/internal.h"
#include "vgpu.h"

#define VGPU_RW		(PROT_READ | PROT_WRITE)
#define VGPU_ANON	(MAP_PRIVATE | MAP_ANONYMOUS)

struct vgpu_bench {
	struct gpumirror mirror;
	struct vgpu_as as[GPUMIRROR_MAX_DEVICES];
	unsigned int ndev;
};

static struct dentry *vgpu_debugfs;

static struct vgpu_bench *vgpu_bench_setup_ops(unsigned int ndev, bool serial)
{
	struct vgpu_bench *b;
	unsigned int i;
	int ret;

	if (!current->mm || ndev > vgpu_count())
		return ERR_PTR(-EINVAL);
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return ERR_PTR(-ENOMEM);
	ret = gpumirror_init(&b->mirror, current->mm);
	if (ret)
		goto out_free;
	for (i = 0; i < ndev; i++) {
		vgpu_as_init(&b->as[i], vgpu_get(i), serial);
		b->ndev = i + 1;
		ret = gpumirror_device_attach(&b->mirror, &b->as[i].gdev);
		if (ret)
			goto out_fini;
	}
	return b;

out_fini:
	gpumirror_fini(&b->mirror);
	for (i = 0; i < b->ndev; i++)
		vgpu_as_fini(&b->as[i]);
out_free:
	kfree(b);
	return ERR_PTR(ret);
}

static struct vgpu_bench *vgpu_bench_setup(unsigned int ndev)
{
	return vgpu_bench_setup_ops(ndev, false);
}

static void vgpu_bench_teardown(struct vgpu_bench *b)
{
	unsigned int i;

	gpumirror_fini(&b->mirror);
	for (i = 0; i < b->ndev; i++)
		vgpu_as_fini(&b->as[i]);
	kfree(b);
}

/* Anonymous memory, populated so that CPU page faults are not measured. */
static unsigned long vgpu_bench_mmap(unsigned long len)
{
	unsigned long addr = vm_mmap(NULL, 0, len, VGPU_RW,
				     VGPU_ANON | MAP_POPULATE, 0);

	return IS_ERR_VALUE(addr) ? 0 : addr;
}

static int vgpu_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int vgpu_cmp_s64(const void *a, const void *b)
{
	s64 x = *(const s64 *)a, y = *(const s64 *)b;

	return x < y ? -1 : x > y;
}

/* ---- B1: K scattered segments: one object, K objects, a wide notifier --- */

/*
 * How long the wide arms retry before they give up: the longest that
 * gpumirror_object_map() tries in a kernel with its migration (a timeout
 * or GPUMIRROR_MAP_TRIES_SHARED tries, then migrations stopped for one
 * more timeout), so the baseline never gives up sooner.
 */
#define VGPU_GIVE_UP_MS		(2 * HMM_RANGE_DEFAULT_TIMEOUT)

/* Runs of each arm: a multiple of the 3 arms, so each goes first as often. */
#define VGPU_B1_REPS	6

static s64 vgpu_b1_one(struct vgpu_bench *b, struct gpumirror_segment *r,
		       unsigned int k)
{
	struct gpumirror_object *obj;
	u64 t = ktime_get_ns();
	int ret;

	obj = gpumirror_object_create(&b->mirror, r, k, 0);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	ret = gpumirror_object_map(obj, BIT(0), GPUMIRROR_MAP_WRITE);
	t = ktime_get_ns() - t;
	gpumirror_object_destroy(obj);
	return ret ?: t;
}

static s64 vgpu_b1_many(struct vgpu_bench *b, struct gpumirror_segment *r,
			unsigned int k)
{
	struct gpumirror_object **objs;
	unsigned int i, n;
	u64 gpu = 0, t;
	int ret = 0;

	objs = kvcalloc(k, sizeof(*objs), GFP_KERNEL);
	if (!objs)
		return -ENOMEM;
	t = ktime_get_ns();
	for (n = 0; n < k && !ret; n++) {
		objs[n] = gpumirror_object_create(&b->mirror, &r[n], 1, gpu);
		if (IS_ERR(objs[n])) {
			ret = PTR_ERR(objs[n]);
			break;
		}
		ret = gpumirror_object_map(objs[n], BIT(0),
					   GPUMIRROR_MAP_WRITE);
		gpu += r[n].len;
	}
	t = ktime_get_ns() - t;
	for (i = 0; i < n; i++)
		gpumirror_object_destroy(objs[i]);
	kvfree(objs);
	return ret ?: t;
}

/*
 * The shape of the rejected batch-userptr series: one interval notifier
 * over the whole span, one sequence shared by all segments, and for each
 * segment its own read of it, hmm_range_fault(), DMA mapping, commit and
 * valid flag, which the callback clears for the segments an event
 * overlaps (found by binary search: the segments are sorted by address).
 * Pages of a huge page are mapped in the same aligned blocks gpumirror
 * maps them in (gpumirror_block_order()), so that both sides make as many
 * DMA mappings.
 */
struct vgpu_b1w {
	struct mmu_interval_notifier notifier;
	/* the driver's notifier lock: commits against the callback */
	struct mutex lock;
	const struct gpumirror_segment *r;
	unsigned int k;
	unsigned long *pfns;
	dma_addr_t *dma;
	/* order of the mapping that starts at each page */
	u8 *order;
	unsigned long *valid;
	struct device *dev;
	/* failed tries of a segment: hmm_range_fault() or commit */
	u64 retries;
};

static bool vgpu_b1w_invalidate(struct mmu_interval_notifier *mni,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct vgpu_b1w *w = container_of(mni, struct vgpu_b1w, notifier);
	unsigned int lo = 0, hi = w->k, mid;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&w->lock);
	else if (!mutex_trylock(&w->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	/* The segments are sorted: the first one ending after the start. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w->r[mid].addr + w->r[mid].len <= range->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < w->k && w->r[lo].addr < range->end; lo++)
		clear_bit(lo, w->valid);
	mutex_unlock(&w->lock);
	return true;
}

static const struct mmu_interval_notifier_ops vgpu_b1w_ops = {
	.invalidate = vgpu_b1w_invalidate,
};

/* Unmap the mappings of the first @n pages from @p on. */
static void vgpu_b1w_unmap(struct vgpu_b1w *w, unsigned long p,
			   unsigned long n)
{
	unsigned long end = p + n;

	for (; p < end; p += BIT(w->order[p]))
		dma_unmap_page_attrs(w->dev, w->dma[p],
				     PAGE_SIZE << w->order[p],
				     DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
}

/* DMA-map the @n pages from @first on; on error, none stays mapped. */
static int vgpu_b1w_map(struct vgpu_b1w *w, unsigned long first,
			unsigned long n)
{
	unsigned long p, pfn, end = first + n;
	/* Once per call, as gpumirror asks it once per pass. */
	size_t dma_max = dma_max_mapping_size(w->dev);
	unsigned int order;

	for (p = first; p < end; p += BIT(w->order[p])) {
		pfn = page_to_pfn(hmm_pfn_to_page(w->pfns[p]));
		order = hmm_pfn_to_map_order(w->pfns[p]);
		w->order[p] = gpumirror_block_order(pfn, order, end - p,
						    dma_max);
		w->dma[p] = dma_map_page_attrs(w->dev,
					       hmm_pfn_to_page(w->pfns[p]), 0,
					       PAGE_SIZE << w->order[p],
					       DMA_BIDIRECTIONAL,
					       DMA_ATTR_SKIP_CPU_SYNC);
		if (dma_mapping_error(w->dev, w->dma[p])) {
			vgpu_b1w_unmap(w, first, p - first);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Segment @i, whose pages start at @first, for write: its own read of the
 * sequence, walk, DMA mapping and commit, again until @deadline (jiffies).
 */
static int vgpu_b1w_segment(struct vgpu_b1w *w, unsigned int i,
			    unsigned long first, unsigned long deadline)
{
	struct hmm_range range = {
		.notifier = &w->notifier,
		.start = w->r[i].addr,
		.end = w->r[i].addr + w->r[i].len,
		.hmm_pfns = w->pfns + first,
		.default_flags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
	};
	unsigned long n = w->r[i].len >> PAGE_SHIFT;
	int ret;

	for (;;) {
		range.notifier_seq = mmu_interval_read_begin(&w->notifier);
		mmap_read_lock(current->mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(current->mm);
		if (!ret) {
			ret = vgpu_b1w_map(w, first, n);
			if (ret)
				return ret;
			mutex_lock(&w->lock);
			if (mmu_interval_read_retry(&w->notifier,
						    range.notifier_seq))
				ret = -EBUSY;
			else
				set_bit(i, w->valid);
			mutex_unlock(&w->lock);
			if (ret)
				vgpu_b1w_unmap(w, first, n);
		}
		if (ret != -EBUSY)
			return ret;
		w->retries++;
		if (time_after(jiffies, deadline))
			return -EBUSY;
	}
}

/* The K segments with the rejected series' shape; see struct vgpu_b1w. */
static s64 vgpu_b1_wide(struct vgpu_bench *b, struct gpumirror_segment *r,
			unsigned int k, unsigned long npages)
{
	struct vgpu_b1w w = { .r = r, .k = k, .dev = b->as[0].gdev.dev };
	unsigned long start = r[0].addr, end = r[k - 1].addr + r[k - 1].len;
	unsigned long mapped = 0, deadline;
	unsigned int i;
	int ret = -ENOMEM;
	u64 t;

	mutex_init(&w.lock);
	w.pfns = kvcalloc(npages, sizeof(*w.pfns), GFP_KERNEL);
	w.dma = kvcalloc(npages, sizeof(*w.dma), GFP_KERNEL);
	w.order = kvcalloc(npages, sizeof(*w.order), GFP_KERNEL);
	w.valid = bitmap_zalloc(k, GFP_KERNEL);
	if (!w.pfns || !w.dma || !w.order || !w.valid)
		goto out_free;
	t = ktime_get_ns();
	ret = mmu_interval_notifier_insert(&w.notifier, current->mm, start,
					   end - start, &vgpu_b1w_ops);
	if (ret)
		goto out_free;
	/* One limit for the whole map, as the object has. */
	deadline = jiffies + msecs_to_jiffies(VGPU_GIVE_UP_MS);
	for (i = 0; i < k && !ret; i++) {
		ret = vgpu_b1w_segment(&w, i, mapped, deadline);
		if (!ret)
			mapped += r[i].len >> PAGE_SHIFT;
	}
	t = ktime_get_ns() - t;
	vgpu_b1w_unmap(&w, 0, mapped);
	mmu_interval_notifier_remove(&w.notifier);
out_free:
	bitmap_free(w.valid);
	kvfree(w.order);
	kvfree(w.dma);
	kvfree(w.pfns);
	mutex_destroy(&w.lock);
	return ret ?: t;
}

/* Run arm @arm of a B1 case once. */
static s64 vgpu_b1_arm(struct vgpu_bench *b, struct gpumirror_segment *r,
		       unsigned int k, unsigned long npages, unsigned int arm)
{
	switch (arm) {
	case 0:
		return vgpu_b1_one(b, r, k);
	case 1:
		return vgpu_b1_many(b, r, k);
	default:
		return vgpu_b1_wide(b, r, k, npages);
	}
}

/* ,"@key":[min,median,max] of the @n times of @t, sorted in place */
static void vgpu_spread_print(struct seq_file *m, const char *key, s64 *t,
			      unsigned int n)
{
	sort(t, n, sizeof(*t), vgpu_cmp_s64, NULL);
	seq_printf(m, ",\"%s\":[%lld,%lld,%lld]", key, t[0], t[n / 2],
		   t[n - 1]);
}

/*
 * K segments of @seglen bytes, @gap bytes apart, mapped for write with
 * each arm VGPU_B1_REPS times, the arms interleaved (the one that goes
 * first rotates), after one untimed run of each.
 */
static int vgpu_b1_case(struct seq_file *m, struct vgpu_bench *b,
			unsigned int k, unsigned long seglen, unsigned long gap)
{
	static const char * const keys[] = { "one_object_ns",
		"separate_objects_ns", "wide_notifier_ns" };
	unsigned long len = k * (seglen + gap), addr;
	s64 t[3][VGPU_B1_REPS], ret;
	struct gpumirror_segment *r;
	unsigned int i, a;

	addr = vgpu_bench_mmap(len);
	if (!addr)
		return -ENOMEM;
	r = kvcalloc(k, sizeof(*r), GFP_KERNEL);
	if (!r) {
		vm_munmap(addr, len);
		return -ENOMEM;
	}
	for (i = 0; i < k; i++) {
		r[i].addr = addr + i * (seglen + gap);
		r[i].len = seglen;
	}
	for (a = 0, ret = 0; a < 3 && ret >= 0; a++)
		ret = vgpu_b1_arm(b, r, k, k * (seglen >> PAGE_SHIFT), a);
	for (i = 0; i < VGPU_B1_REPS && ret >= 0; i++)
		for (a = 0; a < 3 && ret >= 0; a++) {
			unsigned int arm = (a + i) % 3;

			ret = vgpu_b1_arm(b, r, k, k * (seglen >> PAGE_SHIFT),
					  arm);
			t[arm][i] = ret;
		}
	kvfree(r);
	vm_munmap(addr, len);
	if (ret < 0)
		return ret;
	seq_printf(m, "{\"bench\":\"B1\",\"segments\":%u,\"seg_kib\":%lu,\"gap_kib\":%lu",
		   k, seglen >> 10, gap >> 10);
	for (a = 0; a < 3; a++)
		vgpu_spread_print(m, keys[a], t[a], VGPU_B1_REPS);
	seq_puts(m, "}\n");
	return 0;
}

/*
 * Gaps: none (adjacent segments, one walk), one page (within the walk
 * join gap, one walk with the holes snapshotted) and wider than the join
 * gap (a walk per segment). The K and gap pairs are bounded by the memory
 * of the run's VM: every page of the span is populated.
 */
static int vgpu_b1_show(struct seq_file *m, void *unused)
{
	static const struct {
		unsigned long seglen, gap;
		unsigned int kmax;
	} shapes[] = {
		{ PAGE_SIZE, 0, 65536 },
		{ PAGE_SIZE, PAGE_SIZE, 65536 },
		{ PAGE_SIZE, 2 * GPUMIRROR_WALK_GAP * PAGE_SIZE, 4096 },
		{ 16 * PAGE_SIZE, 0, 4096 },
		{ 16 * PAGE_SIZE, PAGE_SIZE, 4096 },
		{ 16 * PAGE_SIZE, 2 * GPUMIRROR_WALK_GAP * PAGE_SIZE, 1024 },
	};
	static const unsigned int ks[] = { 1, 16, 256, 1024, 4096, 65536 };
	struct vgpu_bench *b = vgpu_bench_setup(1);
	unsigned int i, j;
	int ret = 0;

	if (IS_ERR(b))
		return PTR_ERR(b);
	for (j = 0; j < ARRAY_SIZE(shapes) && !ret; j++)
		for (i = 0; i < ARRAY_SIZE(ks) && !ret; i++)
			if (ks[i] <= shapes[j].kmax)
				ret = vgpu_b1_case(m, b, ks[i], shapes[j].seglen,
						   shapes[j].gap);
	vgpu_bench_teardown(b);
	return ret;
}

/* ---- B1s: the multi-range fault, one call vs one call per segment ------- */

struct vgpu_b1s {
	struct mmu_interval_notifier notifier;
	struct hmm_range_slice *slices;
	unsigned long *pfns;
	unsigned int k;
};

static bool vgpu_b1s_invalidate(struct mmu_interval_notifier *mni,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	mmu_interval_set_seq(mni, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops vgpu_b1s_ops = {
	.invalidate = vgpu_b1s_invalidate,
};

/*
 * Fault the K slices for write under one sequence: with one
 * hmm_range_fault_slices() call (@one), or one hmm_range_fault() per slice
 * (the loop drivers write today). Return: ns, or -errno.
 */
static s64 vgpu_b1s_run(struct vgpu_b1s *t, bool one)
{
	struct mm_struct *mm = current->mm;
	struct hmm_range range = {
		.notifier = &t->notifier,
		.default_flags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
	};
	unsigned int i, done;
	u64 ns = ktime_get_ns();
	int ret = 0;

	range.notifier_seq = mmu_interval_read_begin(&t->notifier);
	mmap_read_lock(mm);
	if (one)
		ret = hmm_range_fault_slices(&range, t->slices, t->k, &done);
	for (i = 0; !one && i < t->k && !ret; i++) {
		range.start = t->slices[i].start;
		range.end = t->slices[i].end;
		range.hmm_pfns = t->slices[i].hmm_pfns;
		ret = hmm_range_fault(&range);
	}
	mmap_read_unlock(mm);
	if (!ret && mmu_interval_read_retry(&t->notifier, range.notifier_seq))
		ret = -EBUSY;
	return ret ?: ktime_get_ns() - ns;
}

static int vgpu_b1s_case(struct seq_file *m, unsigned int k)
{
	const unsigned long step = 2 * PAGE_SIZE;	/* a page, a hole */
	unsigned long len = k * step, addr;
	s64 one[5], calls[5];
	struct vgpu_b1s t = { .k = k };
	unsigned int i;
	int ret = -ENOMEM;

	addr = vgpu_bench_mmap(len);
	if (!addr)
		return -ENOMEM;
	t.slices = kvcalloc(k, sizeof(*t.slices), GFP_KERNEL);
	t.pfns = kvcalloc(k, sizeof(*t.pfns), GFP_KERNEL);
	if (!t.slices || !t.pfns)
		goto out_free;
	for (i = 0; i < k; i++) {
		t.slices[i].start = addr + i * step;
		t.slices[i].end = t.slices[i].start + PAGE_SIZE;
		t.slices[i].hmm_pfns = &t.pfns[i];
	}
	ret = mmu_interval_notifier_insert(&t.notifier, current->mm, addr, len,
					   &vgpu_b1s_ops);
	if (ret)
		goto out_free;
	/* Interleaved runs; the median of each arm. */
	for (i = 0; i < ARRAY_SIZE(one); i++) {
		one[i] = vgpu_b1s_run(&t, true);
		calls[i] = vgpu_b1s_run(&t, false);
		if (one[i] < 0 || calls[i] < 0) {
			ret = min(one[i], calls[i]);
			break;
		}
	}
	mmu_interval_notifier_remove(&t.notifier);
	if (!ret) {
		sort(one, ARRAY_SIZE(one), sizeof(*one), vgpu_cmp_s64, NULL);
		sort(calls, ARRAY_SIZE(calls), sizeof(*calls), vgpu_cmp_s64,
		     NULL);
		seq_printf(m, "{\"bench\":\"B1s\",\"segments\":%u,\"slices_ns\":[%lld,%lld,%lld],\"calls_ns\":[%lld,%lld,%lld]}\n",
			   k, one[0], one[2], one[4], calls[0], calls[2],
			   calls[4]);
	}
out_free:
	kvfree(t.pfns);
	kvfree(t.slices);
	vm_munmap(addr, len);
	return ret;
}

static int vgpu_b1s_show(struct seq_file *m, void *unused)
{
	static const unsigned int ks[] = { 16, 256, 4096, 65536 };
	unsigned int i;
	int ret = 0;

	if (!current->mm)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(ks) && !ret; i++)
		ret = vgpu_b1s_case(m, ks[i]);
	return ret;
}

/* ---- B2: unrelated munmap churn inside the notifier span ---------------- */

struct vgpu_churn {
	struct mm_struct *mm;
	unsigned long base;	/* hole i is at base + (2i + 1) pages */
	unsigned int nholes;
	unsigned long ops;
};

static int vgpu_churn_fn(void *data)
{
	struct vgpu_churn *c = data;
	unsigned long addr;
	unsigned int i = 0;

	kthread_use_mm(c->mm);
	while (!kthread_should_stop()) {
		addr = c->base + (2 * (i++ % c->nholes) + 1) * PAGE_SIZE;
		vm_munmap(addr, PAGE_SIZE);
		if (IS_ERR_VALUE(vm_mmap(NULL, addr, PAGE_SIZE, VGPU_RW,
					 VGPU_ANON | MAP_FIXED | MAP_POPULATE,
					 0)))
			break;
		WRITE_ONCE(c->ops, c->ops + 1);
		cond_resched();
	}
	kthread_unuse_mm(c->mm);
	/* kthread_stop() expects the thread to still exist. */
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

static int vgpu_b2_mode(struct seq_file *m, struct vgpu_bench *b,
			struct gpumirror_object *obj, struct vgpu_churn *c,
			bool wide)
{
	struct gpumirror_device *gdev = &b->as[0].gdev;
	struct gpumirror_device_counters c0, c1;
	unsigned int iters = 0, busy = 0;
	struct task_struct *t;
	u64 start, elapsed;
	unsigned long ops0;
	int ret = 0;

	WRITE_ONCE(b->mirror.priv->flags, wide ? GPUMIRROR_F_WIDE_NOTIFIER : 0);
	t = kthread_run(vgpu_churn_fn, c, "vgpu-churn");
	if (IS_ERR(t))
		return PTR_ERR(t);
	gpumirror_device_stats_read(gdev, &c0);
	ops0 = READ_ONCE(c->ops);
	start = ktime_get_ns();
	while (iters < 200 && ktime_get_ns() - start < 3 * NSEC_PER_SEC) {
		gpumirror_object_unmap(obj, gdev);
		ret = gpumirror_object_map(obj, BIT(0), GPUMIRROR_MAP_WRITE);
		if (ret == -EBUSY)
			busy++;
		else if (ret)
			break;
		ret = 0;
		iters++;
	}
	elapsed = ktime_get_ns() - start;
	kthread_stop(t);
	gpumirror_device_stats_read(gdev, &c1);
	WRITE_ONCE(b->mirror.priv->flags, 0);
	if (ret)
		return ret;
	seq_printf(m, "{\"bench\":\"B2\",\"mode\":\"%s\",\"faults\":%u,\"retries\":%llu,\"busy\":%u,\"churn_ops\":%lu,\"ns_per_fault\":%llu}\n",
		   wide ? "wide" : "filtered", iters, c1.retries - c0.retries,
		   busy, READ_ONCE(c->ops) - ops0,
		   iters ? elapsed / iters : 0);
	return 0;
}

static int vgpu_b2_show(struct seq_file *m, void *unused)
{
	const unsigned int nseg = 64;
	struct vgpu_churn churn = { .nholes = nseg };
	struct gpumirror_segment r[64];
	struct gpumirror_object *obj;
	unsigned long len = 2 * nseg * PAGE_SIZE;
	struct vgpu_bench *b;
	unsigned int i;
	int ret;

	b = vgpu_bench_setup(1);
	if (IS_ERR(b))
		return PTR_ERR(b);
	churn.base = vgpu_bench_mmap(len);
	if (!churn.base) {
		ret = -ENOMEM;
		goto out_teardown;
	}
	for (i = 0; i < nseg; i++) {
		r[i].addr = churn.base + 2 * i * PAGE_SIZE;
		r[i].len = PAGE_SIZE;
	}
	obj = gpumirror_object_create(&b->mirror, r, nseg, 0);
	ret = PTR_ERR_OR_ZERO(obj);
	if (ret)
		goto out_munmap;
	churn.mm = current->mm;
	/* Pairs with the mmput() below; the churn thread borrows the mm. */
	mmget(churn.mm);
	ret = vgpu_b2_mode(m, b, obj, &churn, false);
	if (!ret)
		ret = vgpu_b2_mode(m, b, obj, &churn, true);
	mmput(churn.mm);
	gpumirror_object_destroy(obj);
out_munmap:
	vm_munmap(churn.base, len);
out_teardown:
	vgpu_bench_teardown(b);
	return ret;
}

/* ---- B2c: churn inside the segments ------------------------------------ */

/*
 * Each arm maps over and over for VGPU_B2C_WINDOW_NS, so that the churn
 * has time to hit it, at most VGPU_B2C_FAULTS times; a map that starts
 * inside the window ends however long it takes (-EBUSY after about two
 * timeouts).
 */
#define VGPU_B2C_FAULTS		512
#define VGPU_B2C_WINDOW_NS	(200 * NSEC_PER_MSEC)

/*
 * Invalidates random segments of K one-page segments two pages apart,
 * @permille of them per millisecond on average (as fast as it can if it
 * cannot keep up: @events tells the rate it reached), each with an event
 * of its own on that page that frees nothing.
 */
struct vgpu_segchurn {
	struct mm_struct *mm;
	unsigned long base;
	unsigned int k;
	unsigned int permille;
	unsigned long events;
};

static void vgpu_segchurn_event(struct mm_struct *mm, unsigned long addr)
{
	struct mmu_notifier_range range;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR,
				MMU_NOTIFIER_RANGE_BLOCKABLE, mm, addr,
				addr + PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
}

static int vgpu_segchurn_fn(void *data)
{
	struct vgpu_segchurn *c = data;
	u64 start = ktime_get_ns(), due;

	while (!kthread_should_stop()) {
		/* Segments due by now: k * permille / 1000 per ms. */
		due = div_u64((ktime_get_ns() - start) * c->k * c->permille,
			      1000 * NSEC_PER_MSEC);
		while (c->events < due && !kthread_should_stop()) {
			vgpu_segchurn_event(c->mm, c->base + 2 * PAGE_SIZE *
					    get_random_u32_below(c->k));
			WRITE_ONCE(c->events, c->events + 1);
			cond_resched();
		}
		usleep_range(100, 200);
	}
	return 0;
}

/* Start the churn, its rate counted from now. */
static struct task_struct *vgpu_segchurn_start(struct vgpu_segchurn *c)
{
	c->events = 0;
	return kthread_run(vgpu_segchurn_fn, c, "vgpu-segchurn");
}

/* What one arm of a B2c case did. */
struct vgpu_b2c_res {
	s64 *t;			/* the times of the maps that completed */
	unsigned int done;	/* maps that completed */
	unsigned int busy;	/* maps that gave up with -EBUSY */
	u64 retries;		/* failed tries */
	u64 ns;			/* the window, as long as the churn ran */
};

/* One object over the K segments: unmap, then map again, timed. */
static int vgpu_b2c_object(struct vgpu_bench *b, struct gpumirror_object *obj,
			   struct vgpu_b2c_res *res)
{
	struct gpumirror_device *gdev = &b->as[0].gdev;
	struct gpumirror_device_counters c0, c1;
	u64 start = ktime_get_ns(), t0, t;
	int ret;

	gpumirror_device_stats_read(gdev, &c0);
	while (res->done < VGPU_B2C_FAULTS &&
	       ktime_get_ns() - start < VGPU_B2C_WINDOW_NS) {
		gpumirror_object_unmap(obj, gdev);
		t0 = ktime_get_ns();
		ret = gpumirror_object_map(obj, BIT(0), GPUMIRROR_MAP_WRITE);
		t = ktime_get_ns() - t0;
		if (ret && ret != -EBUSY)
			return ret;
		if (ret)
			res->busy++;
		else
			res->t[res->done++] = t;
	}
	res->ns = ktime_get_ns() - start;
	gpumirror_device_stats_read(gdev, &c1);
	res->retries = c1.retries - c0.retries;
	return 0;
}

/*
 * The rejected series' shape: fault every segment that is not valid, and
 * again, until all are valid at once (checked under the driver lock), or
 * give up with -EBUSY after VGPU_GIVE_UP_MS (the object may give up
 * sooner, see VGPU_GIVE_UP_MS). A
 * segment faulted again counts as a failed try, as do the failed tries
 * inside vgpu_b1w_segment().
 */
static int vgpu_b2c_wide_once(struct vgpu_b1w *w, unsigned long *dmamapped)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(VGPU_GIVE_UP_MS);
	unsigned int i;
	bool all;
	int ret;

	for (;;) {
		for (i = 0; i < w->k; i++) {
			if (test_bit(i, w->valid))
				continue;
			if (__test_and_clear_bit(i, dmamapped)) {
				vgpu_b1w_unmap(w, i, 1);
				w->retries++;
			}
			ret = vgpu_b1w_segment(w, i, i, deadline);
			if (ret)
				return ret;
			__set_bit(i, dmamapped);
		}
		mutex_lock(&w->lock);
		all = bitmap_full(w->valid, w->k);
		mutex_unlock(&w->lock);
		if (all)
			return 0;
		if (time_after(jiffies, deadline))
			return -EBUSY;
	}
}

static int vgpu_b2c_wide(struct vgpu_b1w *w, struct vgpu_b2c_res *res)
{
	unsigned long *dmamapped = bitmap_zalloc(w->k, GFP_KERNEL);
	u64 start = ktime_get_ns(), t0, t;
	unsigned int i;
	int ret = 0;

	if (!dmamapped)
		return -ENOMEM;
	w->retries = 0;
	while (res->done < VGPU_B2C_FAULTS &&
	       ktime_get_ns() - start < VGPU_B2C_WINDOW_NS) {
		/* Unmap all: the device lets go of the whole range. */
		mutex_lock(&w->lock);
		bitmap_zero(w->valid, w->k);
		mutex_unlock(&w->lock);
		for_each_set_bit(i, dmamapped, w->k)
			vgpu_b1w_unmap(w, i, 1);
		bitmap_zero(dmamapped, w->k);
		t0 = ktime_get_ns();
		ret = vgpu_b2c_wide_once(w, dmamapped);
		t = ktime_get_ns() - t0;
		if (ret && ret != -EBUSY)
			break;
		if (ret)
			res->busy++;
		else
			res->t[res->done++] = t;
		ret = 0;
	}
	res->ns = ktime_get_ns() - start;
	res->retries = w->retries;
	for_each_set_bit(i, dmamapped, w->k)
		vgpu_b1w_unmap(w, i, 1);
	bitmap_free(dmamapped);
	return ret;
}

/* Read the churn's events before it stops, at the end of the window. */
static void vgpu_b2c_print(struct seq_file *m, const char *impl,
			   struct vgpu_segchurn *c, unsigned long events,
			   struct vgpu_b2c_res *res)
{
	seq_printf(m, "{\"bench\":\"B2c\",\"impl\":\"%s\",\"segments\":%u,\"permille_per_ms\":%u,\"events\":%lu,\"elapsed_ns\":%llu,\"faults\":%u,\"busy\":%u,\"retries\":%llu",
		   impl, c->k, c->permille, events, res->ns,
		   res->done + res->busy, res->busy, res->retries);
	if (res->done)
		vgpu_spread_print(m, "done_ns", res->t, res->done);
	else
		seq_puts(m, ",\"done_ns\":[]");
	seq_puts(m, "}\n");
}

/* Both arms under the same churn, one after the other. */
static int vgpu_b2c_case(struct seq_file *m, struct vgpu_bench *b,
			 struct vgpu_segchurn *c, struct gpumirror_segment *r,
			 struct vgpu_b1w *w, s64 *t)
{
	struct vgpu_b2c_res res = { .t = t };
	struct gpumirror_object *obj;
	struct task_struct *th;
	unsigned long events;
	int ret;

	obj = gpumirror_object_create(&b->mirror, r, c->k, 0);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	th = vgpu_segchurn_start(c);
	if (IS_ERR(th)) {
		gpumirror_object_destroy(obj);
		return PTR_ERR(th);
	}
	ret = vgpu_b2c_object(b, obj, &res);
	events = READ_ONCE(c->events);
	kthread_stop(th);
	gpumirror_object_destroy(obj);
	if (ret)
		return ret;
	vgpu_b2c_print(m, "object", c, events, &res);

	ret = mmu_interval_notifier_insert(&w->notifier, current->mm,
					   c->base, 2 * c->k * PAGE_SIZE,
					   &vgpu_b1w_ops);
	if (ret)
		return ret;
	th = vgpu_segchurn_start(c);
	if (IS_ERR(th)) {
		mmu_interval_notifier_remove(&w->notifier);
		return PTR_ERR(th);
	}
	res = (struct vgpu_b2c_res){ .t = t };
	ret = vgpu_b2c_wide(w, &res);
	events = READ_ONCE(c->events);
	kthread_stop(th);
	mmu_interval_notifier_remove(&w->notifier);
	if (ret)
		return ret;
	vgpu_b2c_print(m, "wide", c, events, &res);
	return 0;
}

static int vgpu_b2c_k(struct seq_file *m, struct vgpu_bench *b,
		      unsigned int k)
{
	static const unsigned int permille[] = { 1, 10, 100 };
	struct vgpu_segchurn c = { .mm = current->mm, .k = k };
	struct vgpu_b1w w = { .k = k, .dev = b->as[0].gdev.dev };
	struct gpumirror_segment *r;
	unsigned int i;
	int ret = -ENOMEM;
	s64 *t;

	c.base = vgpu_bench_mmap(2 * k * PAGE_SIZE);
	if (!c.base)
		return -ENOMEM;
	mutex_init(&w.lock);
	r = kvcalloc(k, sizeof(*r), GFP_KERNEL);
	w.pfns = kvcalloc(k, sizeof(*w.pfns), GFP_KERNEL);
	w.dma = kvcalloc(k, sizeof(*w.dma), GFP_KERNEL);
	w.order = kvcalloc(k, sizeof(*w.order), GFP_KERNEL);
	w.valid = bitmap_zalloc(k, GFP_KERNEL);
	t = kvcalloc(VGPU_B2C_FAULTS, sizeof(*t), GFP_KERNEL);
	if (!r || !w.pfns || !w.dma || !w.order || !w.valid || !t)
		goto out_free;
	for (i = 0; i < k; i++) {
		r[i].addr = c.base + 2 * i * PAGE_SIZE;
		r[i].len = PAGE_SIZE;
	}
	w.r = r;
	ret = 0;
	for (i = 0; i < ARRAY_SIZE(permille) && !ret; i++) {
		c.permille = permille[i];
		ret = vgpu_b2c_case(m, b, &c, r, &w, t);
	}
out_free:
	kvfree(t);
	bitmap_free(w.valid);
	kvfree(w.order);
	kvfree(w.dma);
	kvfree(w.pfns);
	kvfree(r);
	mutex_destroy(&w.lock);
	vm_munmap(c.base, 2 * k * PAGE_SIZE);
	return ret;
}

/*
 * K one-page segments mapped while another thread invalidates 0.1%, 1%
 * and 10% of them per millisecond: the time until all K are mapped and
 * valid at once (min / median / max of the maps of a VGPU_B2C_WINDOW_NS
 * window), the maps that gave up (-EBUSY) and the retries. One object
 * (one sequence and one commit; a retry walks again the segments an event
 * hit) against the rejected series' shape (a valid flag per segment, only
 * the invalidated segments faulted again, no commit of them all at once).
 */
static int vgpu_b2c_show(struct seq_file *m, void *unused)
{
	static const unsigned int ks[] = { 64, 1024, 4096, 65536 };
	struct vgpu_bench *b = vgpu_bench_setup(1);
	unsigned int i, latency;
	int ret = 0;

	if (IS_ERR(b))
		return PTR_ERR(b);
	/* The churn thread borrows the mm; pairs with the mmput() below. */
	mmget(current->mm);
	/* The wide arm models no device: neither does the object's. */
	latency = vgpu_tlb_latency_set(0);
	for (i = 0; i < ARRAY_SIZE(ks) && !ret; i++)
		ret = vgpu_b2c_k(m, b, ks[i]);
	vgpu_tlb_latency_set(latency);
	mmput(current->mm);
	vgpu_bench_teardown(b);
	return ret;
}

/* ---- B3: N devices on one object vs N objects --------------------------- */

/*
 * Map one object over @r for @devices with @flags, timed: one walk. With
 * %GPUMIRROR_MAP_DEVMEM for one device, the walk alone: it walks the
 * populated pages without faulting and DMA-maps none of them (they are
 * system pages), leaving a set of empty entries.
 */
static s64 vgpu_b3_one(struct vgpu_bench *b, struct gpumirror_segment *r,
		       unsigned long devices, unsigned int flags, u64 *walks)
{
	struct gpumirror_object *obj;
	u64 t;
	int ret;

	obj = gpumirror_object_create(&b->mirror, r, 1, 0);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	t = ktime_get_ns();
	ret = gpumirror_object_map(obj, devices, flags);
	t = ktime_get_ns() - t;
	*walks = atomic64_read(&obj->walks);
	gpumirror_object_destroy(obj);
	return ret ?: t;
}

/* Map @ndev objects over @r, one per device: @ndev walks, counted. */
static s64 vgpu_b3_separate(struct vgpu_bench *b, struct gpumirror_segment *r,
			    unsigned int ndev, u64 *walks)
{
	struct gpumirror_object *objs[8];
	unsigned int i, n;
	int ret = 0;
	u64 t;

	for (n = 0; n < ndev; n++) {
		objs[n] = gpumirror_object_create(&b->mirror, r, 1, 0);
		if (IS_ERR(objs[n])) {
			ret = PTR_ERR(objs[n]);
			break;
		}
	}
	t = ktime_get_ns();
	for (i = 0; i < n && !ret; i++)
		ret = gpumirror_object_map(objs[i], BIT(i),
					   GPUMIRROR_MAP_WRITE);
	t = ktime_get_ns() - t;
	*walks = 0;
	for (i = 0; i < n; i++) {
		*walks += atomic64_read(&objs[i]->walks);
		gpumirror_object_destroy(objs[i]);
	}
	return ret ?: t;
}

/*
 * VGPU_B1_REPS runs of each arm, interleaved (the one that goes first
 * rotates): one object for the @ndev devices, @ndev objects, and the walk
 * alone, which splits the first arm's time into its walk and its DMA
 * mappings.
 */
static int vgpu_b3_case(struct seq_file *m, unsigned long addr,
			unsigned long len, unsigned int ndev,
			const char *backing)
{
	static const char * const keys[] = { "one_object_ns", "separate_ns",
		"walk_ns" };
	struct gpumirror_segment r = { addr, len };
	s64 t[3][VGPU_B1_REPS], ret = 0;
	u64 walks = 0, sep_walks = 0, walk_walks;
	struct vgpu_bench *b;
	unsigned int i, a;

	b = vgpu_bench_setup(ndev);
	if (IS_ERR(b))
		return PTR_ERR(b);
	for (i = 0; i < VGPU_B1_REPS && ret >= 0; i++)
		for (a = 0; a < 3 && ret >= 0; a++) {
			unsigned int arm = (a + i) % 3;

			if (arm == 0)
				ret = vgpu_b3_one(b, &r, GENMASK(ndev - 1, 0),
						  GPUMIRROR_MAP_WRITE, &walks);
			else if (arm == 1)
				ret = vgpu_b3_separate(b, &r, ndev, &sep_walks);
			else
				ret = vgpu_b3_one(b, &r, BIT(0),
						  GPUMIRROR_MAP_DEVMEM,
						  &walk_walks);
			t[arm][i] = ret;
		}
	vgpu_bench_teardown(b);
	if (ret < 0)
		return ret;
	seq_printf(m, "{\"bench\":\"B3\",\"backing\":\"%s\",\"devices\":%u,\"mib\":%lu,\"one_object_walks\":%llu,\"separate_walks\":%llu",
		   backing, ndev, len >> 20, walks, sep_walks);
	for (a = 0; a < 3; a++)
		vgpu_spread_print(m, keys[a], t[a], VGPU_B1_REPS);
	seq_puts(m, "}\n");
	return 0;
}

/*
 * Private anonymous memory is THP-backed in the run kernel; shared
 * anonymous memory (shmem, huge pages off by default) is 4K pages.
 */
static int vgpu_b3_show(struct seq_file *m, void *unused)
{
	static const struct {
		const char *name;
		unsigned long flags;
	} backings[] = {
		{ "anon-thp", VGPU_ANON },
		{ "shmem-4k", MAP_SHARED | MAP_ANONYMOUS },
	};
	unsigned long len = SZ_64M, addr;
	unsigned int n, i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(backings) && !ret; i++) {
		addr = vm_mmap(NULL, 0, len, VGPU_RW,
			       backings[i].flags | MAP_POPULATE, 0);
		if (IS_ERR_VALUE(addr))
			return addr;
		for (n = 1; n <= 8 && n <= vgpu_count() && !ret; n *= 2)
			ret = vgpu_b3_case(m, addr, len, n, backings[i].name);
		vm_munmap(addr, len);
	}
	return ret;
}

/* ---- B4: invalidation across N devices, two-pass vs serial -------------- */

/* The duration of one blockable invalidation event over [start, end). */
static u64 vgpu_event_ns(unsigned long start, unsigned long end)
{
	struct mmu_notifier_range range;
	u64 t;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR,
				MMU_NOTIFIER_RANGE_BLOCKABLE, current->mm,
				start, end);
	t = ktime_get_ns();
	mmu_notifier_invalidate_range_start(&range);
	t = ktime_get_ns() - t;
	mmu_notifier_invalidate_range_end(&range);
	return t;
}

#define VGPU_REPS	15

/* VGPU_REPS events in @t, each on freshly mapped sets. */
static int vgpu_b4_one(unsigned long addr, unsigned int ndev, bool serial,
		       s64 *t)
{
	struct gpumirror_segment r = { addr, PAGE_SIZE };
	struct gpumirror_object *obj;
	struct vgpu_bench *b;
	unsigned int i;
	int ret = 0;

	b = vgpu_bench_setup_ops(ndev, serial);
	if (IS_ERR(b))
		return PTR_ERR(b);
	obj = gpumirror_object_create(&b->mirror, &r, 1, 0);
	if (IS_ERR(obj)) {
		vgpu_bench_teardown(b);
		return PTR_ERR(obj);
	}
	for (i = 0; i < VGPU_REPS && !ret; i++) {
		ret = gpumirror_object_map(obj, GENMASK(ndev - 1, 0), 0);
		flush_delayed_work(&b->mirror.priv->release_work);
		t[i] = vgpu_event_ns(addr, addr + PAGE_SIZE);
	}
	gpumirror_object_destroy(obj);
	vgpu_bench_teardown(b);
	return ret;
}

static int vgpu_b4_show(struct seq_file *m, void *unused)
{
	unsigned long addr = vgpu_bench_mmap(PAGE_SIZE);
	s64 two[VGPU_REPS], serial[VGPU_REPS];
	unsigned int n;
	int ret = 0;

	if (!addr)
		return -ENOMEM;
	for (n = 1; n <= 8 && n <= vgpu_count() && !ret; n *= 2) {
		ret = vgpu_b4_one(addr, n, false, two) ?:
		      vgpu_b4_one(addr, n, true, serial);
		if (ret)
			break;
		seq_printf(m, "{\"bench\":\"B4\",\"devices\":%u,\"tlb_latency_ns\":%llu",
			   n, vgpu_tlb_latency_ns());
		vgpu_spread_print(m, "two_pass_ns", two, VGPU_REPS);
		vgpu_spread_print(m, "serial_ns", serial, VGPU_REPS);
		seq_puts(m, "}\n");
	}
	vm_munmap(addr, PAGE_SIZE);
	return ret;
}

/* ---- B5: callback cost vs segments under one notifier ------------------- */

#define VGPU_B5_REPS	101

static s64 vgpu_median_events(unsigned long start, unsigned long end)
{
	u64 t[VGPU_B5_REPS];
	unsigned int i;

	for (i = 0; i < VGPU_B5_REPS; i++)
		t[i] = vgpu_event_ns(start, end);
	sort(t, VGPU_B5_REPS, sizeof(t[0]), vgpu_cmp_u64, NULL);
	return t[VGPU_B5_REPS / 2];
}

static int vgpu_b5_case(struct seq_file *m, struct vgpu_bench *b,
			unsigned int nseg)
{
	unsigned long len = 2UL * nseg * PAGE_SIZE, addr, mid;
	struct gpumirror_object *obj;
	struct gpumirror_segment *r;
	s64 first, stale, hole;
	unsigned int i;
	int ret;

	/* Not populated: the read faults map the zero page, cheaply. */
	addr = vm_mmap(NULL, 0, len, VGPU_RW, VGPU_ANON, 0);
	if (IS_ERR_VALUE(addr))
		return addr;
	r = kvcalloc(nseg, sizeof(*r), GFP_KERNEL);
	if (!r) {
		ret = -ENOMEM;
		goto out_munmap;
	}
	for (i = 0; i < nseg; i++) {
		r[i].addr = addr + 2UL * i * PAGE_SIZE;
		r[i].len = PAGE_SIZE;
	}
	obj = gpumirror_object_create(&b->mirror, r, nseg, 0);
	kvfree(r);
	ret = PTR_ERR_OR_ZERO(obj);
	if (ret)
		goto out_munmap;
	mid = addr + 2UL * (nseg / 2) * PAGE_SIZE;
	/* One segment, the set valid: pass 1 and pass 2 on the device. */
	for (i = 0, first = S64_MAX; i < 9 && !ret; i++) {
		ret = gpumirror_object_map(obj, BIT(0), 0);
		/*
		 * Measure the event, not the last one's release work nor the
		 * caches the walk of every segment just left cold: a hole
		 * event runs the same notifier path without invalidating.
		 */
		flush_delayed_work(&b->mirror.priv->release_work);
		vgpu_event_ns(mid + PAGE_SIZE, mid + 2 * PAGE_SIZE);
		first = min_t(s64, first, vgpu_event_ns(mid, mid + PAGE_SIZE));
	}
	if (ret)
		goto out_destroy;
	/* One segment, the set already stale: lookup and seq only. */
	stale = vgpu_median_events(mid, mid + PAGE_SIZE);
	/* The hole after it: lookup only. */
	hole = vgpu_median_events(mid + PAGE_SIZE, mid + 2 * PAGE_SIZE);
	seq_printf(m, "{\"bench\":\"B5\",\"segments\":%u,\"valid_set_ns\":%lld,\"stale_set_ns\":%lld,\"hole_ns\":%lld}\n",
		   nseg, first, stale, hole);
out_destroy:
	gpumirror_object_destroy(obj);
out_munmap:
	vm_munmap(addr, len);
	return ret;
}

static int vgpu_b5_show(struct seq_file *m, void *unused)
{
	static const unsigned int nsegs[] = { 10, 100, 1000, 10000, 100000 };
	struct vgpu_bench *b = vgpu_bench_setup(1);
	unsigned int i, latency;
	int ret = 0;

	if (IS_ERR(b))
		return PTR_ERR(b);
	b->mirror.max_segments = 100000;
	/* The callback's own cost, not the modelled TLB. */
	latency = vgpu_tlb_latency_set(0);
	for (i = 0; i < ARRAY_SIZE(nsegs) && !ret; i++)
		ret = vgpu_b5_case(m, b, nsegs[i]);
	vgpu_tlb_latency_set(latency);
	vgpu_bench_teardown(b);
	return ret;
}

/*
 * B8: should the attribute tree be a maple tree? The library's tree
 * against a maple tree holding the same ranges, for the two operations
 * the fault path and the advice ioctls run: gpumirror_attr_set() and
 * gpumirror_attr_get() with the end of the run (every fault of a new
 * range needs both the attributes and how far they hold). N ranges of two
 * pages, two pages apart, alternating attributes, set in random order.
 * The maple side gets its best case: no lock of ours around it (a maple
 * tree of RCU-freed entries can be read under RCU alone), a lookup that
 * copies the attributes and reads the run's end from the walk. Arms interleaved,
 * median of VGPU_B8_REPS. Memory per range: the library's node against
 * the maple tree's entry, as kmalloc rounds them, plus the tree's leaf
 * nodes (counted by a walk at the end; the internal nodes above them are
 * left out, so the maple side is an underestimate).
 */
#define VGPU_B8_LOOKUPS	4096
#define VGPU_B8_REPS	5

struct vgpu_b8 {
	unsigned long base;
	unsigned int n;
	unsigned int *order;	/* the N ranges in random order */
	unsigned long *addrs;	/* VGPU_B8_LOOKUPS random addresses */
};

static void vgpu_b8_attrs(struct gpumirror_attrs *a, unsigned int i)
{
	gpumirror_attr_default(a);
	a->granularity = i & 1 ? 0 : 4;
}

static unsigned long vgpu_b8_start(struct vgpu_b8 *t, unsigned int i)
{
	return t->base + 4UL * i * PAGE_SIZE;
}

static int vgpu_b8_library(struct vgpu_b8 *t, u64 *set_ns, u64 *get_ns)
{
	unsigned long start, end, sum = 0;
	struct gpumirror mirror;
	struct gpumirror_attrs a;
	unsigned int i;
	u64 t0;
	int ret;

	ret = gpumirror_init(&mirror, current->mm);
	if (ret)
		return ret;
	t0 = ktime_get_ns();
	for (i = 0; i < t->n && !ret; i++) {
		start = vgpu_b8_start(t, t->order[i]);
		vgpu_b8_attrs(&a, t->order[i]);
		ret = gpumirror_attr_set(&mirror, start, start + 2 * PAGE_SIZE,
					 &a, GPUMIRROR_ATTR_GRANULARITY);
	}
	*set_ns = ktime_get_ns() - t0;
	t0 = ktime_get_ns();
	for (i = 0; i < VGPU_B8_LOOKUPS && !ret; i++) {
		gpumirror_attr_get(&mirror, t->addrs[i], &a, &end);
		sum += end + a.granularity;
	}
	*get_ns = ktime_get_ns() - t0;
	gpumirror_fini(&mirror);
	/* Keep the lookups' results alive. */
	OPTIMIZER_HIDE_VAR(sum);
	return ret;
}

/* The maple tree's leaf nodes: where a walk of every entry changes node. */
static unsigned long vgpu_b8_maple_leaves(struct maple_tree *mt)
{
	MA_STATE(mas, mt, 0, 0);
	struct maple_enode *last = NULL;
	unsigned long leaves = 0;
	void *p;

	rcu_read_lock();
	mas_for_each(&mas, p, ULONG_MAX) {
		if (mas.node != last)
			leaves++;
		last = mas.node;
	}
	rcu_read_unlock();
	return leaves;
}

static int vgpu_b8_maple(struct vgpu_b8 *t, u64 *set_ns, u64 *get_ns,
			 unsigned long *leaves)
{
	struct gpumirror_attrs a, *p;
	unsigned long start, sum = 0;
	struct maple_tree mt;
	unsigned long idx = 0;
	unsigned int i;
	int ret = 0;
	u64 t0;

	/*
	 * Not in RCU mode: nothing writes while the lookups run, and the
	 * walk is the same one an RCU reader makes. (In RCU mode, destroying
	 * the 65536-range tree crashed this kernel in mt_free_walk(), from
	 * the RCU callback; not this benchmark's question.)
	 */
	mt_init(&mt);
	t0 = ktime_get_ns();
	for (i = 0; i < t->n && !ret; i++) {
		start = vgpu_b8_start(t, t->order[i]);
		p = kmalloc(sizeof(*p), GFP_KERNEL);
		if (!p) {
			ret = -ENOMEM;
			break;
		}
		vgpu_b8_attrs(p, t->order[i]);
		ret = mtree_store_range(&mt, start, start + 2 * PAGE_SIZE - 1,
					p, GFP_KERNEL);
		if (ret)
			kfree(p);
	}
	*set_ns = ktime_get_ns() - t0;
	t0 = ktime_get_ns();
	for (i = 0; i < VGPU_B8_LOOKUPS && !ret; i++) {
		MA_STATE(mas, &mt, t->addrs[i], t->addrs[i]);

		rcu_read_lock();
		p = mas_walk(&mas);
		if (p)
			a = *p;
		else
			gpumirror_attr_default(&a);
		/* The run's end: the entry's or the gap's last index. */
		sum += mas.last + 1 + a.granularity;
		rcu_read_unlock();
	}
	*get_ns = ktime_get_ns() - t0;
	OPTIMIZER_HIDE_VAR(sum);
	*leaves = vgpu_b8_maple_leaves(&mt);
	mt_for_each(&mt, p, idx, ULONG_MAX)
		kfree(p);
	mtree_destroy(&mt);
	return ret;
}

static int vgpu_b8_case(struct seq_file *m, unsigned int n)
{
	u64 lib_set[VGPU_B8_REPS], lib_get[VGPU_B8_REPS];
	u64 mt_set[VGPU_B8_REPS], mt_get[VGPU_B8_REPS];
	struct vgpu_b8 t = { .n = n };
	unsigned long leaves = 0;
	unsigned int i, j;
	int ret = 0;

	/* Addresses only: attributes need no mapping. */
	t.base = SZ_1G;
	t.order = kvmalloc_array(n, sizeof(*t.order), GFP_KERNEL);
	t.addrs = kvmalloc_array(VGPU_B8_LOOKUPS, sizeof(*t.addrs),
				 GFP_KERNEL);
	if (!t.order || !t.addrs) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < n; i++)
		t.order[i] = i;
	for (i = n - 1; i > 0; i--)
		swap(t.order[i], t.order[get_random_u32_below(i + 1)]);
	for (i = 0; i < VGPU_B8_LOOKUPS; i++)
		t.addrs[i] = t.base + get_random_u32_below(4 * n) * PAGE_SIZE;
	for (j = 0; j < VGPU_B8_REPS && !ret; j++) {
		ret = vgpu_b8_library(&t, &lib_set[j], &lib_get[j]);
		if (!ret)
			ret = vgpu_b8_maple(&t, &mt_set[j], &mt_get[j],
					    &leaves);
	}
	if (ret)
		goto out_free;
	sort(lib_set, VGPU_B8_REPS, sizeof(u64), vgpu_cmp_u64, NULL);
	sort(lib_get, VGPU_B8_REPS, sizeof(u64), vgpu_cmp_u64, NULL);
	sort(mt_set, VGPU_B8_REPS, sizeof(u64), vgpu_cmp_u64, NULL);
	sort(mt_get, VGPU_B8_REPS, sizeof(u64), vgpu_cmp_u64, NULL);
	j = VGPU_B8_REPS / 2;
	seq_printf(m, "{\"bench\":\"B8\",\"ranges\":%u,\"lookups\":%u,\"tree_set_ns\":[%llu,%llu,%llu],\"tree_get_ns\":[%llu,%llu,%llu],\"maple_set_ns\":[%llu,%llu,%llu],\"maple_get_ns\":[%llu,%llu,%llu],\"tree_node_bytes\":%zu,\"maple_entry_bytes\":%zu,\"maple_leaves\":%lu,\"maple_node_bytes\":%zu}\n",
		   n, VGPU_B8_LOOKUPS,
		   lib_set[0], lib_set[j], lib_set[VGPU_B8_REPS - 1],
		   lib_get[0], lib_get[j], lib_get[VGPU_B8_REPS - 1],
		   mt_set[0], mt_set[j], mt_set[VGPU_B8_REPS - 1],
		   mt_get[0], mt_get[j], mt_get[VGPU_B8_REPS - 1],
		   kmalloc_size_roundup(sizeof(struct interval_tree_node) +
					sizeof(struct gpumirror_attrs)),
		   kmalloc_size_roundup(sizeof(struct gpumirror_attrs)),
		   leaves, sizeof(struct maple_node));
out_free:
	kvfree(t.addrs);
	kvfree(t.order);
	return ret;
}

static int vgpu_b8_show(struct seq_file *m, void *unused)
{
	static const unsigned int ns[] = { 16, 1024, 65536 };
	unsigned int i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(ns) && !ret; i++)
		ret = vgpu_b8_case(m, ns[i]);
	return ret;
}

/*
 * B9: kernel memory per mirrored 4K page per device. A fault-mode range of
 * each chunk size is made as gpumirror_fault() makes it, mapped for one
 * vgpu and then for a second one; every allocation it holds is counted as
 * the allocator rounds it (kmalloc_size_roundup() of each, a whole number
 * of pages for a vmalloc()ed one). The vgpu's own page table is not counted: a driver
 * has one with or without the library.
 */
static size_t vgpu_b9_alloc(const void *p, size_t size)
{
	return is_vmalloc_addr(p) ? PAGE_ALIGN(size) :
				    kmalloc_size_roundup(size);
}

static size_t vgpu_b9_bytes(struct gpumirror_object *obj)
{
	size_t n = kmalloc_size_roundup(sizeof(*obj));
	unsigned int i;

	if (obj->segs != &obj->inline_seg)
		n += vgpu_b9_alloc(obj->segs, obj->nsegs * sizeof(*obj->segs));
	if (obj->by_addr != &obj->inline_by_addr)
		n += vgpu_b9_alloc(obj->by_addr,
				   obj->nsegs * sizeof(*obj->by_addr));
	if (obj->pfns != &obj->inline_pfn)
		n += vgpu_b9_alloc(obj->pfns, obj->npages * sizeof(*obj->pfns));
	if (obj->scratch)
		n += vgpu_b9_alloc(obj->scratch,
				   obj->scratch_pages * sizeof(*obj->scratch));
	if (obj->stale_segs)
		n += vgpu_b9_alloc(obj->stale_segs,
				   BITS_TO_LONGS(obj->nsegs) * sizeof(long));
	if (obj->sets != obj->inline_sets)
		n += vgpu_b9_alloc(obj->sets, obj->nr_sets * sizeof(*obj->sets));
	for (i = 0; i < obj->nr_sets; i++)
		if (obj->sets[i] && obj->sets[i] != &obj->inline_set)
			n += vgpu_b9_alloc(obj->sets[i],
					   obj->npages * sizeof(*obj->sets[i]));
	return n;
}

static int vgpu_b9_case(struct seq_file *m, struct vgpu_bench *b,
			unsigned long addr, unsigned long chunk)
{
	struct gpumirror_segment r = { addr, chunk };
	struct gpumirror_object *obj;
	size_t bytes[3];
	int ret;

	/*
	 * The range belongs to the mirror (gpumirror_fini() destroys it);
	 * the garbage collector may destroy it sooner, after an munmap(),
	 * unless the range lock is held for read, as a fault holds it.
	 */
	down_read(&b->mirror.priv->range_lock);
	obj = gpumirror_object_make(&b->mirror, &r, 1, addr, true);
	if (IS_ERR(obj)) {
		ret = PTR_ERR(obj);
		goto out_unlock;
	}
	bytes[0] = vgpu_b9_bytes(obj);
	ret = gpumirror_object_map(obj, BIT(b->as[0].gdev.index),
				   GPUMIRROR_MAP_WRITE);
	if (ret)
		goto out_unlock;
	bytes[1] = vgpu_b9_bytes(obj);
	ret = gpumirror_object_map(obj, BIT(b->as[1].gdev.index),
				   GPUMIRROR_MAP_WRITE);
	if (ret)
		goto out_unlock;
	bytes[2] = vgpu_b9_bytes(obj);
	seq_printf(m, "{\"bench\":\"B9\",\"chunk_kib\":%lu,\"pages\":%lu,\"range_bytes\":%zu,\"one_device_bytes\":%zu,\"two_devices_bytes\":%zu}\n",
		   chunk >> 10, obj->npages, bytes[0], bytes[1], bytes[2]);
out_unlock:
	up_read(&b->mirror.priv->range_lock);
	return ret;
}

static int vgpu_b9_show(struct seq_file *m, void *unused)
{
	/* Side by side in one mapping: the 2M range 2M-aligned, first. */
	static const struct {
		unsigned long offset, chunk;
	} ranges[] = {
		{ SZ_2M + SZ_64K, SZ_4K },
		{ SZ_2M, SZ_64K },
		{ 0, SZ_2M },
	};
	unsigned long addr, len = 3 * SZ_2M;
	struct vgpu_bench *b;
	unsigned int i;
	int ret = 0;

	if (vgpu_count() < 2)
		return -ENODEV;
	addr = vgpu_bench_mmap(len);
	if (!addr)
		return -ENOMEM;
	b = vgpu_bench_setup(2);
	if (IS_ERR(b)) {
		vm_munmap(addr, len);
		return PTR_ERR(b);
	}
	for (i = 0; i < ARRAY_SIZE(ranges) && !ret; i++)
		ret = vgpu_b9_case(m, b, ALIGN(addr, SZ_2M) + ranges[i].offset,
				   ranges[i].chunk);
	vgpu_bench_teardown(b);
	vm_munmap(addr, len);
	return ret;
}

/* ---- debugfs ------------------------------------------------------------ */

#define VGPU_BENCH_FILE(name)						\
static int name##_open(struct inode *inode, struct file *file)		\
{									\
	/* One buffer big enough: a retried show would rerun the bench. */ \
	return single_open_size(file, name##_show, NULL, SZ_64K);	\
}									\
static const struct file_operations name##_fops = {			\
	.owner = THIS_MODULE,						\
	.open = name##_open,						\
	.read = seq_read,						\
	.llseek = seq_lseek,						\
	.release = single_release,					\
}

VGPU_BENCH_FILE(vgpu_b1);
VGPU_BENCH_FILE(vgpu_b1s);
VGPU_BENCH_FILE(vgpu_b2);
VGPU_BENCH_FILE(vgpu_b2c);
VGPU_BENCH_FILE(vgpu_b3);
VGPU_BENCH_FILE(vgpu_b4);
VGPU_BENCH_FILE(vgpu_b5);
VGPU_BENCH_FILE(vgpu_b8);
VGPU_BENCH_FILE(vgpu_b9);

/**
 * vgpu_bench_init() - create /sys/kernel/debug/vgpu/bench/
 *
 * Return: 0 (debugfs failures are not fatal).
 */
int vgpu_bench_init(void)
{
	struct dentry *dir;

	vgpu_debugfs = debugfs_create_dir("vgpu", NULL);
	dir = debugfs_create_dir("bench", vgpu_debugfs);
	debugfs_create_file("b1", 0400, dir, NULL, &vgpu_b1_fops);
	debugfs_create_file("b1s", 0400, dir, NULL, &vgpu_b1s_fops);
	debugfs_create_file("b2", 0400, dir, NULL, &vgpu_b2_fops);
	debugfs_create_file("b2c", 0400, dir, NULL, &vgpu_b2c_fops);
	debugfs_create_file("b3", 0400, dir, NULL, &vgpu_b3_fops);
	debugfs_create_file("b4", 0400, dir, NULL, &vgpu_b4_fops);
	debugfs_create_file("b5", 0400, dir, NULL, &vgpu_b5_fops);
	debugfs_create_file("b8", 0400, dir, NULL, &vgpu_b8_fops);
	debugfs_create_file("b9", 0400, dir, NULL, &vgpu_b9_fops);
	return 0;
}

/** vgpu_bench_exit() - remove /sys/kernel/debug/vgpu/ */
void vgpu_bench_exit(void)
{
	debugfs_remove_recursive(vgpu_debugfs);
}
