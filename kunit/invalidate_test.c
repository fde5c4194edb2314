// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for gpumirror invalidation: two passes across devices, one
 * TLB wait per device per event, event types, the non-blockable path, the
 * release worker, and GPU readers racing munmap.
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/uaccess.h>

#include "../internal.h"
#include "test_dev.h"

#define GM_NDEV		GM_FIXTURE_NDEV

/* Devices 0 and 1 are two-pass, 2 and 3 single-pass unless a case says. */
static int gm_inv_init(struct kunit *test)
{
	return gm_fixture_init(test, 0x3);
}

static void gm_fill(struct kunit *test, unsigned long addr, unsigned long len,
		    u64 v)
{
	unsigned long off;

	for (off = 0; off < len; off += PAGE_SIZE)
		KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(addr + off),
						   &v, sizeof(v)), 0);
}

static bool gm_valid(struct gpumirror_object *obj, struct gm_test_dev *td)
{
	bool v;

	gpumirror_notifier_lock(obj->mirror);
	v = gpumirror_object_valid(obj, &td->gdev);
	gpumirror_notifier_unlock(obj->mirror);
	return v;
}

/* All devices run pass 1 before any runs pass 2. */
static void gm_two_pass_order(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, 4 * PAGE_SIZE };
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj;
	int i;

	/* All four two-pass for this case. */
	for (i = 2; i < GM_NDEV; i++) {
		gpumirror_device_detach(&ctx->td[i]->gdev);
		ctx->td[i]->gdev.ops = &gm_test_ops_two_pass;
		KUNIT_ASSERT_EQ(test,
				gpumirror_device_attach(&ctx->mirror,
							&ctx->td[i]->gdev), 0);
	}
	gm_fill(test, addr, r.len, 1);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0xf, 0), 0);

	KUNIT_ASSERT_EQ(test, vm_munmap(addr + PAGE_SIZE, PAGE_SIZE), 0);
	for (i = 0; i < GM_NDEV; i++) {
		struct gm_test_dev *td = ctx->td[i];
		int j;

		KUNIT_EXPECT_EQ(test, atomic_read(&td->invalidates), 1);
		KUNIT_EXPECT_EQ(test, atomic_read(&td->finishes), 1);
		KUNIT_EXPECT_EQ(test, td->last_start, 0ULL);
		KUNIT_EXPECT_EQ(test, td->last_end, (u64)4 * PAGE_SIZE);
		KUNIT_EXPECT_EQ(test, td->last_event, MMU_NOTIFY_UNMAP);
		for (j = 0; j < GM_NDEV; j++)
			KUNIT_EXPECT_LT(test, ctx->td[j]->start_clock,
					td->finish_clock);
		gpumirror_device_stats_read(&td->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.tlb_flushes, 1ULL);
		KUNIT_EXPECT_FALSE(test, gm_valid(obj, td));
	}
	KUNIT_EXPECT_TRUE(test, obj->retired);
	gm_fixture_done(test);
}

/*
 * One event over three objects: one start per touched object, one finish
 * per device that had a valid set, nothing for the others.
 */
static void gm_batch_per_event(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 6 * PAGE_SIZE, GM_RW);
	static const unsigned long masks[3] = { 0x3, 0xb, 0x3 };
	static const int starts[GM_NDEV] = { 3, 3, 0, 1 };
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj[3];
	int i;

	gm_fill(test, addr, 6 * PAGE_SIZE, 1);
	for (i = 0; i < 3; i++) {
		struct gpumirror_segment r = { addr + 2 * i * PAGE_SIZE,
					     2 * PAGE_SIZE };

		obj[i] = gpumirror_object_create(&ctx->mirror, &r, 1,
						 (u64)i << 30);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj[i]);
		KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj[i], masks[i],
							   0), 0);
	}

	/* One UNMAP event over all three objects. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 6 * PAGE_SIZE), 0);
	for (i = 0; i < GM_NDEV; i++) {
		gpumirror_device_stats_read(&ctx->td[i]->gdev, &c);
		KUNIT_EXPECT_EQ(test, c.invalidations, (u64)starts[i]);
		KUNIT_EXPECT_EQ(test, c.tlb_flushes,
				/* single-pass devices flush per object */
				i < 2 ? (u64)!!starts[i] : (u64)starts[i]);
	}
	gm_fixture_done(test);
}

