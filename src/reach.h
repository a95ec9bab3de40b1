/*
 * reach: the servers this user's postie has reached before, a small state file
 * ($XDG_STATE_HOME/postie/reached, else ~/.local/state/postie/reached: one "HOST PORT" line
 * each). It lets a refused connection say whether the account ever got through on that port:
 * a wrong port is then told apart from a server that is down for now.
 */
#ifndef POSTIE_REACH_H
#define POSTIE_REACH_H

#include <stdbool.h>

/* The most lines the file keeps; past them the oldest go. */
#define REACH_MAX 256

/* Whether HOST (A-label form) answered with a greeting on PORT before: 1 yes, 0 never, -1
 * not known (no state folder, a file that cannot be read). */
int reach_seen(const char *host, int port);

/* Record that HOST answered on PORT (best effort: a failure to write is silent; the file
 * is rewritten only when the pair is new). */
void reach_note(const char *host, int port);

#endif
