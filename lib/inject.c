// SPDX-License-Identifier: GPL-2.0
/*
 * gpumirror: fault injection where the kernel below rarely fails.
 */

#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "internal.h"

/**
 * DOC: Fault injection
 *
 * With ``CONFIG_GPUMIRROR_FAULT_INJECTION`` the library can be made to fail
 * at the calls that almost never fail on a test machine: the DMA mapping of
 * a page (an IOMMU out of space), the insertion of an object's interval
 * notifier and migrate_vma_setup() (their allocations). The sites share one
 * fault attribute, ``fail_gpumirror`` in debugfs, with the usual knobs
 * (Documentation/fault-injection/fault-injection.rst). Like failslab and
 * fail_page_alloc it answers ``/proc/<pid>/fail-nth``: a test makes the
 * N-th failure site of one call fail, whichever layer it is in, and sweeps
 * N until the call no longer reaches it. ``fail_gpumirror/sites`` counts the
 * failures injected at each site, so a sweep can show that it reached them
 * all.
 */

static DECLARE_FAULT_ATTR(gpumirror_fail_attr);
static atomic_long_t gpumirror_injected[GPUMIRROR_FAIL_NR];
static struct dentry *gpumirror_fail_dir;

static const char *const gpumirror_fail_names[GPUMIRROR_FAIL_NR] = {
	[GPUMIRROR_FAIL_DMA_MAP] = "dma_map",
	[GPUMIRROR_FAIL_NOTIFIER_INSERT] = "notifier_insert",
	[GPUMIRROR_FAIL_MIGRATE_SETUP] = "migrate_setup",
};

/**
 * gpumirror_should_fail() - inject a failure at a site?
 * @site: where the caller is about to make the call that may fail
 *
 * Context: any; process context for /proc/<pid>/fail-nth.
 * Return: true if the caller must fail as if the call had.
 */
bool gpumirror_should_fail(enum gpumirror_fail_site site)
{
	if (!should_fail(&gpumirror_fail_attr, 1))
		return false;
	atomic_long_inc(&gpumirror_injected[site]);
	return true;
}

static int gpumirror_sites_show(struct seq_file *m, void *unused)
{
	unsigned int i;

	for (i = 0; i < GPUMIRROR_FAIL_NR; i++)
		seq_printf(m, "%s %ld\n", gpumirror_fail_names[i],
			   atomic_long_read(&gpumirror_injected[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gpumirror_sites);

static int __init gpumirror_inject_init(void)
{
	struct dentry *dir;

	/* A test that sweeps wants failures, not a stack trace for each. */
	gpumirror_fail_attr.verbose = 0;
	dir = fault_create_debugfs_attr("fail_gpumirror", NULL,
					&gpumirror_fail_attr);
	/* No debugfs: fail-nth still works, the library still loads. */
	if (IS_ERR(dir))
		return 0;
	debugfs_create_file("sites", 0444, dir, NULL, &gpumirror_sites_fops);
	gpumirror_fail_dir = dir;
	return 0;
}
module_init(gpumirror_inject_init);

static void __exit gpumirror_inject_exit(void)
{
	debugfs_remove_recursive(gpumirror_fail_dir);
}
module_exit(gpumirror_inject_exit);
