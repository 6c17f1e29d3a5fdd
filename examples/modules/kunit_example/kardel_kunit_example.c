// SPDX-License-Identifier: GPL-2.0
/*
 * A KUnit suite as a module of your own: one case that passes, one that fails on purpose (so
 * that a failure's report can be seen end to end), one that skips. Its suites run as the module
 * loads:
 *
 *   cargo xtask test --kunit --module examples/modules/kunit_example
 */
#include <kunit/test.h>
#include <linux/module.h>
#include <linux/kernel.h>

static int add(int a, int b)
{
	return a + b;
}

static void adds_up(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, add(2, 2), 4);
	KUNIT_EXPECT_EQ(test, add(-1, 1), 0);
}

static void fails_on_purpose(struct kunit *test)
{
	KUNIT_EXPECT_EQ_MSG(test, add(2, 2), 5, "this case fails on purpose");
}

static void skips(struct kunit *test)
{
	kunit_skip(test, "nothing to test here");
}

static struct kunit_case kardel_example_cases[] = {
	KUNIT_CASE(adds_up),
	KUNIT_CASE(fails_on_purpose),
	KUNIT_CASE(skips),
	{}
};

static struct kunit_suite kardel_example_suite = {
	.name = "kardel_example",
	.test_cases = kardel_example_cases,
};
kunit_test_suite(kardel_example_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A KUnit suite with a passing, a failing and a skipped case");
