// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu-uapi-fuzz: every vgpu command, of both command sets, with random and
 * boundary arguments, from several threads sharing the files, from a
 * forked child on its own files, and from that child on the parent's files
 * (which must always fail with EPERM), while another thread maps, unmaps,
 * protects and advises the memory the commands point at. Every error must
 * be one <uapi/linux/vgpu.h> (or, for the test_hmm commands, vgpu's
 * documentation of them) lists for the command; the kernel log scan of the
 * boot catches any report.
 *
 * Usage: vgpu-uapi-fuzz [seed [calls [seconds]]]: stops after @calls
 * (100000) or @seconds (60), whichever comes first.
 * Prints "FUZZ uapi seed=S calls=N undocumented=N ..." and exits non-zero
 * on an undocumented errno, a child violation, or under 100 calls (a
 * fuzzer that stopped early, not a rate: TCG makes about 30 calls a second).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lib/test_hmm_uapi.h>
#include <linux/vgpu.h>

#include "vgpu_util.h"

#define POOL_SIZE	(64UL << 20)
#define SCRATCH_SIZE	(4UL << 20)
#define GUARD_SIZE	(2UL << 30)
#define NFDS		5
#define NTHREADS	3
#define MAX_ERRS	14
#define EXPLICIT	BIT_ULL(VGPU_GPU_VA_EXPLICIT_SHIFT)

/* A command and the errnos its documentation allows. */
struct cmd {
	const char *name;
	unsigned long nr;
	int errs[MAX_ERRS];
};

#define HMM_ERRS { EINVAL, EFAULT, ENOMEM, EBUSY, ENOENT, EPERM, EINTR, \
		   EOPNOTSUPP }

static const struct cmd cmds[] = {
	{ "OBJ_CREATE", VGPU_IOCTL_OBJ_CREATE,
	  { EINVAL, ENOENT, ENODATA, EEXIST, EOVERFLOW, EFAULT, ERANGE, E2BIG,
	    EPERM, EINTR, EBUSY, ENOMEM, EOPNOTSUPP } },
	{ "OBJ_DESTROY", VGPU_IOCTL_OBJ_DESTROY, { ENOENT, EINVAL } },
	{ "READ", VGPU_IOCTL_READ,
	  { EFAULT, EPERM, EINVAL, EINTR, EBUSY, ENOMEM, EOPNOTSUPP } },
	{ "WRITE", VGPU_IOCTL_WRITE,
	  { EFAULT, EPERM, EINVAL, EINTR, EBUSY, ENOMEM, EOPNOTSUPP } },
	{ "STATS", VGPU_IOCTL_STATS, { 0 } },
	{ "MIGRATE", VGPU_IOCTL_MIGRATE, { EINVAL, EBUSY, ENOMEM } },
	{ "ALLOC_LIMIT", VGPU_IOCTL_ALLOC_LIMIT, { EINVAL } },
	{ "SVM_ACCESS", VGPU_IOCTL_SVM_ACCESS,
	  { EFAULT, EPERM, ETIMEDOUT, EINTR, EBUSY, EINVAL, ENOMEM,
	    EOPNOTSUPP } },
	{ "SVM_ATTR", VGPU_IOCTL_SVM_ATTR,	/* + prefetch */
	  { EINVAL, ENOMEM, EBUSY, EFAULT, EINTR, EOPNOTSUPP } },
	{ "SVM_PREFETCH", VGPU_IOCTL_SVM_PREFETCH,
	  { EINVAL, ENOMEM, EBUSY, EFAULT, EINTR, EOPNOTSUPP } },
	{ "JOIN", VGPU_IOCTL_JOIN, { EBADF, EPERM, EEXIST, EBUSY, EINVAL } },
	{ "HMM_READ", HMM_DMIRROR_READ, HMM_ERRS },
	{ "HMM_WRITE", HMM_DMIRROR_WRITE, HMM_ERRS },
	{ "HMM_MIGRATE_TO_DEV", HMM_DMIRROR_MIGRATE_TO_DEV, HMM_ERRS },
	{ "HMM_MIGRATE_TO_SYS", HMM_DMIRROR_MIGRATE_TO_SYS, HMM_ERRS },
	{ "HMM_SNAPSHOT", HMM_DMIRROR_SNAPSHOT, HMM_ERRS },
	{ "HMM_EXCLUSIVE", HMM_DMIRROR_EXCLUSIVE, HMM_ERRS },
	{ "HMM_CHECK_EXCLUSIVE", HMM_DMIRROR_CHECK_EXCLUSIVE, HMM_ERRS },
	{ "HMM_RELEASE", HMM_DMIRROR_RELEASE, HMM_ERRS },
	{ "UNKNOWN", 0, { 0 } },
};

