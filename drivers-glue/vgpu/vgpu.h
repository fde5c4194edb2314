/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vgpu: a virtual GPU built on gpumirror.
 */
#ifndef _VGPU_H
#define _VGPU_H

#include <linux/gpumirror.h>

struct platform_device;

/**
 * struct vgpu - one virtual GPU instance
 * @pdev: its platform device, with a 64-bit DMA mask
 * @id: instance number
 */
struct vgpu {
	struct platform_device *pdev;
	unsigned int id;
};

/**
 * struct vgpu_as - a vgpu's address space on one mirror
 * @gdev: the gpumirror device
 * @vgpu: the GPU
 * @tlb_done_ns: when the TLB invalidations started so far complete
 * @tlb_flushes: TLB invalidations waited for
 */
struct vgpu_as {
	struct gpumirror_device gdev;
	struct vgpu *vgpu;
	u64 tlb_done_ns;
	atomic64_t tlb_flushes;
};

unsigned int vgpu_count(void);
struct vgpu *vgpu_get(unsigned int id);
void vgpu_as_init(struct vgpu_as *as, struct vgpu *vgpu, bool serial);
u64 vgpu_tlb_latency_ns(void);
unsigned int vgpu_tlb_latency_set(unsigned int us);

#ifdef CONFIG_VGPU_BENCH
int vgpu_bench_init(void);
void vgpu_bench_exit(void);
#else
static inline int vgpu_bench_init(void) { return 0; }
static inline void vgpu_bench_exit(void) { }
#endif

#endif /* _VGPU_H */
