// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu-inject-tests: a fault-injection sweep over vgpu's commands.
 *
 * Each command runs again and again from the same fresh state, with
 * /proc/thread-self/fail-nth set to 1, 2, 3, ...: the N-th fault-injection
 * check the thread makes (a slab or page allocation, or one of gpumirror's
 * own sites, fail_gpumirror: a DMA mapping, an interval notifier insert,
 * migrate_vma_setup()) fails, until the command makes fewer than N checks
 * and the sweep of that command is complete. A failure injected into a
 * command must either be absorbed (the command succeeds and its result is
 * right) or reported with an errno <uapi/linux/vgpu.h> documents for the
 * command, leaving the state as it was, so that the same command without
 * injection then succeeds with the right result.
 *
 * Each sweep prints "# INJECT <op>: points I/P injected, ..." and checks
 * that every DMA mapping of the vgpus is released after it; the last test
 * checks that every gpumirror site was injected at least once.
 *
 * Needs the selftest boot: vgpus 0 and 1 with device-private memory, vgpu
 * 6 in no-fault mode, debugfs at /sys/kernel/debug, a kernel with
 * CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC,
 * CONFIG_FAULT_INJECTION_DEBUG_FS and gpumirror's fault injection; with
 * CONFIG_FAULT_INJECTION_STACKTRACE_FILTER too, dma-debug's own allocations
 * are kept out of the sweep.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vgpu.h>

#include "../kselftest_harness.h"
#include "vgpu_util.h"

#define GPU_VA		BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)
#define GPU_VA_OTHER	(GPU_VA + (1ULL << 30))
#define SZ_64K		(64UL << 10)
#define NPAGES		16	/* pages of a region: one 64K range */
#define HOLE		(~0U)	/* a region page that is not mapped */
#define MAX_NTH		2000	/* injection points of one command */
#define MAX_ERRS	8
#define MAX_REPORTS	10	/* violations printed per command */
#define FAULT_DEV	0
#define JOIN_DEV	1
#define NOFAULT_DEV	6
#define DBG		"/sys/kernel/debug"

static long page_size;

/* Word @w of region page @page in generation @gen; generation 0 is zero. */
static uint64_t word(unsigned int gen, size_t page, size_t w)
{
	return gen ? ((uint64_t)gen << 48) | (page << 16) | w : 0;
}

static void fill(char *p, size_t page, unsigned int gen)
{
	size_t w;

	for (w = 0; w < page_size / 8; w++)
		((uint64_t *)p)[w] = word(gen, page, w);
}

static bool page_is(const char *p, size_t page, unsigned int gen)
{
	size_t w;

	for (w = 0; w < page_size / 8; w++)
		if (((const uint64_t *)p)[w] != word(gen, page, w))
			return false;
	return true;
}

static const char *errname(int e)
{
	static const struct { int e; const char *name; } names[] = {
		{ ENOMEM, "ENOMEM" }, { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" },
		{ EINVAL, "EINVAL" }, { EPERM, "EPERM" }, { EINTR, "EINTR" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { ENOENT, "ENOENT" },
		{ EEXIST, "EEXIST" }, { EBADF, "EBADF" },
		{ ENODATA, "ENODATA" },
		{ EOVERFLOW, "EOVERFLOW" }, { ERANGE, "ERANGE" },
		{ E2BIG, "E2BIG" }, { EAGAIN, "EAGAIN" }, { ENOSPC, "ENOSPC" },
		{ EXDEV, "EXDEV" }, { ESRCH, "ESRCH" }, { ESTALE, "ESTALE" },
		{ ENOTTY, "ENOTTY" }, { EIO, "EIO" },
	};
	/* Two, for two unknown errnos in one message. */
	static char buf[2][24];
	static unsigned int k;
	unsigned int i;
	char *b;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].e == e)
			return names[i].name;
	b = buf[k++ & 1];
	snprintf(b, sizeof(buf[0]), "errno %d", e);
	return b;
}

static int prefetch(int fd, void *p, size_t len)
{
	struct vgpu_svm_prefetch a = { .start = (uintptr_t)p, .len = len };

	return vgpu_xioctl(fd, VGPU_IOCTL_SVM_PREFETCH, &a);
}

static int join(int fd, int other)
{
	struct vgpu_join j = { .fd = other };

	return vgpu_xioctl(fd, VGPU_IOCTL_JOIN, &j);
}

/* Device pages of the vgpu behind @fd (the whole device), or -1. */
static long dev_pages(int fd)
{
	struct vgpu_stats st;

	return stats(fd, &st) ? -1 : (long)st.dev_pages;
}

/* debugfs and procfs knobs */

static int put(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t len = strlen(val), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, val, len);
	close(fd);
	return ret == len ? 0 : -EIO;
}

static int put_ulong(const char *path, unsigned long v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lu", v);
	return put(path, s);
}

/* The first line of @path, without its newline; false if unreadable. */
static bool get(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, size, f);
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

/*
 * fail-nth: the value written is the check of this thread that fails; what
 * is read back is what is left of it, 0 once the failure was injected.
 */
static int nth_set(int nth, unsigned int n)
{
	char s[16];
	int len = snprintf(s, sizeof(s), "%u", n);

	return pwrite(nth, s, len, 0) == len ? 0 : -1;
}

static long nth_left(int nth)
{
	char s[16];
	ssize_t len = pread(nth, s, sizeof(s) - 1, 0);

	if (len <= 0)
		return -1;
	s[len] = 0;
	return strtol(s, NULL, 10);
}

/*
 * [start, end) of kernel function @name's text, from /proc/kallsyms (which
 * lists the kernel's symbols by address): from its address to the next.
 */
static int ksym_range(const char *name, unsigned long *start,
		      unsigned long *end)
{
	char line[256], sym[128], type;
	FILE *f = fopen("/proc/kallsyms", "r");
	unsigned long a;

	*start = *end = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx %c %127s", &a, &type, sym) != 3)
			continue;
		if (!*start && !strcmp(sym, name)) {
			*start = a;
		} else if (*start && a > *start) {
			*end = a;
			break;
		}
	}
	fclose(f);
	return *start && *end > *start && *end - *start < SZ_64K ? 0 : -ENOENT;
}

