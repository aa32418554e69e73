/*
 * sched.h - what the scheduler (sched.c) offers the rest of the core:
 * starting and stopping the workers, submitting a newly scheduled actor,
 * the run and inject queues' set-up, and the calling thread's worker.
 * Invariants: S1-S3 and I1-I3 (sched.c). Layer: below send.c, persist.c
 * and runtime.c; its one call upward is a turn of a persistent actor,
 * which calls persist.h's handler hooks (first run, before/after handle,
 * spawned, outbox done, deleted). Threads: the workers run sched.c;
 * mn__sched_submit any thread; start/stop the runtime's owner.
 */
#ifndef MN_CORE_SCHED_H
#define MN_CORE_SCHED_H

#include "core/runtime.h"

/* The worker this thread is, if it is one (set by worker_main); NULL on
 * any other thread. */
extern _Thread_local mn__worker *mn__tls_worker;

int mn__sched_start(mn_runtime *rt);
void mn__sched_stop(mn_runtime *rt);
/* Put a newly scheduled actor (M1: the caller's push found it idle) in a
 * run queue: w's own when called from worker w, else the inject queue, and
 * wake a sleeping worker if one may be needed. Any thread. */
void mn__sched_submit(mn_runtime *rt, mn__worker *w, mn__actor *a);
void mn__runq_init(mn__runq *q);
void mn__runq_destroy(mn__runq *q);
/* An empty inject queue; MN_ENOMEM if its stub cannot be allocated. */
int mn__injectq_init(mn__injectq *q);
/* Free the stub (NULL-tolerant: after a failed init too). */
void mn__injectq_destroy(mn__injectq *q);

#endif
