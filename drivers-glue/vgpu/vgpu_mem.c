// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu: device memory (ZONE_DEVICE) and migration to and from it.
 */

#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "vgpu.h"

/**
 * DOC: vgpu device memory
 *
 * A vgpu has device memory of one of two kinds. Device-private memory
 * (the default) is a free physical address range registered with
 * memremap_pages(%MEMORY_DEVICE_PRIVATE): the CPU cannot touch it, so
 * each allocated device page is backed by a system page that holds its
 * data (a real GPU would keep it in VRAM). Device-coherent memory is a
 * physical range reserved at boot (memmap=) and registered with
 * %MEMORY_DEVICE_COHERENT: the CPU accesses it directly.
 *
 * Memory grows in chunks on demand up to %VGPU_MAX_CHUNKS; the pages of all
 * chunks go to one free list, and &vgpu_mem.used counts the pages in use.
 * Migration is gpumirror's (gpumirror_migrate_to_devmem() and friends);
 * vgpu gives it page allocation and a copy engine (memcpy). The pagemap
 * owner is the vgpu's, which peers (vgpus in the same peer group) share: a
 * peer maps such pages natively, and its copy engine reads them, so that a
 * migration between peers is one copy (gpumirror asks vgpu_devmem_page()
 * whose memory a page is). A CPU fault on a device-private page calls
 * the pagemap's migrate_to_ram(), which moves that page back; nothing in it
 * depends on the process or file that migrated the page, so a page may
 * outlive both, and the process's exit frees it (page_free). The pool can
 * be told to fail allocations (&vgpu_mem.alloc_budget) to test what an
 * allocation failure in the middle of a migration leaves behind.
 * vgpu_mem_evict() moves every page back (the RELEASE ioctl).
 */

#define VGPU_PRIVATE_CHUNK	SZ_64M
#define VGPU_COHERENT_CHUNK	SZ_256M

static const struct dev_pagemap_ops vgpu_pagemap_ops;

static struct vgpu_chunk *vgpu_page_chunk(struct page *page)
{
	return container_of(page->pgmap, struct vgpu_chunk, pagemap);
}

/**
 * vgpu_mem_page_owner() - the vgpu a device page belongs to
 * @page: a vgpu device page (private or coherent)
 *
 * Return: the vgpu, or NULL if @page is not vgpu memory.
 */
struct vgpu *vgpu_mem_page_owner(struct page *page)
{
	if (!is_zone_device_page(page) || page->pgmap->ops != &vgpu_pagemap_ops)
		return NULL;
	return vgpu_page_chunk(page)->vgpu;
}

/**
 * vgpu_mem_backing() - the page holding a device page's data
 * @page: an allocated vgpu device page
 *
 * Return: the backing system page of a device-private page, @page itself
 * for device-coherent memory.
 */
struct page *vgpu_mem_backing(struct page *page)
{
	return is_device_private_page(page) ? page->zone_device_data : page;
}

/* Put the pages of a new chunk on the free list. */
static void vgpu_chunk_populate(struct vgpu_mem *mem, struct vgpu_chunk *c)
{
	unsigned long pfn = PHYS_PFN(c->pagemap.range.start);
	unsigned long last = PHYS_PFN(c->pagemap.range.end);

	spin_lock(&mem->lock);
	for (; pfn <= last; pfn++) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = mem->free;
		mem->free = page;
	}
	spin_unlock(&mem->lock);
}

/* Reserve the physical range of a new chunk. */
static int vgpu_chunk_range(struct vgpu *vgpu, struct vgpu_chunk *c)
{
	struct vgpu_mem *mem = &vgpu->mem;
	struct resource *res;

	if (mem->type == MEMORY_DEVICE_COHERENT) {
		/* One chunk: the whole reserved range. */
		if (mem->nchunks)
			return -ENOSPC;
		c->pagemap.range.start = mem->coherent_addr;
		c->pagemap.range.end = mem->coherent_addr +
				       VGPU_COHERENT_CHUNK - 1;
		return 0;
	}
	res = request_free_mem_region(&iomem_resource, VGPU_PRIVATE_CHUNK,
				      "vgpu");
	if (IS_ERR(res))
		return PTR_ERR(res);
	c->pagemap.range.start = res->start;
	c->pagemap.range.end = res->end;
	return 0;
}

static void vgpu_chunk_range_release(struct vgpu_mem *mem,
				     struct vgpu_chunk *c)
{
	if (mem->type == MEMORY_DEVICE_PRIVATE)
		release_mem_region(c->pagemap.range.start,
				   range_len(&c->pagemap.range));
}

