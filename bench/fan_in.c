/*
 * fan_in - many-to-one messages per second: 20 senders each send M messages
 * with a 16-byte payload {seq, sender id} to one receiver actor, which checks
 * that every sender's sequence numbers arrive in order (the ordering mnemo
 * promises per sender) and reports to the main thread, through a mutex and
 * condvar, once all 20 * M have arrived. Two lines: "from":"actors", where
 * the senders are 20 actors, each sending 64 messages per turn and then a
 * message to itself to continue (so the scheduler interleaves them instead of
 * one handler queueing M at once); and "from":"threads", where 20 external
 * pthreads call mn_send. Actors are created and drained before the clock; the
 * clock runs from the START messages (or the threads' start barrier) until
 * the receiver's report. The threads line carries a same-run peer,
 * "bare_mpsc_queue": 20 pthreads push malloc'd 16-byte messages into one
 * intrusive lock-free MPSC queue (Vyukov's) drained by one consumer thread
 * that checks the same order and frees each message - the cheapest handoff
 * with one allocation per message, with no actors, registry or scheduler, run
 * before the runtime starts. M is 250,000 (BENCH_SCALE=full: 1,000,000).
 */
#include "bench/support/bench.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENDERS 20
#define BATCH	64 /* messages a sender actor sends per turn */

enum { MSG_WARM = 1, MSG_START = 2, MSG_CONT = 3, MSG_DATA = 4 };

struct data {
	uint64_t seq;
	uint32_t id;
	uint32_t pad;
};

struct sender {
	uint64_t left;
	uint64_t seq;
};

struct receiver {
	uint64_t next[SENDERS];
	uint64_t total;
};

static uint64_t per_sender; /* M; written before any run starts */
static struct bench_done done;
static const mn_kind *recv_kind;

/* ------------------------------------------------------------------------ */
/* mnemo                                                                    */
/* ------------------------------------------------------------------------ */

static int state_init(mn_ctx *ctx, void **state)
{
	size_t size = strcmp(mn_kind_name(mn_ctx_kind(ctx)), "receiver") == 0
			  ? sizeof(struct receiver)
			  : sizeof(struct sender);
	void *s = calloc(1, size);

	if (s == NULL)
		return MN_ENOMEM;
	*state = s;
	return 0;
}

static void state_free(void *state)
{
	free(state);
}

static void check_data(uint64_t *next, const struct data *d)
{
	if (d->id >= SENDERS || d->seq != next[d->id])
		bench_die(
		    "sender %u: message %llu arrived, expected %llu", d->id,
		    (unsigned long long)d->seq,
		    (unsigned long long)(d->id < SENDERS ? next[d->id] : 0));
	next[d->id]++;
}

static int recv_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	struct receiver *r = state;
	struct data d;

	(void)ctx;
	if (msg->type == MSG_WARM)
		return 0;
	if (msg->type != MSG_DATA || msg->len != sizeof(d))
		bench_die("receiver: unexpected message type %u", msg->type);
	memcpy(&d, msg->payload, sizeof(d));
	check_data(r->next, &d);
	if (++r->total == SENDERS * per_sender) {
		for (int i = 0; i < SENDERS; i++)
			if (r->next[i] != per_sender)
				bench_die("sender %d: %llu messages", i,
					  (unsigned long long)r->next[i]);
		bench_done_signal(&done, r->total);
	}
	return 0;
}

static int send_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	struct sender *s = state;
	unsigned char key[8];
	int rc;

	switch (msg->type) {
	case MSG_WARM:
		return 0;
	case MSG_START:
		s->left = per_sender;
		s->seq = 0;
		break;
	case MSG_CONT:
		break;
	default:
		bench_die("sender: unexpected message type %u", msg->type);
	}
	struct data d = {.id = (uint32_t)bench_self_key(ctx)};
	bench_key_put(key, 0);
	for (int i = 0; i < BATCH && s->left > 0; i++, s->left--) {
		d.seq = s->seq++;
		rc = mn_ctx_send(ctx, recv_kind, key, sizeof(key), MSG_DATA, &d,
				 sizeof(d));
		if (rc != 0)
			return rc;
	}
	if (s->left == 0)
		return 0;
	mn_addr self;
	mn_ctx_self(ctx, &self);
	return mn_ctx_send(ctx, mn_ctx_kind(ctx), self.key, self.key_len,
			   MSG_CONT, NULL, 0);
}

