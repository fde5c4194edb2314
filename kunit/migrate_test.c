// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the driver_migrate_lock protocol of gpumirror_migrate_to_devmem(),
 * with the migration attempts scripted through a static stub; then real
 * migrations to a small device-private memory of the suite's own.
 */

#include <kunit/static_stub.h>
#include <kunit/test-bug.h>
#include <kunit/test.h>
#include <linux/gpumirror.h>
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/shmem_fs.h>
#include <linux/uaccess.h>

#include "../internal.h"
#include "test_dev.h"

/* What each scripted attempt reports. */
struct gm_attempt {
	int ret;
	unsigned long missed;
	unsigned long nomem;
	unsigned long moved;
};

struct gm_mig_case {
	const char *name;
	unsigned int flags;
	struct gm_attempt at[2];
	/* expected */
	int ret;
	unsigned int calls;
	int evict[2];
	unsigned long migrated;
	u64 races;
	u64 busy;
	bool coherent;	/* the device memory is coherent */
};

static const struct gm_mig_case gm_mig_cases[] = {
	{ "clean", 0, { { 0 } }, 0, 1, { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 0 },
	/* The exclusive retry evicts the 5 pages the first attempt moved. */
	{ "race_then_exclusive_ok", 0, { { 0, 3, 0, 5 }, { 0, 0, 0, 8 } }, 0, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 8, 1, 0 },
	/*
	 * Coherent memory is not evicted: the 5 pages stay and count (the
	 * old code reported 3 of 8).
	 */
	{ "coherent_keeps_first_attempt", 0,
	  { { 0, 3, 0, 5 }, { 0, 0, 0, 3 } }, 0, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 8, 1, 0,
	  .coherent = true },
	{ "race_twice_busy", 0, { { 0, 3, 0, 5 }, { 0, 2, 0, 6 } }, -EBUSY, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 0, 1, 1 },
	{ "out_of_memory_no_retry", 0, { { 0, 2, 2, 6 } }, -ENOMEM, 1,
	  { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 0 },
	{ "race_in_exclusive_nomem", 0, { { 0, 3 }, { 0, 2, 1, 6 } }, -EBUSY,
	  2, { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 0, 1, 1 },
	{ "mixed_keeps_last_attempt", GPUMIRROR_MIGRATE_MIXED,
	  { { 0, 3, 0, 5 }, { 0, 3, 0, 4 } }, 0, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 4, 1, 1 },
	{ "mixed_nothing_moved", GPUMIRROR_MIGRATE_MIXED,
	  { { 0, 3 }, { 0, 3 } }, -EBUSY, 2,
	  { GPUMIRROR_EVICT_FOREIGN, GPUMIRROR_EVICT_ALL }, 0, 1, 1 },
	{ "system_only_one_attempt", GPUMIRROR_MIGRATE_SYSTEM_ONLY,
	  { { 0, 2, 0, 5 } }, 0, 1, { GPUMIRROR_EVICT_NONE }, 5, 0, 0 },
	{ "system_only_nothing_moved", GPUMIRROR_MIGRATE_SYSTEM_ONLY,
	  { { 0, 2 } }, -EBUSY, 1, { GPUMIRROR_EVICT_NONE }, 0, 0, 1 },
	{ "vma_gone_in_attempt", 0, { { -EINVAL } }, -EINVAL, 1,
	  { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 0 },
	/* A page that can never move: -EBUSY at once, no exclusive retry. */
	{ "permanent_no_escalation", 0, { { -EBUSY, 0, 0, 3 } }, -EBUSY, 1,
	  { GPUMIRROR_EVICT_FOREIGN }, 0, 0, 1 },
	{ "permanent_mixed_keeps", GPUMIRROR_MIGRATE_MIXED,
	  { { -EBUSY, 0, 0, 3 } }, 0, 1, { GPUMIRROR_EVICT_FOREIGN }, 3, 0, 1 },
};

KUNIT_ARRAY_PARAM_DESC(gm_mig, gm_mig_cases, name);

static struct {
	const struct gm_mig_case *mc;
	unsigned int calls;
	int evict[2];
} gm_script;

static int gm_attempt_stub(struct gpumirror_devmem *dm, struct mm_struct *mm,
			   unsigned long start, unsigned long end, int evict,
			   struct gpumirror_mig *m)
{
	const struct gm_attempt *at;

	if (gm_script.calls >= 2)
		return -EIO;
	at = &gm_script.mc->at[gm_script.calls];
	gm_script.evict[gm_script.calls++] = evict;
	m->missed = at->missed;
	m->nomem = at->nomem;
	m->moved += at->moved;
	return at->ret;
}

/* Full device memory: counts the pages asked of it. */
static atomic_t gm_no_page_calls;

static struct page *gm_no_page(struct gpumirror_devmem *dm)
{
	atomic_inc(&gm_no_page_calls);
	return NULL;
}

/* With no page allocated there is nothing to copy: never reached. */
static int gm_no_copy(struct gpumirror_devmem *dm, struct page **dst,
		      struct page **src, unsigned long n)
{
	kunit_fail_current_test("copy with no device page");
	return -EIO;
}

static const struct gpumirror_devmem_ops gm_devmem_ops = {
	.page_alloc = gm_no_page,
	.copy = gm_no_copy,
};

/* Device memory that is always full. */
static void gm_devmem_init(struct gpumirror_devmem *dm)
{
	static int owner;

	memset(dm, 0, sizeof(*dm));
	atomic_set(&gm_no_page_calls, 0);
	dm->owner = &owner;
	dm->type = MEMORY_DEVICE_PRIVATE;
	dm->ops = &gm_devmem_ops;
}

static void gm_migrate_protocol(struct kunit *test)
{
	const struct gm_mig_case *mc = test->param_value;
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE,
				       GM_RW);
	struct gpumirror_devmem dm;
	unsigned long migrated = ~0UL;
	unsigned int i;
	int ret;

	gm_devmem_init(&dm);
	if (mc->coherent)
		dm.type = MEMORY_DEVICE_COHERENT;
	memset(&gm_script, 0, sizeof(gm_script));
	gm_script.mc = mc;
	kunit_activate_static_stub(test, gpumirror_migrate_attempt,
				   gm_attempt_stub);
	ret = gpumirror_migrate_to_devmem(&dm, current->mm, a,
					  a + 4 * PAGE_SIZE, mc->flags,
					  &migrated);
	kunit_deactivate_static_stub(test, gpumirror_migrate_attempt);

	/* Scripted attempts: the device memory itself is never asked. */
	KUNIT_EXPECT_EQ(test, atomic_read(&gm_no_page_calls), 0);
	KUNIT_EXPECT_EQ(test, ret, mc->ret);
	KUNIT_EXPECT_EQ(test, gm_script.calls, mc->calls);
	for (i = 0; i < mc->calls && i < 2; i++)
		KUNIT_EXPECT_EQ(test, gm_script.evict[i], mc->evict[i]);
	KUNIT_EXPECT_EQ(test, migrated, mc->migrated);
	KUNIT_EXPECT_EQ(test, atomic64_read(&dm.stats.races), mc->races);
	KUNIT_EXPECT_EQ(test, atomic64_read(&dm.stats.busy), mc->busy);
}

static int gm_mig(struct gpumirror_devmem *dm, struct mm_struct *mm,
		  unsigned long start, unsigned long end, unsigned int flags)
{
	return gpumirror_migrate_to_devmem(dm, mm, start, end, flags, NULL);
}

/* Bad arguments fail before any attempt. */
static void gm_migrate_bad_args(struct kunit *test)
{
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE,
				       GM_RW);
	unsigned long n = gm_test_mmap(test, PAGE_SIZE, PROT_NONE);
	struct gpumirror_devmem dm;
	struct mm_struct *mm = current->mm;

	gm_devmem_init(&dm);
	memset(&gm_script, 0, sizeof(gm_script));
	kunit_activate_static_stub(test, gpumirror_migrate_attempt,
				   gm_attempt_stub);
	KUNIT_EXPECT_EQ(test, gm_mig(NULL, mm, a, a + PAGE_SIZE, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, a + 1, a + PAGE_SIZE, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, a, a, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, a, a + PAGE_SIZE, BIT(7)),
			-EINVAL);
	/* PROT_NONE: no readable VMA. */
	KUNIT_EXPECT_EQ(test, gm_mig(&dm, mm, n, n + PAGE_SIZE, 0), -EINVAL);
	kunit_deactivate_static_stub(test, gpumirror_migrate_attempt);
	KUNIT_EXPECT_EQ(test, gm_script.calls, 0);
}

/* The real attempt: device memory that is always full. */
static void gm_migrate_no_memory(struct kunit *test)
{
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE,
				       GM_RW);
	struct gpumirror_devmem dm;
	unsigned long migrated = ~0UL;
	u64 v = 42;

	gm_devmem_init(&dm);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)a, &v, sizeof(v)),
			0);
	KUNIT_EXPECT_EQ(test,
			gpumirror_migrate_to_devmem(&dm, current->mm, a,
						    a + 4 * PAGE_SIZE, 0,
						    &migrated),
			-ENOMEM);
	/* The real attempt asked the memory for a page (and got none). */
	KUNIT_EXPECT_GT(test, atomic_read(&gm_no_page_calls), 0);
	KUNIT_EXPECT_EQ(test, migrated, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&dm.stats.races), 0);
	v = 0;
	KUNIT_ASSERT_EQ(test, copy_from_user(&v, (void __user *)a, sizeof(v)),
			0);
	KUNIT_EXPECT_EQ(test, v, 42);
}

