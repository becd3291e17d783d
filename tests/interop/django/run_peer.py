#!/usr/bin/python3
"""Starts the Django + SimpleJWT peer on loopback for tests.

    run_peer.py --db PATH [--port 0] [--user NAME] [--access-ttl S]
    (the user's password is read from the first line of stdin)

Migrates the database, creates the user, serves with a threaded WSGI server on
127.0.0.1 and prints "listening on http://127.0.0.1:PORT" once it accepts
connections. Run with Debian's /usr/bin/python3.
"""
import argparse
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # request lines would not leak tokens, but keep stderr clean
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--access-ttl", type=int, default=300)
    parser.add_argument("--refresh-ttl", type=int, default=86400)
    args = parser.parse_args()

    os.environ["TESSERA_DJANGO_DB"] = args.db
    os.environ["TESSERA_DJANGO_ACCESS_TTL"] = str(args.access_ttl)
    os.environ["TESSERA_DJANGO_REFRESH_TTL"] = str(args.refresh_ttl)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera_peer.settings")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    if args.user:
        from django.contrib.auth import get_user_model

        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            sys.exit("run_peer.py: no password on stdin")
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=args.user)
        user.set_password(password)
        user.save()

    from tessera_peer.wsgi import application

    server = make_server("127.0.0.1", args.port, application,
                         server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