#define NCMDS	ARRAY_SIZE(cmds)

static char *pool, *scratch;
static long page_size;
static unsigned long calls_goal, seconds_goal;
static unsigned long calls, undocumented;
static int stop;	/* VGPU_LOAD() / VGPU_STORE() */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long seen[NCMDS][140];
static double spent[NCMDS];
static unsigned long ncalls[NCMDS];

/* xorshift64*: one state per thread, seeded from the run's seed. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/* A CPU address: mostly in the pool, sometimes at an edge of anything. */
static uint64_t any_addr(uint64_t *s)
{
	static const uint64_t edge[] = {
		0, 1, 4096, (1ULL << 47) - 4096, 1ULL << 47,
		0xffff800000000000ULL, ~0ULL, EXPLICIT - 2 * 4096,
	};
	uint64_t a;

	if (below(s, 10) == 0)
		return edge[below(s, ARRAY_SIZE(edge))];
	a = (uint64_t)(uintptr_t)pool + below(s, POOL_SIZE);
	return below(s, 5) ? a & ~(uint64_t)(page_size - 1) : a;
}

/* A length: small and aligned mostly, sometimes any edge. */
static uint64_t any_len(uint64_t *s)
{
	static const uint64_t edge[] = {
		0, 1, 8, 4095, 2UL << 20, 1ULL << 30, (1ULL << 30) + 4096,
		1ULL << 40, 1ULL << 63, ~0ULL,
	};
	uint64_t e;

	if (below(s, 12) == 0) {
		e = edge[below(s, ARRAY_SIZE(edge))];
		/* Up to a GiB is allocated for: rarely. */
		if (e >= (1ULL << 30) && e < (1ULL << 31) && below(s, 50))
			e = 2UL << 20;
		return e;
	}
	return (1 + below(s, 32)) * page_size;
}

/*
 * A user buffer the kernel copies to or from: the scratch area (a guard
 * after it), or a bad pointer. Never the program's own memory.
 */
static uint64_t any_ptr(uint64_t *s)
{
	switch (below(s, 12)) {
	case 0:
		return 0;
	case 1:
		return 0xffff800000001000ULL;
	case 2:
		return (uintptr_t)scratch + SCRATCH_SIZE;
	default:
		return (uintptr_t)scratch + below(s, 8) * page_size;
	}
}

/* An array of ranges in the scratch area, for OBJ_CREATE. */
static uint64_t any_ranges(uint64_t *s, uint32_t *n)
{
	struct vgpu_range *r = (struct vgpu_range *)(scratch + SCRATCH_SIZE -
						     64 * sizeof(*r));
	uint32_t i;

	*n = below(s, 20) ? below(s, 8) : (uint32_t)rnd(s);
	for (i = 0; i < 64; i++) {
		r[i].addr = any_addr(s);
		r[i].len = below(s, 3) ? (1 + below(s, 4)) * page_size :
					 any_len(s);
	}
	if (below(s, 20) == 0)
		return any_ptr(s);
	return (uintptr_t)r;
}

static uint64_t any_gpu_va(uint64_t *s)
{
	if (below(s, 8) == 0)
		return any_addr(s);
	return EXPLICIT + below(s, 256) * page_size * (below(s, 4) ? 1 : 7);
}

/* Fill the argument of command @c at random; the size is _IOC_SIZE. */
/* ALLOC_LIMIT budgets: zero, small, large, negative, past INT_MAX. */
static const int64_t budgets[] = {
	0, 3, 1000, -2, (int64_t)INT_MAX + 1, INT64_MIN
};

