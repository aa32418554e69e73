/*
 * kinds.c - the support desk's kinds, also built alone as a plugin of the
 * mnemo tool (build/bin/support-desk.so: `mnemo replay --plugin`).
 *
 * support-agent (one per conversation, key "conv-NNNNNN"): its memory is
 * a summary plus the recent messages; each user turn goes to the LLM
 * (libmnemo-llm, mn_llm_send), whose tool calls the agent executes:
 *   lookup_order   a message to an order-desk actor, answered by message;
 *   track_shipment an HTTP call (mn_ctx_call_http) to the shipping service;
 *   request_refund up to DESK_REFUND_LIMIT: granted; above: a person must
 *                  approve (a bridged call the driver answers, or not), and
 *                  a durable timer escalates to a supervisor actor when
 *                  nobody answers in time.
 * Every result is a journaled message, so after a crash the replay feeds
 * the recorded result and no tool runs twice. Past a memory budget the
 * agent asks the LLM for a summary and keeps the summary plus the last
 * messages. order-desk (16 actors) holds orders in its state and counts
 * lookups; supervisor (4) rules on escalated refunds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "desk.h"

desk_out *desk_sink;

#define TEXT_MAX    240
#define HIST_MAX    8
#define INBOX_MAX   8
#define STEPS_MAX   4
#define SUMMARY_MAX 400
/* The memory budget: past this many messages or bytes, summarize and
 * keep the last MEM_KEEP messages. */
#define MEM_MSGS  6
#define MEM_BYTES 1200
#define MEM_KEEP  2

enum { IDLE, WAIT_LLM, WAIT_TOOL, WAIT_SUMMARY };
enum { NO_HUMAN, WAIT_PERSON, WAIT_SUPERVISOR };

typedef struct step {
	char id[48], name[24], args[96];
	char result[200]; /* "" until the tool answered */
} step;

typedef struct agent {
	desk_config cfg;
	/* Memory. */
	char summary[SUMMARY_MAX];
	uint8_t n_hist;
	struct {
		uint8_t user; /* 1 user, 0 assistant */
		char text[TEXT_MAX];
	} hist[HIST_MAX];
	/* Turns waiting while the agent works on one. */
	uint8_t n_inbox;
	char inbox[INBOX_MAX][160];
	/* The turn being worked on. */
	uint8_t phase, human, n_steps;
	char user[160];
	step steps[STEPS_MAX];
	uint64_t bridge_id, timer_id;
	uint32_t refund_amount;
	char refund_order[24];
	desk_report r; /* counters (seen, phase, inbox... filled at report) */
	mn_llm_usage usage;
} agent;

static uint64_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* ---- the script (shared with the driver) -------------------------------- */

void desk_script(uint64_t c, uint32_t t, desk_turn *out)
{
	memset(out, 0, sizeof *out);
	out->order =
	    1000 + (uint32_t)((c * 7919 + t * 31) % (DESK_DESKS * DESK_ORDERS));
	out->amount = 40 + (uint32_t)((c * 13 + t * 7) % 400);
	switch ((c + t * 3) % 6) {
	case 0:
		snprintf(out->text, sizeof out->text,
			 "Hi, I have a question about my account settings.");
		break;
	case 1:
		out->kind = 1;
		snprintf(out->text, sizeof out->text,
			 "What is the status of order #%u?", out->order);
		break;
	case 2:
		out->kind = 2;
		snprintf(out->text, sizeof out->text,
			 "Where is my parcel for order %u?", out->order);
		break;
	case 3:
		out->kind = 3;
		snprintf(out->text, sizeof out->text,
			 "I want a refund of $%u for order %u.", out->amount,
			 out->order);
		break;
	case 4:
		out->kind = 1;
		snprintf(out->text, sizeof out->text,
			 "Can you change the address on order %u?", out->order);
		break;
	default:
		snprintf(out->text, sizeof out->text,
			 "Thanks, that is all for now.");
	}
}

int desk_person(uint64_t c)
{
	static const int policy[3] = {'a', 'd', 0};
	return policy[(c * 2654435761u >> 7) % 3];
}

/* ---- support-agent --------------------------------------------------------
 */

static const char system_prompt[] =
    "You are a support agent of an online shop. Be brief. Use the tools to "
    "look orders up, track parcels and request refunds.";

