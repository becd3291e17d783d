// SPDX-License-Identifier: MIT
// A separate process that uses the SDK the way an app does, for tests that
// need fresh processes, two processes at once, or a process killed with SIGKILL.
//
//   tessera-sdk-probe COMMAND --server URL --app-id ID [options]
//   login     sign in; the password is read from stdin
//   restore   sign in from secure storage alone
//   get       restore, then an authenticated GET of --path
//   refresh   restore, wait until --at (ms since the epoch), then refresh
//   logout    restore, then logout
//   options:  --user NAME  --path PATH  --at MS  --memory-only  --hold (stay alive after)
//
// Prints one line per event: "state NAME", "result ok|error CODE transient|fatal",
// "http STATUS BODY". Never prints a token.
#include "session_p.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QMetaEnum>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkReply>

#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

using namespace Tessera;

namespace {

void say(const QString &line)
{
    std::fputs(line.toUtf8().constData(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

QString name(Error::Code code)
{
    return QString::fromLatin1(QMetaEnum::fromType<Error::Code>().valueToKey(int(code)));
}

void sayResult(const Error &error)
{
    if (!error.isError())
        say(QStringLiteral("result ok"));
    else
        say(QStringLiteral("result error %1 %2")
                    .arg(name(error.code()),
                         error.isTransient() ? QStringLiteral("transient")
                                             : QStringLiteral("fatal")));
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addPositionalArgument(QStringLiteral("command"), QStringLiteral("what to do"));
    const QCommandLineOption serverOption(QStringLiteral("server"), QString(),
                                          QStringLiteral("URL"));
    const QCommandLineOption appOption(QStringLiteral("app-id"), QString(), QStringLiteral("ID"));
    const QCommandLineOption userOption(QStringLiteral("user"), QString(), QStringLiteral("NAME"));
    const QCommandLineOption pathOption(QStringLiteral("path"), QString(), QStringLiteral("PATH"),
                                        QStringLiteral("/api/me/"));
    const QCommandLineOption atOption(QStringLiteral("at"), QString(), QStringLiteral("MS"));
    const QCommandLineOption memoryOption(QStringLiteral("memory-only"));
    const QCommandLineOption holdOption(QStringLiteral("hold"));
    const QCommandLineOption refreshPathOption(QStringLiteral("refresh-path"), QString(),
                                               QStringLiteral("PATH"));
    parser.addOptions({serverOption, appOption, userOption, pathOption, atOption, memoryOption,
                       holdOption, refreshPathOption});
    parser.process(app);
    const QString command = parser.positionalArguments().value(0);

    SessionConfig config(QUrl(parser.value(serverOption)), parser.value(appOption));
    if (parser.isSet(memoryOption))
        config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    if (parser.isSet(refreshPathOption))
        config.setRefreshPath(parser.value(refreshPathOption));
    Session session(config);
    AuthenticatedNetworkAccessManager network(&session);
    const bool hold = parser.isSet(holdOption);
    auto done = [hold](int code) {
        if (!hold)
            QCoreApplication::exit(code);
    };

    QObject::connect(&session, &Session::stateChanged, [](Session::State state) {
        say(QStringLiteral("state %1")
                    .arg(QString::fromLatin1(
                            QMetaEnum::fromType<Session::State>().valueToKey(int(state)))));
    });
    QObject::connect(&session, &Session::errorOccurred, [](const Error &error) {
        say(QStringLiteral("error %1").arg(name(error.code())));
    });

    // Each operation prints its result line, then goes on (`next`) or exits.
    std::function<void()> afterRestore;
    auto report = [&](QFuture<void> future, std::function<void()> next) {
        future.then(&session, [next, done] {
                  sayResult({});
                  if (next)
                      next();
                  else
                      done(0);
              }).onFailed(&session, [done](const ErrorException &failure) {
            sayResult(failure.error());
            done(1);
        });
    };

    afterRestore = [&]() {
        if (command == u"restore") {
            return done(session.state() == Session::State::SignedIn ? 0 : 1);
        }
        if (command == u"get") {
            QNetworkReply *reply =
                    network.get(QNetworkRequest(config.endpoint(parser.value(pathOption))));
            QObject::connect(reply, &QNetworkReply::finished, [reply, done] {
                const int status =
                        reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
                say(QStringLiteral("http %1 %2")
                            .arg(status)
                            .arg(QString::fromUtf8(reply->readAll())));
                reply->deleteLater();
                done(status == 200 ? 0 : 1);
            });
            return;
        }
        if (command == u"refresh") {
            const qint64 at = parser.value(atOption).toLongLong();
            const qint64 wait = qMax<qint64>(0, at - QDateTime::currentMSecsSinceEpoch());
            QTimer::singleShot(int(wait), &session, [&session, done] {
                say(QStringLiteral("refreshing"));
                SessionPrivate::get(&session)->expireAccessTokenForTesting();
                session.freshAccessToken().then(&session, [done](const QFuture<Secret> &future) {
                    const Error error = errorOf(future);
                    sayResult(error);
                    done(error.isError() ? 1 : 0);
                });
            });
            return;
        }
        if (command == u"logout")
            return report(session.logout(), {});
    };

    if (command == u"login") {
        std::string password;
        std::getline(std::cin, password);
        report(session.login(parser.value(userOption), QString::fromStdString(password)), {});
    } else if (command == u"restore" || command == u"get" || command == u"refresh"
               || command == u"logout") {
        report(session.restore(parser.value(userOption)), afterRestore);
    } else {
        say(QStringLiteral("unknown command"));
        return 2;
    }
    return app.exec();
}