static void make_arg(uint64_t *s, const struct cmd *c, void *arg, int *fds)
{
	union {
		struct vgpu_obj_create create;
		struct vgpu_obj_destroy destroy;
		struct vgpu_access access;
		struct vgpu_migrate migrate;
		struct vgpu_alloc_limit limit;
		struct vgpu_svm_access svm;
		struct vgpu_svm_attr attr;
		struct vgpu_svm_prefetch prefetch;
		struct vgpu_join join;
		struct hmm_dmirror_cmd hmm;
	} *u = arg;
	bool bad = below(s, 16) == 0;

	memset(arg, 0, 256);
	switch (c->nr) {
	case VGPU_IOCTL_OBJ_CREATE:
		u->create.ranges = any_ranges(s, &u->create.nranges);
		u->create.gpu_va = any_gpu_va(s);
		u->create.flags = bad ? rnd(s) : below(s, 2);
		u->create.pad = bad ? rnd(s) : 0;
		break;
	case VGPU_IOCTL_OBJ_DESTROY:
		u->destroy.handle = below(s, 4) ? below(s, 64) : rnd(s);
		u->destroy.pad = bad;
		break;
	case VGPU_IOCTL_READ:
	case VGPU_IOCTL_WRITE:
		u->access.gpu_va = any_gpu_va(s);
		u->access.ptr = any_ptr(s);
		u->access.len = below(s, 2) ? 8 * (1 + below(s, 64)) :
					      any_len(s);
		break;
	case VGPU_IOCTL_MIGRATE:
		u->migrate.addr = any_addr(s);
		u->migrate.len = any_len(s);
		u->migrate.flags = bad ? rnd(s) : below(s, 4);
		u->migrate.pad = bad && below(s, 2);
		break;
	case VGPU_IOCTL_ALLOC_LIMIT:
		u->limit.budget = below(s, 4) ? -1 :
			budgets[below(s, ARRAY_SIZE(budgets))];
		break;
	case VGPU_IOCTL_SVM_ACCESS:
		u->svm.addr = any_addr(s);
		u->svm.ptr = any_ptr(s);
		u->svm.len = below(s, 2) ? 8 * (1 + below(s, 64)) :
					   any_len(s);
		u->svm.flags = bad ? rnd(s) : below(s, 2);
		u->svm.pad = bad && below(s, 2);
		break;
	case VGPU_IOCTL_SVM_ATTR:
		u->attr.start = any_addr(s);
		u->attr.len = any_len(s);
		u->attr.mask = bad ? rnd(s) : below(s, 16);
		u->attr.preferred = below(s, 2);
		u->attr.granularity = below(s, 24);
		u->attr.read_only = below(s, 2);
		u->attr.access = below(s, 4);
		u->attr.pad = bad && below(s, 2);
		break;
	case VGPU_IOCTL_SVM_PREFETCH:
		u->prefetch.start = any_addr(s);
		u->prefetch.len = any_len(s);
		break;
	case VGPU_IOCTL_JOIN:
		u->join.fd = below(s, 8) ? fds[below(s, NFDS)] :
			     (int)below(s, 1024) - 1;
		u->join.pad = bad;
		break;
	case 0:
		break;
	default:	/* the test_hmm commands */
		u->hmm.addr = any_addr(s);
		u->hmm.ptr = any_ptr(s);
		u->hmm.npages = below(s, 8) ? 1 + below(s, 16) :
			any_len(s) / (below(s, 2) ? page_size : 1);
		break;
	}
}

