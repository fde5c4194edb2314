// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu-coherence-fuzz: random CPU and GPU reads and writes of a pool of
 * memory against a shadow model of its contents, on four vgpus (vgpus 0
 * and 1 in fault mode and vgpu 6 in no-fault mode share one address space;
 * vgpu 4 has its own), through SVM accesses and through userptr objects
 * over scattered pages, while the pool is unmapped and mapped again,
 * mremap()ed, mprotect()ed, advised (DONTNEED, FREE, PAGEOUT, HUGEPAGE,
 * COLLAPSE), forked with the child alive and writing, prefetched for the
 * no-fault vgpu, and migrated (by the main thread and by a thread racing
 * it) between the vgpus' memories and system memory.
 *
 * The oracle: a read (CPU or GPU) returns what the model says the memory
 * holds (a page given to MADV_FREE may also read zero), never data the
 * model says is gone; every error is one the uapi documents in that state;
 * the boot's log scan catches kernel reports.
 *
 * Usage: vgpu-coherence-fuzz [seed [ops [seconds]]]; without arguments,
 * seeds 1 to 3 with 3000 ops or 20 s each.
 * Prints "FUZZ coherence seed=S ops=N violations=N" per seed; on a
 * violation, the seed, the op history and the shortest history found to
 * reproduce it (the racing thread makes a rerun only likely to repeat it).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vgpu.h>

#include "vgpu_util.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define NP		512		/* pool pages: one huge page */
#define NSLOT		4		/* words checked per page */
#define NDEV		4
#define NOBJ		4
#define OBJ_PAGES	6
#define SZ_2M		(2UL << 20)
#define EXPLICIT	BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)

static const int slot_word[NSLOT] = { 0, 129, 300, 511 };
static const int dev_id[NDEV] = { 0, 1, 6, 4 };
static const bool dev_nofault[NDEV] = { false, false, true, false };
/* The device that owns each space's objects: 0 for vgpus 0/1/6, 3 for 4. */
static const int dev_space[NDEV] = { 0, 0, 0, 3 };

enum op_kind {
	OP_CPU_WRITE, OP_CPU_READ, OP_SVM_READ, OP_SVM_WRITE, OP_OBJ_READ,
	OP_OBJ_WRITE, OP_OBJ_CREATE, OP_OBJ_DESTROY, OP_REMAP, OP_UNMAP,
	OP_MPROTECT, OP_MADVISE, OP_MREMAP, OP_FORK, OP_MIGRATE, OP_PREFETCH,
	OP_KINDS,
};

static const char *const op_name[OP_KINDS] = {
	"cpu_write", "cpu_read", "svm_read", "svm_write", "obj_read",
	"obj_write", "obj_create", "obj_destroy", "remap", "unmap",
	"mprotect", "madvise", "mremap", "fork", "migrate", "prefetch",
};

/* One op: its parameters are drawn from the seed, never from the state. */
struct op {
	uint8_t kind, dev, slot, arg;
	uint16_t page, n, page2;
	uint64_t val;
};

struct page_model {
	uint64_t val[NSLOT];
	bool mapped, ro, maybe_zero;
};

struct obj_model {
	bool live, ro;
	uint32_t handle;
	int space;			/* index into dev[] of its space */
	uint16_t page[OBJ_PAGES];
	bool gone[OBJ_PAGES];		/* unmapped since creation */
};

static long page_size;
static char *pool;
static int fds[NDEV];
static struct page_model pm[NP];
static struct obj_model om[NOBJ];
static int stop_racer;	/* VGPU_LOAD() / VGPU_STORE() */
static unsigned long violations;
static const struct op *cur_ops;
static unsigned long cur_idx;
static bool quiet;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void gen_ops(uint64_t seed, struct op *ops, unsigned long n)
{
	static const uint8_t weight[OP_KINDS] = {
		12, 8, 14, 10, 10, 6, 3, 2, 2, 1, 2, 3, 1, 1, 4, 2,
	};
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL | 1;
	unsigned int total = 0, k, w;
	unsigned long i;

	for (k = 0; k < OP_KINDS; k++)
		total += weight[k];
	for (i = 0; i < n; i++) {
		w = rnd(&s) % total;
		for (k = 0; w >= weight[k]; k++)
			w -= weight[k];
		ops[i].kind = k;
		ops[i].dev = rnd(&s) % NDEV;
		ops[i].slot = rnd(&s) % NSLOT;
		ops[i].arg = rnd(&s);
		ops[i].page = rnd(&s) % NP;
		ops[i].n = 1 + rnd(&s) % 8;
		ops[i].page2 = rnd(&s) % NP;
		ops[i].val = rnd(&s);
	}
}