/*
 * A real device-private memory for the cases below: one 2 MiB range of
 * ZONE_DEVICE pages, each allocated page backed by a system page that
 * holds its data, as lib/test_hmm does.
 */
#define GM_DEVMEM_SIZE		SZ_2M

struct gm_devmem {
	struct gpumirror_devmem dm;
	struct dev_pagemap pgmap;
	spinlock_t lock;		/* protects free */
	struct page *free;
	atomic_t allocs;
	struct page *last;
	bool fail_copy;
	/* pages its copy engine read from another device memory */
	atomic_t peer_reads;
	/* its pages freed (the last reference gone) */
	atomic_t frees;
};

static struct gm_devmem *to_gm_devmem(struct gpumirror_devmem *dm)
{
	return container_of(dm, struct gm_devmem, dm);
}

static struct page *gm_dev_alloc(struct gpumirror_devmem *dm)
{
	struct gm_devmem *gd = to_gm_devmem(dm);
	struct page *backing, *page;

	backing = alloc_page(GFP_HIGHUSER);
	if (!backing)
		return NULL;
	spin_lock(&gd->lock);
	page = gd->free;
	if (page)
		gd->free = page->zone_device_data;
	spin_unlock(&gd->lock);
	if (!page) {
		__free_page(backing);
		return NULL;
	}
	zone_device_page_init(page);
	page->zone_device_data = backing;
	atomic_inc(&gd->allocs);
	WRITE_ONCE(gd->last, page);
	return page;
}

