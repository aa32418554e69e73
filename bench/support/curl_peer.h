/*
 * curl_peer.h - the peer of the calls benchmark: a bare HTTP client, libcurl's
 * multi-socket interface on a libuv loop (what mnemo's I/O thread is built
 * on, without a journal, actors or queues), run on the calling thread. It
 * keeps `concurrency` transfers in flight until n requests have completed,
 * each a GET of url with an Idempotency-Key header of its own (as mnemo
 * sends), easy handles reused as they finish, and records each request's
 * latency (from curl_multi_add_handle to its completion).
 */
#ifndef MNEMO_BENCH_CURL_PEER_H
#define MNEMO_BENCH_CURL_PEER_H

#include <stdint.h>

typedef struct curl_peer_result {
	double seconds;	    /* from the first request to the last reply */
	uint64_t completed; /* transfers that ended with HTTP 200 */
	uint64_t failed;    /* other ends: transport errors, other statuses */
} curl_peer_result;

/* Run n requests; lat_s (n entries) receives each latency in seconds.
 * Dies (bench_die) when libcurl or libuv cannot start. */
curl_peer_result curl_peer_run(const char *url, uint64_t n,
			       unsigned concurrency, double *lat_s);

#endif
