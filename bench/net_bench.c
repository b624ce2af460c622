// SPDX-License-Identifier: Apache-2.0
/*
 * Loopback network workloads for bench/network.sh (issue 15), in one process pair:
 *
 *   net_bench tcp MIB REPS   a TCP stream of MIB MiB in 64 KiB writes, client to server;
 *                            prints the median ns per MiB over REPS
 *   net_bench udp N REPS     N UDP request/response round trips of 64 bytes;
 *                            prints the median ns per round trip over REPS
 *
 * Port 53 is used on purpose for UDP: the packets look like DNS to the packet programs'
 * first check, the worst case for a policy selecting DNS (the payload is no DNS message).
 * Run it in a network namespace of its own (the script does: unshare -n).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static long long tcp_once(long mib)
{
	static char buf[65536];
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = loopback(5001);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1))
		die("tcp listen");
	pid_t child = fork();
	if (child == 0) {
		int s = accept(l, 0, 0);
		while (read(s, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (void *)&a, sizeof(a)))
		die("tcp connect");
	long long start = now_ns();
	for (long i = 0; i < mib * 16; i++) {
		size_t off = 0;
		while (off < sizeof(buf)) {
			ssize_t n = write(c, buf + off, sizeof(buf) - off);
			if (n <= 0)
				die("tcp write");
			off += n;
		}
	}
	shutdown(c, SHUT_WR);
	waitpid(child, 0, 0);
	long long spent = now_ns() - start;
	close(c);
	close(l);
	return spent / mib;
}

static long long udp_once(long n)
{
	char msg[64] = "request";
	int srv = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = loopback(53);
	if (bind(srv, (void *)&a, sizeof(a)))
		die("udp bind");
	pid_t child = fork();
	if (child == 0) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		for (long i = 0; i < n; i++) {
			ssize_t got = recvfrom(srv, msg, sizeof(msg), 0, (void *)&peer, &len);
			if (got < 0 || sendto(srv, msg, got, 0, (void *)&peer, len) < 0)
				_exit(1);
		}
		_exit(0);
	}
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	if (connect(c, (void *)&a, sizeof(a)))
		die("udp connect");
	long long start = now_ns();
	for (long i = 0; i < n; i++) {
		if (send(c, msg, sizeof(msg), 0) < 0 || recv(c, msg, sizeof(msg), 0) < 0)
			die("udp round trip");
	}
	long long spent = now_ns() - start;
	waitpid(child, 0, 0);
	close(c);
	close(srv);
	return spent / n;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: net_bench tcp MIB REPS | udp N REPS\n");
		return 2;
	}
	long n = atol(argv[2]);
	int reps = atoi(argv[3]);
	if (n <= 0 || reps <= 0 || reps > 99)
		return 2;
	long long r[99];
	for (int i = 0; i < reps; i++)
		r[i] = strcmp(argv[1], "tcp") == 0 ? tcp_once(n) : udp_once(n);
	qsort(r, reps, sizeof(r[0]), cmp);
	printf("%s n=%ld reps=%d median_ns=%lld\n", argv[1], n, reps, r[reps / 2]);
	return 0;
}
