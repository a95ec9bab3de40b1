#!/usr/bin/env python3
# fakeoauth.py: tests/lib/fakesmtp.py's scripted server (same arguments, same script directives) that also
# takes AUTH XOAUTH2 (Google's format) and AUTH OAUTHBEARER (RFC 7628). The credentials it
# decodes go to auth.txt as "XOAUTH2 user=U token=T" / "OAUTHBEARER user=U token=T". With
# `auth-creds USER TOKEN` in the script, another token is refused as the providers do: a
# 334 with a base64 JSON error (RFC 7628 §3.2.2), the client's empty line, then 535.

import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import fakesmtp  # noqa: E402

ERROR = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"https://mail.test/"}')
proto_auth = fakesmtp.Session.auth


def fields(dec):
    """XOAUTH2 "user=U^Aauth=Bearer T^A^A"; OAUTHBEARER "n,a=U,^Ahost=H^A...auth=Bearer T^A^A"."""
    user = token = None
    parts = dec.split(b'\x01')
    gs2 = bool(parts) and parts[0].startswith(b'n,')
    if gs2:
        for attr in parts[0].split(b',')[1:]:
            if attr.startswith(b'a='):
                user = attr[2:]
    for p in parts[1:] if gs2 else parts:
        if p.startswith(b'user='):
            user = p[5:]
        elif p.startswith(b'auth=Bearer '):
            token = p[12:]
    return user, token


def auth(self, line, n):
    words = line.decode('latin-1').split()
    mech = words[1].upper() if len(words) > 1 else ''
    if mech not in ('XOAUTH2', 'OAUTHBEARER'):
        return proto_auth(self, line, n)

    def continuation(prompt):
        self.run_reply([prompt])
        resp, bare = self.readline()
        self.rec.command(resp, bare)
        self.rec.item('(sasl)', self.line_arrival)
        return resp.decode('latin-1')

    resp = words[2] if len(words) > 2 else continuation('334 ')
    try:
        dec = base64.b64decode(resp.encode('latin-1'), validate=True)
    except ValueError:
        dec = None
    user, token = fields(dec) if dec else (None, None)
    if user is None or token is None:
        self.rec.write('auth.txt', '%s undecodable %r\n' % (mech, resp))
        self.run_reply(['501 5.5.2 cannot decode response'])
        return
    user, token = user.decode('utf-8', 'backslashreplace'), token.decode('latin-1')
    self.rec.write('auth.txt', '%s user=%s token=%s\n' % (mech, user, token))
    if self.script.auth_creds and (user, token) != self.script.auth_creds:
        continuation('334 ' + ERROR.decode())
        self.run_reply(['535 5.7.8 Username and Password not accepted'])
        return
    self.respond('AUTH', n, ['235 2.7.0 Accepted'])


fakesmtp.Session.auth = auth

if __name__ == '__main__':
    sys.exit(fakesmtp.main())
