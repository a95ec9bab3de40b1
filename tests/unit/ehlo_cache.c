/*
 * Unit tests for src/ehlo_cache.c, the early pipelining cache (SEC-48): what counts as
 * offering PIPECONNECT, when two replies are the same, a file read back only for its own
 * key, only when private, never through a link; a key with a space or line end is no cache.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/ehlo_cache.h"
#include "tests/lib/tap.h"

#define S(x) x, sizeof(x) - 1

static void
test_offers(void)
{
	ok(ehlo_cache_offers(S("mx.example\nPIPELINING\nPIPECONNECT")), "PIPECONNECT");
	ok(ehlo_cache_offers(S("mx.example\nx_pipe_connect\nSIZE 10")), "X_PIPE_CONNECT, any case");
	ok(!ehlo_cache_offers(S("PIPECONNECT\nPIPELINING")), "not in the greeting line");
	ok(!ehlo_cache_offers(S("mx.example\nPIPECONNECTX\nXPIPECONNECT")), "a longer keyword");
	ok(!ehlo_cache_offers(S("mx.example\nPIPELINING")), "not offered");
	ok(ehlo_cache_offers(S("mx.example\nPIPECONNECT with words")), "a keyword with words");
}

static void
test_same(void)
{
	ok(ehlo_cache_same(S("a Hello x\nPIPECONNECT\nSIZE 1"), S("b\nPIPECONNECT\nSIZE 1")),
	   "the greeting line does not count");
	ok(!ehlo_cache_same(S("a\nPIPECONNECT\nSIZE 1"), S("a\nPIPECONNECT\nSIZE 2")),
	   "a keyword's value counts");
	ok(!ehlo_cache_same(S("a\nPIPECONNECT"), S("a\nPIPECONNECT\nCHUNKING")), "a keyword more");
}

static void
test_file(const char *dir)
{
	struct ehlo_key k = {"mail.example.org", 587, "starttls", "client.example"};
	struct ehlo_key other = {"mail.example.org", 465, "starttls", "client.example"};
	struct buf t;
	struct err e;
	char *path = ehlo_cache_path(&k, true);
	char *path2 = ehlo_cache_path(&other, false);

	buf_init(&t, 16384);
	ok(path && strncmp(path, dir, strlen(dir)) == 0 && strstr(path, "/postie/ehlo/"),
	   "the file is under XDG_CACHE_HOME/postie/ehlo (%s)", path ? path : "NULL");
	ok(path && path2 && strcmp(path, path2) != 0, "another port, another file");
	ok(!ehlo_cache_load(path, &k, &t), "no file: no cache");
	ok(ehlo_cache_save(path, &k, S("mx\nPIPECONNECT"), &e) == 0, "saved");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	ok(ehlo_cache_load(path, &k, &t) && t.len == 14 &&
	       memcmp(t.data, "mx\nPIPECONNECT", 14) == 0,
	   "read back");
	ok(!ehlo_cache_load(path, &other, &t) && t.len == 0, "another key's file is no cache");
	chmod(path, 0644);
	ok(!ehlo_cache_load(path, &k, &t), "a file others may read is no cache");
	chmod(path, 0600);
	ehlo_cache_forget(path);
	ok(!ehlo_cache_load(path, &k, &t), "forgotten");
	ok(symlink("/etc/passwd", path) == 0, "a link in the file's place");
	ok(!ehlo_cache_load(path, &k, &t), "a link is not read");
	unlink(path);

	struct ehlo_key bad = {"mail.example.org", 25, "plain", "a b"};
	char *bp = ehlo_cache_path(&bad, true);
	ok(bp && strstr(bp, "a_b"), "an unusual name is made harmless in the file name");
	ok(ehlo_cache_save(bp, &bad, S("mx\nPIPECONNECT"), &e) == 0 &&
	       !ehlo_cache_load(bp, &bad, &t),
	   "a key with a space is never cached");
	struct ehlo_key dots = {"..", 25, "plain", "x"};
	char *dp = ehlo_cache_path(&dots, false);
	ok(dp && !strstr(dp, "/.."), "a name of dots cannot climb (%s)", dp ? dp : "NULL");
	buf_fini(&t);
	free(path);
	free(path2);
	free(bp);
	free(dp);
}

int
main(void)
{
	char tmpl[] = "/tmp/postie-ehlo-XXXXXX";
	const char *dir = mkdtemp(tmpl);

	if (!dir)
		return 1;
	setenv("XDG_CACHE_HOME", dir, 1);
	test_offers();
	test_same();
	test_file(dir);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
