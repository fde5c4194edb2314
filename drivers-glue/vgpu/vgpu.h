/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vgpu: a virtual GPU built on gpumirror.
 */
#ifndef _VGPU_H
#define _VGPU_H

#include <linux/cdev.h>
#include <linux/gpumirror.h>
#include <linux/memremap.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/xarray.h>

struct platform_device;
struct vgpu;

/** VGPU_MAX_CHUNKS - device memory chunks one vgpu can have */
#define VGPU_MAX_CHUNKS		16

/**
 * struct vgpu_chunk - one memremap_pages() range of device memory
 * @pagemap: the ZONE_DEVICE pagemap
 * @vgpu: its GPU
 */
struct vgpu_chunk {
	struct dev_pagemap pagemap;
	struct vgpu *vgpu;
};

/**
 * struct vgpu_mem - a vgpu's device memory
 * @type: %MEMORY_DEVICE_PRIVATE (emulated, each page backed by a system
 *	page) or %MEMORY_DEVICE_COHERENT (a reserved physical range)
 * @coherent_addr: physical start of the coherent range
 * @chunk_lock: serializes chunk creation and removal
 * @chunks: the chunks, @nchunks of them
 * @nchunks: chunks in @chunks
 * @lock: protects @free
 * @free: free device pages, linked through zone_device_data
 * @used: device pages allocated and not freed
 * @alloc_budget: allocations that still succeed, -1 for no limit (a test
 *	knob)
 * @devmem: the memory as gpumirror migrates to it
 */
struct vgpu_mem {
	enum memory_type type;
	phys_addr_t coherent_addr;
	struct mutex chunk_lock;	/* serializes chunk changes */
	struct vgpu_chunk *chunks[VGPU_MAX_CHUNKS];
	unsigned int nchunks;
	spinlock_t lock;		/* protects free */
	struct page *free;
	atomic_long_t used;
	atomic_t alloc_budget;
	struct gpumirror_devmem devmem;
};

/**
 * struct vgpu - one virtual GPU instance
 * @pdev: its platform device, with a 64-bit DMA mask
 * @dma_dev: the device its DMA mappings are made on: @pdev's, or for
 *	vgpu.iommu_vgpu an emulated PCI function behind the IOMMU (vgpu_pci.c)
 * @id: instance number
 * @owner: pagemap owner of its memory; peers share one
 * @nofault: no recoverable page faults: a missing PTE is an error
 * @mem: its device memory
 * @cdev: its character device
 * @chardev: the device node's &struct device
 */
struct vgpu {
	struct platform_device *pdev;
	struct device *dma_dev;
	unsigned int id;
	void *owner;
	bool nofault;
	struct vgpu_mem mem;
	struct cdev cdev;
	struct device *chardev;
};

/** VGPU_TLB_ENTRIES - translations a vgpu address space caches */
#define VGPU_TLB_ENTRIES	64

/**
 * struct vgpu_tlb_entry - one cached translation
 * @gpfn: GPU page number, or U64_MAX when empty
 * @entry: the page set entry it translates to
 * @zapper: the task whose invalidation zapped the PTE behind this entry
 *	(the entry keeps translating until the TLB flush), or NULL
 * @stale: that invalidation returned to the core mm before the flush: every
 *	use of this entry is a use after invalidation
 */
struct vgpu_tlb_entry {
	u64 gpfn;
	gpumirror_addr_t entry;
	const struct task_struct *zapper;
	bool stale;
};

struct vgpu_watch;

/**
 * struct vgpu_as - a vgpu's address space on one mirror
 * @gdev: the gpumirror device
 * @vgpu: the GPU
 * @pt: the page table: GPU page number -> xa_mk_value(page set entry)
 * @tlb: the TLB, direct mapped by GPU page number, under @tlb_lock
 * @tlb_lock: protects @tlb
 * @inflight: GPU accesses in progress
 * @watch: the checker of invalidations of the mm this space mirrors, or
 *	NULL (see vgpu_as_watch())
 * @watch_link: in the checker's list of spaces
 * @expect_stale: a test breaks the invalidation order on purpose: count
 *	stale translations without a warning
 * @tlb_done_ns: when the TLB invalidations started so far complete
 * @tlb_flushes: TLB invalidations waited for
 * @reads: GPU reads done through @pt and @tlb
 * @stale_translations: translations still cached when the invalidation
 *	that zapped their PTE returned to the core mm: must stay 0
 * @stale_uses: GPU accesses through such a translation: must stay 0
 * @iommu_faults: GPU accesses through a DMA address the IOMMU no longer
 *	translates (vgpu.iommu_vgpu): must stay 0
 * @suspended: no-fault mode: the queues are stopped (gpumirror suspended
 *	them for an invalidation; the restore worker resumes them)
 * @resume_wq: where queue work waits for @suspended to clear
 * @suspends: times the queues were suspended
 * @resumes: times they were resumed
 * @queue_waits: GPU accesses that had to wait for a resume
 */
