/*
 * placement.c - where an address lives: its partition (the one place that
 * decides it) and the even assignment of partitions to members.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "cluster/cluster_int.h"

uint32_t mn_cluster_partition(const char *kind, const void *key, size_t len,
			      uint32_t partitions)
{
	uint64_t seed = mn__hash(0, kind, strlen(kind));

	if (partitions == 0)
		partitions = MN_CLUSTER_PARTITIONS;
	return (uint32_t)(mn__hash(seed, key, len) % partitions);
}

int mn__cl_name_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		char ch = s[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return n >= 1 && n <= MN_CLUSTER_NAME_MAX;
}

int mn__cl_owner_parse(const char *v, int len, uint64_t *epoch,
		       mn__cl_name node)
{
	char buf[MN_CLUSTER_NAME_MAX + 32];
	char *sp, *end;

	if (len <= 0 || (size_t)len >= sizeof buf)
		return MN_ECORRUPT;
	memcpy(buf, v, (size_t)len);
	buf[len] = '\0';
	sp = strchr(buf, ' ');
	if (sp)
		*sp = '\0';
	*epoch = strtoull(buf, &end, 10);
	if (end == buf || *end || (sp && !mn__cl_name_ok(sp + 1)))
		return MN_ECORRUPT;
	strcpy(node, sp ? sp + 1 : "");
	return 0;
}

/* How much member m wants partition p (rendezvous hashing). */
static uint64_t rank(const char *member, uint32_t p)
{
	uint64_t seed = mn__hash(0, member, strlen(member));

	return mn__hash(seed, &p, sizeof p);
}

void mn__cl_assign(uint32_t partitions, const mn__cl_name *members, size_t n,
		   const int *cur, int *want)
{
	uint32_t *room = calloc(n, sizeof *room);
	uint32_t p, free_p = 0;
	size_t m;

	if (!room)
		abort();
	for (p = 0; p < partitions; p++)
		free_p += cur[p] != MN__CL_PINNED;
	for (m = 0; m < n; m++)
		room[m] =
		    free_p / (uint32_t)n + (m < free_p % (uint32_t)n ? 1u : 0u);
	/* Keep what can be kept: fewest moves. */
	for (p = 0; p < partitions; p++) {
		int c = cur[p];
		want[p] = c == MN__CL_PINNED ? MN__CL_PINNED : -1;
		if (c >= 0 && (size_t)c < n && room[c] > 0) {
			want[p] = c;
			room[c]--;
		}
	}
	for (p = 0; p < partitions; p++) {
		size_t best = n;
		uint64_t best_rank = 0;
		if (want[p] != -1)
			continue;
		for (m = 0; m < n; m++) {
			uint64_t r;
			if (room[m] == 0)
				continue;
			r = rank(members[m], p);
			if (best == n || r > best_rank) {
				best = m;
				best_rank = r;
			}
		}
		/* Rooms add up to the partitions: there is always one. */
		want[p] = (int)best;
		room[best]--;
	}
	free(room);
}