static bool documented(const struct cmd *c, int err)
{
	int i;

	/* Any command: a bad argument pointer. */
	if (err == EFAULT || (!c->nr && err == ENOTTY))
		return true;
	for (i = 0; i < MAX_ERRS && c->errs[i]; i++)
		if (c->errs[i] == err)
			return true;
	return false;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One random call on one of @fds; returns the command's index. */
static int one_call(uint64_t *s, int *fds, int *err)
{
	uint64_t words[32];	/* 256 bytes, 8-byte aligned */
	unsigned char *arg = (unsigned char *)words;
	unsigned int i = below(s, NCMDS);
	const struct cmd *c = &cmds[i];
	unsigned long nr = c->nr;
	void *argp = arg;
	double t0;

	make_arg(s, c, arg, fds);
	t0 = now();
	/* A number nobody answers, or a known one resized: never a known. */
	while (!nr) {
		unsigned int k;

		nr = _IOC(_IOC_READ | _IOC_WRITE,
			  below(s, 2) ? VGPU_IOCTL_BASE : 'H',
			  below(s, 2) ? 0x40 + below(s, 48) : below(s, 256),
			  below(s, 4) ? 8 * below(s, 32) : 8 * below(s, 1024));
		for (k = 0; k < NCMDS; k++)
			if (cmds[k].nr == nr)
				nr = 0;
	}
	if (below(s, 64) == 0)
		argp = (void *)(uintptr_t)any_ptr(s);
	*err = ioctl(fds[below(s, NFDS)], nr, argp) ? errno : 0;
	t0 = now() - t0;
	pthread_mutex_lock(&report_lock);
	spent[i] += t0;
	ncalls[i]++;
	pthread_mutex_unlock(&report_lock);
	return i;
}

static void note(unsigned int i, int err)
{
	bool bad = err && !documented(&cmds[i], err);

	pthread_mutex_lock(&report_lock);
	calls++;
	undocumented += bad;
	/* Each undocumented pair once. */
	if (bad && (err >= 140 || !seen[i][err]++))
		printf("# undocumented: %s -> %s (%d)\n", cmds[i].name,
		       strerror(err), err);
	pthread_mutex_unlock(&report_lock);
}

struct worker {
	uint64_t seed;
	int *fds;
};

static void *worker_fn(void *p)
{
	struct worker *w = p;
	uint64_t s = w->seed;
	int err;
	unsigned int i;

	while (!VGPU_LOAD(stop)) {
		i = one_call(&s, w->fds, &err);
		note(i, err);
	}
	return NULL;
}

/* Remap, protect and advise pieces of the pool, at random. */
static const int advice[] = {
	MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, MADV_HUGEPAGE
};

static void *mutator_fn(void *p)
{
	uint64_t s = *(uint64_t *)p;
	char *at;
	size_t len;

	while (!VGPU_LOAD(stop)) {
		at = pool + below(&s, POOL_SIZE / page_size) * page_size;
		len = (1 + below(&s, 64)) * page_size;
		if (at + len > pool + POOL_SIZE)
			len = pool + POOL_SIZE - at;
		switch (below(&s, 6)) {
		case 0:
			munmap(at, len);
			break;
		case 1:
			mmap(at, len, PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			memset(at, 0x5a, page_size);
			break;
		case 2:
			mmap(at, len, PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			break;
		case 3:
			mprotect(at, len, below(&s, 2) ? PROT_READ :
				 PROT_READ | PROT_WRITE);
			break;
		case 4:
			madvise(at, len, advice[below(&s, ARRAY_SIZE(advice))]);
			break;
		default:
			memset(at, (int)below(&s, 256), 8);	/* may fault */
			break;
		}
		usleep(200);
	}
	return NULL;
}

static void open_fds(int *fds)
{
	static const int ids[NFDS] = { 0, 1, 6, 2, 4 };
	struct vgpu_join j = { 0 };
	int i;

	for (i = 0; i < NFDS; i++) {
		fds[i] = vgpu_dev_open(ids[i]);
		if (fds[i] < 0) {
			perror("open vgpu");
			exit(2);
		}
	}
	/* vgpus 1 and 6 share vgpu 0's space; 2 and 4 have their own. */
	j.fd = fds[0];
	if (ioctl(fds[1], VGPU_IOCTL_JOIN, &j) ||
	    ioctl(fds[2], VGPU_IOCTL_JOIN, &j)) {
		perror("join");
		exit(2);
	}
}

/* The SEGV a mutator's store into a read-only or unmapped piece gets. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	char *a = si->si_addr;

	if (a >= pool && a < pool + POOL_SIZE &&
	    mmap((void *)((uintptr_t)a & ~(page_size - 1)), page_size,
		 PROT_READ | PROT_WRITE,
		 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED)
		return;
	signal(sig, SIG_DFL);
}

static void setup_memory(void)
{
	struct sigaction sa = { .sa_sigaction = on_segv,
				.sa_flags = SA_SIGINFO };
	char *guard;

	pool = mmap(NULL, POOL_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	guard = mmap(NULL, SCRATCH_SIZE + GUARD_SIZE, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool == MAP_FAILED || guard == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	scratch = guard;
	if (mprotect(scratch, SCRATCH_SIZE, PROT_READ | PROT_WRITE)) {
		perror("mprotect");
		exit(2);
	}
	memset(pool, 0x11, POOL_SIZE / 4);
	sigaction(SIGSEGV, &sa, NULL);
}

/* The whole run of one process; returns its undocumented count. */
static unsigned long run(uint64_t seed, int *fds)
{
	pthread_t t[NTHREADS], m;
	struct worker w[NTHREADS];
	uint64_t ms = seed ^ 0x9e3779b97f4a7c15ULL;
	double start = now();
	int i;

	VGPU_STORE(stop, 0);
	for (i = 0; i < NTHREADS; i++) {
		w[i].seed = seed * (i + 1) | 1;
		w[i].fds = fds;
		pthread_create(&t[i], NULL, worker_fn, &w[i]);
	}
	pthread_create(&m, NULL, mutator_fn, &ms);
	while (!VGPU_LOAD(stop)) {
		usleep(20000);
		pthread_mutex_lock(&report_lock);
		VGPU_STORE(stop, calls >= calls_goal ||
			   now() - start > seconds_goal);
		pthread_mutex_unlock(&report_lock);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_join(m, NULL);
	return undocumented;
}

/*
 * The child: first the parent's files (inherited), where every command must
 * fail with EPERM; then a fuzz run of its own on its own files.
 */
static int child(uint64_t seed, int *parent_fds)
{
	uint64_t s = seed;
	unsigned long bad = 0;
	int fds[NFDS], i, err;

	for (i = 0; i < 2000; i++) {
		unsigned int c = one_call(&s, parent_fds, &err);

		/* The mm is checked before anything else. */
		if (err != EPERM) {
			printf("# %s: %s on the parent's file -> %d\n",
			       __func__, cmds[c].name, err);
			bad++;
		}
	}
	open_fds(fds);
	calls = 0;
	calls_goal /= 4;
	run(seed + 1, fds);
	printf("# %s: %d calls on the parent's files, %lu not EPERM; ",
	       __func__, i, bad);
	printf("%lu calls, %lu undocumented\n", calls, undocumented);
	return bad || undocumented ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	struct vgpu_alloc_limit nolimit = { .budget = -1 };
	int fds[NFDS], status, i;
	double start = now();
	pid_t pid;

	calls_goal = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;
	seconds_goal = argc > 3 ? strtoul(argv[3], NULL, 0) : 60;
	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup_memory();
	open_fds(fds);

	pid = fork();
	if (!pid)
		_exit(child(seed * 31 + 7, fds));
	run(seed, fds);
	waitpid(pid, &status, 0);
	for (i = 0; i < NFDS; i++)
		ioctl(fds[i], VGPU_IOCTL_ALLOC_LIMIT, &nolimit);
	printf("FUZZ uapi seed=%llu calls=%lu undocumented=%lu child=%s seconds=%.0f\n",
	       (unsigned long long)seed, calls, undocumented,
	       WIFEXITED(status) && !WEXITSTATUS(status) ? "ok" : "FAILED",
	       now() - start);
	for (i = 0; i < NFDS; i++)
		close(fds[i]);
	for (i = 0; i < (int)NCMDS; i++)
		printf("# %-20s %7lu calls %8.1f s\n", cmds[i].name, ncalls[i],
		       spent[i]);
	/* The goal is a bound: under TCG a run may end on time first. */
	return undocumented || calls < 100 || !WIFEXITED(status) ||
	       WEXITSTATUS(status);
}
