// SPDX-License-Identifier: GPL-2.0
/*
 * echodev: a character device that gives back what was written to it.
 *
 * It demonstrates how a module offers a device file without picking a major
 * number: a misc device with a dynamic minor appears as /dev/echodev (made
 * by devtmpfs or mdev, mode 0666 so any user can try it), and its
 * file_operations do the work:
 *
 *   - write stores the bytes at the file offset, in one fixed buffer of
 *     ECHODEV_SIZE bytes; a write that starts at the end of the buffer fails
 *     with -ENOSPC, as on a full disk;
 *   - read returns the stored bytes from the file offset and then 0, the
 *     end of file, so "cat /dev/echodev" stops;
 *   - open with O_TRUNC (what the shell's ">" does) empties the buffer;
 *   - one mutex serialises every access, as several processes may use the
 *     device at once and the buffer is shared by all of them.
 *
 * Try it: echo hi > /dev/echodev; cat /dev/echodev
 */

/* Prefix every pr_*() line with the module name, so dmesg says "echodev: ...". */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define ECHODEV_SIZE 4096

/*
 * One buffer for the device, not one per open file: what one process writes,
 * the next one reads, which is the point of an echo device.
 */
static char echodev_data[ECHODEV_SIZE];
static size_t echodev_len;
/* Held around every use of the buffer, so a read never sees half a write. */
static DEFINE_MUTEX(echodev_lock);

static int echodev_open(struct inode *inode, struct file *file)
{
	/*
	 * The VFS only truncates regular files; a device has to honour O_TRUNC
	 * itself, or "echo hi > /dev/echodev" after a longer message would
	 * leave that message's tail behind.
	 */
	if ((file->f_flags & O_ACCMODE) != O_RDONLY &&
	    (file->f_flags & O_TRUNC)) {
		if (mutex_lock_interruptible(&echodev_lock))
			return -ERESTARTSYS;
		echodev_len = 0;
		mutex_unlock(&echodev_lock);
	}
	return 0;
}

static ssize_t echodev_read(struct file *file, char __user *buf,
			    size_t count, loff_t *ppos)
{
	ssize_t ret;

	if (mutex_lock_interruptible(&echodev_lock))
		return -ERESTARTSYS;
	/*
	 * simple_read_from_buffer() copies from *ppos on and advances *ppos by
	 * what it copied; once *ppos reaches the stored length it returns 0.
	 * Without that end of file, cat would print the message forever.
	 */
	ret = simple_read_from_buffer(buf, count, ppos, echodev_data,
				      echodev_len);
	mutex_unlock(&echodev_lock);
	return ret;
}

static ssize_t echodev_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	loff_t pos;
	ssize_t ret;

	if (mutex_lock_interruptible(&echodev_lock))
		return -ERESTARTSYS;

	/* O_APPEND means "at the end", wherever this file's offset is. */
	pos = (file->f_flags & O_APPEND) ? echodev_len : *ppos;
	if (pos < 0) {
		ret = -EINVAL;
		goto out;
	}
	if (count == 0) {
		ret = 0;
		goto out;
	}
	if (pos >= ECHODEV_SIZE) {
		ret = -ENOSPC;
		goto out;
	}
	/* Take what fits; the caller's next write then gets -ENOSPC. */
	count = min_t(size_t, count, ECHODEV_SIZE - pos);

	/*
	 * Another opener may have truncated the buffer since this file's offset
	 * was set: the gap up to pos must read as zeros, not as old data.
	 */
	if (pos > echodev_len)
		memset(echodev_data + echodev_len, 0, pos - echodev_len);

	if (copy_from_user(echodev_data + pos, buf, count)) {
		ret = -EFAULT;
		goto out;
	}
	echodev_len = max_t(size_t, echodev_len, pos + count);
	*ppos = pos + count;
	ret = count;
out:
	mutex_unlock(&echodev_lock);
	return ret;
}

static loff_t echodev_llseek(struct file *file, loff_t offset, int whence)
{
	loff_t ret;

	/*
	 * The device's size is what it stores: SEEK_END is relative to that,
	 * and seeking past it is refused rather than making holes.
	 */
	if (mutex_lock_interruptible(&echodev_lock))
		return -ERESTARTSYS;
	ret = fixed_size_llseek(file, offset, whence, echodev_len);
	mutex_unlock(&echodev_lock);
	return ret;
}

static const struct file_operations echodev_fops = {
	/* Pins the module while a file is open, so rmmod cannot pull the code away. */
	.owner = THIS_MODULE,
	.open = echodev_open,
	.read = echodev_read,
	.write = echodev_write,
	.llseek = echodev_llseek,
};

static struct miscdevice echodev_misc = {
	/* Let the misc class pick a free minor instead of claiming one. */
	.minor = MISC_DYNAMIC_MINOR,
	.name = "echodev",
	.fops = &echodev_fops,
	.mode = 0666,
};

static int __init echodev_init(void)
{
	int ret;

	ret = misc_register(&echodev_misc);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", echodev_misc.name, ret);
		return ret;
	}
	pr_info("/dev/%s ready (misc minor %d, %d bytes)\n",
		echodev_misc.name, echodev_misc.minor, ECHODEV_SIZE);
	return 0;
}

static void __exit echodev_exit(void)
{
	misc_deregister(&echodev_misc);
	pr_info("/dev/%s removed\n", echodev_misc.name);
}

module_init(echodev_init);
module_exit(echodev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kardel examples");
MODULE_DESCRIPTION("Misc character device that reads back what was written to it");
