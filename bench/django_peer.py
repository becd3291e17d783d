#!/usr/bin/python3
"""Prepares the Django + SimpleJWT peer (tests/interop/django) for the benchmarks.

    django_peer.py prepare --db PATH --user NAME        (password on stdin)
    django_peer.py mint --db PATH --user NAME --count N --out FILE

`prepare` migrates the database and creates the user. `mint` writes N refresh
tokens of distinct logins (RefreshToken.for_user, which records each one as an
OutstandingToken exactly as a login does) to FILE, one per line, mode 0600.
Run with Debian's /usr/bin/python3 and the same TESSERA_DJANGO_SECRET_KEY as the
gunicorn workers. Tokens are never printed.
"""
import argparse
import os
import sys

PEER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop", "django")
sys.path.insert(0, os.path.abspath(PEER_DIR))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["prepare", "mint"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()

    os.environ["TESSERA_DJANGO_DB"] = args.db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera_peer.settings")
    if not os.environ.get("TESSERA_DJANGO_SECRET_KEY"):
        sys.exit("django_peer.py: set TESSERA_DJANGO_SECRET_KEY (shared with the workers)")
    import django
    from django.core.management import call_command

    django.setup()
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if args.command == "prepare":
        call_command("migrate", verbosity=0, interactive=False)
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            sys.exit("django_peer.py: no password on stdin")
        user, _ = User.objects.get_or_create(username=args.user)
        user.set_password(password)
        user.save()
        return
    from django.db import transaction
    from rest_framework_simplejwt.tokens import RefreshToken

    user = User.objects.get(username=args.user)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out, transaction.atomic():
        for _ in range(args.count):
            out.write(str(RefreshToken.for_user(user)) + "\n")


if __name__ == "__main__":
    main()
