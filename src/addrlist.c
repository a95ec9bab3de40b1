/*
 * addrlist: lists of normalised addresses, and the index that keeps them unique.
 *
 * Seam: addr.c knows what an address is (RFC 5321 envelope mailboxes, RFC 5322 lists, IDN);
 * this file only keeps strings: appending, and appending unless an equal one is there, in
 * O(log n) comparisons however the strings were chosen. Nothing here parses.
 */
#include "addrlist.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

void
addr_list_add(struct addr_list *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(s);
}

/*
 * addr_list_add_unique's index: an AVL tree (Adelson-Velsky and Landis; Knuth, TAOCP vol. 3,
 * §6.2.3) whose node I stands for v[I]. Its height stays below 1.45 log2(n + 2), so one
 * lookup makes at most that many comparisons whatever the strings are (a hash table would
 * turn quadratic again on addresses chosen to collide).
 */
struct addr_node {
	size_t child[2]; /* the left and right children as index + 1; 0: none */
	int height;      /* of the subtree this node roots; a leaf is 1 */
};

struct addr_index {
	struct addr_node *node; /* node[i] is v[i]; of equal strings only the first is linked */
	size_t cap;             /* room in node */
	size_t root;            /* index + 1; 0: empty */
	size_t indexed;         /* v[0 .. indexed) are in the tree, or equal to one that is */
	size_t compares;        /* strcmp calls so far (addr_list_compares) */
};

static int
node_height(const struct addr_index *x, size_t t)
{
	return t ? x->node[t - 1].height : 0;
}

static void
node_fix(struct addr_index *x, size_t t)
{
	struct addr_node *n = &x->node[t - 1];
	int l = node_height(x, n->child[0]), r = node_height(x, n->child[1]);

	n->height = 1 + (l > r ? l : r);
}

/* Make T's child on SIDE (0: left, 1: right) the root of T's subtree; returns that new
 * root. With SIDE 0 this is a right rotation, with 1 a left one. */
static size_t
rotate(struct addr_index *x, size_t t, int side)
{
	size_t c = x->node[t - 1].child[side];

	x->node[t - 1].child[side] = x->node[c - 1].child[!side];
	x->node[c - 1].child[!side] = t;
	node_fix(x, t);
	node_fix(x, c);
	return c;
}

/* Restore the AVL condition (subtree heights differ by at most 1) at T after an insertion:
 * one rotation towards the taller side, two when that side's child leans the other way. */
static size_t
rebalance(struct addr_index *x, size_t t)
{
	struct addr_node *n = &x->node[t - 1];
	int d = node_height(x, n->child[0]) - node_height(x, n->child[1]);

	if (d > 1 || d < -1) {
		int side = d > 1 ? 0 : 1; /* the taller one */
		const struct addr_node *c = &x->node[n->child[side] - 1];
		if (node_height(x, c->child[side]) < node_height(x, c->child[!side]))
			n->child[side] = rotate(x, n->child[side], !side);
		return rotate(x, t, side);
	}
	node_fix(x, t);
	return t;
}

/* Link v[I] into the subtree T unless it holds an equal string (then *DUP); returns its root. */
static size_t
tree_insert(const struct addr_list *l, struct addr_index *x, size_t t, size_t i, bool *dup)
{
	if (!t) {
		x->node[i] = (struct addr_node){.height = 1};
		return i + 1;
	}
	x->compares++;
	int c = strcmp(l->v[i], l->v[t - 1]);
	if (c == 0) {
		*dup = true;
		return t;
	}
	struct addr_node *n = &x->node[t - 1];
	n->child[c > 0] = tree_insert(l, x, n->child[c > 0], i, dup);
	return *dup ? t : rebalance(x, t);
}

bool
addr_list_add_unique(struct addr_list *l, const char *s)
{
	if (!l->index)
		l->index = xcalloc(1, sizeof(*l->index));
	struct addr_index *x = l->index;
	if (x->indexed > l->n) { /* the list was cut behind our back: index it again */
		x->root = 0;
		x->indexed = 0;
	}
	addr_list_add(l, s);
	if (x->cap < l->cap) {
		x->node = xrealloc(x->node, l->cap * sizeof(*x->node));
		x->cap = l->cap;
	}
	/* What addr_list_add appended since the last call, then S. */
	bool dup = false;
	while (x->indexed < l->n) {
		dup = false;
		x->root = tree_insert(l, x, x->root, x->indexed++, &dup);
	}
	if (dup) {
		free(l->v[--l->n]);
		x->indexed--;
		return false;
	}
	return true;
}

size_t
addr_list_compares(const struct addr_list *l)
{
	return l->index ? l->index->compares : 0;
}

void
addr_list_fini(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	if (l->index)
		free(l->index->node);
	free(l->index);
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
	l->index = NULL;
}
