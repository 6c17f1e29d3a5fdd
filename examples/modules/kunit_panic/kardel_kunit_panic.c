// SPDX-License-Identifier: GPL-2.0
/*
 * A KUnit suite that crashes the kernel in its second of three cases: what a test run looks
 * like when the machine dies under it. The suite is reported as an error (never a pass), its
 * first case keeps its result, and the run's exit code is the tool's 125:
 *
 *   cargo xtask test --kunit --module examples/modules/kunit_panic
 */
#include <kunit/test.h>
#include <linux/module.h>
#include <linux/kernel.h>

static void passes_first(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, 1 + 1, 2);
}

static void panics(struct kunit *test)
{
	panic("kardel_kunit_panic: this case panics on purpose");
}

static void never_runs(struct kunit *test)
{
	KUNIT_FAIL(test, "the kernel panicked before this case");
}

static struct kunit_case kardel_panic_cases[] = {
	KUNIT_CASE(passes_first),
	KUNIT_CASE(panics),
	KUNIT_CASE(never_runs),
	{}
};

static struct kunit_suite kardel_panic_suite = {
	.name = "kardel_panic",
	.test_cases = kardel_panic_cases,
};
kunit_test_suite(kardel_panic_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A KUnit suite whose second case panics the kernel");