struct gm_lock_holder {
	struct gpumirror *mirror;
	struct completion held, release;
};

/* Hold the notifier lock for read until told to let go. */
static int gm_lock_holder_fn(void *data)
{
	struct gm_lock_holder *h = data;

	gpumirror_notifier_lock(h->mirror);
	complete(&h->held);
	wait_for_completion(&h->release);
	gpumirror_notifier_unlock(h->mirror);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

/* Non-blockable (OOM reaper) events: no sleeping, a clean false. */
static void gm_nonblock(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 2 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, 2 * PAGE_SIZE };
	struct mmu_notifier_range range;
	struct gm_lock_holder holder;
	struct gpumirror_object *obj;
	struct task_struct *task;
	unsigned long seq;

	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);

	/* No valid set: completes, and the sequence moves. */
	seq = READ_ONCE(obj->notifier.invalidate_seq);
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, current->mm,
				addr, addr + PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, mmu_notifier_invalidate_range_start_nonblock(&range),
			0);
	mmu_notifier_invalidate_range_end(&range);
	KUNIT_EXPECT_NE(test, READ_ONCE(obj->notifier.invalidate_seq), seq);

	/* Valid sets would need devices that may sleep: -EAGAIN, intact. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x3, 0), 0);
	KUNIT_EXPECT_EQ(test, mmu_notifier_invalidate_range_start_nonblock(&range),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->td[0]->invalidates), 0);
	KUNIT_EXPECT_TRUE(test, gm_valid(obj, ctx->td[0]));

	/* The notifier lock held elsewhere: -EAGAIN as well, never a sleep. */
	gpumirror_object_unmap(obj, &ctx->td[0]->gdev);
	gpumirror_object_unmap(obj, &ctx->td[1]->gdev);
	init_completion(&holder.held);
	init_completion(&holder.release);
	holder.mirror = &ctx->mirror;
	task = kthread_run(gm_lock_holder_fn, &holder, "gm-holder");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	wait_for_completion(&holder.held);
	KUNIT_EXPECT_EQ(test, mmu_notifier_invalidate_range_start_nonblock(&range),
			-EAGAIN);
	complete(&holder.release);
	kthread_stop(task);
	gm_fixture_done(test);
}

/*
 * A migration invalidates whoever raises it; only an event of the object's
 * own rebuild (rebuild_owner) leaves the sequence alone, sets still zapped.
 */
static void gm_migrate_owner_skip(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 2 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, 2 * PAGE_SIZE };
	struct mmu_notifier_range range;
	struct gpumirror_object *obj;
	static int owner, other;
	unsigned long seq;

	ctx->td[0]->gdev.pagemap_owner = &owner;
	ctx->td[1]->gdev.pagemap_owner = &owner;
	gm_fill(test, addr, r.len, 1);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x3, 0), 0);

	mmu_notifier_range_init_owner(&range, MMU_NOTIFY_MIGRATE,
				      MMU_NOTIFIER_RANGE_BLOCKABLE,
				      current->mm, addr, addr + PAGE_SIZE,
				      &owner);
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
	KUNIT_EXPECT_FALSE(test, gm_valid(obj, ctx->td[0]));
	KUNIT_EXPECT_FALSE(test, gm_valid(obj, ctx->td[1]));
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->td[0]->invalidates), 1);
	/* the device is told what the core mm is doing */
	KUNIT_EXPECT_EQ(test, ctx->td[0]->last_event, MMU_NOTIFY_MIGRATE);

	/* The object's own rebuild: zapped, but the sequence stays. */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x3, 0), 0);
	seq = mmu_interval_read_begin(&obj->notifier);
	WRITE_ONCE(obj->rebuild_owner, &owner);
	range.event = MMU_NOTIFY_EXCLUSIVE;
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
	KUNIT_EXPECT_FALSE(test, mmu_interval_read_retry(&obj->notifier, seq));
	KUNIT_EXPECT_FALSE(test, gm_valid(obj, ctx->td[0]));
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->td[0]->invalidates), 2);
	KUNIT_EXPECT_EQ(test, ctx->td[0]->last_event, MMU_NOTIFY_EXCLUSIVE);

	/* Another owner's event during the rebuild moves it. */
	range.owner = &other;
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
	KUNIT_EXPECT_TRUE(test, mmu_interval_read_retry(&obj->notifier, seq));
	WRITE_ONCE(obj->rebuild_owner, NULL);
	KUNIT_EXPECT_FALSE(test, obj->retired);

	/* gpumirror's own revoke has no core mm event */
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x3, 0), 0);
	gpumirror_object_revoke(obj, BIT(0));
	KUNIT_EXPECT_EQ(test, ctx->td[0]->last_event, -1);
	gm_fixture_done(test);
}