static const char *const tool_defs[][3] = {
    {"lookup_order", "Look an order up by its id.",
     "{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":"
     "\"string\"}},\"required\":[\"order_id\"]}"},
    {"track_shipment", "Where the parcel of an order is.",
     "{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":"
     "\"string\"}},\"required\":[\"order_id\"]}"},
    {"request_refund", "Refund an amount (dollars) of an order.",
     "{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":"
     "\"string\"},\"amount\":{\"type\":\"number\"}},\"required\":["
     "\"order_id\",\"amount\"]}"},
};

static const mn_kind *kind_of(mn_ctx *ctx, const char *name)
{
	return mn_kind_find(mn_ctx_runtime(ctx), name);
}

/* The conversation number of this agent ("conv-000042": 42). */
static uint64_t conv_index(mn_ctx *ctx)
{
	char k[MN_KEY_MAX + 1];
	mn_addr self;
	mn_ctx_self(ctx, &self);
	copy_text(k, sizeof k, self.key, self.key_len);
	return strtoull(k + 5, NULL, 10);
}

/* The memory into req: the system prompt, the summary, the messages. */
static int add_memory(mn_llm_request *req, const agent *a)
{
	int rc = mn_llm_request_message(req, "system", system_prompt);
	if (!rc && a->summary[0]) {
		char s[SUMMARY_MAX + 40];
		snprintf(s, sizeof s, "Earlier in this conversation: %s",
			 a->summary);
		rc = mn_llm_request_message(req, "system", s);
	}
	for (uint8_t i = 0; !rc && i < a->n_hist; i++)
		rc = mn_llm_request_message(
		    req, a->hist[i].user ? "user" : "assistant",
		    a->hist[i].text);
	return rc;
}

static void llm_config(mn_ctx *ctx, const agent *a, const char *query,
		       mn_llm_config *cfg)
{
	char url[sizeof a->cfg.llm_url + 64];
	(void)ctx;
	snprintf(url, sizeof url, "%s%s", a->cfg.llm_url, query);
	mn_llm_config_init(cfg, url, a->cfg.model);
	snprintf(cfg->credential, sizeof cfg->credential, "%s",
		 a->cfg.credential);
	if (a->cfg.backoff_ms)
		cfg->backoff_ms = a->cfg.backoff_ms;
}

/* Ask the LLM about the turn: memory, the user's text, the tool steps so
 * far (each call and its result). */
static int call_llm(mn_ctx *ctx, agent *a)
{
	mn_llm_request *req;
	int rc = mn_llm_request_new(&req);
	if (rc)
		return rc;
	rc = add_memory(req, a);
	if (!rc)
		rc = mn_llm_request_message(req, "user", a->user);
	for (uint8_t i = 0; !rc && i < a->n_steps; i++) {
		mn_llm_tool_call tc = {.id = a->steps[i].id,
				       .name = a->steps[i].name,
				       .arguments = a->steps[i].args};
		rc = mn_llm_request_assistant_tool_calls(req, NULL, &tc, 1);
		if (!rc)
			rc = mn_llm_request_tool_result(
			    req, a->steps[i].id, a->steps[i].result,
			    strlen(a->steps[i].result));
	}
	for (size_t i = 0; !rc && i < 3; i++)
		rc = mn_llm_request_tool(req, tool_defs[i][0], tool_defs[i][1],
					 tool_defs[i][2]);
	if (!rc)
		rc = mn_llm_request_max_tokens(req, 256);
	int stream =
	    a->cfg.stream_every && a->r.turns % a->cfg.stream_every == 1;
	if (!rc && stream)
		rc = mn_llm_request_stream(req, 1);
	/* Against the stand-in, some calls meet a fault first (the library's
	 * retries absorb it); streams come at a cadence. */
	const char *query = "";
	if (a->cfg.faults) {
		uint64_t h = fnv(a->user, strlen(a->user)) + a->r.llm_calls;
		query = h % 13 == 0   ? "?fault=429&times=1&retry_after=0"
			: h % 17 == 0 ? "?fault=500&times=2"
			: stream      ? "?cadence_ms=1"
				      : "";
	}
	mn_llm_config cfg;
	llm_config(ctx, a, query, &cfg);
	if (!rc)
		rc = mn_llm_send(ctx, &cfg, req, MSG_LLM, NULL);
	mn_llm_request_free(req);
	if (rc)
		return rc;
	a->r.llm_calls++;
	a->r.streamed += (uint32_t)stream;
	a->phase = WAIT_LLM;
	return 0;
}

