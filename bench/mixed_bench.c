// mixed_bench.c - one "operation" touches many of the events tracee-load builds from
// syscalls: a file written at offset 0 and renamed, a symlink, an anonymous mapping made
// read-only, a socket with an option set, a directory change and a prctl. Prints ns per
// operation in syscall_bench's format (mode=mixed ... median_ns=...), so bench/loader.sh
// parses it the same way.
//
// usage: mixed_bench mixed [ITERS] [REPS]
// Build: gcc -O2 -Wall -o mixed_bench mixed_bench.c
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIR "/tmp/tracee-mixed-bench"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void op(void)
{
	static const char data[64] = "not an executable, just bytes";
	int fd = open(DIR "/a", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open");
	if (write(fd, data, sizeof(data)) != sizeof(data))
		die("write");
	close(fd);
	if (rename(DIR "/a", DIR "/b"))
		die("rename");
	if (symlink(DIR "/b", DIR "/c"))
		die("symlink");
	unlink(DIR "/c");
	unlink(DIR "/b");
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	mprotect(p, 4096, PROT_READ);
	munmap(p, 4096);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	close(s);
	if (chdir(DIR) || chdir("/"))
		die("chdir");
	prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "mixed")) {
		fprintf(stderr, "usage: %s mixed [ITERS] [REPS]\n", argv[0]);
		return 1;
	}
	long iters = argc > 2 ? atol(argv[2]) : 20000;
	int reps = argc > 3 ? atoi(argv[3]) : 5;
	if (iters <= 0 || reps <= 0 || reps > 1000) {
		fprintf(stderr, "bad ITERS/REPS\n");
		return 1;
	}
	mkdir(DIR, 0755);
	double *r = calloc(reps, sizeof(double));
	if (!r)
		die("calloc");
	for (int k = -1; k < reps; k++) { /* k == -1: warm-up, not timed */
		long n = k < 0 ? (iters / 10 > 0 ? iters / 10 : 1) : iters;
		double t0 = now_ns();
		for (long i = 0; i < n; i++)
			op();
		if (k >= 0)
			r[k] = (now_ns() - t0) / n;
	}
	double all[1000];
	memcpy(all, r, reps * sizeof(double));
	qsort(r, reps, sizeof(double), cmpd);
	double med = reps % 2 ? r[reps / 2] : (r[reps / 2 - 1] + r[reps / 2]) / 2;
	printf("mode=mixed iters=%ld reps=%d median_ns=%.1f min_ns=%.1f max_ns=%.1f all=", iters, reps,
	       med, r[0], r[reps - 1]);
	for (int k = 0; k < reps; k++)
		printf("%s%.1f", k ? "," : "", all[k]);
	printf("\n");
	return 0;
}
