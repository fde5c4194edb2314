// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: the attribute tree of a mirror.
 */

#include <linux/export.h>
#include <linux/gpumirror.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "internal.h"

/**
 * DOC: Attributes
 *
 * Placement attributes (&struct gpumirror_attrs) live in one interval tree
 * per mirror, apart from the objects, so every device sees the same
 * attributes and objects can be created, re-chunked or destroyed without
 * touching them. The tree holds only ranges whose attributes differ from
 * gpumirror_attr_default(); adjacent ranges with equal attributes are
 * merged, and a range set back to the defaults disappears, so the tree is
 * always the smallest description of the attributes.
 *
 * gpumirror_attr_set() allocates every node it may need before it changes
 * anything: it either applies completely or fails with the tree untouched.
 * Ranges end below the mm's task_size, so last + 1 never wraps.
 *
 * Why not a maple tree: measured by vgpu's B8 benchmark (make run) against
 * a maple tree of the same ranges, set in random order, a lookup with the
 * run's end under the attribute lock costs 0.93x, 1.29x and 1.92x the
 * maple tree's RCU walk at 16, 1024 and 65536 ranges (0.8 us more at
 * 65536), a set 0.66x to 0.75x of mtree_store_range() plus its entry's
 * allocation, and a range 96 bytes against about 52. The tree is read once
 * per fault-mode range created, not per page, so the lookup gap does not
 * show next to a fault; a fault path that must not take the attribute lock
 * would be the reason to move to a maple tree read under RCU.
 */

struct gpumirror_attr_node {
	struct interval_tree_node it;
	struct gpumirror_attrs a;
};

#define to_attr_node(n) container_of(n, struct gpumirror_attr_node, it)

/**
 * gpumirror_attr_default() - the attributes of a range nobody set
 * @attrs: filled in: system memory preferred, 2M granularity, writable,
 *	mapped on demand, every device may read and write
 */
void gpumirror_attr_default(struct gpumirror_attrs *attrs)
{
	*attrs = (struct gpumirror_attrs){
		.preferred_loc = GPUMIRROR_LOC_SYSTEM,
		.granularity = PMD_SHIFT - PAGE_SHIFT,
		.access_read = ~0UL,
		.access_write = ~0UL,
	};
}
EXPORT_SYMBOL_GPL(gpumirror_attr_default);

/* Member by member: the structures may have padding. */
bool gpumirror_attr_equal(const struct gpumirror_attrs *a,
			  const struct gpumirror_attrs *b)
{
	return a->preferred_loc == b->preferred_loc &&
	       a->granularity == b->granularity &&
	       a->read_only == b->read_only &&
	       a->always_mapped == b->always_mapped &&
	       a->access_read == b->access_read &&
	       a->access_write == b->access_write;
}

/* Set the masked members; the access bits only of the @devices slots. */
static void gpumirror_attr_apply(struct gpumirror_attrs *dst,
				 const struct gpumirror_attrs *val,
				 unsigned int mask, unsigned long devices)
{
	if (mask & GPUMIRROR_ATTR_PREFERRED_LOC)
		dst->preferred_loc = val->preferred_loc;
	if (mask & GPUMIRROR_ATTR_GRANULARITY)
		dst->granularity = val->granularity;
	if (mask & GPUMIRROR_ATTR_READ_ONLY)
		dst->read_only = val->read_only;
	if (mask & GPUMIRROR_ATTR_ALWAYS_MAPPED)
		dst->always_mapped = val->always_mapped;
	if (mask & GPUMIRROR_ATTR_ACCESS) {
		dst->access_read = (dst->access_read & ~devices) |
				   (val->access_read & devices);
		dst->access_write = (dst->access_write & ~devices) |
				    (val->access_write & devices);
	}
}