/* The page holding the data of @page, a device page or a system page. */
static struct page *gm_dev_data(struct page *page)
{
	return is_device_private_page(page) ? page->zone_device_data : page;
}

/* A copy engine that can be told to fail (&gm_devmem.fail_copy). */
static int gm_dev_copy(struct gpumirror_devmem *dm, struct page **dst,
		       struct page **src, unsigned long n)
{
	unsigned long i;

	if (READ_ONCE(to_gm_devmem(dm)->fail_copy))
		return -EIO;
	for (i = 0; i < n; i++) {
		if (src[i] && is_zone_device_page(src[i]) &&
		    src[i]->pgmap != &to_gm_devmem(dm)->pgmap)
			atomic_inc(&to_gm_devmem(dm)->peer_reads);
		if (src[i])
			copy_highpage(gm_dev_data(dst[i]), gm_dev_data(src[i]));
		else
			clear_highpage(gm_dev_data(dst[i]));
	}
	return 0;
}

static const struct gpumirror_devmem_ops gm_dev_ops = {
	.page_alloc = gm_dev_alloc,
	.copy = gm_dev_copy,
};

/* Peers share an owner: the pagemap says whose memory a page is. */
static struct gpumirror_devmem *gm_dev_page_devmem(struct gpumirror_devmem *dm,
						   struct page *page)
{
	return &container_of(page->pgmap, struct gm_devmem, pgmap)->dm;
}

static const struct gpumirror_devmem_ops gm_peer_ops = {
	.page_alloc = gm_dev_alloc,
	.copy = gm_dev_copy,
	.page_devmem = gm_dev_page_devmem,
};

/* Knows its own pages only: any other page of the owner is in no peer. */
static struct gpumirror_devmem *gm_dev_page_self(struct gpumirror_devmem *dm,
						 struct page *page)
{
	return page->pgmap == &to_gm_devmem(dm)->pgmap ? dm : NULL;
}

static const struct gpumirror_devmem_ops gm_self_ops = {
	.page_alloc = gm_dev_alloc,
	.copy = gm_dev_copy,
	.page_devmem = gm_dev_page_self,
};

