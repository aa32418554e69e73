/*
 * maint.h - the maintenance thread: eviction sweeps and due timers.
 */
#ifndef MN_CORE_MAINT_H
#define MN_CORE_MAINT_H

#include "core/runtime.h"

typedef struct mn__maint mn__maint;

/* Start the thread (runtimes with a store). Returns 0 or MN_ENOMEM /
 * MN_ESYS. */
int mn__maint_start(mn_runtime *rt, const mn_runtime_opts *o, mn__maint **out);

/* Stop and free it; NULL is a no-op. */
void mn__maint_stop(mn__maint *m);

#endif