static size_t memory_bytes(const agent *a)
{
	size_t n = strlen(a->summary);
	for (uint8_t i = 0; i < a->n_hist; i++)
		n += strlen(a->hist[i].text);
	return n;
}

static void remember(agent *a, int user, const char *text, size_t len)
{
	if (a->n_hist == HIST_MAX) { /* never past the budget, but bounded */
		memmove(&a->hist[0], &a->hist[1],
			sizeof a->hist[0] * (HIST_MAX - 1));
		a->n_hist--;
	}
	a->hist[a->n_hist].user = (uint8_t)user;
	copy_text(a->hist[a->n_hist].text, TEXT_MAX, text, len);
	a->n_hist++;
}

static int start_next(mn_ctx *ctx, agent *a)
{
	a->phase = IDLE;
	if (!a->n_inbox)
		return 0;
	snprintf(a->user, sizeof a->user, "%s", a->inbox[0]);
	memmove(a->inbox[0], a->inbox[1], sizeof a->inbox[0] * (INBOX_MAX - 1));
	a->n_inbox--;
	a->n_steps = 0;
	return call_llm(ctx, a);
}

/* Past the budget: ask for a summary of the memory. */
static int summarize(mn_ctx *ctx, agent *a)
{
	mn_llm_request *req;
	int rc = mn_llm_request_new(&req);
	if (rc)
		return rc;
	rc = add_memory(req, a);
	if (!rc)
		rc = mn_llm_request_message(
		    req, "user",
		    "Summarize the conversation so far in under 60 words.");
	mn_llm_config cfg;
	llm_config(ctx, a, "", &cfg);
	if (!rc)
		rc = mn_llm_send(ctx, &cfg, req, MSG_SUMMARY, NULL);
	mn_llm_request_free(req);
	if (rc)
		return rc;
	a->r.llm_calls++;
	a->phase = WAIT_SUMMARY;
	return 0;
}

static int finish_turn(mn_ctx *ctx, agent *a, const char *answer, size_t len)
{
	remember(a, 1, a->user, strlen(a->user));
	remember(a, 0, answer, len);
	a->r.turns++;
	if (desk_sink && !mn_ctx_replaying(ctx))
		atomic_fetch_add(&desk_sink->turns_done, 1);
	if (a->n_hist > MEM_MSGS || memory_bytes(a) > MEM_BYTES)
		return summarize(ctx, a);
	return start_next(ctx, a);
}

/* A tool's result for the last step: back to the LLM. */
static int tool_done(mn_ctx *ctx, agent *a, const char *text, size_t len)
{
	step *s = &a->steps[a->n_steps - 1];
	copy_text(s->result, sizeof s->result, text, len);
	a->human = NO_HUMAN;
	return call_llm(ctx, a);
}

/* The string argument name of a tool call's JSON arguments into out. */
static int arg_str(const char *args, const char *name, char *out, size_t cap)
{
	json_t *j = json_loads(args, 0, NULL);
	json_t *v = json_object_get(j, name);
	int ok = 0;
	if (json_is_string(v)) {
		snprintf(out, cap, "%s", json_string_value(v));
		ok = 1;
	} else if (json_is_integer(v)) {
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		ok = 1;
	}
	json_decref(j);
	return ok;
}