struct vgpu_as {
	struct gpumirror_device gdev;
	struct vgpu *vgpu;
	struct xarray pt;
	struct vgpu_tlb_entry tlb[VGPU_TLB_ENTRIES];
	spinlock_t tlb_lock;		/* protects tlb */
	atomic_t inflight;
	struct vgpu_watch *watch;
	struct list_head watch_link;
	bool expect_stale;
	u64 tlb_done_ns;
	atomic64_t tlb_flushes;
	atomic64_t reads;
	atomic64_t stale_translations;
	atomic64_t stale_uses;
	atomic64_t iommu_faults;
	bool suspended;
	wait_queue_head_t resume_wq;
	atomic64_t suspends;
	atomic64_t resumes;
	atomic64_t queue_waits;
};

unsigned int vgpu_count(void);
struct vgpu *vgpu_get(unsigned int id);
void vgpu_as_init(struct vgpu_as *as, struct vgpu *vgpu, bool serial);
void vgpu_as_fini(struct vgpu_as *as);
int vgpu_as_watch(struct vgpu_as *as, struct mm_struct *mm);
void vgpu_as_unwatch(struct vgpu_as *as);
int vgpu_as_bind(struct vgpu_as *as, struct gpumirror_object *obj);
int vgpu_as_read(struct vgpu_as *as, u64 gpu_va, void *buf, size_t len);
int vgpu_as_access(struct vgpu_as *as, u64 gpu_va, void *buf, size_t len,
		   bool write, size_t *done);
int vgpu_as_replay(struct vgpu_as *as, u64 gpu_va, u64 *last_fault,
		   u64 *mark);
/* How long an access replays faults that found the pages changing. */
#define VGPU_BUSY_REPLAY	(30 * HZ)
bool vgpu_as_fault_transient(int ret, u64 *last_fault,
			     unsigned long *busy_until);
bool vgpu_as_exclusive(struct vgpu_as *as, u64 gpu_start, u64 gpu_end);
bool vgpu_as_read_only(struct vgpu_as *as, u64 gpu_va);
void vgpu_pt_zap(struct vgpu_as *as, u64 gpu_start, u64 gpu_end);
void vgpu_tlb_flush(struct vgpu_as *as);
u64 vgpu_tlb_latency_ns(void);
unsigned int vgpu_tlb_latency_set(unsigned int us);

/* vgpu_mem.c */
int vgpu_mem_init(struct vgpu *vgpu, phys_addr_t coherent_addr);
void vgpu_mem_fini(struct vgpu *vgpu);
struct page *vgpu_mem_backing(struct page *page);
struct vgpu *vgpu_mem_page_owner(struct page *page);
int vgpu_migrate_to_dev(struct vgpu *vgpu, struct mm_struct *mm,
			unsigned long start, unsigned long end,
			unsigned int flags, unsigned long *migrated);
int vgpu_migrate_to_ram(struct vgpu *vgpu, struct mm_struct *mm,
			unsigned long start, unsigned long end,
			unsigned long *migrated);
void vgpu_mem_evict(struct vgpu *vgpu);

/* vgpu_hmm.c */
int vgpu_chardev_init(void);
void vgpu_chardev_exit(void);
int vgpu_chardev_add(struct vgpu *vgpu);
void vgpu_chardev_del(struct vgpu *vgpu);

#ifdef CONFIG_VGPU_BENCH
int vgpu_bench_init(void);
void vgpu_bench_exit(void);
#else
static inline int vgpu_bench_init(void) { return 0; }
static inline void vgpu_bench_exit(void) { }
#endif

#ifdef CONFIG_VGPU_CANARY
void vgpu_canary_init(void);
#else
static inline void vgpu_canary_init(void) { }
#endif

#if IS_ENABLED(CONFIG_PCI)
int vgpu_pci_init(void);
void vgpu_pci_exit(void);
struct device *vgpu_pci_dma_dev(void);
#else
static inline int vgpu_pci_init(void) { return -ENODEV; }
static inline void vgpu_pci_exit(void) { }
static inline struct device *vgpu_pci_dma_dev(void) { return NULL; }
#endif

#endif /* _VGPU_H */
