// Times N getppid() syscalls (raw syscall, no libc caching). Usage: bench [N] [rounds]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	double best = 1e18;
	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		double dt = (now() - t0) / n;
		if (dt < best)
			best = dt;
	}
	printf("getppid: best of %d x %ld calls: %.1f ns/syscall\n", rounds, n, best);
	return 0;
}