static void gm_dev_page_free(struct page *page)
{
	struct gm_devmem *gd = container_of(page->pgmap, struct gm_devmem,
					    pgmap);

	__free_page(page->zone_device_data);
	spin_lock(&gd->lock);
	page->zone_device_data = gd->free;
	gd->free = page;
	spin_unlock(&gd->lock);
	atomic_inc(&gd->frees);
}

static vm_fault_t gm_dev_migrate_to_ram(struct vm_fault *vmf)
{
	struct gm_devmem *gd = container_of(vmf->page->pgmap, struct gm_devmem,
					    pgmap);

	return gpumirror_devmem_fault(&gd->dm, vmf);
}

static const struct dev_pagemap_ops gm_dev_pagemap_ops = {
	.page_free = gm_dev_page_free,
	.migrate_to_ram = gm_dev_migrate_to_ram,
};

/*
 * Runs after the test thread, and so its mm, is gone: memunmap_pages()
 * waits for the last device page to be freed.
 */
static void gm_devmem_release(void *data)
{
	struct gm_devmem *gd = data;

	memunmap_pages(&gd->pgmap);
	release_mem_region(gd->pgmap.range.start,
			   range_len(&gd->pgmap.range));
}

/*
 * A device memory whose pagemap owner is @owner, shared with its peers, and
 * its pages' own device memory known through @ops; or, with a NULL @owner,
 * a memory of its own that knows no peer.
 */
static struct gm_devmem *gm_devmem_create_owned(struct kunit *test,
						void *owner,
						const struct gpumirror_devmem_ops *ops)
{
	struct gm_devmem *gd;
	struct resource *res;
	unsigned long pfn;
	void *ptr;

	if (!IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		kunit_skip(test, "needs CONFIG_DEVICE_PRIVATE");
	gd = kunit_kzalloc(test, sizeof(*gd), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, gd);
	res = request_free_mem_region(&iomem_resource, GM_DEVMEM_SIZE,
				      "gpumirror-kunit");
	if (IS_ERR(res))
		kunit_skip(test, "no free physical range: %ld", PTR_ERR(res));
	gd->pgmap.type = MEMORY_DEVICE_PRIVATE;
	gd->pgmap.range.start = res->start;
	gd->pgmap.range.end = res->end;
	gd->pgmap.nr_range = 1;
	gd->pgmap.ops = &gm_dev_pagemap_ops;
	gd->pgmap.owner = owner ?: gd;
	ptr = memremap_pages(&gd->pgmap, numa_node_id());
	if (IS_ERR_OR_NULL(ptr)) {
		release_mem_region(res->start, resource_size(res));
		KUNIT_FAIL_AND_ABORT(test, "memremap_pages: %ld",
				     PTR_ERR(ptr));
	}
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, gm_devmem_release,
							gd), 0);
	spin_lock_init(&gd->lock);
	for (pfn = PHYS_PFN(res->start); pfn <= PHYS_PFN(res->end); pfn++) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = gd->free;
		gd->free = page;
	}
	gd->dm.owner = gd->pgmap.owner;
	gd->dm.type = MEMORY_DEVICE_PRIVATE;
	gd->dm.ops = ops;
	return gd;
}

static struct gm_devmem *gm_devmem_create(struct kunit *test)
{
	return gm_devmem_create_owned(test, NULL, &gm_dev_ops);
}

#define GM_MAGIC	0x676d6d6967000000ULL

static void gm_put(struct kunit *test, unsigned long addr, u64 v)
{
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)addr, &v, sizeof(v)),
			0);
}

/* Anonymous user memory mapped with @flags. */
static unsigned long gm_mmap(struct kunit *test, unsigned long len,
			     unsigned long flags)
{
	unsigned long addr = kunit_vm_mmap(test, NULL, 0, len, GM_RW, flags, 0);

	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	KUNIT_ASSERT_NE(test, addr, 0);
	return addr;
}

/* Read through the CPU: a device page faults back to system memory. */
static u64 gm_get(struct kunit *test, unsigned long addr)
{
	u64 v = 0;

	KUNIT_EXPECT_EQ(test, copy_from_user(&v, (void __user *)addr,
					     sizeof(v)), 0);
	return v;
}

/* The 4 pages at @addr get GM_MAGIC and their index. */
static void gm_put4(struct kunit *test, unsigned long addr)
{
	unsigned long i;

	for (i = 0; i < 4; i++)
		gm_put(test, addr + i * PAGE_SIZE, GM_MAGIC | i);
}

/* The CPU reads back what gm_put4() wrote, wherever the pages are. */
static void gm_expect4(struct kunit *test, unsigned long addr)
{
	unsigned long i;

	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, gm_get(test, addr + i * PAGE_SIZE),
				GM_MAGIC | i);
}