/* Run the tool the LLM asked for (its step is the last). */
static int run_tool(mn_ctx *ctx, agent *a, const mn_llm_tool_call *tc)
{
	step *s = &a->steps[a->n_steps - 1];
	char order[24], amount[24], text[160];
	a->phase = WAIT_TOOL;
	if (!tc->arguments_valid ||
	    !arg_str(s->args, "order_id", order, sizeof order)) {
		a->r.bad_args++;
		return tool_done(ctx, a, "error: invalid arguments", 24);
	}
	if (strcmp(s->name, "lookup_order") == 0) {
		/* The order desk answers by message: a journaled result. */
		char key[16], payload[120];
		unsigned long id = strtoul(order, NULL, 10);
		int kn = snprintf(
		    key, sizeof key, "desk-%02u",
		    (unsigned)((id >= 1000 ? id - 1000 : id) % DESK_DESKS));
		mn_addr self;
		mn_ctx_self(ctx, &self);
		int pn = snprintf(payload, sizeof payload, "%s%c%s%c%.*s",
				  s->id, 0, order, 0, (int)self.key_len,
				  (const char *)self.key);
		a->r.lookups++;
		return mn_ctx_send(ctx, kind_of(ctx, "order-desk"), key,
				   (size_t)kn, MSG_LOOKUP, payload, (size_t)pn);
	}
	if (strcmp(s->name, "track_shipment") == 0) {
		char url[160];
		mn_http_request req = MN_HTTP_REQUEST_INIT;
		snprintf(url, sizeof url, "%s/json?id=ship-%s",
			 a->cfg.tools_url, order);
		req.url = url;
		req.timeout_ms = 10000;
		req.max_attempts = 3;
		a->r.ship_calls++;
		return mn_ctx_call_http(ctx, &req, MSG_SHIP, NULL);
	}
	if (strcmp(s->name, "request_refund") == 0 &&
	    arg_str(s->args, "amount", amount, sizeof amount)) {
		uint32_t dollars = (uint32_t)strtoul(amount, NULL, 10);
		if (dollars <= DESK_REFUND_LIMIT) {
			a->r.refunds_auto++;
			int n = snprintf(text, sizeof text,
					 "refund of $%u for order %s granted",
					 dollars, order);
			return tool_done(ctx, a, text, (size_t)n);
		}
		/* A person decides; a durable timer escalates. While it
		 * waits the agent may be evicted: the answer or the timer
		 * brings it back. */
		int n =
		    snprintf(text, sizeof text, "refund %s %u", order, dollars);
		int rc = mn_ctx_call_begin(ctx, text, (size_t)n, MSG_DECISION,
					   &a->bridge_id);
		if (!rc)
			rc = mn_ctx_after(ctx, a->cfg.escalate_ms,
					  MSG_ESCALATE_DUE, NULL, 0,
					  &a->timer_id);
		a->human = WAIT_PERSON;
		a->refund_amount = dollars;
		snprintf(a->refund_order, sizeof a->refund_order, "%s", order);
		return rc;
	}
	return tool_done(ctx, a, "error: no such tool", 19);
}

static int on_llm(mn_ctx *ctx, agent *a, const mn_msg *msg)
{
	mn_llm_reply r;
	int rc = mn_llm_reply_parse(msg, &r);
	if (rc == MN_ENOMEM) {
		mn_llm_reply_free(&r);
		return rc;
	}
	mn_llm_usage_add(&a->usage, &r.usage);
	if (msg->type == MSG_SUMMARY) {
		if (rc == 0 && r.content)
			copy_text(a->summary, sizeof a->summary, r.content,
				  r.content_len);
		a->r.summaries += rc == 0;
		/* Bounded either way: keep the last messages. */
		uint8_t drop = a->n_hist - MEM_KEEP;
		memmove(&a->hist[0], &a->hist[drop],
			sizeof a->hist[0] * MEM_KEEP);
		a->n_hist = MEM_KEEP;
		mn_llm_reply_free(&r);
		return start_next(ctx, a);
	}
	if (rc != 0) { /* after the retries: tell the user */
		a->r.llm_failures++;
		mn_llm_reply_free(&r);
		static const char sorry[] = "Sorry, I cannot answer now.";
		return finish_turn(ctx, a, sorry, sizeof sorry - 1);
	}
	if (r.n_tool_calls && a->n_steps < STEPS_MAX) {
		const mn_llm_tool_call *tc = &r.tool_calls[0];
		step *s = &a->steps[a->n_steps++];
		memset(s, 0, sizeof *s);
		snprintf(s->id, sizeof s->id, "%s", tc->id ? tc->id : "");
		snprintf(s->name, sizeof s->name, "%s",
			 tc->name ? tc->name : "");
		copy_text(s->args, sizeof s->args, tc->arguments,
			  tc->arguments_len);
		rc = run_tool(ctx, a, tc);
	} else
		rc = finish_turn(ctx, a, r.content ? r.content : "",
				 r.content ? r.content_len : 0);
	mn_llm_reply_free(&r);
	return rc;
}

