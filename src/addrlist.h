/*
 * addrlist: a list of address strings (normalised by addr), in order, and an index that
 * keeps it free of duplicates when wanted.
 */
#ifndef POSTIE_ADDRLIST_H
#define POSTIE_ADDRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct addr_index;

struct addr_list {
	char **v; /* addr-specs, each owned */
	size_t n;
	size_t cap;
	struct addr_index *index; /* addr_list_add_unique's search tree over v; NULL until used */
};

/* Append a copy of S to L. */
void addr_list_add(struct addr_list *l, const char *s);

/*
 * Append a copy of S to L unless L already holds a string equal to it byte for byte
 * (strcmp: the addresses are normalised, and their local parts are case-sensitive, RFC 5321
 * §2.4); true when it was appended. The order of L is kept. An index (a balanced search tree
 * over L, kept in L and freed by addr_list_fini) makes each call O(log n) comparisons, so
 * 100,000 recipients cost no more than their parsing; strings that addr_list_add appended
 * are taken into the index on the next call.
 */
bool addr_list_add_unique(struct addr_list *l, const char *s);

/* The string comparisons addr_list_add_unique has made on L so far (for tests). */
size_t addr_list_compares(const struct addr_list *l);

/* Free every element; L is left empty. */
void addr_list_fini(struct addr_list *l);

#endif
