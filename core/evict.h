/*
 * evict.h - the eviction protocol E1-E5 (evict.c). E2 (queue the EVICT
 * record) is mn__persist_evict in persist.h, called by the maintenance
 * thread; the writer's side (E4-E5) is mn__evict_finish in persist_int.h.
 */
#ifndef MN_CORE_EVICT_H
#define MN_CORE_EVICT_H

#include "core/persist.h"

#endif