/* Stale sets lose their DMA mappings in the release worker. */
static void gm_release_worker(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 8 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, 8 * PAGE_SIZE };
	struct gpumirror_device_counters c;
	struct gpumirror_object *obj;

	gm_fill(test, addr, r.len, 1);
	obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj, 0x5, 0), 0);
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, PAGE_SIZE), 0);
	flush_delayed_work(&ctx->mirror.priv->release_work);
	KUNIT_EXPECT_EQ(test, obj->mapped, 0UL);
	gpumirror_device_stats_read(&ctx->td[2]->gdev, &c);
	KUNIT_EXPECT_EQ(test, c.dma_unmaps, 8ULL);
	KUNIT_EXPECT_EQ(test, c.released, 8ULL);
	gm_fixture_done(test);
}

/* A one-page interval subscription of the test's mm at @addr. */
static int gm_insert_sub(struct mmu_interval_notifier *mni, unsigned long addr,
			 const struct mmu_interval_notifier_ops *ops)
{
	return mmu_interval_notifier_insert(mni, current->mm, addr, PAGE_SIZE,
					    ops);
}

/*
 * Another interval subscriber of the event, after the object in the core
 * mm's walk (it starts one page later): it runs after the object's pass 1
 * and before the second passes (the mirror's pass 2), and it is slow, as
 * any other subscriber may be.
 * The oracle is the device's own count of completed TLB flushes: a DMA
 * mapping may only go, and a non-blockable event only report the pages
 * free, once the flush that followed the zap has completed.
 */
struct gm_slow_sub {
	struct mmu_interval_notifier mni;
	struct gpumirror_object *obj;
	struct gpumirror_object *other;
	struct gm_test_dev *td;
	bool armed;
	int calls;
	int finishes;
	bool unmapped_unflushed;
	bool nonblock_unflushed;
	bool other_mapped_early;
	bool other_released;
	struct mmu_interval_notifier_finish *nonblock_finish;
};

static bool gm_slow_flushed(struct gm_slow_sub *s)
{
	return atomic_read(&s->td->finishes) != s->finishes;
}

/* Is @obj's set gone while the flush after its zap is still to come? */
static bool gm_slow_unmapped_unflushed(struct gm_slow_sub *s)
{
	bool mapped = test_bit(s->td->gdev.index, &s->obj->mapped);

	/* Mapped first: an unmap seen here happened before the count read. */
	smp_rmb();
	return !mapped && !gm_slow_flushed(s);
}

