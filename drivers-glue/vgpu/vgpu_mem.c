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
 * chunks go to one free list. Migration uses migrate_vma_*() with the
 * vgpu's pagemap owner, which peers (vgpus in the same peer group) share:
 * a peer maps such pages natively. A CPU fault on a device-private page
 * calls the pagemap's migrate_to_ram(), which moves that page back; nothing
 * in it depends on the process or file that migrated the page, so a page
 * may outlive both. vgpu_mem_evict() moves every page back (the RELEASE
 * ioctl and module unload).
 */

#define VGPU_PRIVATE_CHUNK	SZ_64M
#define VGPU_COHERENT_CHUNK	SZ_256M

/* The size of the migrate_vma batches. */
#define VGPU_MIGRATE_BATCH	64

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
	page = vgpu_mem_take(vgpu);
	if (!page) {
		if (backing)
			__free_page(backing);
		return NULL;
	}
	zone_device_page_init(page);
	page->zone_device_data = backing;
	atomic_long_inc(&vgpu->mem.used);
	return page;
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

/* Fill the destinations of a system -> device migration batch. */
static void vgpu_copy_to_dev(struct vgpu *vgpu, struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		/* Already device memory: left where it is. */
		if (spage && is_zone_device_page(spage))
			continue;
		dpage = vgpu_mem_alloc(vgpu);
		if (!dpage)
			continue;
		/* No source page: pte_none or the zero page. */
		if (spage)
			copy_highpage(vgpu_mem_backing(dpage), spage);
		else
			clear_highpage(vgpu_mem_backing(dpage));
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

/*
 * Fill the destinations of a device -> system batch. @vma is NULL for an
 * eviction (no VMA known). Return: pages that will move.
 */
static unsigned long vgpu_copy_to_ram(const unsigned long *src,
				      unsigned long *dst, unsigned long n,
				      struct vm_area_struct *vma,
				      unsigned long addr)
{
	unsigned long i, moved = 0;

	for (i = 0; i < n; i++, addr += PAGE_SIZE) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE) ||
		    !vgpu_mem_page_owner(spage))
			continue;
		if (vma)
			dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
		else
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		if (!dpage)
			continue;
		lock_page(dpage);
		copy_highpage(dpage, vgpu_mem_backing(spage));
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
		atomic64_inc(&vgpu_mem_page_owner(spage)->mem.to_ram);
		moved++;
	}
	return moved;
}

/* The VMA covering [@addr, ...) and the end of the batch that starts there. */
static struct vm_area_struct *vgpu_migrate_vma(struct mm_struct *mm,
					       unsigned long addr,
					       unsigned long end,
					       unsigned long *next)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ))
		return NULL;
	*next = min3(end, addr + VGPU_MIGRATE_BATCH * PAGE_SIZE, vma->vm_end);
	return vma;
}

/**
 * vgpu_migrate_to_dev() - migrate a range of system memory to a vgpu
 * @vgpu: the GPU
 * @mm: the address space, with a reference (mmget)
 * @start: page-aligned start
 * @end: page-aligned end
 *
 * Pages that cannot move (shared, pinned, already device memory, no
 * device memory left) stay where they are; the caller finds out by
 * mapping the range with %GPUMIRROR_MAP_DEVMEM.
 *
 * Return: 0, or -EINVAL if a page of the range has no readable VMA.
 */
int vgpu_migrate_to_dev(struct vgpu *vgpu, struct mm_struct *mm,
			unsigned long start, unsigned long end)
{
	unsigned long src[VGPU_MIGRATE_BATCH], dst[VGPU_MIGRATE_BATCH];
	struct migrate_vma args = {
		.src = src,
		.dst = dst,
		.pgmap_owner = vgpu->owner,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	unsigned long addr, next, i;
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		args.vma = vgpu_migrate_vma(mm, addr, end, &next);
		if (!args.vma) {
			ret = -EINVAL;
			break;
		}
		args.start = addr;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		vgpu_copy_to_dev(vgpu, &args);
		migrate_vma_pages(&args);
		for (i = 0; i < args.npages; i++)
			if (args.dst[i] && (args.src[i] & MIGRATE_PFN_MIGRATE))
				atomic64_inc(&vgpu->mem.to_dev);
		migrate_vma_finalize(&args);
	}
	mmap_read_unlock(mm);
	return ret;
}