/*
 * dma-debug tracks each mapping in a radix tree it grows with GFP_ATOMIC
 * from inside dma_map_page(); a failure injected there makes it disable
 * itself for good (and report it). Keep its map path out of the sweep
 * when the stack trace filter allows it; sweep() still checks that
 * dma-debug stayed on. The insertion is in add_dma_entry(), which
 * debug_dma_map_page() reaches by a tail call (its frame is gone from the
 * stack then): reject the span of both, all of it kernel/dma/debug.c.
 */
static void exclude_dma_debug(void)
{
	static const char *const attrs[] = { "failslab", "fail_page_alloc" };
	unsigned long start, end, s2, e2;
	char path[128], cur[64];
	unsigned int i;

	if (!get(DBG "/failslab/reject-start", cur, sizeof(cur)) ||
	    strtoul(cur, NULL, 0))
		return;
	if (ksym_range("add_dma_entry", &start, &end))
		return;
	if (!ksym_range("debug_dma_map_page", &s2, &e2) &&
	    (s2 > end ? s2 - end : start - e2) < SZ_64K) {
		start = s2 < start ? s2 : start;
		end = e2 > end ? e2 : end;
	}
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), DBG "/%s/reject-end", attrs[i]);
		put_ulong(path, end);
		snprintf(path, sizeof(path), DBG "/%s/reject-start", attrs[i]);
		put_ulong(path, start);
	}
	printf("# dma-debug's map path [%#lx, %#lx) kept out of the sweep\n",
	       start, end);
}

/*
 * Every check fails when its turn comes: sleeping allocations too, high
 * and order-0 pages too; no stack trace per failure; no random failures.
 */
static int knobs_setup(void)
{
	static const char *const knobs[][2] = {
		{ "failslab/ignore-gfp-wait", "N" },
		{ "fail_page_alloc/ignore-gfp-wait", "N" },
		{ "fail_page_alloc/ignore-gfp-highmem", "N" },
		{ "fail_page_alloc/min-order", "0" },
		{ "failslab/verbose", "0" },
		{ "fail_page_alloc/verbose", "0" },
		{ "fail_gpumirror/verbose", "0" },
		{ "failslab/probability", "0" },
		{ "fail_page_alloc/probability", "0" },
		{ "fail_gpumirror/probability", "0" },
	};
	char path[128];
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		snprintf(path, sizeof(path), DBG "/%s", knobs[i][0]);
		ret = put(path, knobs[i][1]);
		if (ret)
			return ret;
	}
	exclude_dma_debug();
	return 0;
}

/* Mappings dma-debug tracks for the vgpus now, or -1 without its dump. */
static long vgpu_dma_mappings(void)
{
	FILE *f = fopen(DBG "/dma-api/dump", "r");
	char line[512], drv[64], dev[64];
	long n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %63s", drv, dev) == 2 &&
		    !strncmp(dev, "vgpu.", 5))
			n++;
	fclose(f);
	return n;
}

/*
 * The release worker drops stale mappings late: wait for it, up to 30 s (a
 * bound for a loaded TCG host, not a rate; it returns as soon as they go).
 */
static long vgpu_dma_settled(void)
{
	long n = vgpu_dma_mappings();
	int i;

	for (i = 0; i < 300 && n > 0; i++) {
		usleep(100000);
		n = vgpu_dma_mappings();
	}
	return n;
}

static bool dma_debug_disabled(void)
{
	char v[8];

	return get(DBG "/dma-api/disabled", v, sizeof(v)) && v[0] == 'Y';
}

/* One attempt's state, built from scratch for each. */
struct inj {
	int fd;			/* the vgpu file the command goes to */
	int fd2;		/* another one (JOIN), or -1 */
	char *map;		/* the attempt's mapping */
	size_t map_len;
	char *p;		/* its 64K-aligned region of NPAGES pages */
	unsigned int gen[NPAGES];	/* what each page holds, or HOLE */
	struct vgpu_range r[4];
	uint32_t handle;
	struct vgpu_stats st;	/* of fd, before the command */
	long dev;		/* fd's device pages before the command */
	long dev0;		/* ... before the attempt, or -1 */
	uint64_t out;		/* what it reported: faults, pages */
	uint64_t want;		/* what it should report (MIGRATE) */
	char *buf;		/* NPAGES pages the command reads from */
	char *rd;		/* NPAGES pages the checks read into */
	char why[200];		/* what a check found wrong */
};

static void inj_init(struct inj *c, char *buf)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->fd2 = -1;
	c->dev0 = -1;
	c->buf = buf;
	c->rd = buf + NPAGES * page_size;
	/* Not what any check expects: a read that copied nothing fails. */
	memset(c->rd, 0xa5, NPAGES * page_size);
}

static __printf(2, 3) bool bad(struct inj *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return false;
}

/* Munmap first: device pages go back with the CPU mapping holding them. */
static bool inj_teardown(struct inj *c)
{
	bool ok = true;
	long dev;

	if (c->map)
		munmap(c->map, c->map_len);
	if (c->dev0 >= 0) {
		dev = dev_pages(c->fd);
		if (dev != c->dev0)
			ok = bad(c, "%ld device pages left after munmap",
				 dev - c->dev0);
	}
	if (c->fd2 >= 0)
		close(c->fd2);
	if (c->fd >= 0)
		close(c->fd);
	return ok;
}

static int open_dev(struct inj *c, int dev)
{
	c->fd = vgpu_dev_open(dev);
	return c->fd < 0 ? -errno : 0;
}

/*
 * A private anonymous region of NPAGES pages, 64K aligned, a VMA of its
 * own between PROT_NONE guards (no merging with the test's other memory):
 * a fault-mode range covers exactly the region.
 */
static int region(struct inj *c)
{
	size_t len = NPAGES * page_size + 2 * SZ_64K;
	char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (m == MAP_FAILED)
		return -errno;
	c->map = m;
	c->map_len = len;
	c->p = (char *)(((uintptr_t)m + page_size + SZ_64K - 1) &
			~(SZ_64K - 1));
	if (mprotect(c->p, NPAGES * page_size, PROT_READ | PROT_WRITE))
		return -errno;
	return 0;
}