static int gpumirror_attr_check(struct gpumirror *mirror, unsigned long start,
				unsigned long end,
				const struct gpumirror_attrs *val,
				unsigned int mask, unsigned long devices)
{
	if (!mirror || !val || !mask || (mask & ~GPUMIRROR_ATTR_ALL) ||
	    !devices)
		return -EINVAL;
	if (start >= end || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return -EINVAL;
	if (end > mirror->mm->task_size)
		return -EFAULT;
	if ((mask & GPUMIRROR_ATTR_PREFERRED_LOC) &&
	    (val->preferred_loc < GPUMIRROR_LOC_SYSTEM ||
	     val->preferred_loc >= GPUMIRROR_MAX_DEVICES))
		return -EINVAL;
	if ((mask & GPUMIRROR_ATTR_GRANULARITY) &&
	    val->granularity > GPUMIRROR_MAX_GRANULARITY)
		return -EINVAL;
	if ((mask & GPUMIRROR_ATTR_ACCESS) &&
	    (val->access_write & ~val->access_read & devices))
		return -EINVAL;
	return 0;
}

/* Gaps gpumirror_attr_set() fills over [start, last]: one new node each. */
static unsigned int gpumirror_attr_gaps(struct gpumirror *mirror,
					unsigned long start, unsigned long last)
{
	unsigned long cursor = start;
	struct interval_tree_node *it;
	unsigned int n = 0;

	for (it = interval_tree_iter_first(&mirror->priv->attrs, start, last); it;
	     it = interval_tree_iter_next(it, start, last)) {
		n += it->start > cursor;
		cursor = it->last + 1;
	}
	return n + (cursor <= last);
}

/* Take one preallocated node. */
static struct gpumirror_attr_node *
gpumirror_attr_take(struct gpumirror_attr_node **spare, unsigned int *nspare)
{
	struct gpumirror_attr_node *n = spare[--*nspare];

	spare[*nspare] = NULL;
	return n;
}

/* Cut the node containing @addr, if it straddles @addr, into two. */
static void gpumirror_attr_split(struct gpumirror *mirror, unsigned long addr,
				 struct gpumirror_attr_node **spare,
				 unsigned int *nspare)
{
	struct gpumirror_attr_node *tail;
	struct interval_tree_node *it;

	it = interval_tree_iter_first(&mirror->priv->attrs, addr, addr);
	if (!it || it->start == addr)
		return;
	tail = gpumirror_attr_take(spare, nspare);
	interval_tree_remove(it, &mirror->priv->attrs);
	tail->a = to_attr_node(it)->a;
	tail->it.start = addr;
	tail->it.last = it->last;
	it->last = addr - 1;
	interval_tree_insert(it, &mirror->priv->attrs);
	interval_tree_insert(&tail->it, &mirror->priv->attrs);
}

/*
 * Over the nodes meeting [lo, hi]: drop those equal to the defaults, merge
 * each with its right neighbour while they are adjacent and equal.
 */
static void gpumirror_attr_tidy(struct gpumirror *mirror, unsigned long lo,
				unsigned long hi)
{
	struct interval_tree_node *it, *next;
	struct gpumirror_attr_node *n;
	struct gpumirror_attrs def;
	unsigned long after;

	gpumirror_attr_default(&def);
	it = interval_tree_iter_first(&mirror->priv->attrs, lo, hi);
	while (it) {
		n = to_attr_node(it);
		after = it->last + 1;
		next = interval_tree_iter_first(&mirror->priv->attrs, after, after);
		if (gpumirror_attr_equal(&n->a, &def)) {
			interval_tree_remove(it, &mirror->priv->attrs);
			kfree(n);
		} else if (next &&
			   gpumirror_attr_equal(&n->a, &to_attr_node(next)->a)) {
			interval_tree_remove(it, &mirror->priv->attrs);
			interval_tree_remove(next, &mirror->priv->attrs);
			it->last = next->last;
			kfree(to_attr_node(next));
			interval_tree_insert(it, &mirror->priv->attrs);
			continue;	/* again, with the new neighbour */
		}
		if (after > hi)
			break;
		it = interval_tree_iter_first(&mirror->priv->attrs, after, hi);
	}
}

/* Apply @val over [start, last], every node it needs taken from @spare. */
static void gpumirror_attr_update(struct gpumirror *mirror,
				  unsigned long start, unsigned long last,
				  const struct gpumirror_attrs *val,
				  unsigned int mask, unsigned long devices,
				  struct gpumirror_attr_node **spare,
				  unsigned int *nspare)
{
	struct interval_tree_node *it;
	struct gpumirror_attr_node *n;
	unsigned long cursor = start;

	gpumirror_attr_split(mirror, start, spare, nspare);
	gpumirror_attr_split(mirror, last + 1, spare, nspare);

	do {
		it = interval_tree_iter_first(&mirror->priv->attrs, cursor, last);
		if (it && it->start == cursor) {
			n = to_attr_node(it);
		} else {
			n = gpumirror_attr_take(spare, nspare);
			gpumirror_attr_default(&n->a);
			n->it.start = cursor;
			n->it.last = it ? it->start - 1 : last;
			interval_tree_insert(&n->it, &mirror->priv->attrs);
		}
		gpumirror_attr_apply(&n->a, val, mask, devices);
		cursor = n->it.last + 1;
	} while (cursor <= last);
	gpumirror_attr_tidy(mirror, start ? start - 1 : 0, last + 1);
}

/* Ranges gpumirror_attr_revoke() zaps per notifier lock hold. */
#define GPUMIRROR_REVOKE_BATCH	64

/*
 * Access of @devices to [start, end) changed: take away their valid sets
 * of the ranges there (both passes), so no PTE keeps an access the
 * attributes no longer give. A range that reaches beyond [start, end) now has attributes that
 * differ inside it: it is retired and collected, and new ranges are made
 * with uniform attributes. Fault-mode devices fault back with the new
 * attributes; no-fault devices are suspended and the restore worker maps
 * them back, or gives the ranges up if they lost access.
 */
static void gpumirror_attr_revoke(struct gpumirror *mirror,
				  unsigned long start, unsigned long end,
				  unsigned long devices)
{
	struct gpumirror_object *obj;
	struct interval_tree_node *it;
	unsigned int n = 0;

	lockdep_assert_held_write(&mirror->priv->range_lock);
	mutex_lock(&mirror->priv->lock);
	/*
	 * Pass 1 on the ranges, then one pass 2 (one TLB wait) for
	 * %GPUMIRROR_REVOKE_BATCH of them, and the notifier lock is let go
	 * in between: CPU page table changes wait for no more than a batch.
	 * (mirror->priv->lock keeps the tree as it is.)
	 */
	down_write(&mirror->notifier_lock);
	for (it = interval_tree_iter_first(&mirror->priv->ranges, start, end - 1); it;
	     it = interval_tree_iter_next(it, start, end - 1)) {
		obj = container_of(it, struct gpumirror_object, range_it);
		/* A retired range is collected: nobody keeps it. */
		if (it->start < start || it->last >= end)
			obj->retired = true;
		gpumirror_object_revoke_start(obj, obj->retired ? ~0UL :
						   devices);
		if (++n % GPUMIRROR_REVOKE_BATCH)
			continue;
		gpumirror_finish_pending(mirror);
		up_write(&mirror->notifier_lock);
		cond_resched();
		down_write(&mirror->notifier_lock);
	}
	gpumirror_finish_pending(mirror);
	up_write(&mirror->notifier_lock);
	mutex_unlock(&mirror->priv->lock);
	gpumirror_gc(mirror);
}

/**
 * gpumirror_attr_set_devices() - set attributes, access only for some devices
 * @mirror: the mirror
 * @start: start of the range, page aligned
 * @end: end of the range (exclusive), page aligned
 * @attrs: the values
 * @mask: %GPUMIRROR_ATTR_* bits: which members of @attrs to set
 * @devices: slots whose bits of @attrs->access_read and
 *	@attrs->access_write are set; the other slots keep their access
 *	wherever it was set before
 *
 * Splits the ranges that straddle @start or @end, sets the masked members
 * everywhere in [@start, @end) and merges what became equal. A change of
 * %GPUMIRROR_ATTR_READ_ONLY invalidates every device's mappings of the
 * ranges there, a change of %GPUMIRROR_ATTR_ACCESS those of @devices (the
 * restore worker maps those of no-fault devices back as the new attributes
 * allow); it waits for the faults in progress, so none binds with the old
 * attributes afterwards. This is how a driver with one ioctl per device
 * sets one device's access in a mirror shared by several.
 *
 * Context: process context, no gpumirror lock held; takes
 * &gpumirror_private.range_lock and &gpumirror_private.attr_lock.
 * Return: 0; -EINVAL for a NULL argument, no @devices, an empty,
 * unaligned or unknown @mask, a @preferred_loc that is neither
 * %GPUMIRROR_LOC_SYSTEM nor a slot, a @granularity above
 * %GPUMIRROR_MAX_GRANULARITY or write access without read access for a
 * slot of @devices, or an empty or unaligned range; -EFAULT beyond the
 * user address space; -ENOMEM, with the attributes unchanged.
 */
int gpumirror_attr_set_devices(struct gpumirror *mirror, unsigned long start,
			       unsigned long end,
			       const struct gpumirror_attrs *attrs,
			       unsigned int mask, unsigned long devices)
{
	struct gpumirror_attr_node **spare;
	unsigned long revoke = 0;
	unsigned int i, n, total;
	int ret;

	ret = gpumirror_attr_check(mirror, start, end, attrs, mask, devices);
	if (ret)
		return ret;

	if (mask & GPUMIRROR_ATTR_READ_ONLY)
		revoke = ~0UL;
	else if (mask & GPUMIRROR_ATTR_ACCESS)
		revoke = devices;
	/* Faults and restores read the attributes under it for read. */
	if (revoke)
		down_write(&mirror->priv->range_lock);
	mutex_lock(&mirror->priv->attr_lock);
	/* One node per gap, one per split at @start and at @end. */
	total = gpumirror_attr_gaps(mirror, start, end - 1) + 2;
	spare = kcalloc(total, sizeof(*spare), GFP_KERNEL);
	for (n = 0; spare && n < total; n++) {
		spare[n] = kzalloc(sizeof(**spare), GFP_KERNEL);
		if (!spare[n])
			break;
	}
	if (spare && n == total)
		gpumirror_attr_update(mirror, start, end - 1, attrs, mask,
				      devices, spare, &n);
	else
		ret = -ENOMEM;
	/* What the update did not take, or all of it on failure. */
	for (i = 0; spare && i < total; i++)
		kfree(spare[i]);
	kfree(spare);
	mutex_unlock(&mirror->priv->attr_lock);
	if (revoke) {
		if (!ret)
			gpumirror_attr_revoke(mirror, start, end, revoke);
		up_write(&mirror->priv->range_lock);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(gpumirror_attr_set_devices);

/**
 * gpumirror_attr_set() - set attributes over a CPU VA range
 * @mirror: the mirror
 * @start: start of the range, page aligned
 * @end: end of the range (exclusive), page aligned
 * @attrs: the values
 * @mask: %GPUMIRROR_ATTR_* bits: which members of @attrs to set
 *
 * gpumirror_attr_set_devices() for every slot: %GPUMIRROR_ATTR_ACCESS
 * sets both access masks whole.
 *
 * Context: process context, no gpumirror lock held; takes
 * &gpumirror_private.range_lock and &gpumirror_private.attr_lock.
 * Return: as gpumirror_attr_set_devices().
 */
int gpumirror_attr_set(struct gpumirror *mirror, unsigned long start,
		       unsigned long end, const struct gpumirror_attrs *attrs,
		       unsigned int mask)
{
	return gpumirror_attr_set_devices(mirror, start, end, attrs, mask,
					  ~0UL);
}
EXPORT_SYMBOL_GPL(gpumirror_attr_set);

/**
 * gpumirror_attr_get() - the attributes at an address
 * @mirror: the mirror
 * @addr: a CPU VA
 * @attrs: filled in with the attributes at @addr
 * @end: if not NULL, set to the end of the run of equal attributes that
 *	contains @addr
 *
 * Context: process context; takes &gpumirror_private.attr_lock.
 */
void gpumirror_attr_get(struct gpumirror *mirror, unsigned long addr,
			struct gpumirror_attrs *attrs, unsigned long *end)
{
	struct interval_tree_node *it;

	mutex_lock(&mirror->priv->attr_lock);
	it = interval_tree_iter_first(&mirror->priv->attrs, addr, addr);
	if (it) {
		*attrs = to_attr_node(it)->a;
		if (end)
			*end = it->last + 1;
	} else {
		gpumirror_attr_default(attrs);
		it = interval_tree_iter_first(&mirror->priv->attrs, addr, ULONG_MAX);
		if (end)
			*end = it ? it->start : mirror->mm->task_size;
	}
	mutex_unlock(&mirror->priv->attr_lock);
}
EXPORT_SYMBOL_GPL(gpumirror_attr_get);

/*
 * The device in @slot left: give the slot the default attributes
 * everywhere, so a device attached into it later inherits nothing.
 */
void gpumirror_attr_forget(struct gpumirror *mirror, unsigned int slot)
{
	struct interval_tree_node *it;
	struct gpumirror_attr_node *n;

	mutex_lock(&mirror->priv->attr_lock);
	for (it = interval_tree_iter_first(&mirror->priv->attrs, 0, ULONG_MAX); it;
	     it = interval_tree_iter_next(it, 0, ULONG_MAX)) {
		n = to_attr_node(it);
		n->a.access_read |= BIT(slot);
		n->a.access_write |= BIT(slot);
		if (n->a.preferred_loc == (int)slot)
			n->a.preferred_loc = GPUMIRROR_LOC_SYSTEM;
	}
	gpumirror_attr_tidy(mirror, 0, ULONG_MAX);
	mutex_unlock(&mirror->priv->attr_lock);
}

/* Free the whole tree; the mirror is going away. */
void gpumirror_attr_fini(struct gpumirror *mirror)
{
	struct interval_tree_node *it;

	while ((it = interval_tree_iter_first(&mirror->priv->attrs, 0, ULONG_MAX))) {
		interval_tree_remove(it, &mirror->priv->attrs);
		kfree(to_attr_node(it));
	}
}