/* Move @gd's pages among the 4 at @addr back; return how many moved. */
static unsigned long gm_back4(struct kunit *test, struct gm_devmem *gd,
			      unsigned long addr)
{
	unsigned long migrated = ~0UL;

	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_ram(&gd->dm, current->mm,
						       addr,
						       addr + 4 * PAGE_SIZE,
						       &migrated), 0);
	return migrated;
}

/*
 * Migrating the 4 pages at @a fails with -EBUSY at once: nothing moved,
 * no write-locked retry (races 0), one failure counted.
 */
static void gm_expect_permanent(struct kunit *test, struct gm_devmem *gd,
				unsigned long a)
{
	unsigned long migrated = ~0UL;

	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm,
							  current->mm, a,
							  a + 4 * PAGE_SIZE,
							  0, &migrated),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, migrated, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.races), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.busy), 1);
}

/*
 * Shared memory (shmem) can never move to device memory: the call fails
 * with -EBUSY without retrying under the lock held for write (the old
 * code counted every such page as a race: races 1, and it allocated and
 * copied device pages for nothing, twice).
 */
static void gm_migrate_shared_permanent(struct kunit *test)
{
	struct gm_devmem *gd = gm_devmem_create(test);
	struct mm_struct *mm = gm_test_mm(test);
	unsigned long migrated = ~0UL;
	unsigned long a;

	a = gm_mmap(test, 4 * PAGE_SIZE, MAP_SHARED | MAP_ANONYMOUS);
	gm_put4(test, a);
	gm_expect_permanent(test, gd, a);
	KUNIT_EXPECT_EQ(test, atomic_read(&gd->allocs), 0);
	/* Mixed: nothing moved is still the error, and still no retry. */
	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, mm, a,
							  a + 4 * PAGE_SIZE,
							  GPUMIRROR_MIGRATE_MIXED,
							  &migrated),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.races), 0);
	gm_expect4(test, a);
}

/*
 * A private file mapping: its private copies move, its page-cache pages
 * never do. All or nothing fails with -EBUSY and no retry, and rolls the
 * private copy back; mixed keeps it. The old code took the page-cache
 * pages for a race (races 1, 2 with mixed).
 */
static void gm_migrate_file_private_permanent(struct kunit *test)
{
	struct gm_devmem *gd = gm_devmem_create(test);
	struct mm_struct *mm = gm_test_mm(test);
	unsigned long migrated = ~0UL;
	struct file *file;
	unsigned long a;

	file = shmem_file_setup("gpumirror-kunit", 4 * PAGE_SIZE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	/* The mapping holds its own reference to the file. */
	a = kunit_vm_mmap(test, file, 0, 4 * PAGE_SIZE, GM_RW, MAP_PRIVATE, 0);
	fput(file);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(a));
	KUNIT_ASSERT_NE(test, a, 0);
	/* Page 0: a private (anonymous) copy; page 1: the page cache's. */
	gm_put(test, a, GM_MAGIC);
	KUNIT_EXPECT_EQ(test, gm_get(test, a + PAGE_SIZE), 0);

	gm_expect_permanent(test, gd, a);
	/* The copy of page 0 went back: 1 page allocated, none for the rest. */
	KUNIT_EXPECT_EQ(test, atomic_read(&gd->allocs), 1);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.to_ram), 1);

	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, mm, a,
							  a + 4 * PAGE_SIZE,
							  GPUMIRROR_MIGRATE_MIXED,
							  &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 1);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.races), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.to_dev), 2);
	/* Page 0 comes back on the CPU's touch, with its data. */
	KUNIT_EXPECT_EQ(test, gm_get(test, a), GM_MAGIC);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.to_ram), 2);
}

/*
 * A pinned page is a real race: it still escalates once to the lock held
 * for write, then fails with -EBUSY and moves nothing.
 */
static void gm_migrate_pinned_escalates(struct kunit *test)
{
	struct gm_devmem *gd = gm_devmem_create(test);
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	unsigned long migrated = ~0UL;
	struct page *pinned;

	gm_put4(test, a);
	KUNIT_ASSERT_EQ(test, pin_user_pages_fast(a + PAGE_SIZE, 1, FOLL_WRITE,
						  &pinned), 1);
	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, current->mm,
							  a, a + 4 * PAGE_SIZE,
							  0, &migrated),
			-EBUSY);
	unpin_user_page(pinned);
	KUNIT_EXPECT_EQ(test, migrated, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.races), 1);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.busy), 1);
	gm_expect4(test, a);
}

