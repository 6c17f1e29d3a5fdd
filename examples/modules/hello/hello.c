// SPDX-License-Identifier: GPL-2.0
/*
 * hello: the smallest useful out-of-tree module.
 *
 * It demonstrates the parts every module has: an init function that runs
 * on insmod/modprobe, an exit function that runs on rmmod, the metadata
 * modinfo shows (license, author, description), and one parameter that
 * can be set on the command line ("modprobe hello who=you") and read back
 * from /sys/module/hello/parameters/who while the module is loaded.
 */

/* Prefix every pr_*() line with the module name, so dmesg says "hello: ...". */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *who = "world";
/* 0444: readable in sysfs, not writable, so load and unload greet the same name. */
module_param(who, charp, 0444);
MODULE_PARM_DESC(who, "Whom to greet on load and unload (default: world)");

static int __init hello_init(void)
{
	pr_info("hello, %s\n", who);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("goodbye, %s\n", who);
}

module_init(hello_init);
module_exit(hello_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kardel examples");
MODULE_DESCRIPTION("Greets someone on load and says goodbye on unload");