static void describe(const struct op *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s dev=%d page=%u n=%u page2=%u slot=%u arg=%u",
		 op_name[o->kind], dev_id[o->dev], o->page, o->n, o->page2,
		 o->slot, o->arg);
}

static void violation(const char *fmt, unsigned long a, unsigned long b)
{
	char d[128];

	violations++;
	if (quiet)
		return;
	describe(&cur_ops[cur_idx], d, sizeof(d));
	printf("# VIOLATION at op %lu (%s): ", cur_idx, d);
	printf(fmt, a, b);
	printf("\n");
}

static uint64_t *slot_ptr(unsigned int page, unsigned int slot)
{
	return (uint64_t *)(pool + page * page_size) + slot_word[slot];
}

/* A value read from @page's @slot agrees with the model? */
static void check_value(unsigned int page, unsigned int slot, uint64_t got,
			const char *who)
{
	struct page_model *p = &pm[page];

	if (got == p->val[slot])
		return;
	if (p->maybe_zero && got == 0)
		return;
	violation(who[0] == 'c' ? "cpu read %#lx, model %#lx" :
		  "gpu read %#lx, model %#lx", got, p->val[slot]);
}

static bool range_mapped(unsigned int page, unsigned int n)
{
	unsigned int i;

	for (i = page; i < page + n; i++)
		if (i >= NP || !pm[i].mapped)
			return false;
	return true;
}

/* Fresh anonymous memory at pages [page, page + n): zero. */
static void model_fresh(unsigned int page, unsigned int n)
{
	unsigned int i, o, k;

	for (i = page; i < page + n && i < NP; i++) {
		memset(&pm[i], 0, sizeof(pm[i]));
		pm[i].mapped = true;
	}
	for (o = 0; o < NOBJ; o++)
		for (k = 0; k < OBJ_PAGES; k++)
			if (om[o].live && om[o].page[k] >= page &&
			    om[o].page[k] < page + n)
				om[o].gone[k] = true;
}

/* A store the CPU makes: the model follows. */
static void cpu_store(unsigned int page, unsigned int slot, uint64_t v)
{
	*slot_ptr(page, slot) = v;
	pm[page].val[slot] = v;
	pm[page].maybe_zero = false;
}

static int svm(int d, bool write, unsigned int page, unsigned int slot,
	       uint64_t *v)
{
	return svm_rw(fds[d], write, slot_ptr(page, slot), v, sizeof(*v),
		      NULL);
}

static void op_svm(const struct op *o, bool write)
{
	unsigned int page = o->page, slot = o->slot;
	uint64_t v = write ? o->val : 0;
	int ret = svm(o->dev, write, page, slot, &v);

	if (!pm[page].mapped) {
		/* A no-fault queue may also time out behind a restore. */
		if (ret != -EFAULT &&
		    !(dev_nofault[o->dev] && ret == -ETIMEDOUT))
			violation("svm on unmapped page: %ld", ret, 0);
		return;
	}
	if (dev_nofault[o->dev] && (ret == -EFAULT || ret == -ETIMEDOUT))
		return;
	if (write && pm[page].ro) {
		if (ret != -EPERM)
			violation("svm write on read-only page: %ld", ret, 0);
		return;
	}
	if (ret) {
		violation("svm write=%lu failed: %ld", write, ret);
		return;
	}
	if (write) {
		pm[page].val[slot] = v;
		pm[page].maybe_zero = false;
	} else {
		check_value(page, slot, v, "gpu");
	}
}

