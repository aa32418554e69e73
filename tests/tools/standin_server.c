/*
 * standin_server.c - the stand-in server (tests/support/standin.h) as a
 * program, for the benchmarks, the crash harness and by hand:
 *
 *   standin-server [--seed N] [--latency MIN:MAX] [--threads N]
 *                  [--max-connections N] [--cadence MS] [--port-file PATH]
 *
 * Listens on 127.0.0.1 at an ephemeral port, prints "PORT\n" on stdout
 * (and into PATH, written whole then renamed into place, so a reader never
 * sees half of it), and serves until SIGTERM or SIGINT. Exit status: 0
 * after a signal, 1 when it cannot start, 2 on bad usage. --cadence: ms
 * between the events of a streamed chat completion (standin.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/standin.h"

static void usage(void)
{
	fprintf(stderr, "usage: standin-server [--seed N] [--latency MIN:MAX] "
			"[--threads N]\n"
			"                      [--max-connections N] "
			"[--cadence MS] [--port-file PATH]\n");
}

/* s as an unsigned number up to max into *v; 0, or -1 if it is not one. */
static int parse_num(const char *s, unsigned long long max,
		     unsigned long long *v)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 10);
	return errno || *end || *v > max ? -1 : 0;
}

static int parse_latency(const char *s, standin_opts *o)
{
	char buf[64];
	unsigned long long lo, hi;
	const char *colon = strchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof buf)
		return -1;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	if (parse_num(buf, 1u << 30, &lo) ||
	    parse_num(colon + 1, 1u << 30, &hi) || hi < lo)
		return -1;
	o->latency_min_ms = (unsigned)lo;
	o->latency_max_ms = (unsigned)hi;
	return 0;
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	int bad = fprintf(f, "%u\n", port) < 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"latency", required_argument, NULL, 'l'},
	    {"threads", required_argument, NULL, 't'},
	    {"max-connections", required_argument, NULL, 'c'},
	    {"port-file", required_argument, NULL, 'p'},
	    {"cadence", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	standin_opts o = {0};
	const char *port_file = NULL;
	unsigned long long v;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (parse_num(optarg, UINT64_MAX, &v))
				goto bad_usage;
			o.seed = v;
			break;
		case 'l':
			if (parse_latency(optarg, &o))
				goto bad_usage;
			break;
		case 't':
			if (parse_num(optarg, 1024, &v))
				goto bad_usage;
			o.threads = (unsigned)v;
			break;
		case 'c':
			if (parse_num(optarg, 1u << 24, &v))
				goto bad_usage;
			o.max_connections = (unsigned)v;
			break;
		case 'k':
			if (parse_num(optarg, 60000, &v))
				goto bad_usage;
			o.chat_cadence_ms = (unsigned)v;
			break;
		case 'p':
			port_file = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc)
		goto bad_usage;

	/* The signals are waited for by sigwait: blocked before any thread
	 * starts, so every thread of the server inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	standin *s;
	if (standin_start(&o, &s) != 0) {
		fprintf(stderr, "standin-server: cannot start\n");
		return 1;
	}
	unsigned port = standin_port(s);
	if (port_file && write_port_file(port_file, port) != 0) {
		fprintf(stderr, "standin-server: writing %s: %s\n", port_file,
			strerror(errno));
		standin_stop(s);
		return 1;
	}
	printf("%u\n", port);
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	standin_stop(s);
	return 0;

bad_usage:
	usage();
	return 2;
}
