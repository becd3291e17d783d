#!/usr/bin/python3
"""Seeds login families straight into a tessera-server SQLite database (cost growth).

    seed_families.py --db PATH --user NAME --families N [--pool K --out FILE]

The database must already have the schema and the user (`tessera-server user
add NAME --db PATH` creates both). Inserts N families, each with one current
refresh token, exactly as a login (TokenService::startFamily) does: family id =
base64url(16 random bytes), token hash = SHA-256 of the 43-character base64url
token, times in ms. The tokens of K of them (spread over the whole range) are
written to FILE (mode 0600), one per line, for the refresh workload; the others
are never known to anyone. Tokens are never printed.
"""
import argparse
import base64
import hashlib
import os
import sqlite3
import sys
import time

BATCH = 50000


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--families", type=int, required=True)
    parser.add_argument("--pool", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.pool > args.families:
        sys.exit("seed_families.py: --pool exceeds --families")

    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    row = db.execute("SELECT id FROM users WHERE username = ?", (args.user,)).fetchone()
    if row is None:
        sys.exit("seed_families.py: unknown user")
    user_id = row[0]
    now = int(time.time() * 1000)
    expires = now + 30 * 24 * 3600 * 1000
    idle = now + 14 * 24 * 3600 * 1000
    step = args.families // args.pool if args.pool else 0
    pool = []
    done = 0
    while done < args.families:
        count = min(BATCH, args.families - done)
        families, tokens = [], []
        for i in range(done, done + count):
            family_id = b64url(os.urandom(16)).decode()
            if step and i % step == 0 and len(pool) < args.pool:
                token = b64url(os.urandom(32))
                pool.append(token)
                token_hash = hashlib.sha256(token).digest()
            else:
                token_hash = hashlib.sha256(os.urandom(32)).digest()
            families.append((family_id, user_id, now, expires))
            tokens.append((token_hash, family_id, now, idle))
        with db:
            db.executemany("INSERT INTO families (id, user_id, created_at, expires_at)"
                           " VALUES (?, ?, ?, ?)", families)
            db.executemany("INSERT INTO refresh_tokens (token_hash, family_id, parent_hash,"
                           " issued_at, idle_expires_at) VALUES (?, ?, NULL, ?, ?)", tokens)
        done += count
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            for token in pool:
                out.write(token + b"\n")


if __name__ == "__main__":
    main()