/* Counts the invalidations of a range and the span they covered. */
struct gm_inval {
	struct mmu_interval_notifier mni;
	unsigned int count;
	unsigned long start;
	unsigned long end;
};

static bool gm_inval_cb(struct mmu_interval_notifier *mni,
			const struct mmu_notifier_range *range,
			unsigned long cur_seq)
{
	struct gm_inval *gi = container_of(mni, struct gm_inval, mni);

	mmu_interval_set_seq(mni, cur_seq);
	if (!gi->count++) {
		gi->start = range->start;
		gi->end = range->end;
	}
	gi->start = min(gi->start, range->start);
	gi->end = max(gi->end, range->end);
	return true;
}

static const struct mmu_interval_notifier_ops gm_inval_ops = {
	.invalidate = gm_inval_cb,
};

/*
 * Migrating a range that is in the device memory already raises no
 * invalidation (the old code set it up anyway: one %MMU_NOTIFY_MIGRATE
 * over the whole range, count 1). With one page back in system memory,
 * only that page's span is set up and invalidated (the old code: the
 * whole range).
 */
static void gm_migrate_resident_untouched(struct kunit *test)
{
	struct gm_devmem *gd = gm_devmem_create(test);
	unsigned long a = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct mm_struct *mm = current->mm;
	unsigned long migrated = ~0UL;
	struct gm_inval gi = { };

	gm_put4(test, a);
	KUNIT_ASSERT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, mm, a,
							  a + 4 * PAGE_SIZE,
							  0, &migrated), 0);
	KUNIT_ASSERT_EQ(test, migrated, 4);

	KUNIT_ASSERT_EQ(test, mmu_interval_notifier_insert(&gi.mni, mm, a,
							   4 * PAGE_SIZE,
							   &gm_inval_ops), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, mm, a,
							  a + 4 * PAGE_SIZE,
							  0, &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 0);
	KUNIT_EXPECT_EQ(test, gi.count, 0);

	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_ram(&gd->dm, mm,
						       a + PAGE_SIZE,
						       a + 2 * PAGE_SIZE,
						       &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 1);
	gi.count = 0;
	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, mm, a,
							  a + 4 * PAGE_SIZE,
							  0, &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 1);
	KUNIT_EXPECT_GT(test, gi.count, 0);
	KUNIT_EXPECT_GE(test, gi.start, a + PAGE_SIZE);
	KUNIT_EXPECT_LE(test, gi.end, a + 2 * PAGE_SIZE);
	mmu_interval_notifier_remove(&gi.mni);

	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.to_dev), 5);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.races), 0);
	gm_expect4(test, a);
}

/* The CPU fault path, called as do_swap_page() calls migrate_to_ram. */
static vm_fault_t gm_cpu_fault(struct kunit *test, struct gm_devmem *gd,
			       unsigned long addr, struct page *page)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	vm_fault_t ret = VM_FAULT_SIGSEGV;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (vma) {
		struct vm_fault vmf = {
			.vma = vma,
			.address = addr,
			.page = page,
		};

		get_page(page);
		ret = gpumirror_devmem_fault(&gd->dm, &vmf);
		put_page(page);
	}
	mmap_read_unlock(mm);
	return ret;
}

/*
 * A CPU fault whose copy out of device memory fails gets VM_FAULT_SIGBUS
 * and leaves the page in device memory (the old code returned 0, so the
 * CPU faulted again forever). Once the copy works, the fault brings the
 * page and its data back.
 */
static void gm_devmem_fault_copy_fails(struct kunit *test)
{
	struct gm_devmem *gd = gm_devmem_create(test);
	unsigned long a = gm_test_mmap(test, PAGE_SIZE, GM_RW);
	unsigned long migrated = ~0UL;
	struct page *page;

	gm_put(test, a, GM_MAGIC);
	KUNIT_ASSERT_EQ(test, gpumirror_migrate_to_devmem(&gd->dm, current->mm,
							  a, a + PAGE_SIZE, 0,
							  &migrated), 0);
	KUNIT_ASSERT_EQ(test, migrated, 1);
	page = READ_ONCE(gd->last);
	KUNIT_ASSERT_NOT_NULL(test, page);

	WRITE_ONCE(gd->fail_copy, true);
	KUNIT_EXPECT_EQ(test, (__force u32)gm_cpu_fault(test, gd, a, page),
			(__force u32)VM_FAULT_SIGBUS);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.to_ram), 0);

	WRITE_ONCE(gd->fail_copy, false);
	KUNIT_EXPECT_EQ(test, (__force u32)gm_cpu_fault(test, gd, a, page), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gd->dm.stats.to_ram), 1);
	KUNIT_EXPECT_EQ(test, gm_get(test, a), GM_MAGIC);
}