static void fill_pages(struct inj *c, unsigned int first, unsigned int n,
		       unsigned int gen)
{
	unsigned int i;

	for (i = first; i < first + n; i++) {
		fill(c->p + i * page_size, i, gen);
		c->gen[i] = gen;
	}
}

/* Take pages away: the next touch of them gets zero pages. */
static int drop_pages(struct inj *c, unsigned int first, unsigned int n)
{
	unsigned int i;

	if (madvise(c->p + first * page_size, n * page_size, MADV_DONTNEED))
		return -errno;
	for (i = first; i < first + n; i++)
		c->gen[i] = 0;
	return 0;
}

static bool cpu_ok(struct inj *c)
{
	unsigned int i;

	for (i = 0; i < NPAGES; i++)
		if (c->gen[i] != HOLE &&
		    !page_is(c->p + i * page_size, i, c->gen[i]))
			return bad(c, "CPU: page %u is not generation %u", i,
				   c->gen[i]);
	return true;
}

/* Region pages [first, first + n) read through @fd's SVM. */
static bool svm_ok(struct inj *c, int fd, unsigned int first,
		   unsigned int n, uint64_t *faults)
{
	unsigned int i;
	int ret;

	ret = svm_rw(fd, false, c->p + first * page_size, c->rd,
		     n * page_size, faults);
	if (ret)
		return bad(c, "SVM read of pages %u-%u: %s", first,
			   first + n - 1, errname(-ret));
	for (i = 0; i < n; i++)
		if (!page_is(c->rd + i * page_size, first + i,
			     c->gen[first + i]))
			return bad(c, "SVM read: page %u is not generation %u",
				   first + i, c->gen[first + i]);
	return true;
}

/* An object at @va of region pages @src, read through @fd's GPU. */
static bool gpu_ok(struct inj *c, int fd, uint64_t va,
		   const unsigned int *src, unsigned int n, uint64_t *faults)
{
	unsigned int i;
	int ret;

	ret = gpu_rw(fd, false, va, c->rd, n * page_size, faults);
	if (ret)
		return bad(c, "GPU read at %#llx: %s", (unsigned long long)va,
			   errname(-ret));
	for (i = 0; i < n; i++)
		if (!page_is(c->rd + i * page_size, src[i], c->gen[src[i]]))
			return bad(c, "GPU read: page %u is not generation %u",
				   src[i], c->gen[src[i]]);
	return true;
}

/* A GPU access at @va must fail with @err: nothing (usable) is there. */
static bool gpu_fails(struct inj *c, int fd, uint64_t va, int err)
{
	int ret = gpu_rw(fd, false, va, c->rd, 8, NULL);

	if (ret != err)
		return bad(c, "GPU read at %#llx: %s, not %s",
			   (unsigned long long)va, ret ? errname(-ret) : "0",
			   errname(-err));
	return true;
}

/*
 * A command under injection. @setup builds a fresh state (its own errors
 * are the test's, not the command's); @run is the command, one ioctl and
 * nothing else: it runs with the injection armed; @done checks the result
 * after a success (@retry: of the clean run after a failure); @same checks,
 * after a failure, that the state is as the command found it.
 */
struct op {
	const char *name;
	const int *errs;		/* the errnos documented, 0-ended */
	int (*setup)(struct inj *c);
	int (*run)(struct inj *c);
	bool (*done)(struct inj *c, bool retry);
	bool (*same)(struct inj *c);
	bool may_have_none;	/* may make no check at all */
};

/*
 * The errnos the header documents per command. EFAULT is everyone's: a
 * command whose argument cannot be copied fails with it.
 */
static const int create_errs[] = {
	EINVAL, ENOENT, ENODATA, EEXIST, EOVERFLOW, EFAULT, ERANGE, E2BIG,
	EPERM, EINTR, EBUSY, ENOMEM, 0
};

static const int access_errs[] = {
	EFAULT, EPERM, EINVAL, EINTR, EBUSY, ENOMEM, 0
};

static const int svm_errs[] = {
	EFAULT, EPERM, ETIMEDOUT, EINTR, EBUSY, EINVAL, ENOMEM, 0
};

/* SVM_ATTR: EINVAL, ENOMEM, and SVM_PREFETCH's (EBUSY) for the prefetch. */
static const int attr_errs[] = { EINVAL, ENOMEM, EBUSY, EFAULT, EINTR, 0 };
static const int prefetch_errs[] = {
	EINVAL, ENOMEM, EBUSY, EFAULT, EINTR, 0
};

static const int migrate_errs[] = { EINVAL, EBUSY, ENOMEM, EFAULT, 0 };

static const int join_errs[] = {
	EBADF, EPERM, EEXIST, EBUSY, EINVAL, EFAULT, 0
};

static bool documented(const int *errs, int err)
{
	for (; *errs; errs++)
		if (*errs == err)
			return true;
	return false;
}

struct tally {
	unsigned int points;	/* injection points the command has */
	unsigned int injected;	/* attempts whose point was injected */
	unsigned int absorbed;	/* of those, the command succeeded */
	unsigned int violations;
	int err[MAX_ERRS];
	unsigned int nerr[MAX_ERRS];
};

static void count_err(struct tally *t, int err)
{
	unsigned int i;

	for (i = 0; i < MAX_ERRS && t->err[i] && t->err[i] != err; i++)
		;
	if (i == MAX_ERRS)
		return;
	t->err[i] = err;
	t->nerr[i]++;
}

