#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The person in the browser, scripted: plays a user through a provider's sign-in pages over
plain HTTP (no rendering, no JavaScript), for the OAuth tests and as the CLI's $BROWSER.

    browser.py [--login NAME] [--password PASSWORD | --password-env NAME | --password-stdin]
               [--deny] [--redirect-uri URI] [--user-code CODE] URL

Starts at URL (an authorization request), follows redirects with a cookie jar and submits the
server-rendered forms it meets: a generic driver for <form method=post>, which fills the
login/username/email and password fields, keeps hidden fields, and presses the form's first
submit button (with --deny: a button or link named like abort/cancel/deny instead, when the
page offers one). oidc-provider's devInteractions pages (login, consent) are such pages.

The device flow (RFC 8628): URL is the verification_uri_complete (the code is in it), or the
verification_uri with --user-code, which the person then types into the code field. The
provider's confirmation page is submitted (with --deny: its abort button), then the login and
consent pages as above.

It stops at the redirect to the client's redirect URI (the authorization request's
redirect_uri, or --redirect-uri) and requests it once, without the cookie jar, so the app's
loopback receiver gets it. Without a redirect URI (the device flow's verification_uri_complete)
it stops at the first page with nothing to submit. Exit status: 0 when the receiver answered
2xx (or that last page was reached), 2 when the receiver answered something else, 3 when the
pages led nowhere, 1 on other errors.

A real password does not belong in argv (every user sees it in ps): --password-env NAME reads it
from the environment variable NAME, --password-stdin from the first line of stdin. --password
is for throwaway values (oidc-provider's development pages accept any). Only Debian's python3 standard
library; proxies are never used (everything here is loopback). Logs paths, never queries: they
carry codes and state.
"""
import argparse
import html.parser
import http.cookiejar
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_STEPS = 25
TIMEOUT_SECONDS = 60
DENY_WORDS = ('abort', 'cancel', 'deny', 'decline', 'reject')


class Form:
    def __init__(self, attributes):
        self.id = attributes.get('id')
        self.action = attributes.get('action') or ''
        self.method = (attributes.get('method') or 'get').lower()
        self.fields = []   # (type, name, value)
        self.buttons = []  # (name, value, text)


class PageParser(html.parser.HTMLParser):
    """Collects forms (with the fields and buttons that belong to them, also through the
    form="ID" attribute) and links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.links = []  # (href, text)
        self._form = None
        self._button = None
        self._link = None
        self._detached = []  # (form id, kind, item)

    def _owner(self, attributes):
        return attributes.get('form') or None

    def handle_starttag(self, tag, attrs):
        attributes = {name: (value if value is not None else '') for name, value in attrs}
        if tag == 'form':
            self._form = Form(attributes)
            self.forms.append(self._form)
        elif tag in ('input', 'select', 'textarea'):
            kind = (attributes.get('type') or 'text').lower()
            name = attributes.get('name')
            if kind in ('submit', 'image'):
                self._add('button', (name, attributes.get('value', ''), attributes.get('value', '')),
                          attributes)
            elif name:
                self._add('field', (kind, name, attributes.get('value', '')), attributes)
        elif tag == 'button':
            kind = (attributes.get('type') or 'submit').lower()
            if kind == 'submit':
                self._button = [attributes.get('name'), attributes.get('value', ''), '', attributes]
        elif tag == 'a' and attributes.get('href'):
            self._link = [attributes['href'], '']

    def handle_data(self, data):
        if self._button is not None:
            self._button[2] += data
        if self._link is not None:
            self._link[1] += data

    def handle_endtag(self, tag):
        if tag == 'form':
            self._form = None
        elif tag == 'button' and self._button is not None:
            name, value, text, attributes = self._button
            self._add('button', (name, value, text.strip()), attributes)
            self._button = None
        elif tag == 'a' and self._link is not None:
            self.links.append((self._link[0], self._link[1].strip()))
            self._link = None

    def _add(self, kind, item, attributes):
        owner = self._owner(attributes)
        if owner:
            self._detached.append((owner, kind, item))
        elif self._form is not None:
            (self._form.fields if kind == 'field' else self._form.buttons).append(item)

    def close(self):
        super().close()
        by_id = {form.id: form for form in self.forms if form.id}
        for owner, kind, item in self._detached:
            form = by_id.get(owner)
            if form is not None:
                (form.fields if kind == 'field' else form.buttons).append(item)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # every 3xx comes back as an HTTPError: this script follows them itself


def log(message):
    print(f'browser.py: {message}', file=sys.stderr, flush=True)


def shown(url):
    parts = urllib.parse.urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}{parts.path}'


def is_redirect_target(url, redirect_uri):
    if not redirect_uri:
        return False
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(redirect_uri)
    return (a.scheme, a.hostname, a.port, a.path) == (b.scheme, b.hostname, b.port, b.path)


def is_deny(*texts):
    return any(word in (text or '').lower() for text in texts for word in DENY_WORDS)


def choose_submission(form, options):
    """The (name, value) pairs to post for `form`, or None when --deny finds nothing to press."""
    data = []
    for kind, name, value in form.fields:
        lowered = name.lower()
        if kind == 'password':
            data.append((name, options.password))
        elif kind == 'text' and lowered == 'user_code' and options.user_code:
            data.append((name, options.user_code))
        elif kind in ('text', 'email') and lowered in ('login', 'username', 'user', 'email'):
            data.append((name, value or options.login))
        elif kind in ('checkbox', 'radio'):
            if lowered in ('confirm', 'consent', 'remember'):
                data.append((name, value or 'on'))
        else:
            data.append((name, value))
    buttons = [b for b in form.buttons if is_deny(b[0], b[1], b[2]) == options.deny]
    if options.deny and not buttons and any(n.lower() == 'user_code' for _, n, _ in form.fields):
        # A device page's code form: the person enters the code to reach the page that refuses.
        buttons = list(form.buttons)
    if options.deny and not buttons:
        return None
    if buttons and buttons[0][0]:
        data.append((buttons[0][0], buttons[0][1]))
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('url')
    parser.add_argument('--login', default='alice', help='the login name to sign in with')
    passwords = parser.add_mutually_exclusive_group()
    passwords.add_argument('--password', default='any password',
                           help='the password to type (visible in ps: throwaway values only)')
    passwords.add_argument('--password-env', metavar='NAME',
                           help='type the password held by environment variable NAME')
    passwords.add_argument('--password-stdin', action='store_true',
                           help='type the first line of stdin as the password')
    parser.add_argument('--deny', action='store_true',
                        help='press abort/cancel/deny instead of signing in and consenting')
    parser.add_argument('--redirect-uri', help="the client's redirect URI (default: the "
                                               "authorization request's redirect_uri)")
    parser.add_argument('--user-code', help='the code to type on a device verification page '
                                            '(RFC 8628 §3.3)')
    options = parser.parse_args()
    if options.password_env:
        if options.password_env not in os.environ:
            log(f'error: environment variable {options.password_env} is not set')
            return 1
        options.password = os.environ[options.password_env]
    elif options.password_stdin:
        line = sys.stdin.readline()
        if not line:
            log('error: no password on stdin')
            return 1
        options.password = line[:-1] if line.endswith('\n') else line

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(options.url).query)
    redirect_uri = options.redirect_uri or (query.get('redirect_uri') or [None])[0]
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirects(),
                                          urllib.request.HTTPCookieProcessor(jar))
    url, data = options.url, None
    for _ in range(MAX_STEPS):
        if is_redirect_target(url, redirect_uri):
            # The app's receiver: as a browser would, but without the provider's cookies.
            log(f'redirected to the client: {shown(url)}')
            plain = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirects())
            try:
                with plain.open(url, timeout=TIMEOUT_SECONDS) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            log(f'the client answered {status}')
            return 0 if 200 <= status < 300 else 2
        log(f'{"POST" if data is not None else "GET"} {shown(url)}')
        request = urllib.request.Request(url, data=data)
        if data is not None:
            request.add_header('Content-Type', 'application/x-www-form-urlencoded')
        try:
            with browser.open(request, timeout=TIMEOUT_SECONDS) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        if 300 <= status < 400 and headers.get('Location'):
            url, data = urllib.parse.urljoin(url, headers['Location']), None
            continue
        if status != 200:
            log(f'stopped: HTTP {status} at {shown(url)}')
            return 3
        page = PageParser()
        page.feed(body.decode('utf-8', 'replace'))
        page.close()
        forms = [form for form in page.forms if form.method == 'post']
        submission, form = None, None
        for candidate in forms:
            submission = choose_submission(candidate, options)
            if submission is not None:
                form = candidate
                break
        if form is None and options.deny:
            links = [href for href, text in page.links if is_deny(text, href)]
            if links:
                url, data = urllib.parse.urljoin(url, links[0]), None
                continue
            # A form of hidden fields only is one a page's script submits by itself (the
            # provider's form_post pages): no person chooses anything there, also when denying.
            for candidate in forms:
                if candidate.fields and all(kind == 'hidden' for kind, _, _ in candidate.fields):
                    form, submission = candidate, list(
                        (name, value) for _, name, value in candidate.fields)
                    break
        if form is None:
            if not redirect_uri:
                # No client to hand a redirect to (the device flow's verification page): a
                # page with nothing left to submit is the end.
                log(f'finished at {shown(url)}')
                return 0
            log(f'stopped: nothing to submit at {shown(url)}')
            return 3
        url = urllib.parse.urljoin(url, form.action)
        data = urllib.parse.urlencode(submission).encode('ascii')
    log('stopped: too many steps')
    return 3


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (OSError, ValueError) as error:
        log(f'error: {error}')
        sys.exit(1)
