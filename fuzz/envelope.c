/*
 * fuzz/envelope: a queue entry's envelope file (queue_meta_parse in src/queue.h). Anyone
 * who can write as the user can write one, and a flush acts on what it says.
 *
 * Contract checked: a refusal is ERR_DATA (ERR_CONFIG for another format version) and
 * leaves nothing to free; what parses has an account, a sender, at least one recipient, no
 * control character in any value, and goes round: queue_meta_format writes it, that text
 * parses to the same envelope, and formats to the same text again.
 */
#include "fuzz.h"

#include "buf.h"
#include "queue.h"

static bool
same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void
check_str(const char *s, const char *what)
{
	if (s)
		fuzz_check(!fuzz_has_ctl(s, strlen(s), ""), "control character in %s", what);
}

static void
check_same(const struct queue_meta *a, const struct queue_meta *b)
{
	fuzz_check(same_str(a->account, b->account) && same_str(a->profile, b->profile) &&
	               same_str(a->sender, b->sender) && same_str(a->mail_params, b->mail_params) &&
	               same_str(a->last_reply, b->last_reply) &&
	               same_str(a->fail_reason, b->fail_reason),
	           "a string changed on the way round");
	fuzz_check(a->ignore_dots == b->ignore_dots && a->size == b->size &&
	               a->queued == b->queued && a->attempts == b->attempts &&
	               a->last_attempt == b->last_attempt && a->next_attempt == b->next_attempt &&
	               a->failed == b->failed,
	           "a value changed on the way round");
	fuzz_check(a->nrcpts == b->nrcpts, "%zu recipients became %zu", a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct queue_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		fuzz_check(same_str(x->addr, y->addr) && same_str(x->params, y->params) &&
		               same_str(x->reply, y->reply) && x->state == y->state,
		           "recipient %zu changed on the way round", i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_meta m, again;
	struct buf out, out2;
	struct err e;
	char *text = fuzz_exact(data, size);

	if (queue_meta_parse(&m, text, size, &e) < 0) {
		free(text);
		fuzz_check(e.kind == ERR_DATA || e.kind == ERR_CONFIG, "refused with kind %d: %s",
		           e.kind, e.text);
		fuzz_check(m.account == NULL && m.rcpts == NULL && m.sender == NULL,
		           "a refused envelope left something behind");
		return 0;
	}
	free(text);
	fuzz_check(m.account && m.account[0] && m.sender, "no account or no sender");
	fuzz_check(m.nrcpts > 0, "no recipient");
	check_str(m.account, "account");
	check_str(m.profile, "profile");
	check_str(m.sender, "sender");
	check_str(m.mail_params, "mail-params");
	check_str(m.last_reply, "last-reply");
	check_str(m.fail_reason, "failed-reason");
	for (size_t i = 0; i < m.nrcpts; i++) {
		fuzz_check(m.rcpts[i].addr && m.rcpts[i].addr[0], "empty recipient");
		check_str(m.rcpts[i].addr, "rcpt");
		check_str(m.rcpts[i].params, "rcpt-params");
		check_str(m.rcpts[i].reply, "rcpt-reply");
		fuzz_check(m.rcpts[i].state == QUEUE_RCPT_PENDING ||
		               m.rcpts[i].state == QUEUE_RCPT_FAILED,
		           "recipient state %d", m.rcpts[i].state);
	}

	buf_init(&out, QUEUE_ENVELOPE_MAX);
	buf_init(&out2, QUEUE_ENVELOPE_MAX);
	fuzz_check(queue_meta_format(&m, &out, &e) == 0, "a parsed envelope cannot be written: %s",
	           e.text);
	fuzz_check(queue_meta_parse(&again, out.data, out.len, &e) == 0,
	           "a written envelope cannot be read: %s", e.text);
	check_same(&m, &again);
	fuzz_check(queue_meta_format(&again, &out2, &e) == 0, "format again: %s", e.text);
	fuzz_check(out.len == out2.len && memcmp(out.data, out2.data, out.len) == 0,
	           "the envelope is written differently the second time");
	buf_fini(&out);
	buf_fini(&out2);
	queue_meta_fini(&again);
	queue_meta_fini(&m);
	fuzz_check(m.account == NULL && m.rcpts == NULL, "queue_meta_fini left something");
	return 0;
}