/* Add a chunk of device memory. */
static int vgpu_chunk_add(struct vgpu *vgpu)
{
	struct vgpu_mem *mem = &vgpu->mem;
	struct vgpu_chunk *c;
	void *ptr;
	int ret;

	mutex_lock(&mem->chunk_lock);
	ret = -ENOSPC;
	if (mem->nchunks == VGPU_MAX_CHUNKS)
		goto out_unlock;
	ret = -ENOMEM;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		goto out_unlock;
	c->vgpu = vgpu;
	ret = vgpu_chunk_range(vgpu, c);
	if (ret)
		goto out_free;
	c->pagemap.type = mem->type;
	c->pagemap.nr_range = 1;
	c->pagemap.ops = &vgpu_pagemap_ops;
	c->pagemap.owner = vgpu->owner;
	ptr = memremap_pages(&c->pagemap, numa_node_id());
	if (IS_ERR_OR_NULL(ptr)) {
		ret = ptr ? PTR_ERR(ptr) : -EFAULT;
		goto out_release;
	}
	mem->chunks[mem->nchunks++] = c;
	vgpu_chunk_populate(mem, c);
	mutex_unlock(&mem->chunk_lock);
	return 0;

out_release:
	vgpu_chunk_range_release(mem, c);
out_free:
	kfree(c);
out_unlock:
	mutex_unlock(&mem->chunk_lock);
	return ret;
}

/* Take a page off the free list, growing the memory if it is empty. */
static struct page *vgpu_mem_take(struct vgpu *vgpu)
{
	struct vgpu_mem *mem = &vgpu->mem;
	struct page *page;

	for (;;) {
		spin_lock(&mem->lock);
		page = mem->free;
		if (page)
			mem->free = page->zone_device_data;
		spin_unlock(&mem->lock);
		if (page || vgpu_chunk_add(vgpu))
			return page;
	}
}

/* Allocate a device page; its data starts out undefined. */
static struct page *vgpu_mem_alloc(struct vgpu *vgpu)
{
	struct page *backing = NULL, *page;

	if (vgpu->mem.type == MEMORY_DEVICE_PRIVATE) {
		backing = alloc_page(GFP_HIGHUSER);
		if (!backing)
			return NULL;
	}
	/* The test knob: -1 for no limit, else allocations left. */
	if (atomic_read(&vgpu->mem.alloc_budget) >= 0 &&
	    atomic_dec_if_positive(&vgpu->mem.alloc_budget) < 0)
		goto out_free;
	page = vgpu_mem_take(vgpu);
	if (!page)
		goto out_free;
	zone_device_page_init(page);
	page->zone_device_data = backing;
	atomic_long_inc(&vgpu->mem.used);
	return page;

out_free:
	if (backing)
		__free_page(backing);
	return NULL;
}

/* dev_pagemap_ops.page_free: the last reference to a device page is gone. */
static void vgpu_page_free(struct page *page)
{
	struct vgpu *vgpu = vgpu_page_chunk(page)->vgpu;
	struct vgpu_mem *mem = &vgpu->mem;

	if (is_device_private_page(page))
		__free_page(page->zone_device_data);
	spin_lock(&mem->lock);
	page->zone_device_data = mem->free;
	mem->free = page;
	spin_unlock(&mem->lock);
	atomic_long_dec(&mem->used);
}

/* gpumirror_devmem_ops.page_alloc */
static struct page *vgpu_devmem_alloc(struct gpumirror_devmem *dm)
{
	return vgpu_mem_alloc(container_of(dm, struct vgpu, mem.devmem));
}

/* The kernel address of a page's data, device page or not. */
static void *vgpu_page_map(struct page *page)
{
	return kmap_local_page(vgpu_mem_page_owner(page) ?
			       vgpu_mem_backing(page) : page);
}

/*
 * gpumirror_devmem_ops.copy: the copy engine, one memcpy per page. One
 * side is this vgpu's memory; the other system memory or a peer's memory,
 * which it reaches directly; a NULL source zero-fills.
 */
static int vgpu_devmem_copy(struct gpumirror_devmem *dm, struct page **dst,
			    struct page **src, unsigned long n)
{
	unsigned long i;
	void *d, *s;

	for (i = 0; i < n; i++) {
		d = vgpu_page_map(dst[i]);
		if (src[i]) {
			s = vgpu_page_map(src[i]);
			memcpy(d, s, PAGE_SIZE);
			kunmap_local(s);
		} else {
			memset(d, 0, PAGE_SIZE);
		}
		kunmap_local(d);
	}
	return 0;
}

/*
 * gpumirror_devmem_ops.page_devmem: peers share a pagemap owner, so a page
 * of @dm's owner may be a peer's; its chunk says whose.
 */
static struct gpumirror_devmem *vgpu_devmem_page(struct gpumirror_devmem *dm,
						 struct page *page)
{
	struct vgpu *vgpu = vgpu_mem_page_owner(page);

	return vgpu && vgpu->owner == dm->owner ? &vgpu->mem.devmem : NULL;
}

static const struct gpumirror_devmem_ops vgpu_devmem_ops = {
	.page_alloc = vgpu_devmem_alloc,
	.copy = vgpu_devmem_copy,
	.page_devmem = vgpu_devmem_page,
};

