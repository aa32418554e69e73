/*
 * cmd_cluster.c - `mnemo cluster status`: a cluster's members, leader and
 * partition owners as the NATS JetStream buckets hold them
 * (libmnemo-cluster's mn_cluster_read; docs/cluster.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/mnemo_cluster.h"
#include "recovery/cli.h"

static const char synopsis[] =
    "mnemo cluster status --nats URL --cluster NAME [--partitions] [--json]";

static const char help[] =
    "usage: mnemo cluster status --nats URL --cluster NAME [--partitions] "
    "[--json]\n"
    "Show a cluster of mnemo nodes as its NATS JetStream buckets hold it:\n"
    "the number of partitions, the leader, the live members, and for each\n"
    "node that owns partitions how many and their epochs (a node that owns\n"
    "partitions but is not live is dead: they wait for it), and the\n"
    "messages waiting in the cluster's stream for their partition's owner.\n"
    "--partitions lists every partition's owner and epoch too. Reads only.\n"
    "  --nats URL      the NATS server, e.g. nats://127.0.0.1:4222\n"
    "  --cluster NAME  the cluster's name\n"
    "  --partitions    one line (record) per partition\n"
    "  --json          JSON lines: a \"cluster\" record (with \"waiting\"), a\n"
    "                  \"node\" record per node, \"partition\" records with\n"
    "                  --partitions\n"
    "exit codes: 0 shown; 2 usage error, NATS unreachable or no such "
    "cluster\n";

typedef struct {
	const char *url;
	const char *cluster;
	bool partitions;
} clstate;

static int on_option(mn__cli *c, int ch, const char *optarg, void *arg)
{
	clstate *s = arg;

	(void)c;
	if (ch == 'u')
		s->url = optarg;
	else if (ch == 'c')
		s->cluster = optarg;
	else
		s->partitions = true;
	return 0;
}

static const mn__cli_spec cluster_spec = {
    .name = "cluster",
    .synopsis = synopsis,
    .help = help,
    .shortopts = "u:c:p",
    .opts = (const struct option[]){{"nats", required_argument, NULL, 'u'},
				    {"cluster", required_argument, NULL, 'c'},
				    {"partitions", no_argument, NULL, 'p'},
				    {NULL, 0, NULL, 0}},
    .json = true,
    .nargs = 1,
    .args_wrong = "one subcommand expected: status",
    .option = on_option};

/* One node's share: a name that owns partitions or is a member. */
typedef struct {
	const char *name;
	uint32_t count;
	uint64_t epoch_min, epoch_max;
	bool live;
} share;

static share *share_of(share *v, size_t *n, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	v[*n] = (share){.name = name};
	return &v[(*n)++];
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const share *)a)->name, ((const share *)b)->name);
}