static void op_obj_rw(const struct op *o, bool write)
{
	struct obj_model *ob = &om[o->arg % NOBJ];
	unsigned int k = o->page % OBJ_PAGES, page, d = o->dev;
	uint64_t v = write ? o->val : 0, gva;
	struct page_model *p;
	int ret;

	if (!ob->live)
		return;
	/* Only the vgpus of the object's space see it. */
	if (dev_space[d] != ob->space)
		d = ob->space;
	page = ob->page[k];
	p = &pm[page];
	gva = EXPLICIT + (uint64_t)(ob - om) * 8 * page_size +
	      (uint64_t)k * page_size + slot_word[o->slot] * 8;
	ret = gpu_rw(fds[d], write, gva, &v, sizeof(v), NULL);
	if (dev_nofault[d] && ret == -EFAULT)
		return;
	if (ret == -EFAULT && (ob->gone[k] || !p->mapped))
		return;
	if (write && ret == -EPERM && (p->ro || ob->ro))
		return;
	if (ret) {
		violation("object access failed: %ld (page %lu)", ret, page);
		return;
	}
	if (!p->mapped) {
		violation("object access to an unmapped page %lu: %ld", page,
			  ret);
		return;
	}
	if (write) {
		p->val[o->slot] = v;
		p->maybe_zero = false;
	} else {
		check_value(page, o->slot, v, "gpu");
	}
}

static void op_obj_create(const struct op *o)
{
	struct obj_model *ob = &om[o->arg % NOBJ];
	struct vgpu_range r[OBJ_PAGES];
	unsigned int k, page = o->page;
	bool ro = false;
	int ret, d = dev_space[o->dev];

	if (ob->live)
		return;
	/* Scattered: every other page or so, from @page on. */
	for (k = 0; k < OBJ_PAGES; k++) {
		ob->page[k] = (page + k * (1 + (o->val >> k) % 3)) % NP;
		ob->gone[k] = false;
		r[k].addr = (uintptr_t)pool + ob->page[k] * page_size;
		r[k].len = page_size;
		ro |= pm[ob->page[k]].ro;
	}
	ret = obj_create(fds[d], r, OBJ_PAGES,
			 EXPLICIT + (uint64_t)(ob - om) * 8 * page_size,
			 ro ? VGPU_OBJ_READ_ONLY : 0, &ob->handle);
	/* Overlapping blocks (a page twice), or not all mapped. */
	if (ret == -EEXIST || ret == -EFAULT)
		return;
	if (ret) {
		violation("obj_create: %ld", ret, 0);
		return;
	}
	ob->live = true;
	ob->ro = ro;
	ob->space = d;
}

static void op_obj_destroy(const struct op *o)
{
	struct obj_model *ob = &om[o->arg % NOBJ];

	if (!ob->live)
		return;
	if (obj_destroy(fds[ob->space], ob->handle))
		violation("obj_destroy failed", 0, 0);
	ob->live = false;
}

/* Pages an op covers from o->page, within the pool. */
static unsigned int op_pages(const struct op *o)
{
	return o->page + o->n > NP ? NP - o->page : o->n;
}

