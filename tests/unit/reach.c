/*
 * Unit tests for src/reach.c, the servers reached before: a pair is seen only once noted,
 * per host and port; the file keeps REACH_MAX lines, the newest; a link or a folder in its
 * place is not read; a host that could not make one line is not known.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/reach.h"
#include "tests/lib/tap.h"

static char state[256];

static size_t
file_lines(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/postie/reached", state);
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

int
main(void)
{
	char tmpl[] = "/tmp/postie-reach-XXXXXX", path[300], host[64];
	const char *dir = mkdtemp(tmpl);

	if (!dir)
		return 1;
	snprintf(state, sizeof(state), "%s/state", dir);
	setenv("XDG_STATE_HOME", state, 1);

	ok(reach_seen("smtp.example.org", 587) == 0, "no file: never reached");
	reach_note("smtp.example.org", 587);
	ok(reach_seen("smtp.example.org", 587) == 1, "noted: reached");
	ok(reach_seen("smtp.example.org", 465) == 0, "another port: never");
	ok(reach_seen("smtp.example.or", 587) == 0, "a prefix of the host: never");
	ok(reach_seen("mtp.example.org", 587) == 0, "a suffix of the host: never");
	reach_note("smtp.example.org", 587);
	ok(file_lines() == 1, "noted twice: one line (%zu)", file_lines());
	ok(reach_seen("bad host", 25) == -1, "a host with a space: not known");
	reach_note("bad\nhost", 25);
	ok(file_lines() == 1, "a host with a line end is not written");

	for (int i = 0; i < REACH_MAX + 10; i++) {
		snprintf(host, sizeof(host), "h%d.example", i);
		reach_note(host, 25);
	}
	ok(file_lines() == REACH_MAX, "at most %d lines (%zu)", REACH_MAX, file_lines());
	ok(reach_seen("h0.example", 25) == 0, "the oldest went");
	snprintf(host, sizeof(host), "h%d.example", REACH_MAX + 9);
	ok(reach_seen(host, 25) == 1, "the newest stayed");

	snprintf(path, sizeof(path), "%s/postie/reached", state);
	unlink(path);
	ok(symlink("/etc/passwd", path) == 0, "a link in the file's place");
	ok(reach_seen("root:x:0:0:root:/root:/bin/bash", 25) == -1, "a link is not read");
	unlink(path);
	mkdir(path, 0700);
	ok(reach_seen("smtp.example.org", 587) == -1, "a folder is not read");
	rmdir(path);
	/* A FIFO would hold a blocking open for ever: the alarm fails the test instead. */
	ok(mkfifo(path, 0600) == 0, "a FIFO in the file's place");
	alarm(10);
	ok(reach_seen("smtp.example.org", 587) == -1, "a FIFO is not read (nor waited on)");
	reach_note("smtp.example.org", 587);
	alarm(0);
	struct stat fst;
	ok(lstat(path, &fst) == 0 && S_ISFIFO(fst.st_mode), "noting leaves the FIFO alone");
	unlink(path);

	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "relative", 1);
	ok(reach_seen("smtp.example.org", 587) == -1, "no state folder: not known");

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
