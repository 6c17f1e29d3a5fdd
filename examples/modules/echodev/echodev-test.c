// SPDX-License-Identifier: GPL-2.0
/*
 * echodev-test: checks /dev/echodev from user space, in the guest.
 *
 * It demonstrates the device's contract as a program sees it:
 *   1. writing past the buffer ends in ENOSPC (the size is not hard-coded
 *      here: the test writes until the device refuses);
 *   2. opening with O_TRUNC empties the buffer, so a short message written
 *      next is all that is read back;
 *   3. a fresh open reads that message and then end of file, which is what
 *      lets "cat /dev/echodev" stop.
 * It prints "echodev-test: ok" and exits 0, or says what differed and
 * exits 1. Built static, as the guest has no shared C library.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEVICE "/dev/echodev"
/* Far more than the device holds: if ENOSPC has not come by then, it never will. */
#define FILL_LIMIT (1024 * 1024)

static const char message[] = "kardel echodev: written, stored, read back\n";

static int fail(const char *what)
{
	fprintf(stderr, "echodev-test: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Fill the device until it refuses; only ENOSPC is the right refusal. */
static int check_full(void)
{
	char chunk[512];
	size_t total = 0;
	ssize_t n;
	int fd;

	memset(chunk, 'x', sizeof(chunk));
	fd = open(DEVICE, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return fail("open " DEVICE " to fill it");
	while (total < FILL_LIMIT) {
		n = write(fd, chunk, sizeof(chunk));
		if (n < 0)
			break;
		total += (size_t)n;
	}
	if (total >= FILL_LIMIT) {
		fprintf(stderr, "echodev-test: %zu bytes written and no ENOSPC\n",
			total);
		close(fd);
		return 1;
	}
	if (errno != ENOSPC) {
		fprintf(stderr, "echodev-test: after %zu bytes, expected ENOSPC, got %s\n",
			total, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static int write_message(void)
{
	ssize_t n;
	int fd;

	/* O_TRUNC must drop the fill above, or the read back is too long. */
	fd = open(DEVICE, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return fail("open " DEVICE " for writing");
	n = write(fd, message, strlen(message));
	if (n < 0) {
		close(fd);
		return fail("write");
	}
	if ((size_t)n != strlen(message)) {
		fprintf(stderr, "echodev-test: wrote %zd of %zu bytes\n",
			n, strlen(message));
		close(fd);
		return 1;
	}
	if (close(fd) < 0)
		return fail("close after writing");
	return 0;
}

static int read_back(void)
{
	/* Room for more than the message, to see a device that repeats it. */
	char got[4 * sizeof(message)];
	size_t have = 0, want = strlen(message), i;
	ssize_t n = 0;
	int fd;

	fd = open(DEVICE, O_RDONLY);
	if (fd < 0)
		return fail("open " DEVICE " for reading");
	/* Read as cat does, small reads until 0, so the offset has to move. */
	while (have < sizeof(got)) {
		n = read(fd, got + have, sizeof(got) - have < 7 ?
					 sizeof(got) - have : 7);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (n < 0) {
		close(fd);
		return fail("read");
	}
	close(fd);
	if (n > 0) {
		fprintf(stderr, "echodev-test: no end of file after %zu bytes\n",
			have);
		return 1;
	}
	for (i = 0; i < have && i < want; i++)
		if (got[i] != message[i])
			break;
	if (have != want || i != want) {
		fprintf(stderr, "echodev-test: expected %zu bytes \"%.*s\"\n",
			want, (int)want, message);
		fprintf(stderr, "echodev-test: got %zu bytes \"%.*s\"\n",
			have, (int)have, got);
		fprintf(stderr, "echodev-test: first difference at byte %zu\n",
			i);
		return 1;
	}
	return 0;
}

int main(void)
{
	if (check_full() || write_message() || read_back())
		return 1;
	printf("echodev-test: ok\n");
	return 0;
}