static __printf(5, 6) void violation(struct tally *t, const struct op *op,
				     unsigned int n, struct inj *c,
				     const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (t->violations++ >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("# INJECT %s n=%u: %s%s%s\n", op->name, n, what,
	       c->why[0] ? ": " : "", c->why);
	fflush(stdout);
	c->why[0] = 0;
}

/* An injected failure: absorbed, or documented, harmless and retryable. */
static void judge(struct tally *t, const struct op *op, unsigned int n,
		  struct inj *c, int ret)
{
	if (!ret) {
		t->absorbed++;
		if (!op->done(c, false))
			violation(t, op, n, c, "absorbed, wrong result");
		return;
	}
	count_err(t, -ret);
	if (!documented(op->errs, -ret))
		violation(t, op, n, c, "undocumented errno %s", errname(-ret));
	if (!op->same(c))
		violation(t, op, n, c, "%s changed the state", errname(-ret));
	ret = op->run(c);
	if (ret)
		violation(t, op, n, c, "clean retry after it failed: %s",
			  errname(-ret));
	else if (!op->done(c, true))
		violation(t, op, n, c, "clean retry, wrong result");
}

static void report(const struct tally *t, const struct op *op)
{
	char errs[160] = "";
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < MAX_ERRS && t->err[i]; i++)
		len += snprintf(errs + len, sizeof(errs) - len, " %s %u",
				errname(t->err[i]), t->nerr[i]);
	printf("# INJECT %s: points %u/%u injected, absorbed %u, errno%s, %s %u\n",
	       op->name, t->injected, t->points, t->absorbed,
	       len ? errs : " none", "violations", t->violations);
}

FIXTURE(inject) {
	int nth;		/* /proc/thread-self/fail-nth */
	char *buf;		/* the attempts' buffers, faulted in once */
};

FIXTURE_SETUP(inject)
{
	size_t len;

	page_size = sysconf(_SC_PAGESIZE);
	self->nth = -1;
	self->buf = NULL;
	if (access(DBG "/failslab", F_OK) ||
	    access(DBG "/fail_page_alloc", F_OK) ||
	    access(DBG "/fail_gpumirror", F_OK))
		SKIP(return, "no failslab, fail_page_alloc or %s in " DBG,
		     "fail_gpumirror");
	self->nth = open("/proc/thread-self/fail-nth", O_RDWR);
	if (self->nth < 0)
		SKIP(return, "no /proc/thread-self/fail-nth");
	ASSERT_EQ(knobs_setup(), 0);
	/*
	 * Faulted in now: a command copying to or from them must not spend
	 * its injection points on the test's own page faults.
	 */
	len = 2 * NPAGES * page_size;
	self->buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->buf, MAP_FAILED);
	memset(self->buf, 0xa5, len);
}

FIXTURE_TEARDOWN(inject)
{
	if (self->nth >= 0) {
		nth_set(self->nth, 0);
		close(self->nth);
	}
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, 2 * NPAGES * page_size);
}

/*
 * Sweep @op: attempt n injects the failure of the n-th check, from a fresh
 * state, until the command makes fewer than n checks.
 */
static void sweep(struct __test_metadata *_metadata, int nth, char *buf,
		  const struct op *op)
{
	bool was_disabled = dma_debug_disabled();
	struct tally t = { 0 };
	struct inj c;
	unsigned int n;
	long left, dma;
	int ret;

	for (n = 1; n <= MAX_NTH; n++) {
		inj_init(&c, buf);
		ret = op->setup(&c);
		if (ret) {
			violation(&t, op, n, &c, "setup failed: %s",
				  errname(-ret));
			inj_teardown(&c);
			break;
		}
		ASSERT_EQ(nth_set(nth, n), 0);
		ret = op->run(&c);
		left = nth_left(nth);
		ASSERT_EQ(nth_set(nth, 0), 0);
		ASSERT_GE(left, 0);
		if (left) {
			/* n - 1 checks: nothing was injected, all is right. */
			t.points = n - 1;
			if (ret)
				violation(&t, op, n, &c,
					  "failed uninjected: %s",
					  errname(-ret));
			else if (!op->done(&c, false))
				violation(&t, op, n, &c,
					  "uninjected, wrong result");
		} else {
			t.injected++;
			judge(&t, op, n, &c, ret);
		}
		if (!inj_teardown(&c))
			violation(&t, op, n, &c, "teardown");
		if (left)
			break;
	}
	if (n > MAX_NTH) {
		printf("# INJECT %s: more than %u points, stopped there\n",
		       op->name, MAX_NTH);
		t.points = MAX_NTH;
		t.violations++;
	}
	report(&t, op);
	/* Injection that never fires proves nothing. */
	if (!t.points && !op->may_have_none)
		printf("# INJECT %s: no injection point reached\n", op->name);
	dma = vgpu_dma_settled();
	if (dma > 0)
		printf("# INJECT %s: %ld vgpu DMA mappings not released\n",
		       op->name, dma);
	/* See exclude_dma_debug(): without the stack trace filter. */
	if (!was_disabled && dma_debug_disabled())
		printf("# INJECT %s: dma-debug disabled itself: %s\n", op->name,
		       "a failure was injected into its own tracking");
	fflush(stdout);
	EXPECT_EQ(t.violations, 0);
	EXPECT_TRUE(t.points || op->may_have_none);
	EXPECT_LE(dma, 0);
	EXPECT_FALSE(!was_disabled && dma_debug_disabled());
}

/*
 * The scattered object: 4 blocks of the region in this GPU order, holes
 * between them (pages 3, 10 and 11 unmapped); the other mapped pages (0, 5,
 * 6, 14, 15) are bystanders no GPU access may change.
 */
static const struct { unsigned int first, n; } blocks[] = {
	{ 7, 3 }, { 1, 2 }, { 12, 2 }, { 4, 1 },
};

#define OBJ_PAGES	8
static const unsigned int obj_src[OBJ_PAGES] = { 7, 8, 9, 1, 2, 12, 13, 4 };

static int scattered_setup(struct inj *c)
{
	unsigned int i;
	int ret;

	ret = open_dev(c, FAULT_DEV) ?: region(c);
	if (ret)
		return ret;
	fill_pages(c, 0, NPAGES, 9);
	for (i = 0; i < 4; i++) {
		fill_pages(c, blocks[i].first, blocks[i].n, 1);
		c->r[i].addr = (uintptr_t)c->p + blocks[i].first * page_size;
		c->r[i].len = blocks[i].n * page_size;
	}
	if (munmap(c->p + 3 * page_size, page_size) ||
	    munmap(c->p + 10 * page_size, 2 * page_size))
		return -errno;
	c->gen[3] = HOLE;
	c->gen[10] = HOLE;
	c->gen[11] = HOLE;
	return stats(c->fd, &c->st);
}

static int create_run(struct inj *c)
{
	return obj_create(c->fd, c->r, 4, GPU_VA, 0, &c->handle);
}