static int agent_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	agent *a = state;
	mn_call_reply cr;
	switch (msg->type) {
	case MSG_START:
		if (msg->len != sizeof a->cfg)
			return MN_EINVAL;
		memcpy(&a->cfg, msg->payload, sizeof a->cfg);
		return 0;
	case MSG_TURN:
		if (a->n_inbox == INBOX_MAX)
			return 0; /* the user types faster than we answer */
		copy_text(a->inbox[a->n_inbox++], sizeof a->inbox[0],
			  msg->payload, msg->len);
		return a->phase == IDLE ? start_next(ctx, a) : 0;
	case MSG_LLM:
	case MSG_SUMMARY:
		return on_llm(ctx, a, msg);
	case MSG_ORDER: {
		/* id "\0" result, for the step waiting on it. */
		const char *p = msg->payload;
		size_t idn = strnlen(p, msg->len);
		if (a->phase != WAIT_TOOL || idn == msg->len ||
		    strncmp(a->steps[a->n_steps - 1].id, p, idn) != 0)
			return 0;
		return tool_done(ctx, a, p + idn + 1, msg->len - idn - 1);
	}
	case MSG_SHIP: {
		int rc = mn_call_reply_decode(msg, &cr);
		if (rc)
			return rc;
		if (a->phase != WAIT_TOOL)
			return 0;
		if (cr.err || cr.status != 200) {
			char t[80];
			int n = snprintf(t, sizeof t,
					 "shipping service error (%d, %s)",
					 cr.status, mn_err_name(cr.err));
			return tool_done(ctx, a, t, (size_t)n);
		}
		return tool_done(ctx, a, cr.body, cr.body_len);
	}
	case MSG_DECISION: {
		int rc = mn_call_reply_decode(msg, &cr);
		if (rc)
			return rc;
		if (a->human != WAIT_PERSON || cr.call_id != a->bridge_id)
			return 0;
		mn_ctx_cancel(ctx, a->timer_id);
		int yes = cr.body_len == 7 && !memcmp(cr.body, "approve", 7);
		if (yes)
			a->r.approved++;
		else
			a->r.denied++;
		return tool_done(ctx, a,
				 yes ? "refund approved by a person"
				     : "refund denied by a person",
				 yes ? 27 : 25);
	}
	case MSG_ESCALATE_DUE: {
		if (a->human != WAIT_PERSON)
			return 0;
		/* Nobody answered: the person's answer no longer counts. */
		mn_ctx_call_cancel(ctx, a->bridge_id);
		a->human = WAIT_SUPERVISOR;
		a->r.escalated++;
		char key[16], text[80];
		mn_addr self;
		mn_ctx_self(ctx, &self);
		int kn =
		    snprintf(key, sizeof key, "sup-%u",
			     (unsigned)(conv_index(ctx) % DESK_SUPERVISORS));
		int n = snprintf(text, sizeof text, "%s %u %.*s",
				 a->refund_order, a->refund_amount,
				 (int)self.key_len, (const char *)self.key);
		return mn_ctx_send(ctx, kind_of(ctx, "supervisor"), key,
				   (size_t)kn, MSG_ESCALATE, text, (size_t)n);
	}
	case MSG_RULING: {
		if (a->human != WAIT_SUPERVISOR)
			return 0;
		int yes = msg->len == 7 && !memcmp(msg->payload, "approve", 7);
		if (yes)
			a->r.sup_approved++;
		else
			a->r.sup_denied++;
		return tool_done(ctx, a,
				 yes ? "escalated: a supervisor approved it"
				     : "escalated: a supervisor denied it",
				 yes ? 35 : 33);
	}
	case MSG_REPORT: {
		uint64_t c = conv_index(ctx);
		if (mn_ctx_replaying(ctx) || !desk_sink ||
		    c >= desk_sink->n_reports)
			return 0;
		desk_report *out = &desk_sink->reports[c];
		*out = a->r;
		out->seen = 1;
		out->phase = a->phase;
		out->inbox = a->n_inbox;
		out->tokens = a->usage.total_tokens;
		out->state_bytes = (uint32_t)memory_bytes(a);
		out->hist = a->n_hist;
		return 0;
	}
	}
	return MN_EINVAL;
}

