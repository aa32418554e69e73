/*
 * desk.h - the support desk's kinds (kinds.c) as the driver (desk.c) sees
 * them: message types, the conversation's configuration, the script of the
 * turns, and the reports the kinds hand to the driver.
 */
#ifndef DESK_H
#define DESK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mnemo.h"
#include "mnemo_llm.h"

enum {
	MSG_START = 1,	      /* driver -> agent: desk_config */
	MSG_TURN = 2,	      /* driver -> agent: the user's text */
	MSG_LLM = 3,	      /* chat completion (call reply) */
	MSG_SUMMARY = 4,      /* summary completion (call reply) */
	MSG_LOOKUP = 5,	      /* agent -> order-desk: id, order, agent */
	MSG_ORDER = 6,	      /* order-desk -> agent: id "\0" result */
	MSG_SHIP = 7,	      /* shipping lookup (HTTP call reply) */
	MSG_DECISION = 8,     /* the person's answer (bridged call reply) */
	MSG_ESCALATE_DUE = 9, /* the escalation timer */
	MSG_ESCALATE = 10,    /* agent -> supervisor: "order amount agent" */
	MSG_RULING = 11,      /* supervisor -> agent: "approve" / "deny" */
	MSG_REPORT = 12,      /* driver -> any: copy counters out */
};

/* Refunds above this many dollars need a person's approval. */
#define DESK_REFUND_LIMIT 100
/* Supervisors approve refunds up to this, deny those above. */
#define DESK_SUPERVISOR_LIMIT 300
#define DESK_DESKS	      16
#define DESK_ORDERS	      64 /* per order desk */
#define DESK_SUPERVISORS      4

/* Where a conversation sends its calls: the first message of every
 * conversation carries it, so that replay needs nothing from outside. */
typedef struct desk_config {
	char llm_url[256];
	char model[64];
	char credential[32]; /* the name; the key is the runtime's */
	char tools_url[96];  /* the shipping service's base URL */
	uint32_t escalate_ms;
	uint32_t backoff_ms;
	uint8_t faults;	      /* 1: ask the stand-in for faults sometimes */
	uint8_t stream_every; /* stream every n-th turn (0: never) */
} desk_config;

/* What an agent reports (MSG_REPORT), and what the checks read. */
typedef struct desk_report {
	uint32_t seen; /* 1 once reported */
	uint32_t phase, inbox;
	uint32_t turns, llm_calls, llm_failures, summaries, streamed;
	uint32_t lookups, ship_calls, refunds_auto, bad_args;
	uint32_t approved, denied, escalated, sup_approved, sup_denied;
	uint64_t tokens;
	uint32_t state_bytes; /* bytes of text the memory holds now */
	uint32_t hist;	      /* messages kept besides the summary */
} desk_report;

/* The driver's view (set before the kinds run; NULL in the plugin). */
typedef struct desk_out {
	desk_report *reports; /* indexed by conversation */
	size_t n_reports;
	_Atomic uint64_t turns_done; /* turns answered (not in replay) */
	_Atomic uint64_t desk_lookups, sup_escalations, sup_approved,
	    sup_denied;
} desk_out;
extern desk_out *desk_sink;

/* The kinds: support-agent, order-desk, supervisor (register the
 * agents last: their sends need the others). */
const mn_kind_def *desk_kinds(size_t *count);
/* The size of an agent's state (fixed: the memory is bounded). */
size_t desk_agent_size(void);

/* The script of the demo: the text of turn t of conversation c, and the
 * order and amount it names. */
typedef struct desk_turn {
	char text[160];
	int kind; /* 0 plain, 1 lookup, 2 lookup + shipping, 3 refund */
	uint32_t order, amount;
} desk_turn;
void desk_script(uint64_t c, uint32_t t, desk_turn *out);
/* The person's policy for conversation c: 'a'pprove, 'd'eny, or 0
 * (never answers). */
int desk_person(uint64_t c);

#endif