static bool gm_slow_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct gm_slow_sub *s = container_of(mni, struct gm_slow_sub, mni);
	struct mmu_interval_notifier_finish *finish = NULL;
	struct mmu_notifier_range nb = *range;
	unsigned int slot = s->td->gdev.index, i;

	mmu_interval_set_seq(mni, cur_seq);
	if (!mmu_notifier_range_blockable(range) || !s->armed || s->calls++)
		return true;
	s->other_mapped_early = test_bit(slot, &s->other->mapped);
	/* The release worker may run from now on (the test held it). */
	mutex_unlock(&s->obj->mirror->priv->lock);
	/* The OOM reaper now: the device's flush may not be confirmed yet. */
	nb.flags &= ~MMU_NOTIFIER_RANGE_BLOCKABLE;
	if (gpumirror_notifier_ops.invalidate_start(&s->obj->notifier, &nb,
						    s->obj->notifier.invalidate_seq,
						    &finish))
		s->nonblock_unflushed = !gm_slow_flushed(s);
	s->nonblock_finish = finish;
	/*
	 * Slow, for up to 4 s: this event's set must stay mapped until its
	 * pass 2, while the set an earlier event zapped and flushed must not
	 * wait for this event.
	 */
	for (i = 0; i < 200; i++) {
		s->unmapped_unflushed |= gm_slow_unmapped_unflushed(s);
		s->other_released = !test_bit(slot, &s->other->mapped);
		if (s->other_released && i >= 5)
			break;
		msleep(20);
	}
	s->unmapped_unflushed |= gm_slow_unmapped_unflushed(s);
	return true;
}

static const struct mmu_interval_notifier_ops gm_slow_ops = {
	.invalidate = gm_slow_invalidate,
};

/*
 * Between pass 1 and pass 2 of an event the device's TLB may still
 * translate to the stale set: its DMA mappings stay until the flush has
 * completed, and a non-blockable event must not report the pages free
 * meanwhile. A set that an earlier event zapped and flushed is released
 * all the same, though the device's flush for this event is pending.
 *
 * The test holds &gpumirror_private.lock from before the earlier event until
 * the slow subscriber runs, so the release worker cannot act on the earlier set
 * before this event's pass 1 (the notifiers never take that lock).
 */
static void gm_release_after_pass2(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 16 * PAGE_SIZE, GM_RW);
	struct gpumirror_segment r = { addr, 8 * PAGE_SIZE };
	struct gpumirror_segment o = { addr + 8 * PAGE_SIZE, 8 * PAGE_SIZE };
	struct gm_slow_sub slow = { .td = ctx->td[0] };

	gm_fill(test, addr, 16 * PAGE_SIZE, 1);
	slow.obj = gpumirror_object_create(&ctx->mirror, &r, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, slow.obj);
	slow.other = gpumirror_object_create(&ctx->mirror, &o, 1, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, slow.other);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(slow.obj, BIT(0), 0), 0);
	KUNIT_ASSERT_EQ(test, gpumirror_object_map(slow.other, BIT(0), 0), 0);
	KUNIT_ASSERT_EQ(test, gm_insert_sub(&slow.mni, addr + PAGE_SIZE,
					    &gm_slow_ops), 0);
	/* No assertion may leave the test before the unregister. */
	mutex_lock(&ctx->mirror.priv->lock);
	/* The earlier event, complete: the other set is stale and flushed. */
	KUNIT_EXPECT_EQ(test, vm_munmap(o.addr, PAGE_SIZE), 0);
	slow.finishes = atomic_read(&slow.td->finishes);
	slow.armed = true;
	/* The slow subscriber unlocks the mirror. */
	KUNIT_EXPECT_EQ(test, vm_munmap(addr, 2 * PAGE_SIZE), 0);
	if (!slow.calls)
		mutex_unlock(&ctx->mirror.priv->lock);
	mmu_interval_notifier_remove(&slow.mni);

	KUNIT_EXPECT_EQ(test, slow.calls, 1);
	KUNIT_EXPECT_TRUE(test, slow.other_mapped_early);
	KUNIT_EXPECT_FALSE(test, slow.nonblock_unflushed);
	KUNIT_EXPECT_NULL(test, slow.nonblock_finish);
	KUNIT_EXPECT_FALSE(test, slow.unmapped_unflushed);
	KUNIT_EXPECT_TRUE(test, slow.other_released);
	/* After pass 2 the worker releases this event's set too. */
	flush_delayed_work(&ctx->mirror.priv->release_work);
	KUNIT_EXPECT_EQ(test, slow.obj->mapped, 0UL);
	gm_fixture_done(test);
}