static int agent_describe(const void *state, mn_buf *out)
{
	const agent *a = state;
	char line[512];
	int n = snprintf(
	    line, sizeof line,
	    "turns %u, llm calls %u, summaries %u, lookups %u, "
	    "shipping %u, refunds %u auto / %u approved / %u "
	    "denied / %u escalated, tokens %" PRIu64 ", phase %u, waiting %u\n",
	    a->r.turns, a->r.llm_calls, a->r.summaries, a->r.lookups,
	    a->r.ship_calls, a->r.refunds_auto, a->r.approved, a->r.denied,
	    a->r.escalated, a->usage.total_tokens, a->phase, a->n_inbox);
	int rc = mn_buf_append(out, line, (size_t)n);
	if (!rc && a->human) {
		n = snprintf(line, sizeof line,
			     "  waiting for a %s: refund $%u of order %s "
			     "(call %" PRIu64 ", timer %" PRIu64 ")\n",
			     a->human == WAIT_PERSON ? "person" : "supervisor",
			     a->refund_amount, a->refund_order, a->bridge_id,
			     a->timer_id);
		rc = mn_buf_append(out, line, (size_t)n);
	}
	if (!rc && a->summary[0]) {
		n = snprintf(line, sizeof line, "  summary: %s\n", a->summary);
		rc = mn_buf_append(out, line, (size_t)n);
	}
	for (uint8_t i = 0; !rc && i < a->n_hist; i++) {
		n = snprintf(line, sizeof line, "  %s: %s\n",
			     a->hist[i].user ? "user" : "agent",
			     a->hist[i].text);
		rc = mn_buf_append(out, line, (size_t)n);
	}
	return rc;
}

/* Answer the agent that asked: its key comes in the message. After a
 * restart this can fail with MN_EINVAL when the message is handled before
 * support-agent is registered again (the kinds need each other; see
 * DOC-desk.md, "Known issue"). */
static int answer(mn_ctx *ctx, const char *key, uint32_t type,
		  const void *payload, size_t len)
{
	return mn_ctx_send(ctx, kind_of(ctx, "support-agent"), key, strlen(key),
			   type, payload, len);
}

/* ---- order-desk -------------------------------------------------------------
 */

typedef struct order_desk {
	uint64_t lookups;
	struct {
		uint32_t id, cents, days;
		char status[12];
	} orders[DESK_ORDERS];
} order_desk;

static int desk_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	order_desk *d = state;
	if (msg->type == MSG_REPORT) {
		if (!mn_ctx_replaying(ctx) && desk_sink)
			atomic_fetch_add(&desk_sink->desk_lookups, d->lookups);
		return 0;
	}
	if (msg->type != MSG_LOOKUP)
		return MN_EINVAL;

	if (!d->orders[0].id) { /* first message: the orders, seeded */
		mn_addr self;
		mn_ctx_self(ctx, &self);
		unsigned shard =
		    (unsigned)strtoul((const char *)self.key + 5, NULL, 10);
		static const char *const st[] = {"shipped", "packed",
						 "delivered", "returned"};
		for (uint32_t i = 0; i < DESK_ORDERS; i++) {
			uint32_t id = 1000 + i * DESK_DESKS + shard;
			uint64_t h = fnv(&id, sizeof id);
			d->orders[i].id = id;
			d->orders[i].cents = (uint32_t)(h % 90000) + 500;
			d->orders[i].days = (uint32_t)(h >> 20) % 30;
			snprintf(d->orders[i].status,
				 sizeof d->orders[i].status, "%s",
				 st[(h >> 40) % 4]);
		}
	}
	const char *p = msg->payload;
	size_t idn = strnlen(p, msg->len);
	if (idn == msg->len)
		return MN_EINVAL;
	char order[24], reply[200], from[32];
	copy_text(order, sizeof order, p + idn + 1, msg->len - idn - 1);
	size_t on = strlen(order) + idn + 2;
	copy_text(from, sizeof from, p + on, on < msg->len ? msg->len - on : 0);
	uint32_t id = (uint32_t)strtoul(order, NULL, 10);
	d->lookups++;
	int n = snprintf(reply, sizeof reply, "%.*s", (int)idn, p);
	n++; /* the NUL between id and result */
	uint32_t i = (id - 1000) / DESK_DESKS;
	if (id >= 1000 && i < DESK_ORDERS && d->orders[i].id == id)
		n +=
		    snprintf(reply + n, sizeof reply - (size_t)n,
			     "order %u: %s, total $%u.%02u, placed %u days ago",
			     id, d->orders[i].status, d->orders[i].cents / 100,
			     d->orders[i].cents % 100, d->orders[i].days);
	else
		n += snprintf(reply + n, sizeof reply - (size_t)n,
			      "order %s: not found", order);
	return answer(ctx, from, MSG_ORDER, reply, (size_t)n);
}