static void show(mn__cli *c, const clstate *s, const struct mn_cluster_view *v)
{
	share *sh = calloc(v->partitions + v->n_members + 1, sizeof *sh);
	const char **members = calloc(v->n_members + 1, sizeof *members);
	size_t n = 0, i;
	uint32_t p, unassigned = 0;

	if (!sh || !members) {
		fprintf(c->err, "mnemo cluster: out of memory\n");
		free(sh);
		free(members);
		return;
	}
	for (i = 0; i < v->n_members; i++) {
		members[i] = v->members[i];
		share_of(sh, &n, v->members[i])->live = true;
	}
	for (p = 0; p < v->partitions; p++) {
		share *x;
		if (!v->owner[p][0]) {
			unassigned++;
			continue;
		}
		x = share_of(sh, &n, v->owner[p]);
		if (x->count == 0 || v->epoch[p] < x->epoch_min)
			x->epoch_min = v->epoch[p];
		if (v->epoch[p] > x->epoch_max)
			x->epoch_max = v->epoch[p];
		x->count++;
	}
	qsort(sh, n, sizeof *sh, by_name);
	if (c->json) {
		mn__jw w;
		mn__jw_begin(&w, c->out, "cluster");
		mn__jw_str(&w, "cluster", s->cluster);
		mn__jw_u64(&w, "partitions", v->partitions);
		if (v->leader[0])
			mn__jw_str(&w, "leader", v->leader);
		else
			mn__jw_null(&w, "leader");
		mn__jw_strs(&w, "members", members, v->n_members);
		mn__jw_u64(&w, "unassigned", unassigned);
		mn__jw_u64(&w, "waiting", v->waiting);
		mn__jw_end(&w);
		for (i = 0; i < n; i++) {
			mn__jw_begin(&w, c->out, "node");
			mn__jw_str(&w, "node", sh[i].name);
			mn__jw_bool(&w, "live", sh[i].live);
			mn__jw_bool(&w, "leader",
				    strcmp(sh[i].name, v->leader) == 0);
			mn__jw_u64(&w, "partitions", sh[i].count);
			mn__jw_u64(&w, "epoch_min", sh[i].epoch_min);
			mn__jw_u64(&w, "epoch_max", sh[i].epoch_max);
			mn__jw_end(&w);
		}
		for (p = 0; s->partitions && p < v->partitions; p++) {
			mn__jw_begin(&w, c->out, "partition");
			mn__jw_u64(&w, "partition", p);
			if (v->owner[p][0])
				mn__jw_str(&w, "owner", v->owner[p]);
			else
				mn__jw_null(&w, "owner");
			mn__jw_u64(&w, "epoch", v->epoch[p]);
			mn__jw_end(&w);
		}
	} else {
		fprintf(c->out, "cluster %s: %u partitions, leader %s\n",
			s->cluster, v->partitions,
			v->leader[0] ? v->leader : "(none)");
		fprintf(c->out, "members (%zu):", v->n_members);
		for (i = 0; i < v->n_members; i++)
			fprintf(c->out, " %s", v->members[i]);
		fprintf(c->out, "\n%-20s %-6s %10s  %s\n", "node", "state",
			"partitions", "epochs");
		for (i = 0; i < n; i++) {
			fprintf(c->out, "%-20s %-6s %10u  ", sh[i].name,
				sh[i].live ? "live" : "dead", sh[i].count);
			if (sh[i].count)
				fprintf(c->out, "%llu..%llu\n",
					(unsigned long long)sh[i].epoch_min,
					(unsigned long long)sh[i].epoch_max);
			else
				fprintf(c->out, "-\n");
		}
		fprintf(c->out, "unassigned %u, messages waiting %llu\n",
			unassigned, (unsigned long long)v->waiting);
		for (p = 0; s->partitions && p < v->partitions; p++)
			fprintf(c->out, "partition %u  %s  epoch %llu\n", p,
				v->owner[p][0] ? v->owner[p] : "-",
				(unsigned long long)v->epoch[p]);
	}
	free(sh);
	free(members);
}

int mn__cmd_cluster(int argc, char **argv, FILE *out, FILE *err)
{
	mn__cli c;
	clstate s = {0};
	struct mn_cluster_view v;
	char **args;
	int rc;

	if ((rc = mn__cli_begin(&c, &cluster_spec, &s, argc, argv, out, err,
				&args)) != MN__CLI_GO)
		return rc;
	if (strcmp(args[0], "status") != 0)
		return mn__cli_usage(&c, "unknown subcommand '%s' (status)",
				     args[0]);
	if (!s.url)
		return mn__cli_usage(&c, "missing --nats URL");
	if (!s.cluster)
		return mn__cli_usage(&c, "missing --cluster NAME");
	mn__cli_clear_detail();
	rc = mn_cluster_read(s.url, s.cluster, &v);
	if (rc) {
		fprintf(err, "mnemo cluster: %s: %s (%s)\n", s.url,
			mn_err_name(rc), mn_errdetail());
		return MN__CLI_USAGE;
	}
	show(&c, &s, &v);
	mn_cluster_view_free(&v);
	return MN__CLI_OK;
}