/* Pages of a finished batch that did move. */
static unsigned long vgpu_migrated(const unsigned long *src, unsigned long n)
{
	unsigned long i, moved = 0;

	for (i = 0; i < n; i++)
		if ((src[i] & MIGRATE_PFN_VALID) && (src[i] & MIGRATE_PFN_MIGRATE))
			moved++;
	return moved;
}

/**
 * vgpu_migrate_to_ram() - migrate a range's vgpu pages to system memory
 * @vgpu: the GPU whose pages (and its peers') move
 * @mm: the address space, with a reference (mmget)
 * @start: page-aligned start
 * @end: page-aligned end
 * @migrated: pages moved
 *
 * Return: 0, or -EINVAL if a page of the range has no readable VMA.
 */
int vgpu_migrate_to_ram(struct vgpu *vgpu, struct mm_struct *mm,
			unsigned long start, unsigned long end,
			unsigned long *migrated)
{
	unsigned long src[VGPU_MIGRATE_BATCH], dst[VGPU_MIGRATE_BATCH];
	struct migrate_vma args = {
		.src = src,
		.dst = dst,
		.pgmap_owner = vgpu->owner,
		.flags = vgpu->mem.type == MEMORY_DEVICE_COHERENT ?
			 MIGRATE_VMA_SELECT_DEVICE_COHERENT :
			 MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	unsigned long addr, next;
	int ret = 0;

	*migrated = 0;
	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		args.vma = vgpu_migrate_vma(mm, addr, end, &next);
		if (!args.vma) {
			ret = -EINVAL;
			break;
		}
		args.start = addr;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		vgpu_copy_to_ram(src, dst, args.npages, args.vma, addr);
		migrate_vma_pages(&args);
		*migrated += vgpu_migrated(src, args.npages);
		migrate_vma_finalize(&args);
	}
	mmap_read_unlock(mm);
	return ret;
}

/* dev_pagemap_ops.migrate_to_ram: a CPU fault on a device-private page. */
static vm_fault_t vgpu_page_migrate_to_ram(struct vm_fault *vmf)
{
	struct vgpu *vgpu = vgpu_page_chunk(vmf->page)->vgpu;
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address & PAGE_MASK,
		.end = (vmf->address & PAGE_MASK) + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = vgpu->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	vgpu_copy_to_ram(&src, &dst, 1, vmf->vma, args.start);
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return 0;
}

static const struct dev_pagemap_ops vgpu_pagemap_ops = {
	.page_free = vgpu_page_free,
	.migrate_to_ram = vgpu_page_migrate_to_ram,
};

/* Move every allocated page of a chunk back to system memory. */
static void vgpu_chunk_evict(struct vgpu_chunk *c)
{
	unsigned long first = PHYS_PFN(c->pagemap.range.start);
	unsigned long n = PHYS_PFN(range_len(&c->pagemap.range));
	unsigned long *src, *dst;

	src = kvcalloc(n, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kvcalloc(n, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);
	migrate_device_range(src, first, n);
	vgpu_copy_to_ram(src, dst, n, NULL, 0);
	migrate_device_pages(src, dst, n);
	migrate_device_finalize(src, dst, n);
	kvfree(src);
	kvfree(dst);
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
	mem->type = coherent_addr ? MEMORY_DEVICE_COHERENT :
				    MEMORY_DEVICE_PRIVATE;
	mem->coherent_addr = coherent_addr;
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