/* Made, and (the blocks are mapped at once) read without a fault. */
static bool create_done(struct inj *c, bool retry)
{
	uint64_t faults = 0;

	if (!c->handle)
		return bad(c, "no handle");
	if (!gpu_ok(c, c->fd, GPU_VA, obj_src, OBJ_PAGES, &faults))
		return false;
	if (faults)
		return bad(c, "%llu faults reading a new object",
			   (unsigned long long)faults);
	return cpu_ok(c);
}

/* No handle (a fresh file's first ones), no object at the GPU VA. */
static bool create_same(struct inj *c)
{
	uint32_t h;
	int ret;

	for (h = 1; h <= 4; h++) {
		ret = obj_destroy(c->fd, h);
		if (ret != -ENOENT)
			return bad(c, "handle %u: destroy gave %s", h,
				   ret ? errname(-ret) : "0");
	}
	return gpu_fails(c, c->fd, GPU_VA, -EFAULT) && cpu_ok(c);
}

static const struct op create_op = {
	"obj_create", create_errs, scattered_setup, create_run, create_done,
	create_same,
};

/*
 * The object made, then two blocks dropped: its pages are invalid, so a
 * GPU access faults it again (walk, fault, DMA map of every page, bind).
 */
static int faulting_setup(struct inj *c)
{
	int ret;

	ret = scattered_setup(c) ?: create_run(c) ?: drop_pages(c, 1, 2) ?:
	      drop_pages(c, 12, 2) ?: stats(c->fd, &c->st);
	/* The source of a WRITE: generation 3 of each block page. */
	if (!ret) {
		unsigned int i;

		for (i = 0; i < OBJ_PAGES; i++)
			fill(c->buf + i * page_size, obj_src[i], 3);
	}
	return ret;
}

static int read_run(struct inj *c)
{
	return gpu_rw(c->fd, false, GPU_VA, c->rd, OBJ_PAGES * page_size,
		      &c->out);
}

static bool read_done(struct inj *c, bool retry)
{
	struct vgpu_stats st;
	unsigned int i;

	for (i = 0; i < OBJ_PAGES; i++)
		if (!page_is(c->rd + i * page_size, obj_src[i],
			     c->gen[obj_src[i]]))
			return bad(c, "page %u is not generation %u",
				   obj_src[i], c->gen[obj_src[i]]);
	/* The first run must have faulted: a retry may find it done. */
	if (!retry) {
		if (!c->out)
			return bad(c, "no fault reported");
		if (stats(c->fd, &st) || st.faults <= c->st.faults)
			return bad(c, "no fault counted");
	}
	return cpu_ok(c);
}

static bool read_same(struct inj *c)
{
	return cpu_ok(c);
}

static const struct op read_op = {
	"read", access_errs, faulting_setup, read_run, read_done, read_same,
};

static int write_run(struct inj *c)
{
	return gpu_rw(c->fd, true, GPU_VA, c->buf, OBJ_PAGES * page_size,
		      &c->out);
}

static bool write_done(struct inj *c, bool retry)
{
	unsigned int i;

	if (!retry && !c->out)
		return bad(c, "no fault reported");
	for (i = 0; i < OBJ_PAGES; i++)
		c->gen[obj_src[i]] = 3;
	return cpu_ok(c) && gpu_ok(c, c->fd, GPU_VA, obj_src, OBJ_PAGES, NULL);
}

/* A write cut short: each page is the old one or the new one, whole. */
static bool write_same(struct inj *c)
{
	unsigned int i, pg;

	for (i = 0; i < OBJ_PAGES; i++) {
		pg = obj_src[i];
		if (!page_is(c->p + pg * page_size, pg, c->gen[pg]) &&
		    !page_is(c->p + pg * page_size, pg, 3))
			return bad(c, "page %u torn", pg);
		c->gen[pg] = HOLE;
	}
	/* The bystanders, and nothing else, must be as they were. */
	return cpu_ok(c);
}

static const struct op write_op = {
	"write", access_errs, faulting_setup, write_run, write_done,
	write_same,
};

/* vgpu @dev's file, a region: pages 0-7 written, 8-15 never touched. */
static int half_setup(struct inj *c, int dev)
{
	int ret = open_dev(c, dev) ?: region(c);
	unsigned int i;

	if (ret)
		return ret;
	fill_pages(c, 0, NPAGES / 2, 1);
	for (i = NPAGES / 2; i < NPAGES; i++)
		c->gen[i] = 0;
	return 0;
}

/* Fault-mode SVM on half_setup()'s region. */
static int svm_setup(struct inj *c)
{
	int ret = half_setup(c, FAULT_DEV);
	unsigned int i;

	if (ret)
		return ret;
	/* The source of an SVM write: generation 4 of every page. */
	for (i = 0; i < NPAGES; i++)
		fill(c->buf + i * page_size, i, 4);
	return 0;
}

static int svm_read_run(struct inj *c)
{
	return svm_rw(c->fd, false, c->p, c->rd, NPAGES * page_size, &c->out);
}

static bool svm_read_done(struct inj *c, bool retry)
{
	unsigned int i;

	for (i = 0; i < NPAGES; i++)
		if (!page_is(c->rd + i * page_size, i, c->gen[i]))
			return bad(c, "page %u is not generation %u", i,
				   c->gen[i]);
	if (!retry && !c->out)
		return bad(c, "no fault reported");
	return cpu_ok(c);
}

static bool svm_read_same(struct inj *c)
{
	return cpu_ok(c);
}

static const struct op svm_read_op = {
	"svm_read", svm_errs, svm_setup, svm_read_run, svm_read_done,
	svm_read_same,
};

static int svm_write_run(struct inj *c)
{
	return svm_rw(c->fd, true, c->p, c->buf, NPAGES * page_size, &c->out);
}

static bool svm_write_done(struct inj *c, bool retry)
{
	unsigned int i;

	if (!retry && !c->out)
		return bad(c, "no fault reported");
	for (i = 0; i < NPAGES; i++)
		c->gen[i] = 4;
	return cpu_ok(c) && svm_ok(c, c->fd, 0, NPAGES, NULL);
}