/*
 * An interval subscriber after the object in the core mm's walk: what the
 * event had done when it ran, between the first and second passes.
 */
struct gm_peek_sub {
	struct mmu_interval_notifier mni;
	struct gpumirror *mirror;
	struct gm_test_dev *td;
	int finishes;		/* the device's pass-2 count then */
	int claimed;		/* finish slots held by this event */
	int finishes_after;	/* the pass-2 count once munmap() returned */
	int held_after;		/* finish slots still held then */
};

static bool gm_peek_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct gm_peek_sub *s = container_of(mni, struct gm_peek_sub, mni);
	unsigned int i;

	mmu_interval_set_seq(mni, cur_seq);
	s->finishes = atomic_read(&s->td->finishes);
	down_read(&s->mirror->notifier_lock);
	for (i = 0; i < GPUMIRROR_FINISH_SLOTS; i++)
		s->claimed += s->mirror->priv->finish[i].event == range;
	up_read(&s->mirror->notifier_lock);
	return true;
}

static const struct mmu_interval_notifier_ops gm_peek_ops = {
	.invalidate = gm_peek_invalidate,
};

/* Hold (@event) or free (NULL) every finish slot of @mirror. */
static void gm_hold_finish_slots(struct gpumirror *mirror, const void *event)
{
	unsigned int i;

	down_write(&mirror->notifier_lock);
	for (i = 0; i < GPUMIRROR_FINISH_SLOTS; i++)
		mirror->priv->finish[i].event = event;
	up_write(&mirror->notifier_lock);
}

/*
 * @nobj one-page objects from @addr on, mapped on td 0 (two-pass), and a
 * peek subscriber on the page after them; munmap() of all that with every
 * finish slot held by another event if @full.
 */
static void gm_finish_event(struct kunit *test, unsigned long addr,
			    unsigned int nobj, bool full,
			    struct gm_peek_sub *peek)
{
	struct gm_fixture *ctx = test->priv;
	static const int other_event;
	struct gpumirror_object *obj[2];
	unsigned int i;

	for (i = 0; i < nobj; i++) {
		struct gpumirror_segment r = { addr + i * PAGE_SIZE, PAGE_SIZE };

		obj[i] = gpumirror_object_create(&ctx->mirror, &r, 1,
						 (u64)i << 30);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj[i]);
		KUNIT_ASSERT_EQ(test, gpumirror_object_map(obj[i], BIT(0), 0),
				0);
	}
	KUNIT_ASSERT_EQ(test, gm_insert_sub(&peek->mni,
					    addr + nobj * PAGE_SIZE,
					    &gm_peek_ops), 0);
	if (full)
		gm_hold_finish_slots(&ctx->mirror, &other_event);
	KUNIT_EXPECT_EQ(test, vm_munmap(addr, (nobj + 1) * PAGE_SIZE), 0);
	/* Before anything else may run pass 2 (the destroy below does). */
	peek->finishes_after = atomic_read(&peek->td->finishes);
	peek->held_after = 0;
	for (i = 0; i < GPUMIRROR_FINISH_SLOTS; i++)
		peek->held_after += !!READ_ONCE(ctx->mirror.priv->finish[i].event);
	if (full)
		gm_hold_finish_slots(&ctx->mirror, NULL);
	mmu_interval_notifier_remove(&peek->mni);
	for (i = 0; i < nobj; i++) {
		KUNIT_EXPECT_FALSE(test, gm_valid(obj[i], ctx->td[0]));
		gpumirror_object_destroy(obj[i]);
	}
}

/*
 * Pass 2 waits in the one finish slot the event's first object claimed
 * (the second object finds it), after every first pass of the event, and
 * the slot is free again once the event is done. With every slot held by
 * other events still between their passes, the object runs pass 2 in its
 * first pass instead.
 */