/**
 * vgpu_migrate_to_dev() - migrate a range of memory to a vgpu
 * @vgpu: the GPU
 * @mm: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 * @flags: gpumirror_migrate_to_devmem() flags
 * @migrated: pages moved; may be NULL
 *
 * Return: -EINVAL if @mm has exited, else see gpumirror_migrate_to_devmem().
 */
int vgpu_migrate_to_dev(struct vgpu *vgpu, struct mm_struct *mm,
			unsigned long start, unsigned long end,
			unsigned int flags, unsigned long *migrated)
{
	int ret;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	ret = gpumirror_migrate_to_devmem(&vgpu->mem.devmem, mm, start, end,
					  flags, migrated);
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
	return ret;
}

/**
 * vgpu_migrate_to_ram() - migrate a range's vgpu pages to system memory
 * @vgpu: the GPU whose pages move
 * @mm: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 * @migrated: pages moved; may be NULL
 *
 * Return: -EINVAL if @mm has exited, else see gpumirror_migrate_to_ram().
 */
int vgpu_migrate_to_ram(struct vgpu *vgpu, struct mm_struct *mm,
			unsigned long start, unsigned long end,
			unsigned long *migrated)
{
	int ret;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	ret = gpumirror_migrate_to_ram(&vgpu->mem.devmem, mm, start, end,
				       migrated);
	/* Pairs with mmget_not_zero() above. */
	mmput(mm);
	return ret;
}

/* dev_pagemap_ops.migrate_to_ram: a CPU fault on a device-private page. */
static vm_fault_t vgpu_page_migrate_to_ram(struct vm_fault *vmf)
{
	return gpumirror_devmem_fault(&vgpu_page_chunk(vmf->page)->vgpu->mem.devmem,
				      vmf);
}

static const struct dev_pagemap_ops vgpu_pagemap_ops = {
	.page_free = vgpu_page_free,
	.migrate_to_ram = vgpu_page_migrate_to_ram,
};

/* Move every allocated page of a chunk back to system memory. */
static void vgpu_chunk_evict(struct vgpu_chunk *c)
{
	gpumirror_devmem_evict(&c->vgpu->mem.devmem,
			       PHYS_PFN(c->pagemap.range.start),
			       PHYS_PFN(range_len(&c->pagemap.range)));
}

/**
 * vgpu_mem_evict() - move all of a vgpu's memory back to system memory
 * @vgpu: the GPU
 *
 * Pages the kernel holds on to (a migration in progress, a pin) may stay.
 */
void vgpu_mem_evict(struct vgpu *vgpu)
{
	struct vgpu_mem *mem = &vgpu->mem;
	unsigned int i;

	mutex_lock(&mem->chunk_lock);
	for (i = 0; i < mem->nchunks; i++)
		vgpu_chunk_evict(mem->chunks[i]);
	mutex_unlock(&mem->chunk_lock);
}

/**
 * vgpu_mem_init() - set up a vgpu's device memory
 * @vgpu: the GPU, with @owner set
 * @coherent_addr: physical start of a reserved range for coherent memory,
 *	or 0 for device-private memory
 *
 * Coherent memory is registered at once (the range must exist); private
 * memory grows on demand.
 *
 * Return: 0 or -errno.
 */
int vgpu_mem_init(struct vgpu *vgpu, phys_addr_t coherent_addr)
{
	struct vgpu_mem *mem = &vgpu->mem;

	mutex_init(&mem->chunk_lock);
	spin_lock_init(&mem->lock);
	atomic_set(&mem->alloc_budget, -1);
	mem->type = coherent_addr ? MEMORY_DEVICE_COHERENT :
				    MEMORY_DEVICE_PRIVATE;
	mem->coherent_addr = coherent_addr;
	mem->devmem.owner = vgpu->owner;
	mem->devmem.type = mem->type;
	mem->devmem.ops = &vgpu_devmem_ops;
	/* A CPU fault brings back 2 MiB at a time, as an SVM range would. */
	mem->devmem.fault_order = PMD_SHIFT - PAGE_SHIFT;
	if (!coherent_addr)
		return 0;
	if (!IS_ALIGNED(coherent_addr, SZ_2M))
		return -EINVAL;
	return vgpu_chunk_add(vgpu);
}

/**
 * vgpu_mem_fini() - evict and remove a vgpu's device memory
 * @vgpu: the GPU
 */
void vgpu_mem_fini(struct vgpu *vgpu)
{
	struct vgpu_mem *mem = &vgpu->mem;

	vgpu_mem_evict(vgpu);
	mutex_lock(&mem->chunk_lock);
	while (mem->nchunks) {
		struct vgpu_chunk *c = mem->chunks[--mem->nchunks];

		memunmap_pages(&c->pagemap);
		vgpu_chunk_range_release(mem, c);
		kfree(c);
	}
	mem->free = NULL;
	mutex_unlock(&mem->chunk_lock);
}