static bool svm_write_same(struct inj *c)
{
	unsigned int i;

	for (i = 0; i < NPAGES; i++) {
		if (!page_is(c->p + i * page_size, i, c->gen[i]) &&
		    !page_is(c->p + i * page_size, i, 4))
			return bad(c, "page %u torn", i);
	}
	return true;
}

static const struct op svm_write_op = {
	"svm_write", svm_errs, svm_setup, svm_write_run, svm_write_done,
	svm_write_same,
};

/*
 * SVM_ATTR over the middle of a range the GPU has mapped: the attribute
 * tree splits, the mapping is revoked. Read-only access for pages 4-11.
 */
static int attr_setup(struct inj *c)
{
	int ret = open_dev(c, FAULT_DEV) ?: region(c);

	if (ret)
		return ret;
	fill_pages(c, 0, NPAGES, 1);
	return svm_rw(c->fd, false, c->p, c->rd, NPAGES * page_size, NULL);
}

static int attr_run(struct inj *c)
{
	return svm_attr(c->fd, c->p + 4 * page_size, 8 * page_size,
			VGPU_SVM_ATTR_ACCESS | VGPU_SVM_ATTR_GRANULARITY, 0,
			VGPU_SVM_ACCESS_READ, 0);
}

/* A GPU write of page @pg's first word, with the value it holds. */
static int svm_rewrite(struct inj *c, unsigned int pg)
{
	uint64_t v = word(c->gen[pg], pg, 0);

	return svm_rw(c->fd, true, c->p + pg * page_size, &v, sizeof(v), NULL);
}

static bool attr_done(struct inj *c, bool retry)
{
	int ret;

	ret = svm_rewrite(c, 5);
	if (ret != -EPERM)
		return bad(c, "write to read-only page 5: %s",
			   ret ? errname(-ret) : "0");
	ret = svm_rewrite(c, 1) ?: svm_rewrite(c, 13);
	if (ret)
		return bad(c, "write next to the range: %s", errname(-ret));
	return svm_ok(c, c->fd, 4, 8, NULL) && cpu_ok(c);
}

/* gpumirror_attr_set() fails with the attributes unchanged: still RW. */
static bool attr_same(struct inj *c)
{
	int ret = svm_rewrite(c, 5);

	if (ret)
		return bad(c, "write to page 5: %s", errname(-ret));
	return cpu_ok(c);
}

static const struct op attr_op = {
	"svm_attr", attr_errs, attr_setup, attr_run, attr_done, attr_same,
};

/* Migration on vgpu 0: all 16 pages written by the CPU. */
static int migrate_setup(struct inj *c)
{
	int ret = open_dev(c, FAULT_DEV) ?: region(c);

	if (ret)
		return ret;
	fill_pages(c, 0, NPAGES, 1);
	c->dev = dev_pages(c->fd);
	c->dev0 = c->dev;
	c->want = NPAGES;
	return c->dev < 0 ? -EIO : 0;
}

static int to_dev_run(struct inj *c)
{
	return migrate(c->fd, c->p, NPAGES * page_size, 0, &c->out);
}

/* All moved; the vgpu reads them in its memory, the CPU gets them back. */
static bool to_dev_done(struct inj *c, bool retry)
{
	long dev = dev_pages(c->fd);

	if (c->out != c->want)
		return bad(c, "%llu pages migrated, not %llu",
			   (unsigned long long)c->out,
			   (unsigned long long)c->want);
	if (dev != c->dev + NPAGES)
		return bad(c, "%ld device pages more, not %d", dev - c->dev,
			   NPAGES);
	return svm_ok(c, c->fd, 0, NPAGES, NULL) && cpu_ok(c);
}

/* All or nothing: on error the range is in system memory. */
static bool to_dev_same(struct inj *c)
{
	long dev = dev_pages(c->fd);

	if (dev != c->dev)
		return bad(c, "%ld device pages left by a failed migration",
			   dev - c->dev);
	return cpu_ok(c);
}

static const struct op to_dev_op = {
	"migrate_to_dev", migrate_errs, migrate_setup, to_dev_run,
	to_dev_done, to_dev_same,
};

static int to_ram_setup(struct inj *c)
{
	int ret = migrate_setup(c) ?: to_dev_run(c);

	if (ret)
		return ret;
	if (c->out != NPAGES)
		return -EAGAIN;
	c->dev = dev_pages(c->fd);
	return 0;
}

static int to_ram_run(struct inj *c)
{
	return migrate(c->fd, c->p, NPAGES * page_size, VGPU_MIGRATE_TO_RAM,
		       &c->out);
}

static bool to_ram_done(struct inj *c, bool retry)
{
	long dev = dev_pages(c->fd);

	if (c->out != c->want)
		return bad(c, "%llu pages migrated, not %llu",
			   (unsigned long long)c->out,
			   (unsigned long long)c->want);
	if (dev != c->dev - NPAGES)
		return bad(c, "%ld device pages left", dev - c->dev + NPAGES);
	return svm_ok(c, c->fd, 0, NPAGES, NULL) && cpu_ok(c);
}

/*
 * Back to RAM need not be all or nothing: what moved stays moved, what
 * did not is still the vgpu's, and the GPU reads it all where it is (no
 * CPU access here: that would move pages). The retry moves the rest.
 */
static bool to_ram_same(struct inj *c)
{
	long dev = dev_pages(c->fd);

	if (dev < c->dev - NPAGES || dev > c->dev)
		return bad(c, "%ld device pages, from %ld", dev, c->dev);
	c->want = dev - (c->dev - NPAGES);
	return svm_ok(c, c->fd, 0, NPAGES, NULL);
}

static const struct op to_ram_op = {
	"migrate_to_ram", migrate_errs, to_ram_setup, to_ram_run,
	to_ram_done, to_ram_same,
};

/* Fault mode, the range preferring vgpu 0's memory: prefetch moves it. */
static int prefetch_dev_setup(struct inj *c)
{
	int ret = migrate_setup(c);

	return ret ?: svm_attr(c->fd, c->p, NPAGES * page_size,
			       VGPU_SVM_ATTR_PREFERRED, 0, 0, 1);
}

static int prefetch_run(struct inj *c)
{
	return prefetch(c->fd, c->p, NPAGES * page_size);
}

