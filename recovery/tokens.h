/*
 * tokens.h - the token usage of a journal entry that is the reply to an
 * outbound call whose body is a chat completion (libmnemo-llm,
 * mn_llm_body_usage), for `mnemo dump` and `mnemo stats`.
 */
#ifndef MN_RECOVERY_TOKENS_H
#define MN_RECOVERY_TOKENS_H

#include <string.h>

#include "include/mnemo.h"
#include "include/mnemo_llm.h"
#include "storage/store.h"

/* 0 and *u when e is a call reply (MN_MSG_CALL) whose body reports usage;
 * MN_EINVAL otherwise (*u zeroed). */
static inline int mn__entry_tokens(const mn__entry *e, mn_llm_usage *u)
{
	memset(u, 0, sizeof(*u));
	if (!(e->flags & MN_MSG_CALL))
		return MN_EINVAL;
	mn_msg m = {.type = e->type,
		    .flags = e->flags,
		    .payload = e->payload,
		    .len = e->len};
	mn_call_reply r;
	if (mn_call_reply_decode(&m, &r))
		return MN_EINVAL;
	return mn_llm_body_usage(r.body, r.body_len, u);
}

#endif
