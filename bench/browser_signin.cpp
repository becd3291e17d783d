// SPDX-License-Identifier: MIT
// bench_browser_signin --issuer URL --client-id ID --browser BROWSER_PY [--python PATH]
//                      [--login NAME] [--runs 10] [--refresh-rounds 20]
//                      [--simplejwt-server URL --simplejwt-user NAME]
// The password is read from the first line of stdin (for the scripted browser's login form
// and for the SimpleJWT session); browser.py gets it in its environment (--password-env), never
// in argv, which every user can read in ps.
//
// The SDK's browser sign-in (Session::signInWithBrowser() to SignedIn), without the person in
// the browser. The opener is tests/interop/oidc/browser.py (the scripted person of the OAuth
// tests), started as a process on browserSignInRequested(); its time is not measured by
// subtraction: the SDK-side intervals are taken directly, on one monotonic clock:
//   before   signInWithBrowser() -> browserSignInRequested()  (discovery, PKCE, loopback listener)
//   after    loopback redirect accepted -> state SignedIn    (code exchange at the token endpoint,
//            ID token check incl. the JWKS fetch, storing the refresh token)
// "Loopback redirect accepted" is the moment the SDK logs "authorization code received"
// (category tessera.oauth.redirect, enabled here and timestamped by a message handler; the
// message carries no code). Each run uses a new Session (storage MemoryOnly), so discovery and
// JWKS are fetched every time, as in a first sign-in.
//
// Then the refresh round trip: the access token is forgotten (SessionPrivate's test hook) and
// freshAccessToken() timed, alternately for the OAuth session and, with --simplejwt-server, a
// SimpleJWT session of the same server.
#include "benchcommon.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QJsonArray>
#include <QtCore/QLoggingCategory>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>

#include <memory>

using namespace Bench;

namespace {

qint64 g_codeReceivedNs = 0;
QtMessageHandler g_previousHandler = nullptr;

void timestampingHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (context.category && qstrcmp(context.category, "tessera.oauth.redirect") == 0
        && message.contains(QLatin1String("authorization code received"))) {
        g_codeReceivedNs = nowNs();
        return;
    }
    if (type != QtDebugMsg && g_previousHandler)
        g_previousHandler(type, context, message);
}

double ms(qint64 fromNs, qint64 toNs)
{
    return double(toNs - fromNs) / 1e6;
}

QJsonObject summary(const std::vector<double> &values)
{
    QJsonArray all;
    for (double v : values)
        all.append(v);
    return {{QStringLiteral("median"), median(values)},
            {QStringLiteral("p95"), percentile(values, 95)},
            {QStringLiteral("runs"), all}};
}