/* Every page mapped now (no fault left), wherever placement put it. */
static bool prefetch_dev_done(struct inj *c, bool retry)
{
	long dev = dev_pages(c->fd);
	uint64_t faults = 0;

	if (dev < c->dev || dev > c->dev + NPAGES)
		return bad(c, "%ld device pages, from %ld", dev, c->dev);
	if (!svm_ok(c, c->fd, 0, NPAGES, &faults))
		return false;
	if (faults)
		return bad(c, "%llu faults after a prefetch",
			   (unsigned long long)faults);
	return cpu_ok(c);
}

static bool prefetch_dev_same(struct inj *c)
{
	return svm_ok(c, c->fd, 0, NPAGES, NULL) && cpu_ok(c);
}

static const struct op prefetch_dev_op = {
	"prefetch_dev", prefetch_errs, prefetch_dev_setup, prefetch_run,
	prefetch_dev_done, prefetch_dev_same,
};

/* No-fault vgpu 6 on half_setup()'s region. */
static int nofault_setup(struct inj *c)
{
	return half_setup(c, NOFAULT_DEV);
}

static int nofault_attr_run(struct inj *c)
{
	return svm_attr(c->fd, c->p, NPAGES * page_size, VGPU_SVM_ATTR_ACCESS,
			0, VGPU_SVM_ACCESS_RW, 0);
}

/*
 * Everything mapped (a no-fault vgpu cannot fault), and kept: pages taken
 * away and written anew by the CPU suspend the queue, the restore worker
 * maps the new pages and resumes it; the GPU reads and writes them.
 */
static bool nofault_done(struct inj *c, bool retry)
{
	uint64_t v = word(7, 9, 0);
	struct vgpu_stats a, b;
	int ret;

	if (!svm_ok(c, c->fd, 0, NPAGES, NULL) || stats(c->fd, &a))
		return false;
	if (drop_pages(c, 2, 2))
		return bad(c, "madvise: %s", errname(errno));
	fill_pages(c, 2, 2, 5);
	if (!svm_ok(c, c->fd, 0, NPAGES, NULL))
		return false;
	ret = svm_rw(c->fd, true, c->p + 9 * page_size, &v, sizeof(v), NULL);
	if (ret)
		return bad(c, "GPU write after the restore: %s", errname(-ret));
	if (*(uint64_t *)(c->p + 9 * page_size) != v)
		return bad(c, "the GPU write did not reach the CPU");
	if (stats(c->fd, &b))
		return bad(c, "STATS failed");
	if (b.suspends == a.suspends ||
	    b.resumes - a.resumes != b.suspends - a.suspends ||
	    b.restore_failed != a.restore_failed)
		return bad(c, "suspends +%llu resumes +%llu failed +%llu",
			   (unsigned long long)(b.suspends - a.suspends),
			   (unsigned long long)(b.resumes - a.resumes),
			   (unsigned long long)(b.restore_failed -
						a.restore_failed));
	return true;
}

static bool nofault_same(struct inj *c)
{
	return cpu_ok(c);
}

static const struct op nofault_prefetch_op = {
	"nofault_prefetch", prefetch_errs, nofault_setup, prefetch_run,
	nofault_done, nofault_same,
};

static const struct op nofault_attr_op = {
	"nofault_attr", attr_errs, nofault_setup, nofault_attr_run,
	nofault_done, nofault_same,
};

/*
 * JOIN: vgpu 1's file, with its own object B (pages 8-11) at GPU_VA_OTHER,
 * joins vgpu 0's space, which has object A (pages 0-3) at GPU_VA. Both
 * were read once, so both vgpus have them mapped.
 */
static const unsigned int join_a[] = { 0, 1, 2, 3 };
static const unsigned int join_b[] = { 8, 9, 10, 11 };

static int join_setup(struct inj *c)
{
	struct vgpu_range a, b;
	int ret;

	ret = open_dev(c, FAULT_DEV) ?: region(c);
	if (ret)
		return ret;
	c->fd2 = vgpu_dev_open(JOIN_DEV);
	if (c->fd2 < 0)
		return -errno;
	fill_pages(c, 0, NPAGES, 1);
	fill_pages(c, 8, 4, 7);
	a = (struct vgpu_range){ (uintptr_t)c->p, 4 * page_size };
	b = (struct vgpu_range){ (uintptr_t)c->p + 8 * page_size,
				 4 * page_size };
	ret = obj_create(c->fd, &a, 1, GPU_VA, 0, NULL) ?:
	      obj_create(c->fd2, &b, 1, GPU_VA_OTHER, 0, NULL);
	if (ret)
		return ret;
	if (!gpu_ok(c, c->fd, GPU_VA, join_a, 4, NULL) ||
	    !gpu_ok(c, c->fd2, GPU_VA_OTHER, join_b, 4, NULL))
		return -EIO;
	return 0;
}

static int join_run(struct inj *c)
{
	return join(c->fd2, c->fd);
}

/* One space: vgpu 1 sees A; its own space, with B, is gone. */
static bool join_done(struct inj *c, bool retry)
{
	return gpu_ok(c, c->fd2, GPU_VA, join_a, 4, NULL) &&
	       gpu_fails(c, c->fd2, GPU_VA_OTHER, -EFAULT) &&
	       gpu_ok(c, c->fd, GPU_VA, join_a, 4, NULL) && cpu_ok(c);
}

/* Two spaces still: vgpu 1 sees B and not A; vgpu 0 sees A. */
static bool join_same(struct inj *c)
{
	return gpu_ok(c, c->fd2, GPU_VA_OTHER, join_b, 4, NULL) &&
	       gpu_fails(c, c->fd2, GPU_VA, -EFAULT) &&
	       gpu_ok(c, c->fd, GPU_VA, join_a, 4, NULL) && cpu_ok(c);
}

static const struct op join_op = {
	"join", join_errs, join_setup, join_run, join_done, join_same, true,
};

/*
 * A sweep of a few hundred attempts, each opening a vgpu and faulting a
 * few pages, takes seconds on a fast machine and can take a minute or two
 * under QEMU TCG with KASAN.
 */
#define SWEEP_TIMEOUT	300

TEST_F_TIMEOUT(inject, obj_create, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &create_op);
}

