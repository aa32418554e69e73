/* hello.c - the smallest mnemo program: one kind, a counter per key. It
 * uses the public header only, so it builds outside the tree against an
 * installed mnemo: cc hello.c $(pkg-config --cflags --libs mnemo)
 * (scripts/test-install does, static and shared). */
#include <stdio.h>
#include <stdlib.h>
#include "mnemo.h"

typedef struct {
	unsigned long greetings;
} greeter;

static int greeter_init(mn_ctx *ctx, void **state)
{
	(void)ctx;
	*state = calloc(1, sizeof(greeter));
	return *state ? 0 : MN_ENOMEM;
}

static int greeter_handle(mn_ctx *ctx, void *state, const mn_msg *msg)
{
	greeter *g = state;
	mn_addr self;
	mn_ctx_self(ctx, &self);
	g->greetings++;
	printf("%.*s greeted %lu time(s): %.*s\n", (int)self.key_len,
	       (const char *)self.key, g->greetings, (int)msg->len,
	       (const char *)msg->payload);
	return 0;
}

int main(void)
{
	mn_runtime *rt;
	mn_kind *kind;
	/* .size: the struct as this program's header has it, so that a
	 * newer library reads it right (docs/api.md, "Structs that grow"). */
	mn_kind_def def = {.size = sizeof(mn_kind_def),
			   .name = "greeter",
			   .init = greeter_init,
			   .handle = greeter_handle,
			   .free = free};
	int rc = mn_runtime_open(NULL, &rt);
	if (rc == 0)
		rc = mn_kind_register(rt, &def, &kind);
	for (int i = 0; rc == 0 && i < 3; i++)
		rc = mn_send(rt, kind, "alice", 5, 1, "hello", 5);
	if (rc == 0)
		rc = mn_runtime_drain(rt);
	mn_runtime_close(rt);
	if (rc)
		fprintf(stderr, "hello: %s\n", mn_strerror(rc));
	return rc ? 1 : 0;
}