static int gm_mig_n(struct gm_devmem *gd, unsigned long start,
		    unsigned long npages, unsigned long *migrated)
{
	return gpumirror_migrate_to_devmem(&gd->dm, current->mm, start,
					   start + npages * PAGE_SIZE, 0,
					   migrated);
}

/* Two peers: device memories sharing one pagemap owner. */
static void gm_peers(struct kunit *test, struct gm_devmem **a,
		     struct gm_devmem **b)
{
	void *owner = kunit_kzalloc(test, 1, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, owner);
	*a = gm_devmem_create_owned(test, owner, &gm_peer_ops);
	*b = gm_devmem_create_owned(test, owner, &gm_peer_ops);
}

/*
 * Peers (one pagemap owner): pages of A move to B in one copy, read by B's
 * engine straight from A's memory, in the same batch as the system pages
 * beside them; A never copies them out (to_ram 0), counts them gone to a
 * peer, and gets its device pages back. After that the pages are B's
 * alone: A has none left to move back, B moves all four. The old code
 * took A's pages for B's own (migrated 2, not 4) and left them in A.
 */
static void gm_migrate_peer_one_copy(struct kunit *test)
{
	unsigned long p = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	unsigned long migrated = ~0UL;
	struct gm_devmem *a, *b;

	gm_peers(test, &a, &b);
	gm_put4(test, p);
	KUNIT_ASSERT_EQ(test, gm_mig_n(a, p, 2, &migrated), 0);
	KUNIT_ASSERT_EQ(test, migrated, 2);

	KUNIT_EXPECT_EQ(test, gm_mig_n(b, p, 4, &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 4);
	KUNIT_EXPECT_EQ(test, atomic64_read(&b->dm.stats.to_dev), 4);
	KUNIT_EXPECT_EQ(test, atomic64_read(&b->dm.stats.from_peer), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&b->peer_reads), 2);
	KUNIT_EXPECT_EQ(test, atomic64_read(&a->dm.stats.to_ram), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&a->dm.stats.to_peer), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&a->frees), 2);
	KUNIT_EXPECT_EQ(test, atomic64_read(&b->dm.stats.races), 0);

	/* In B now, and B's alone. */
	KUNIT_EXPECT_EQ(test, gm_mig_n(b, p, 4, &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 0);
	KUNIT_EXPECT_EQ(test, gm_back4(test, a, p), 0);
	KUNIT_EXPECT_EQ(test, gm_back4(test, b, p), 4);
	gm_expect4(test, p);
}

/*
 * Another owner's pages take the fallback: A's CPU fault path copies them
 * out to system memory (A's to_ram), then B copies them in, two copies and
 * no peer read.
 */
static void gm_migrate_foreign_bounces(struct kunit *test)
{
	struct gm_devmem *a = gm_devmem_create_owned(test, NULL, &gm_peer_ops);
	struct gm_devmem *b = gm_devmem_create_owned(test, NULL, &gm_peer_ops);
	unsigned long p = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	unsigned long migrated = ~0UL;

	gm_put4(test, p);
	KUNIT_ASSERT_EQ(test, gm_mig_n(a, p, 4, &migrated), 0);
	KUNIT_ASSERT_EQ(test, migrated, 4);

	KUNIT_EXPECT_EQ(test, gm_mig_n(b, p, 4, &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 4);
	KUNIT_EXPECT_EQ(test, atomic64_read(&a->dm.stats.to_ram), 4);
	KUNIT_EXPECT_EQ(test, atomic64_read(&b->dm.stats.from_peer), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&b->peer_reads), 0);
	gm_expect4(test, p);
	KUNIT_EXPECT_EQ(test, atomic64_read(&b->dm.stats.to_ram), 4);
}

/*
 * A page of the owner that page_devmem places in no peer's memory can
 * never move to B: -EBUSY at once, no write-locked retry, nothing copied,
 * and A still has it.
 */