TEST_F_TIMEOUT(inject, gpu_read, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &read_op);
}

TEST_F_TIMEOUT(inject, gpu_write, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &write_op);
}

TEST_F_TIMEOUT(inject, svm_read, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &svm_read_op);
}

TEST_F_TIMEOUT(inject, svm_write, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &svm_write_op);
}

TEST_F_TIMEOUT(inject, svm_attr, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &attr_op);
}

TEST_F_TIMEOUT(inject, migrate_to_dev, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &to_dev_op);
}

TEST_F_TIMEOUT(inject, migrate_to_ram, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &to_ram_op);
}

TEST_F_TIMEOUT(inject, prefetch_dev, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &prefetch_dev_op);
}

TEST_F_TIMEOUT(inject, nofault_prefetch, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &nofault_prefetch_op);
}

TEST_F_TIMEOUT(inject, nofault_attr, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &nofault_attr_op);
}

TEST_F_TIMEOUT(inject, join, SWEEP_TIMEOUT)
{
	sweep(_metadata, self->nth, self->buf, &join_op);
}

/*
 * The restore worker runs in a kworker, where fail-nth cannot reach: arm
 * fail_gpumirror for every task instead, @times failures of the next DMA
 * mappings (-1: all), or disarm it (0). Return: 0 or -errno of the knobs.
 */
static int fail_next_maps(long times)
{
	char t[32];

	if (!times)
		return put(DBG "/fail_gpumirror/probability", "0");
	snprintf(t, sizeof(t), "%ld", times);
	return put(DBG "/fail_gpumirror/interval", "1") ?:
	       put(DBG "/fail_gpumirror/times", t) ?:
	       put(DBG "/fail_gpumirror/probability", "100");
}

/* Wait up to 30 s for the restore worker to resume @fd's queues. */
static bool restored(struct inj *c, const struct vgpu_stats *before)
{
	struct vgpu_stats st;
	int ms;

	for (ms = 0; ms < 30000; ms += 10) {
		if (stats(c->fd, &st))
			return bad(c, "STATS failed");
		if (st.suspends > before->suspends &&
		    st.resumes - before->resumes ==
		    st.suspends - before->suspends)
			return true;
		usleep(10000);
	}
	return bad(c, "not resumed after 30 s");
}

/*
 * An invalidation of a no-fault vgpu's kept range while its DMA mappings
 * fail: a few failures are transient (the worker retries and maps the new
 * pages, nothing is given up); failing for good, the worker gives the
 * range up after its tries, tells the driver and still resumes the queue,
 * and a new prefetch maps the range again.
 */
static bool restore_case(struct inj *c, long times, uint64_t *failed)
{
	struct vgpu_stats a, b;
	int ret;

	if (nofault_setup(c) || prefetch(c->fd, c->p, NPAGES * page_size))
		return bad(c, "setup or prefetch failed");
	if (!svm_ok(c, c->fd, 0, NPAGES, NULL) || stats(c->fd, &a))
		return false;
	if (fail_next_maps(times))
		return bad(c, "cannot arm fail_gpumirror");
	ret = drop_pages(c, 2, 2);
	fill_pages(c, 2, 2, 5);
	if (!ret && !restored(c, &a))
		ret = -ETIMEDOUT;
	if (fail_next_maps(0) || ret || stats(c->fd, &b))
		return bad(c, "%s", ret ? errname(-ret) : "cannot disarm");
	*failed = b.restore_failed - a.restore_failed;
	if (!times)
		return true;
	/* Given up: the queue runs, the range is no longer mapped. */
	if (*failed && svm_rw(c->fd, false, c->p + 2 * page_size, c->rd,
			      page_size, NULL) != -EFAULT)
		return bad(c, "a given-up range still reachable");
	if (*failed && prefetch(c->fd, c->p, NPAGES * page_size))
		return bad(c, "prefetch after the give-up failed");
	return svm_ok(c, c->fd, 0, NPAGES, NULL) && cpu_ok(c);
}

TEST_F_TIMEOUT(inject, restore_worker, SWEEP_TIMEOUT)
{
	uint64_t failed = 0;
	struct inj c;
	bool ok;

	/* Three failures: retried a jiffy later, nothing given up. */
	inj_init(&c, self->buf);
	ok = restore_case(&c, 3, &failed);
	EXPECT_TRUE(ok) TH_LOG("transient: %s", c.why);
	EXPECT_EQ(failed, 0);
	EXPECT_TRUE(inj_teardown(&c)) TH_LOG("%s", c.why);

	/* Every mapping fails: given up after the tries, then mapped anew. */
	inj_init(&c, self->buf);
	ok = restore_case(&c, -1, &failed);
	EXPECT_TRUE(ok) TH_LOG("for good: %s", c.why);
	EXPECT_GE(failed, 1);
	EXPECT_TRUE(inj_teardown(&c)) TH_LOG("%s", c.why);
	printf("# INJECT restore_worker: transient retried, given up %llu range(s) for good, %s\n",
	       (unsigned long long)failed, ok ? "resumed and mapped again" :
	       "FAILED");
}

/*
 * Last, with every file of the sweeps closed: each gpumirror site was
 * injected at least once, and no DMA mapping of a vgpu is left.
 */
TEST_F(inject, sites_and_mappings)
{
	char line[128], name[64], all[256] = "";
	unsigned int sites = 0, reached = 0;
	unsigned long count;
	size_t len = 0;
	long dma;
	FILE *f;

	f = fopen(DBG "/fail_gpumirror/sites", "r");
	ASSERT_NE(f, NULL);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lu", name, &count) != 2)
			continue;
		sites++;
		reached += count > 0;
		len += snprintf(all + len, sizeof(all) - len, " %s %lu",
				name, count);
	}
	fclose(f);
	printf("# INJECT sites reached %u/%u:%s\n", reached, sites, all);
	EXPECT_EQ(sites, 3);
	EXPECT_EQ(reached, sites);

	dma = vgpu_dma_settled();
	if (dma < 0)
		printf("# no " DBG "/dma-api/dump: DMA mappings not checked\n");
	else
		printf("# INJECT vgpu DMA mappings left: %ld\n", dma);
	EXPECT_LE(dma, 0);
}

TEST_HARNESS_MAIN
