/*
 * kardel-seed: the host's time and fresh randomness for a guest restored from a saved machine
 * (`cargo xtask run`'s warm starts). kardel-run starts it, in a machine to save, with the command
 * port as stdin. It prints the runner's ready line, and the host saves the machine while it waits
 * in read(2) for its first line: every restore starts here, with no program left to start (each
 * costs tens of milliseconds under emulation, its code translated anew after a restore). The line
 * is "SECONDS HEX\n", read a byte at a time: what follows it is the command, the shell's to read.
 *
 * Every restore of one saved state starts with the saved clock and the same kernel random state:
 * without this every warm run would read the same bytes from /dev/urandom. The clock is set to
 * SECONDS since the epoch; the up to 64 random bytes of HEX are credited to the kernel's input
 * pool (RNDADDENTROPY) and the CRNG reseeded from it at once (RNDRESEEDCRNG), as Linux 5.18+
 * does by itself when a vmgenid changes: the same on every kernel and architecture the tool
 * boots.
 *
 * The ioctl numbers are the kernel's generic encoding, the same on x86_64, aarch64 and riscv64:
 * spelled out here so that no kernel headers are needed in the cross compiler's sysroot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define RNDADDENTROPY 0x40085203 /* _IOW('R', 0x03, int[2]) */
#define RNDRESEEDCRNG 0x5207     /* _IO('R', 0x07) */

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The runner's ready line: the host saves the machine when it sees it (protocol::RUNNER_READY). */
static const char ready[] = "kardel-run: ready for a command\n";

int main(void)
{
	struct {
		int entropy_count;
		int buf_size;
		unsigned char buf[64];
	} pool;
	char line[256];
	size_t length = 0;

	if (write(1, ready, sizeof ready - 1) < 0)
		return 1;
	for (;;) {
		char c;
		ssize_t got = read(0, &c, 1);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || length == sizeof line - 1)
			return 2;
		if (c == '\n')
			break;
		line[length++] = c;
	}
	line[length] = 0;
	char *hex = strchr(line, ' ');
	if (!hex)
		return 2;
	*hex++ = 0;
	struct timespec now = { .tv_sec = (time_t)strtoll(line, NULL, 10) };
	if (now.tv_sec <= 0 || clock_settime(CLOCK_REALTIME, &now) < 0)
		return 1;
	size_t n = strlen(hex) / 2;

	if (n == 0 || n > sizeof pool.buf || strlen(hex) % 2)
		return 2;
	for (size_t i = 0; i < n; i++) {
		int high = nibble(hex[2 * i]), low = nibble(hex[2 * i + 1]);
		if (high < 0 || low < 0)
			return 2;
		pool.buf[i] = (unsigned char)(high * 16 + low);
	}
	pool.entropy_count = (int)n * 8;
	pool.buf_size = (int)n;
	int fd = open("/dev/urandom", O_WRONLY);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &pool) < 0)
		return 1;
	/* before the pool's first seeding this answers ENODATA: the credit above seeded it */
	ioctl(fd, RNDRESEEDCRNG);
	return 0;
}
