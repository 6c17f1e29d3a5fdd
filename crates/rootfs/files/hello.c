/* The tutorial's first initramfs: the kernel runs /init, which greets and then must never return,
 * since the kernel panics when init exits. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("Hello world!\n");
	/* the console may not be a terminal (a log, a pipe): make sure the line leaves now */
	fflush(stdout);
	for (;;)
		pause();
}
