// SPDX-License-Identifier: MIT
// Test support: runs the real Django + DRF + SimpleJWT peer
// (tests/interop/django/run_peer.py) as a child process on a loopback port
// chosen at run time, with its own temporary SQLite database. The counterpart
// of ServerProcess for the server people already run.
#pragma once

#include "listeningprocess.h"

namespace Tessera::Test {

class DjangoPeer : public ListeningProcess
{
public:
    DjangoPeer();

    // run_peer.py of the source tree; $TESSERA_DJANGO_PEER overrides it.
    static QString scriptPath();
    // The interpreter with Debian's python3-django* packages ($TESSERA_PYTHON or /usr/bin/python3).
    static QString python();

    // SimpleJWT ACCESS_TOKEN_LIFETIME in seconds (default 300). Set before start().
    void setAccessTtl(int seconds) { m_accessTtl = seconds; }

    // Migrates, creates `user` with `password` and waits for "listening on
    // http://127.0.0.1:PORT". The database survives stop(), so start() again
    // keeps users and tokens (the port changes). The peer's signing key
    // (TESSERA_DJANGO_SECRET_KEY) is one per object, unless setEnvironment() sets one.
    bool start(const QString &user, const QByteArray &password, int timeoutMs = 30000);

    QString databasePath() const;

    // Server-side counters read from the peer's database
    // (rest_framework_simplejwt.token_blacklist): rows of BlacklistedToken and
    // OutstandingToken. With ROTATE_REFRESH_TOKENS + BLACKLIST_AFTER_ROTATION
    // every successful refresh blacklists the token it spent, so the first is
    // "refreshes + logouts". -1 when the database cannot be read.
    int blacklistedCount() const;
    int outstandingCount() const;

private:
    int m_accessTtl = 300;
    // Kept across stop()/start(), so tokens survive a restart as on a real deployment.
    QString m_secretKey;
};

} // namespace Tessera::Test