static void gm_migrate_no_home_permanent(struct kunit *test)
{
	void *owner = kunit_kzalloc(test, 1, GFP_KERNEL);
	unsigned long p = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	unsigned long migrated = ~0UL;
	struct gm_devmem *a, *b;

	KUNIT_ASSERT_NOT_NULL(test, owner);
	a = gm_devmem_create_owned(test, owner, &gm_self_ops);
	b = gm_devmem_create_owned(test, owner, &gm_self_ops);
	gm_put4(test, p);
	KUNIT_ASSERT_EQ(test, gm_mig_n(a, p, 4, &migrated), 0);
	gm_expect_permanent(test, b, p);
	KUNIT_EXPECT_EQ(test, atomic_read(&b->peer_reads), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&b->allocs), 0);
	KUNIT_EXPECT_EQ(test, gm_back4(test, a, p), 4);
	gm_expect4(test, p);
}

/*
 * Moving only what is in system memory leaves a peer's pages in the peer,
 * as lib/test_hmm's MIGRATE_TO_DEV does with any device page.
 */
static void gm_migrate_peer_system_only(struct kunit *test)
{
	unsigned long p = gm_test_mmap(test, 4 * PAGE_SIZE, GM_RW);
	struct mm_struct *mm = current->mm;
	unsigned long migrated = ~0UL;
	struct gm_devmem *a, *b;

	gm_peers(test, &a, &b);
	gm_put4(test, p);
	KUNIT_ASSERT_EQ(test, gm_mig_n(a, p, 2, &migrated), 0);
	KUNIT_EXPECT_EQ(test, gpumirror_migrate_to_devmem(&b->dm, mm, p,
							  p + 4 * PAGE_SIZE,
							  GPUMIRROR_MIGRATE_SYSTEM_ONLY,
							  &migrated), 0);
	KUNIT_EXPECT_EQ(test, migrated, 2);
	KUNIT_EXPECT_EQ(test, atomic64_read(&b->dm.stats.from_peer), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&b->peer_reads), 0);
	KUNIT_EXPECT_EQ(test, gm_back4(test, a, p), 2);
	gm_expect4(test, p);
}

/*
 * A CPU fault on A's page brings back A's pages of its window, not the
 * peer B's pages in the same window (the old code took every page of the
 * owner for A's and copied B's out with A's engine).
 */
static void gm_devmem_fault_leaves_peers(struct kunit *test)
{
	/* A's window: the 4 aligned pages around a fault, inside the VMA. */
	unsigned long p = ALIGN(gm_test_mmap(test, 8 * PAGE_SIZE, GM_RW),
				4 * PAGE_SIZE);
	unsigned long migrated = ~0UL;
	struct gm_devmem *a, *b;
	struct page *page;

	gm_peers(test, &a, &b);
	a->dm.fault_order = 2;
	gm_put4(test, p);
	KUNIT_ASSERT_EQ(test, gm_mig_n(a, p, 1, &migrated), 0);
	page = READ_ONCE(a->last);
	KUNIT_ASSERT_EQ(test, gm_mig_n(a, p + PAGE_SIZE, 1, &migrated), 0);
	KUNIT_ASSERT_EQ(test, gm_mig_n(b, p + 2 * PAGE_SIZE, 2, &migrated), 0);

	KUNIT_EXPECT_EQ(test, (__force u32)gm_cpu_fault(test, a, p, page), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&a->dm.stats.to_ram), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&a->peer_reads), 0);
	KUNIT_EXPECT_EQ(test, gm_back4(test, b, p), 2);
	gm_expect4(test, p);
}

static struct kunit_case gm_migrate_cases[] = {
	KUNIT_CASE_PARAM(gm_migrate_protocol, gm_mig_gen_params),
	KUNIT_CASE(gm_migrate_bad_args),
	KUNIT_CASE(gm_migrate_no_memory),
	KUNIT_CASE(gm_migrate_shared_permanent),
	KUNIT_CASE(gm_migrate_file_private_permanent),
	KUNIT_CASE(gm_migrate_pinned_escalates),
	KUNIT_CASE(gm_migrate_resident_untouched),
	KUNIT_CASE(gm_devmem_fault_copy_fails),
	KUNIT_CASE(gm_migrate_peer_one_copy),
	KUNIT_CASE(gm_migrate_foreign_bounces),
	KUNIT_CASE(gm_migrate_peer_system_only),
	KUNIT_CASE(gm_migrate_no_home_permanent),
	KUNIT_CASE(gm_devmem_fault_leaves_peers),
	{}
};

static struct kunit_suite gm_migrate_suite = {
	.name = "gpumirror_migrate",
	.test_cases = gm_migrate_cases,
};

kunit_test_suite(gm_migrate_suite);