struct ext_arg {
	pthread_t th;
	pthread_barrier_t *start;
	mn_runtime *rt;
	uint32_t id;
};

static void *ext_sender(void *p)
{
	struct ext_arg *a = p;
	unsigned char key[8];
	struct data d = {.id = a->id};

	bench_key_put(key, 1);
	pthread_barrier_wait(a->start);
	for (uint64_t i = 0; i < per_sender; i++) {
		d.seq = i;
		bench_check(mn_send(a->rt, recv_kind, key, sizeof(key),
				    MSG_DATA, &d, sizeof(d)),
			    "mn_send");
	}
	return NULL;
}

/* Run both mnemo variants; seconds of each in *actors_s and *threads_s. */
static unsigned run_mnemo(unsigned workers, double *actors_s, double *threads_s)
{
	mn_runtime *rt = bench_runtime_open(workers);
	mn_kind *recv = bench_kind(rt, "receiver", state_init, recv_handle,
				   state_free, NULL);
	mn_kind *send =
	    bench_kind(rt, "sender", state_init, send_handle, state_free, NULL);
	mn_runtime_stats st;
	unsigned char key[8];

	recv_kind = recv;
	for (uint64_t i = 0; i < 2; i++) {
		bench_key_put(key, i);
		bench_check(
		    mn_send(rt, recv, key, sizeof(key), MSG_WARM, NULL, 0),
		    "mn_send");
	}
	for (uint64_t i = 0; i < SENDERS; i++) {
		bench_key_put(key, i);
		bench_check(
		    mn_send(rt, send, key, sizeof(key), MSG_WARM, NULL, 0),
		    "mn_send");
	}
	bench_drain(rt);

	/* Sender actors. */
	bench_done_reset(&done);
	double t0 = bench_now();
	for (uint64_t i = 0; i < SENDERS; i++) {
		bench_key_put(key, i);
		bench_check(
		    mn_send(rt, send, key, sizeof(key), MSG_START, NULL, 0),
		    "mn_send");
	}
	bench_done_wait(&done, BENCH_WAIT_S, "fan_in from actors");
	*actors_s = bench_now() - t0;
	bench_drain(rt);

	/* External threads. */
	struct ext_arg arg[SENDERS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, SENDERS + 1);
	bench_done_reset(&done);
	for (uint32_t i = 0; i < SENDERS; i++) {
		arg[i] = (struct ext_arg){.start = &start, .rt = rt, .id = i};
		if (pthread_create(&arg[i].th, NULL, ext_sender, &arg[i]) != 0)
			bench_die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	t0 = bench_now();
	bench_done_wait(&done, BENCH_WAIT_S, "fan_in from threads");
	*threads_s = bench_now() - t0;
	for (int i = 0; i < SENDERS; i++)
		pthread_join(arg[i].th, NULL);
	pthread_barrier_destroy(&start);
	bench_drain(rt);

	bench_note_stats(rt, "runtime");
	mn_runtime_stats_get(rt, &st);
	if (st.handler_errors != 0)
		bench_die("%llu handler errors",
			  (unsigned long long)st.handler_errors);
	mn_runtime_close(rt);
	return st.workers;
}

/* ------------------------------------------------------------------------ */
/* Peer: a bare intrusive MPSC queue (Vyukov)                               */
/* ------------------------------------------------------------------------ */

struct qnode {
	_Atomic(struct qnode *) next;
	struct data d;
};

struct mpsc {
	alignas(64) _Atomic(struct qnode *) head; /* producers swap in here */
	alignas(64) struct qnode *tail;		  /* consumer only */
	struct qnode stub;
};

static void mpsc_init(struct mpsc *q)
{
	atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
	atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
	q->tail = &q->stub;
}

static void mpsc_push(struct mpsc *q, struct qnode *n)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	/* acq_rel: orders n's contents before its publication, and pairs
	 * with other producers' exchanges on head. */
	struct qnode *prev =
	    atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	/* release: pairs with the consumer's acquire load of next. */
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Pop one node, or NULL when empty or a push is half done. */
static struct qnode *mpsc_pop(struct mpsc *q)
{
	struct qnode *tail = q->tail;
	struct qnode *next =
	    atomic_load_explicit(&tail->next, memory_order_acquire);

	if (tail == &q->stub) {
		if (next == NULL)
			return NULL;
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next != NULL) {
		q->tail = next;
		return tail;
	}
	if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
		return NULL;
	mpsc_push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next != NULL) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

struct peer_arg {
	pthread_t th;
	pthread_barrier_t *start;
	struct mpsc *q;
	uint32_t id;
};

static void *peer_producer(void *p)
{
	struct peer_arg *a = p;

	pthread_barrier_wait(a->start);
	for (uint64_t i = 0; i < per_sender; i++) {
		struct qnode *n = malloc(sizeof(*n));
		if (n == NULL)
			bench_die("out of memory");
		n->d = (struct data){.seq = i, .id = a->id};
		mpsc_push(a->q, n);
	}
	return NULL;
}

static void *peer_consumer(void *p)
{
	struct peer_arg *a = p;
	uint64_t next[SENDERS] = {0};
	uint64_t total = 0;
	unsigned idle = 0;

	pthread_barrier_wait(a->start);
	while (total < SENDERS * per_sender) {
		struct qnode *n = mpsc_pop(a->q);
		if (n == NULL) {
			/* Yield so that a preempted producer can finish its
			 * push on a machine with fewer cores than threads. */
			if (++idle > 64) {
				sched_yield();
				idle = 0;
			}
			continue;
		}
		idle = 0;
		check_data(next, &n->d);
		free(n);
		total++;
	}
	return NULL;
}

/* Messages per second through the bare queue. */
static double run_peer(void)
{
	static struct mpsc q;
	struct peer_arg arg[SENDERS + 1];
	pthread_barrier_t start;

	mpsc_init(&q);
	pthread_barrier_init(&start, NULL, SENDERS + 2);
	for (uint32_t i = 0; i <= SENDERS; i++) {
		arg[i] = (struct peer_arg){.start = &start, .q = &q, .id = i};
		if (pthread_create(&arg[i].th, NULL,
				   i < SENDERS ? peer_producer : peer_consumer,
				   &arg[i]) != 0)
			bench_die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	double t0 = bench_now();
	/* The consumer is the last thread; it ends after the last message. */
	pthread_join(arg[SENDERS].th, NULL);
	double t1 = bench_now();
	for (int i = 0; i < SENDERS; i++)
		pthread_join(arg[i].th, NULL);
	pthread_barrier_destroy(&start);
	return (double)(SENDERS * per_sender) / (t1 - t0);
}

int main(void)
{
	bench_init("fan_in");
	unsigned workers = bench_threads();
	double actors_s, threads_s;
	struct bench_json j;

	per_sender = bench_size(250000, 1000000);
	uint64_t n = SENDERS * per_sender;
	bench_done_init(&done);

	double peer = run_peer();
	unsigned used = run_mnemo(workers, &actors_s, &threads_s);
	bench_note("from actors %.3f s, from threads %.3f s, bare queue "
		   "%.3g msg/s",
		   actors_s, threads_s, peer);

	bench_json_begin(&j, "fan_in", "msgs_per_s", (double)n / actors_s,
			 "msg/s");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", used);
	bench_json_u64(&j, "senders", SENDERS);
	bench_json_str(&j, "from", "actors");
	bench_json_end(&j);

	double rate = (double)n / threads_s;
	bench_json_begin(&j, "fan_in", "msgs_per_s", rate, "msg/s");
	bench_json_u64(&j, "n", n);
	bench_json_u64(&j, "threads", used);
	bench_json_u64(&j, "senders", SENDERS);
	bench_json_str(&j, "from", "threads");
	bench_json_peer(&j, "bare_mpsc_queue", peer, rate / peer);
	bench_json_end(&j);

	bench_done_destroy(&done);
	return 0;
}