static void op_map(const struct op *o, bool map)
{
	unsigned int n = op_pages(o);
	char *at = pool + o->page * page_size;

	if (munmap(at, n * page_size))
		violation("munmap failed", 0, 0);
	model_fresh(o->page, n);
	if (map) {
		if (mmap(at, n * page_size, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != at)
			violation("mmap failed", 0, 0);
		return;
	}
	for (unsigned int i = o->page; i < o->page + n; i++)
		pm[i].mapped = false;
}

static void op_mprotect(const struct op *o)
{
	unsigned int n = op_pages(o), i;
	bool ro = o->arg & 1;

	if (!range_mapped(o->page, n))
		return;
	if (mprotect(pool + o->page * page_size, n * page_size,
		     ro ? PROT_READ : PROT_READ | PROT_WRITE))
		violation("mprotect failed", 0, 0);
	for (i = o->page; i < o->page + n; i++)
		pm[i].ro = ro;
}

static void op_madvise(const struct op *o)
{
	unsigned int n = op_pages(o), i, k;
	static const int advice[] = { MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT,
				      MADV_HUGEPAGE, MADV_COLLAPSE };
	int a = advice[o->arg % 5];

	if (!range_mapped(o->page, n))
		return;
	/* Collapse works on whole 2M: the pool. */
	if (a == MADV_COLLAPSE) {
		madvise(pool, NP * page_size, a);
		return;
	}
	if (a == MADV_FREE && pm[o->page].ro)
		return;
	madvise(pool + o->page * page_size, n * page_size, a);
	for (i = o->page; i < o->page + n; i++) {
		if (a == MADV_DONTNEED)
			for (k = 0; k < NSLOT; k++)
				pm[i].val[k] = 0;
		if (a == MADV_FREE)
			pm[i].maybe_zero = true;
	}
}

static void op_mremap(const struct op *o)
{
	unsigned int n = o->n, from = o->page, to = o->page2, i;
	struct page_model tmp[8];

	if (from + n > NP || to + n > NP || !range_mapped(from, n))
		return;
	for (i = to; i < to + n; i++)
		if (pm[i].mapped)
			return;
	if (mremap(pool + from * page_size, n * page_size, n * page_size,
		   MREMAP_MAYMOVE | MREMAP_FIXED,
		   pool + to * page_size) == MAP_FAILED) {
		/* The range spans VMAs (mprotect split it): EFAULT. */
		if (errno != EFAULT)
			violation("mremap failed: %ld", -errno, 0);
		return;
	}
	memcpy(tmp, &pm[from], n * sizeof(tmp[0]));
	model_fresh(from, n);
	for (i = from; i < from + n; i++)
		pm[i].mapped = false;
	model_fresh(to, n);
	memcpy(&pm[to], tmp, n * sizeof(tmp[0]));
}

/*
 * A child alive and writing its copy of every mapped page while the
 * parent's GPUs read and write theirs: neither sees the other's writes.
 */
static void op_fork(const struct op *o)
{
	int to_child[2], to_parent[2], status, i, bad = 0;
	char c = 0;
	pid_t pid;
	unsigned int p;

	if (pipe(to_child) || pipe(to_parent))
		return;
	pid = fork();
	if (!pid) {
		for (p = 0; p < NP; p++)
			if (pm[p].mapped && !pm[p].ro)
				*slot_ptr(p, 0) = ~(uint64_t)p;
		write(to_parent[1], &c, 1);
		read(to_child[0], &c, 1);
		for (p = 0; p < NP; p++)
			if (pm[p].mapped && !pm[p].ro &&
			    *slot_ptr(p, 0) != ~(uint64_t)p)
				bad++;
		_exit(bad ? 1 : 0);
	}
	read(to_parent[0], &c, 1);
	/* The parent's GPU writes and reads while the child is alive. */
	for (i = 0; i < 4; i++) {
		struct op w = *o;

		w.page = (o->page + i * 17) % NP;
		w.slot = 0;
		w.dev = i % 2;
		w.val = o->val + i;
		op_svm(&w, i % 2);
		op_svm(&w, false);
		if (pm[w.page].mapped)
			check_value(w.page, 0, *slot_ptr(w.page, 0), "cpu");
	}
	write(to_child[1], &c, 1);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		violation("the child saw the parent's writes", 0, 0);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static bool migrate_err_ok(int ret)
{
	return !ret || ret == -EBUSY || ret == -ENOMEM || ret == -EINVAL;
}

static void op_migrate(const struct op *o)
{
	unsigned int n = op_pages(o);
	unsigned int flags = o->arg & 1 ? VGPU_MIGRATE_TO_RAM :
					  VGPU_MIGRATE_MIXED;
	int ret = migrate(fds[o->dev == 2 ? 0 : o->dev],
			  pool + o->page * page_size, n * page_size, flags,
			  NULL);

	if (!migrate_err_ok(ret))
		violation("migrate: %ld", ret, 0);
}

static void op_prefetch(const struct op *o)
{
	unsigned int n = op_pages(o);
	struct vgpu_svm_attr a = {
		.start = (uintptr_t)pool + o->page * page_size,
		.len = n * page_size,
		.mask = VGPU_SVM_ATTR_ACCESS,
		.access = VGPU_SVM_ACCESS_RW,
	};
	int ret = vgpu_xioctl(fds[2], VGPU_IOCTL_SVM_ATTR, &a);

	if (ret && ret != -EBUSY && ret != -ENOMEM && ret != -EFAULT)
		violation("prefetch: %ld", ret, 0);
}

static void run_op(const struct op *o)
{
	uint64_t v;

	switch (o->kind) {
	case OP_CPU_WRITE:
		if (pm[o->page].mapped && !pm[o->page].ro)
			cpu_store(o->page, o->slot, o->val);
		break;
	case OP_CPU_READ:
		if (pm[o->page].mapped) {
			v = *slot_ptr(o->page, o->slot);
			check_value(o->page, o->slot, v, "cpu");
			if (pm[o->page].maybe_zero)
				pm[o->page].val[o->slot] = v;
		}
		break;
	case OP_SVM_READ:
		op_svm(o, false);
		break;
	case OP_SVM_WRITE:
		op_svm(o, true);
		break;
	case OP_OBJ_READ:
		op_obj_rw(o, false);
		break;
	case OP_OBJ_WRITE:
		op_obj_rw(o, true);
		break;
	case OP_OBJ_CREATE:
		op_obj_create(o);
		break;
	case OP_OBJ_DESTROY:
		op_obj_destroy(o);
		break;
	case OP_REMAP:
		op_map(o, true);
		break;
	case OP_UNMAP:
		op_map(o, false);
		break;
	case OP_MPROTECT:
		op_mprotect(o);
		break;
	case OP_MADVISE:
		op_madvise(o);
		break;
	case OP_MREMAP:
		op_mremap(o);
		break;
	case OP_FORK:
		op_fork(o);
		break;
	case OP_MIGRATE:
		op_migrate(o);
		break;
	case OP_PREFETCH:
		op_prefetch(o);
		break;
	}
}

/* Migrations racing the ops, from another thread, errors documented. */
static void *racer_fn(void *arg)
{
	uint64_t s = (uintptr_t)arg | 1;
	static const int to[] = { 0, 1, 3, -1 };
	unsigned int page, n, flags;
	int d, ret;

	while (!VGPU_LOAD(stop_racer)) {
		page = rnd(&s) % NP;
		n = 1 + rnd(&s) % 16;
		if (page + n > NP)
			n = NP - page;
		d = to[rnd(&s) % 4];
		flags = d < 0 ? VGPU_MIGRATE_TO_RAM : VGPU_MIGRATE_MIXED;
		ret = migrate(fds[d < 0 ? 0 : d], pool + page * page_size,
			      n * page_size, flags, NULL);
		if (!migrate_err_ok(ret) && !quiet)
			printf("# racer: migrate -> %d\n", ret);
		usleep(500);
	}
	return NULL;
}

static int setup(void)
{
	struct vgpu_join j;
	char *p;
	int i;

	memset(pm, 0, sizeof(pm));
	memset(om, 0, sizeof(om));
	p = mmap(NULL, NP * page_size + SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	pool = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	madvise(pool, NP * page_size, MADV_HUGEPAGE);
	for (i = 0; i < NP; i++) {
		pm[i].mapped = true;
		cpu_store(i, 0, 0x1000 + i);
	}
	for (i = 0; i < NDEV; i++) {
		fds[i] = vgpu_dev_open(dev_id[i]);
		if (fds[i] < 0)
			return -1;
	}
	j.fd = fds[0];
	j.pad = 0;
	if (ioctl(fds[1], VGPU_IOCTL_JOIN, &j) ||
	    ioctl(fds[2], VGPU_IOCTL_JOIN, &j))
		return -1;
	/* Fault 64K at a time: 512-page faults are slow under TCG. */
	if (svm_attr(fds[0], pool, NP * page_size, VGPU_SVM_ATTR_GRANULARITY,
		     4, 0, 0) ||
	    svm_attr(fds[3], pool, NP * page_size, VGPU_SVM_ATTR_GRANULARITY,
		     4, 0, 0))
		return -1;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run @ops (those not in @skip) in this process from a fresh pool and
 * fresh files, with the racer on; returns the index of the first
 * violating op, or -1.
 */
static long run_ops(const struct op *ops, unsigned long n, const bool *skip,
		    uint64_t seed, double deadline, unsigned long *done)
{
	pthread_t t;
	long first = -1;
	unsigned long i;
	int k;

	if (setup()) {
		perror("setup");
		exit(2);
	}
	cur_ops = ops;
	VGPU_STORE(stop_racer, 0);
	pthread_create(&t, NULL, racer_fn, (void *)(uintptr_t)seed);
	for (i = 0; i < n && now() < deadline; i++) {
		if (skip && skip[i])
			continue;
		cur_idx = i;
		run_op(&ops[i]);
		if (violations) {
			first = i;
			break;
		}
	}
	*done = i;
	VGPU_STORE(stop_racer, 1);
	pthread_join(t, NULL);
	for (k = 0; k < NDEV; k++)
		close(fds[k]);
	return first;
}

/* Does the history without the @skip ops still violate at @last? */
static bool reproduces(const struct op *ops, unsigned long last,
		       const bool *skip, uint64_t seed)
{
	unsigned long done;
	int status;
	pid_t pid = fork();

	if (!pid) {
		quiet = true;
		violations = 0;
		_exit(run_ops(ops, last + 1, skip, seed, now() + 60, &done) ==
		      (long)last ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * Drop chunks of ops, halving the chunk, while the violation stays (the
 * violating op itself always stays), within @budget seconds.
 */
static void minimize(const struct op *ops, unsigned long last, uint64_t seed,
		     double budget)
{
	bool *skip = calloc(last + 1, sizeof(*skip));
	bool *was = calloc(last + 1, sizeof(*was));
	double end = now() + budget;
	unsigned long i, j, chunk, kept = 0;
	char d[128];

	if (!skip || !was || !reproduces(ops, last, skip, seed)) {
		printf("# %s: the violation did not reproduce alone\n",
		       __func__);
		free(skip);
		free(was);
		return;
	}
	for (chunk = (last + 1) / 2; chunk && now() < end; chunk /= 2) {
		for (j = 0; j < last && now() < end; j += chunk) {
			memcpy(was, skip, (last + 1) * sizeof(*skip));
			for (i = j; i < j + chunk && i < last; i++)
				skip[i] = true;
			if (!memcmp(was, skip, (last + 1) * sizeof(*skip)))
				continue;
			if (!reproduces(ops, last, skip, seed))
				memcpy(skip, was, (last + 1) * sizeof(*skip));
		}
	}
	printf("# shortest history found (seed %llu):\n",
	       (unsigned long long)seed);
	for (i = 0; i <= last; i++) {
		if (skip[i])
			continue;
		describe(&ops[i], d, sizeof(d));
		printf("#   op %lu: %s val=%#llx\n", i, d,
		       (unsigned long long)ops[i].val);
		kept++;
	}
	printf("# %lu of %lu ops\n", kept, last + 1);
	free(skip);
	free(was);
}

/* One seed: run, report, minimize a violation. Returns non-zero on one. */
static int fuzz_one(uint64_t seed, unsigned long n, double secs)
{
	double start = now();
	unsigned long done, i;
	struct op *ops;
	char d[128];
	long bad;

	ops = calloc(n, sizeof(*ops));
	if (!ops)
		return 2;
	gen_ops(seed, ops, n);
	bad = run_ops(ops, n, NULL, seed, start + secs, &done);
	printf("FUZZ coherence seed=%llu ops=%lu violations=%lu seconds=%.0f\n",
	       (unsigned long long)seed, done, violations, now() - start);
	if (bad < 0)
		return 0;
	printf("# history up to the violation (seed %llu):\n",
	       (unsigned long long)seed);
	for (i = bad > 30 ? bad - 30 : 0; i <= (unsigned long)bad; i++) {
		describe(&ops[i], d, sizeof(d));
		printf("#   op %lu: %s\n", i, d);
	}
	minimize(ops, bad, seed, 120);
	return 1;
}

/*
 * Without arguments (make check): seeds 1, 2 and 3, 20 s or 3000 ops
 * each, each in a process of its own.
 */
int main(int argc, char **argv)
{
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 0) : 3000;
	double secs = argc > 3 ? strtod(argv[3], NULL) : 20;
	int seed, status, failed = 0;
	pid_t pid;

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		return fuzz_one(strtoull(argv[1], NULL, 0), n, secs);
	for (seed = 1; seed <= 3; seed++) {
		pid = fork();
		if (!pid)
			_exit(fuzz_one(seed, n, secs));
		waitpid(pid, &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	return failed ? 1 : 0;
}
