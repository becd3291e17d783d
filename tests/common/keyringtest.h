// SPDX-License-Identifier: MIT
// Test support for tests of secure storage on the real Secret Service (gnome-keyring in
// the D-Bus session of scripts/with-keyring.sh): skipping where there is none, child
// processes with a HOME and a session bus of their own, and what they left on disk.
#pragma once

#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtTest/QTest>

namespace Tessera::Test {

// A child environment with a fresh HOME and runtime directory, no display (a keyring
// prompt must fail, not open a window), no session bus and no XDG overrides that could
// point outside HOME.
QProcessEnvironment isolatedEnvironment(const QString &home, const QString &runtimeDir);

// Arguments for dbus-run-session that run `command` on a session bus without any service
// files, where org.freedesktop.secrets can be neither found nor activated. The bus
// configuration is written to `dir`; empty when it cannot be.
QStringList bareSessionBusArguments(const QString &dir, const QStringList &command);

// Every entry (file or directory) below `dir`, relative to it.
QStringList entriesBelow(const QString &dir);

// Why this process cannot use the Secret Service; empty when it can (inside
// scripts/with-keyring.sh): a session bus where org.freedesktop.secrets is registered (waited
// for up to 5 s) or activatable.
QString secretServiceProblem();

} // namespace Tessera::Test

// Skips the calling test function when `problem` (why this process cannot use the Secret
// Service) is not empty. That happens only outside scripts/with-keyring.sh: in CI these
// tests run.
#define TESSERA_REQUIRE_SECRET_SERVICE(problem) \
    do { \
        if (!(problem).isEmpty()) \
            QSKIP(qPrintable(QStringLiteral("no Secret Service here (%1); run the tests " \
                                            "through scripts/with-keyring.sh") \
                                     .arg(problem))); \
    } while (false)