static void gm_finish_slots(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 5 * PAGE_SIZE, GM_RW);
	struct gm_peek_sub peek = { .mirror = &ctx->mirror, .td = ctx->td[0] };
	atomic_t *finishes = &ctx->td[0]->finishes;
	unsigned int i;
	int before;

	gm_fill(test, addr, 5 * PAGE_SIZE, 1);
	before = atomic_read(finishes);
	gm_finish_event(test, addr, 2, false, &peek);
	/* one slot for the two objects, pass 2 still to come at the peek */
	KUNIT_EXPECT_EQ(test, peek.claimed, 1);
	KUNIT_EXPECT_EQ(test, peek.finishes, before);
	KUNIT_EXPECT_EQ(test, peek.finishes_after, before + 1);
	KUNIT_EXPECT_EQ(test, peek.held_after, 0);

	peek.claimed = 0;
	before = atomic_read(finishes);
	gm_finish_event(test, addr + 3 * PAGE_SIZE, 1, true, &peek);
	/* no slot: pass 2 ran in the object's first pass, before the peek */
	KUNIT_EXPECT_EQ(test, peek.claimed, 0);
	KUNIT_EXPECT_EQ(test, peek.finishes, before + 1);
	KUNIT_EXPECT_EQ(test, peek.finishes_after, before + 1);
	KUNIT_EXPECT_EQ(test, peek.held_after, GPUMIRROR_FINISH_SLOTS);

	KUNIT_EXPECT_EQ(test, ctx->mirror.priv->pending, 0UL);
	for (i = 0; i < GPUMIRROR_FINISH_SLOTS; i++)
		KUNIT_EXPECT_NULL(test, ctx->mirror.priv->finish[i].event);
	gm_fixture_done(test);
}

/* ---- GPU readers racing munmap ------------------------------------------ */

#define GM_RACE_SEGS	8
#define GM_MAGIC	0x6770756d00000000ULL
/* Page i of generation g holds GM_MAGIC | g << 8 | i, an unmapped one poison. */
#define GM_POISON	0x5a5a5a5a5a5a5a5aULL
#define GM_RACE_WORD(g, i)	(GM_MAGIC | (u64)(g) << 8 | (i))
#define GM_RACE_GEN(v)		(((v) >> 8) & 0xffffff)

struct gm_reader {
	struct gm_test_dev *td;
	struct gpumirror_object *obj;
	const unsigned long *gens;
	unsigned long reads, faults, bad;
	struct task_struct *task;
};

/*
 * A read of page i must find generation gens[i] at least, as it was
 * before the read began: an older one came from a page an munmap() had
 * already taken away, through a translation that outlived it (the poison
 * of such a page fails the magic). A 0 is the fresh mapping before the
 * writer fills it (a read fault maps the zero page): current, not stale.
 */
static bool gm_reader_bad(unsigned long i, u64 v, unsigned long gen)
{
	if (!v)
		return false;
	return (v & ~0xffffff00ULL) != (GM_MAGIC | i) ||
	       GM_RACE_GEN(v) < gen;
}

static int gm_reader_fn(void *data)
{
	struct gm_reader *rd = data;
	unsigned long i, gen;
	u64 v;

	while (!kthread_should_stop()) {
		for (i = 0; i < GM_RACE_SEGS; i++) {
			gen = READ_ONCE(rd->gens[i]);
			/* Pairs with smp_wmb() in gm_reader_race(). */
			smp_rmb();
			if (gm_test_dev_read(rd->td, i, &v)) {
				rd->faults++;
				if (!gpumirror_object_map(rd->obj,
							  BIT(rd->td->gdev.index),
							  0))
					gm_test_dev_bind(rd->td);
				continue;
			}
			rd->reads++;
			if (gm_reader_bad(i, v, gen))
				rd->bad++;
		}
		cond_resched();
	}
	return 0;
}

/*
 * Four devices read the pages through their TLBs while the test unmaps and
 * remaps them, each time with new contents: no read may see a freed page
 * (KASAN), a wrong one, or the contents of a page already unmapped when
 * the read began.
 */