struct SignInTimes
{
    double beforeMs = 0, afterMs = 0, browserMs = 0, wallMs = 0;
};

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("bench_browser_signin"));
    const Args args(QCoreApplication::arguments());
    const QUrl issuer(args.str(QStringLiteral("issuer")));
    const QString clientId = args.str(QStringLiteral("client-id"));
    const QString browser = args.str(QStringLiteral("browser"));
    const QString python = args.str(QStringLiteral("python"), QStringLiteral("/usr/bin/python3"));
    const QString login = args.str(QStringLiteral("login"), QStringLiteral("alice"));
    const int runs = args.num(QStringLiteral("runs"), 10);
    const int refreshRounds = args.num(QStringLiteral("refresh-rounds"), 20);
    const QUrl simpleServer(args.str(QStringLiteral("simplejwt-server")));
    const QString simpleUser = args.str(QStringLiteral("simplejwt-user"));
    if (!issuer.isValid() || clientId.isEmpty() || browser.isEmpty() || runs < 1)
        die(QStringLiteral("usage: --issuer URL --client-id ID --browser BROWSER_PY (password on "
                           "stdin)"));
    const QString password = readStdinLine();

    QLoggingCategory::setFilterRules(QStringLiteral("tessera.oauth.redirect.info=true"));
    g_previousHandler = qInstallMessageHandler(timestampingHandler);

    auto makeConfig = [&] {
        Tessera::SessionConfig config;
        config.setAppId(QStringLiteral("org.tessera.bench.browser"));
        config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
        config.setIssuer(issuer);
        config.setClientId(clientId);
        return config;
    };

    std::vector<double> before, after, sdkTotal, browserMs, wall;
    std::unique_ptr<Tessera::Session> oauth;
    for (int run = 0; run < runs; ++run) {
        auto session = std::make_unique<Tessera::Session>(makeConfig());
        QProcess opener;
        opener.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        QProcessEnvironment openerEnvironment = QProcessEnvironment::systemEnvironment();
        openerEnvironment.insert(QStringLiteral("TESSERA_BROWSER_PASSWORD"), password);
        opener.setProcessEnvironment(openerEnvironment);
        qint64 requestedNs = 0, signedInNs = 0;
        g_codeReceivedNs = 0;
        QObject::connect(session.get(), &Tessera::Session::browserSignInRequested, &opener,
                         [&](const QUrl &url) {
                             requestedNs = nowNs();
                             // Not waited for: the loopback listener answers while it runs.
                             opener.start(python,
                                          {browser, QStringLiteral("--login"), login,
                                           QStringLiteral("--password-env"),
                                           QStringLiteral("TESSERA_BROWSER_PASSWORD"),
                                           QString::fromLatin1(url.toEncoded())});
                         });
        const QMetaObject::Connection stateWatch =
                QObject::connect(session.get(), &Tessera::Session::stateChanged, session.get(),
                                 [&](Tessera::Session::State state) {
                                     if (state == Tessera::Session::State::SignedIn && !signedInNs)
                                         signedInNs = nowNs();
                                 });
        // A browser that gives up (a page it cannot pass, a wrong password) ends the run at
        // once instead of at the SDK's browser timeout.
        bool openerFailed = false;
        QObject::connect(&opener, &QProcess::finished, session.get(),
                         [&](int exitCode, QProcess::ExitStatus status) {
                             if (exitCode != 0 || status != QProcess::NormalExit) {
                                 openerFailed = true;
                                 session->cancelSignIn();
                             }
                         });
        QObject::connect(&opener, &QProcess::errorOccurred, session.get(),
                         [&](QProcess::ProcessError error) {
                             if (error == QProcess::FailedToStart) {
                                 openerFailed = true;
                                 session->cancelSignIn();
                             }
                         });
        const qint64 startNs = nowNs();
        const Tessera::Error error = runOperation(session->signInWithBrowser(), 120000);
        if (openerFailed)
            die(QStringLiteral("the scripted browser failed (see its messages above)"));
        if (error.isError() || !requestedNs || !g_codeReceivedNs || !signedInNs)
            die(QStringLiteral("browser sign-in failed: ") + error.message());
        QObject::disconnect(stateWatch);
        opener.waitForFinished(30000);
        before.push_back(ms(startNs, requestedNs));
        after.push_back(ms(g_codeReceivedNs, signedInNs));
        sdkTotal.push_back(before.back() + after.back());
        browserMs.push_back(ms(requestedNs, g_codeReceivedNs));
        wall.push_back(ms(startNs, signedInNs));
        oauth = std::move(session);
    }

    // Refresh round trips, alternating the two sessions so both see the same machine.
    std::unique_ptr<Tessera::Session> simple;
    if (simpleServer.isValid() && !simpleUser.isEmpty()) {
        Tessera::SessionConfig config(simpleServer, QStringLiteral("org.tessera.bench.simplejwt"));
        config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
        simple = std::make_unique<Tessera::Session>(config);
        const Tessera::Error error = runOperation(simple->login(simpleUser, password));
        if (error.isError())
            die(QStringLiteral("SimpleJWT login failed: ") + error.message());
    }
    auto timedRefresh = [](Tessera::Session &session) {
        Tessera::SessionPrivate::get(&session)->expireAccessTokenForTesting();
        const int count = refreshCount(session);
        // Timed to the future's finished signal (freshToken() in benchcommon.h polls every 5 ms,
        // too coarse for a loopback round trip).
        QEventLoop loop;
        QFutureWatcher<Tessera::Secret> watcher;
        qint64 doneNs = 0;
        QObject::connect(&watcher, &QFutureWatcher<Tessera::Secret>::finished, &loop, [&] {
            doneNs = nowNs();
            loop.quit();
        });
        QTimer::singleShot(30000, &loop, &QEventLoop::quit);
        const qint64 t0 = nowNs();
        QFuture<Tessera::Secret> future = session.freshAccessToken();
        watcher.setFuture(future);
        if (!future.isFinished())
            loop.exec();
        if (!doneNs)
            doneNs = nowNs();
        const double elapsed = ms(t0, doneNs);
        if (!future.isFinished() || Tessera::errorOf(future) || refreshCount(session) != count + 1)
            die(QStringLiteral("a forced refresh did not refresh"));
        return elapsed;
    };
    // One unmeasured refresh each: connections open, code paths warm.
    timedRefresh(*oauth);
    if (simple)
        timedRefresh(*simple);
    std::vector<double> oauthRefresh, simpleRefresh;
    for (int round = 0; round < refreshRounds; ++round) {
        const bool oauthFirst = round % 2 == 0;
        if (oauthFirst)
            oauthRefresh.push_back(timedRefresh(*oauth));
        if (simple)
            simpleRefresh.push_back(timedRefresh(*simple));
        if (!oauthFirst)
            oauthRefresh.push_back(timedRefresh(*oauth));
    }

    QJsonObject result{
            {QStringLiteral("runs"), runs},
            {QStringLiteral("refresh_rounds"), refreshRounds},
            {QStringLiteral("before_ms"), summary(before)},
            {QStringLiteral("after_ms"), summary(after)},
            {QStringLiteral("sdk_ms"), summary(sdkTotal)},
            {QStringLiteral("browser_ms"), summary(browserMs)},
            {QStringLiteral("wall_ms"), summary(wall)},
            {QStringLiteral("oauth_refresh_ms"), summary(oauthRefresh)},
    };
    if (simple)
        result.insert(QStringLiteral("simplejwt_refresh_ms"), summary(simpleRefresh));
    printJson(result);
    return 0;
}