static int desk_describe(const void *state, mn_buf *out)
{
	char line[64];
	int n = snprintf(line, sizeof line, "lookups %" PRIu64 "\n",
			 ((const order_desk *)state)->lookups);
	return mn_buf_append(out, line, (size_t)n);
}

/* ---- supervisor -------------------------------------------------------------
 */

typedef struct supervisor {
	uint64_t escalations, approved, denied;
} supervisor;

static int sup_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	supervisor *s = state;
	if (msg->type == MSG_REPORT) {
		if (!mn_ctx_replaying(ctx) && desk_sink) {
			atomic_fetch_add(&desk_sink->sup_escalations,
					 s->escalations);
			atomic_fetch_add(&desk_sink->sup_approved, s->approved);
			atomic_fetch_add(&desk_sink->sup_denied, s->denied);
		}
		return 0;
	}
	if (msg->type != MSG_ESCALATE)
		return MN_EINVAL;

	char text[80];
	copy_text(text, sizeof text, msg->payload, msg->len);
	const char *sp = strchr(text, ' ');
	uint32_t amount = sp ? (uint32_t)strtoul(sp + 1, NULL, 10) : 0;
	const char *from = sp ? strchr(sp + 1, ' ') : NULL;
	if (!from)
		return MN_EINVAL;
	int yes = amount <= DESK_SUPERVISOR_LIMIT;
	s->escalations++;
	if (yes)
		s->approved++;
	else
		s->denied++;
	return answer(ctx, from + 1, MSG_RULING, yes ? "approve" : "deny",
		      yes ? 7 : 4);
}

static int sup_describe(const void *state, mn_buf *out)
{
	const supervisor *s = state;
	char line[96];
	int n = snprintf(line, sizeof line,
			 "escalations %" PRIu64 ", approved %" PRIu64
			 ", denied %" PRIu64 "\n",
			 s->escalations, s->approved, s->denied);
	return mn_buf_append(out, line, (size_t)n);
}

/* ---- plain-bytes states ----------------------------------------------------
 */

/* The three states are flat structs: snapshots are their bytes (the store
 * compresses them). */
#define FLAT_STATE(name, type)                                                 \
	static int name##_init(mn_ctx *ctx, void **state)                      \
	{                                                                      \
		(void)ctx;                                                     \
		*state = calloc(1, sizeof(type));                              \
		return *state ? 0 : MN_ENOMEM;                                 \
	}                                                                      \
	static int name##_snapshot(const void *state, mn_buf *out)             \
	{                                                                      \
		return mn_buf_append(out, state, sizeof(type));                \
	}                                                                      \
	static int name##_restore(mn_ctx *ctx, const void *bytes, size_t len,  \
				  void **state)                                \
	{                                                                      \
		(void)ctx;                                                     \
		if (len != sizeof(type))                                       \
			return MN_ECORRUPT;                                    \
		if (!(*state = malloc(len)))                                   \
			return MN_ENOMEM;                                      \
		memcpy(*state, bytes, len);                                    \
		return 0;                                                      \
	}                                                                      \
	static uint64_t name##_hash(const void *state)                         \
	{                                                                      \
		return fnv(state, sizeof(type));                               \
	}

FLAT_STATE(agent, agent)
FLAT_STATE(desk, order_desk)
FLAT_STATE(sup, supervisor)

#define KIND(kname, p, every)                                                  \
	{                                                                      \
		.name = kname, .init = p##_init, .handle = p##_handle,         \
		.snapshot = p##_snapshot, .restore = p##_restore,              \
		.free = free, .describe = p##_describe, .hash = p##_hash,      \
		.snapshot_every = every                                        \
	}

static const mn_kind_def kind_defs[] = {
    KIND("support-agent", agent, 16),
    KIND("order-desk", desk, 256),
    KIND("supervisor", sup, 64),
};

size_t desk_agent_size(void)
{
	return sizeof(agent);
}

const mn_kind_def *desk_kinds(size_t *count)
{
	*count = sizeof kind_defs / sizeof kind_defs[0];
	return kind_defs;
}

/* The kinds as a plugin of the mnemo tool (build/bin/support-desk.so). */
const mn_kind_def *mnemo_plugin_kinds(size_t *count);
const mn_kind_def *mnemo_plugin_kinds(size_t *count)
{
	return desk_kinds(count);
}