static void gm_reader_race(struct kunit *test)
{
	struct gm_fixture *ctx = test->priv;
	unsigned long addr = gm_test_mmap(test, 2 * GM_RACE_SEGS * PAGE_SIZE,
					  GM_RW);
	struct gpumirror_segment r[GM_RACE_SEGS];
	struct gm_reader rd[GM_NDEV] = { };
	unsigned long gens[GM_RACE_SEGS] = { };
	struct gpumirror_object *obj;
	unsigned long reads = 0;
	struct page **old;
	int i, n;

	old = kunit_kcalloc(test, 200, sizeof(*old), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, old);

	for (i = 0; i < GM_RACE_SEGS; i++) {
		r[i].addr = addr + 2 * i * PAGE_SIZE;
		r[i].len = PAGE_SIZE;
		gm_fill(test, r[i].addr, PAGE_SIZE, GM_RACE_WORD(0, i));
	}
	obj = gpumirror_object_create(&ctx->mirror, r, GM_RACE_SEGS, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, obj);
	for (i = 0; i < GM_NDEV; i++) {
		gm_test_dev_bind_alloc(test, ctx->td[i], obj);
		rd[i].td = ctx->td[i];
		rd[i].obj = obj;
		rd[i].gens = gens;
		rd[i].task = kthread_run(gm_reader_fn, &rd[i], "gm-reader%d",
					 i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(rd[i].task));
	}

	for (n = 0; n < 200; n++) {
		unsigned long seg = n % GM_RACE_SEGS;
		unsigned long a = r[seg].addr;

		/*
		 * The old page is kept and poisoned once unmapped, so that a
		 * translation outliving the munmap() reads the poison, not
		 * the new contents of a page reused at once.
		 */
		if (get_user_pages_fast(a, 1, 0, &old[n]) != 1)
			old[n] = NULL;
		KUNIT_EXPECT_EQ(test, vm_munmap(a, PAGE_SIZE), 0);
		if (old[n])
			WRITE_ONCE(*(u64 *)page_address(old[n]), GM_POISON);
		KUNIT_EXPECT_EQ(test, vm_mmap(NULL, a, PAGE_SIZE, GM_RW,
					      MAP_PRIVATE | MAP_ANONYMOUS |
					      MAP_FIXED, 0), a);
		gm_fill(test, a, PAGE_SIZE, GM_RACE_WORD(n + 1, seg));
		/* Pairs with smp_rmb() in gm_reader_fn(). */
		smp_wmb();
		WRITE_ONCE(gens[seg], n + 1);
		if (n % 16 == 0)
			usleep_range(1000, 2000);
	}
	for (i = 0; i < GM_NDEV; i++) {
		kthread_stop(rd[i].task);
		KUNIT_EXPECT_EQ(test, rd[i].bad, 0UL);
		KUNIT_EXPECT_GT(test, rd[i].faults, 0UL);
		reads += rd[i].reads;
	}
	/* Pairs with get_user_pages_fast() above. */
	for (n = 0; n < 200; n++)
		if (old[n])
			put_page(old[n]);
	KUNIT_EXPECT_GT(test, reads, 0UL);
	kunit_info(test, "%lu GPU reads, 200 munmaps, no stale read\n",
		   reads);
	for (i = 0; i < GM_NDEV; i++)
		ctx->td[i]->bound = NULL;
	gm_fixture_done(test);
}

static struct kunit_case gm_invalidate_cases[] = {
	KUNIT_CASE(gm_two_pass_order),
	KUNIT_CASE(gm_batch_per_event),
	KUNIT_CASE(gm_nonblock),
	KUNIT_CASE(gm_migrate_owner_skip),
	KUNIT_CASE(gm_release_worker),
	KUNIT_CASE(gm_release_after_pass2),
	KUNIT_CASE(gm_finish_slots),
	KUNIT_CASE_SLOW(gm_reader_race),
	{}
};

static struct kunit_suite gm_invalidate_suite = {
	.name = "gpumirror_invalidate",
	.init = gm_inv_init,
	.exit = gm_fixture_exit,
	.test_cases = gm_invalidate_cases,
};

kunit_test_suite(gm_invalidate_suite);
