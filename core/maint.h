/*
 * maint.h - the maintenance thread: eviction sweeps and the paced
 * redelivery after a restart (durable timers fire on the I/O loop,
 * core/timers.c). It ticks every 5 ms while it has work (an eviction limit
 * set, stored messages to redeliver), and sleeps 500 ms otherwise.
 */
#ifndef MN_CORE_MAINT_H
#define MN_CORE_MAINT_H

#include "core/runtime.h"

typedef struct mn__maint mn__maint;

/* Start the thread (runtimes with a store). Returns 0 or MN_ENOMEM /
 * MN_ESYS. */
int mn__maint_start(mn_runtime *rt, const mn_runtime_opts *o, mn__maint **out);

/* End its sleep now (a redelivery was queued). Any thread; NULL: no-op. */
void mn__maint_wake(mn__maint *m);

/* Stop and free it; NULL is a no-op. */
void mn__maint_stop(mn__maint *m);

#endif
