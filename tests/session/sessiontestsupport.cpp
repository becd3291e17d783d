// SPDX-License-Identifier: MIT
#include "sessiontestsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QDirIterator>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtCore/QTimer>
#include <QtDBus/QDBusConnection>
#include <QtDBus/QDBusConnectionInterface>
#include <QtDBus/QDBusReply>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QTest>

#ifndef TESSERA_SDK_PROBE_PATH
#define TESSERA_SDK_PROBE_PATH ""
#endif

namespace Tessera::SessionTest {

using Platform::StoreResult;

namespace {

// The server writes its log line before it answers; reading the pipe needs the event loop.
void pumpEvents()
{
    QCoreApplication::processEvents();
    QTest::qWait(30);
}

} // namespace

// --- Peer ---------------------------------------------------------------------

Peer::Peer(ServerKind kind, PeerOptions options)
    : m_kind(kind)
    , m_options(std::move(options))
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    if (!m_options.fakeTime.isEmpty()) {
        environment.insert(QStringLiteral("LD_PRELOAD"), libFakeTimePath());
        environment.insert(QStringLiteral("FAKETIME"), m_options.fakeTime);
        // Only the wall clock is off, as on a server with a wrong clock.
        environment.insert(QStringLiteral("FAKETIME_DONT_FAKE_MONOTONIC"), QStringLiteral("1"));
    }
    if (kind == ServerKind::Tessera) {
        QStringList args{QStringLiteral("--access-ttl"), QString::number(m_options.accessTtl)};
        if (m_options.reuseGrace >= 0)
            args << QStringLiteral("--reuse-grace") << QString::number(m_options.reuseGrace);
        args += m_options.extraArgs;
        m_tessera = std::make_unique<Test::ServerProcess>(args);
        // The debug line "refresh rotated in family" is the server-side refresh counter.
        environment.insert(QStringLiteral("QT_LOGGING_RULES"),
                           QStringLiteral("tessera.server.auth.debug=true"));
        m_tessera->setEnvironment(environment);
    } else {
        m_django = std::make_unique<Test::DjangoPeer>();
        m_django->setAccessTtl(m_options.accessTtl);
        environment.remove(QStringLiteral("PYTHONPATH"));
        environment.remove(QStringLiteral("PYTHONHOME"));
        m_django->setEnvironment(environment);
    }
}

Peer::~Peer() = default;

QString Peer::libFakeTimePath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_LIBFAKETIME");
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;
    for (const char *candidate : {"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                  "/usr/lib/faketime/libfaketime.so.1"}) {
        if (QFileInfo::exists(QString::fromLatin1(candidate)))
            return QString::fromLatin1(candidate);
    }
    return {};
}

bool Peer::start()
{
    if (!m_options.fakeTime.isEmpty() && libFakeTimePath().isEmpty()) {
        m_error = QStringLiteral("libfaketime is not installed (Debian package libfaketime)");
        return false;
    }
    if (m_tessera) {
        if (!m_tessera->databasePath().isEmpty() && !QFileInfo::exists(m_tessera->databasePath())
            && !m_tessera->addUser(Test::TestUser, Test::TestPassword.toUtf8())) {
            m_error = m_tessera->errorString();
            return false;
        }
        if (!m_tessera->start()) {
            m_error = m_tessera->errorString();
            return false;
        }
        return true;
    }
    if (!m_django->start(Test::TestUser, Test::TestPassword.toUtf8())) {
        m_error = m_django->errorString();
        return false;
    }
    return true;
}

Test::ListeningProcess &Peer::process()
{
    if (m_tessera)
        return *m_tessera;
    return *m_django;
}

const Test::ListeningProcess &Peer::process() const
{
    if (m_tessera)
        return *m_tessera;
    return *m_django;
}

bool Peer::stop()
{
    return process().stop();
}

void Peer::kill()
{
    process().kill();
}

bool Peer::isRunning() const
{
    return process().isRunning();
}

QUrl Peer::baseUrl() const
{
    return process().baseUrl();
}

QByteArray Peer::log()
{
    pumpEvents();
    return process().serverStderr();
}

int Peer::rotations()
{
    pumpEvents();
    if (m_django)
        return m_django->blacklistedCount();
    return int(m_tessera->serverStderr().count("refresh rotated in family"));
}

int Peer::graceReissues()
{
    pumpEvents();
    if (m_django)
        return 0;
    return int(m_tessera->serverStderr().count("current token returned again"));
}

int Peer::reuseDetections()
{
    pumpEvents();
    if (m_django)
        return 0;
    return int(m_tessera->serverStderr().count("refresh token reuse detected"));
}

void addServerRows()
{
    QTest::addColumn<ServerKind>("server");
    QTest::newRow("tessera") << ServerKind::Tessera;
    QTest::newRow("django") << ServerKind::Django;
}

// --- TestStore ----------------------------------------------------------------

TestStore::TestStore() = default;

TestStore::~TestStore()
{
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
        secureWipe(it.value());
}

void TestStore::read(const QString &key, Completion done)
{
    m_events << QStringLiteral("read ") + key;
    StoreResult result;
    if (m_entries.contains(key)) {
        result.status = Status::Ok;
        result.data = Secret(m_entries.value(key));
    } else {
        result.status = Status::NotFound;
        result.message = QStringLiteral("no entry");
    }
    QTimer::singleShot(0, this, [done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
    });
}

void TestStore::write(const QString &key, const Secret &secret, Completion done)
{
    m_events << QStringLiteral("write ") + key;
    emit writeRequested(key);
    Held held{key, secret.reveal().toByteArray(), std::move(done)};
    if (m_holdWrites) {
        m_held.append(std::move(held));
        return;
    }
    QTimer::singleShot(
            0, this, [this, held = std::move(held)]() mutable { completeWrite(std::move(held)); });
}

void TestStore::completeWrite(Held held)
{
    StoreResult result;
    result.status = m_writeStatus;
    if (m_writeStatus == Status::Ok)
        m_entries.insert(held.key, held.secret);
    else
        result.message = QStringLiteral("write refused by the test");
    m_events << QStringLiteral("write-done %1 %2").arg(held.key).arg(int(result.status));
    held.done(std::move(result));
}

void TestStore::releaseWrites()
{
    auto held = std::move(m_held);
    m_held.clear();
    for (Held &one : held)
        completeWrite(std::move(one));
}

void TestStore::remove(const QString &key, Completion done)
{
    m_events << QStringLiteral("remove ") + key;
    StoreResult result;
    result.status = m_entries.remove(key) ? Status::Ok : Status::NotFound;
    QTimer::singleShot(0, this, [done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
    });
}

// --- TestClient -------------------------------------------------------------

TestClient::TestClient(const QUrl &url, std::chrono::milliseconds requestTimeout)
    : config(makeConfig(url, QCoreApplication::applicationName()))
    , store(new TestStore)
{
    config.setRequestTimeout(requestTimeout);
    session = std::make_unique<Session>(config);
    SessionPrivate::get(session.get())->setStoreForTesting(std::unique_ptr<TestStore>(store));
    QObject::connect(session.get(), &Session::errorOccurred, session.get(),
                     [this](const Error &error) {
                         errors.append(error);
                         errorTimes.append(QDateTime::currentMSecsSinceEpoch());
                     });
    QObject::connect(session.get(), &Session::stateChanged, session.get(),
                     [this](Session::State state) { states.append(state); });
}

// --- Session helpers ----------------------------------------------------------

QString uniqueAppId(const QString &appName)
{
    return QStringLiteral("org.tessera.test.%1.%2")
            .arg(appName)
            .arg(QRandomGenerator::global()->generate64(), 0, 36);
}

SessionConfig makeConfig(const QUrl &url, const QString &appName)
{
    SessionConfig config(url, uniqueAppId(appName));
    config.setRequestTimeout(std::chrono::milliseconds(10000));
    return config;
}

Error waitFor(QFuture<void> future, int timeoutMs)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, timeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("timed out")};
    return errorOf(future);
}

Error login(Session &session, const QString &user, const QString &password)
{
    return waitFor(session.login(user, password));
}

Error restore(Session &session, const QString &user)
{
    return waitFor(session.restore(user));
}

Error logout(Session &session)
{
    return waitFor(session.logout());
}

std::optional<QByteArray> freshToken(Session &session, int timeoutMs, Error *error)
{
    QFuture<Secret> future = session.freshAccessToken();
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, timeoutMs)) {
        if (error)
            *error = {Error::Code::Cancelled, QStringLiteral("timed out")};
        return std::nullopt;
    }
    if (const Error failure = errorOf(future)) {
        if (error)
            *error = failure;
        return std::nullopt;
    }
    return future.takeResult().reveal().toByteArray();
}

int refreshCount(Session &session)
{
    return SessionPrivate::get(&session)->refreshCount();
}

int getStatus(AuthenticatedNetworkAccessManager &network, const QUrl &url, int timeoutMs)
{
    std::unique_ptr<QNetworkReply> reply(network.get(QNetworkRequest(url)));
    if (!QTest::qWaitFor([&reply] { return reply->isFinished(); }, timeoutMs))
        return -1;
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

namespace {

StoreResult waitStore(const std::function<void(Platform::SecureStore::Completion)> &start)
{
    std::optional<StoreResult> result;
    start([&result](StoreResult r) { result = std::move(r); });
    if (!QTest::qWaitFor([&] { return result.has_value(); }, 20000)) {
        StoreResult timeout;
        timeout.message = QStringLiteral("store operation timed out");
        return timeout;
    }
    return std::move(*result);
}

} // namespace

StoreResult storeRead(Platform::SecureStore *store, const QString &key)
{
    return waitStore(
            [&](Platform::SecureStore::Completion done) { store->read(key, std::move(done)); });
}

StoreResult storeWrite(Platform::SecureStore *store, const QString &key, const QByteArray &value)
{
    return waitStore([&](Platform::SecureStore::Completion done) {
        store->write(key, Secret(value), std::move(done));
    });
}

StoreResult storedRefreshToken(Session &session, const QString &user)
{
    SessionPrivate *d = SessionPrivate::get(&session);
    return storeRead(d->store(), session.config().storageKey(user));
}

// --- the probe ----------------------------------------------------------------

QString probePath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_SDK_PROBE");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_SDK_PROBE_PATH)
                                     : fromEnvironment;
}

QString ProbeRun::result() const
{
    for (const QString &line : lines) {
        if (line.startsWith(QLatin1String("result ")))
            return line;
    }
    return {};
}

bool ProbeRun::hasLineStartingWith(const QString &prefix) const
{
    for (const QString &line : lines) {
        if (line.startsWith(prefix))
            return true;
    }
    return false;
}

QString ProbeRun::describe() const
{
    return QStringLiteral("probe exit %1%2; stdout: [%3]; stderr: %4")
            .arg(exitCode)
            .arg(finished ? QString() : QStringLiteral(" (did not finish)"))
            .arg(lines.join(QStringLiteral(" | ")), stdErr.right(3000));
}

QStringList probeArguments(const QString &command, const QUrl &server, const QString &appId,
                           const QStringList &extra)
{
    return QStringList{command,
                       QStringLiteral("--server"),
                       server.toString(),
                       QStringLiteral("--app-id"),
                       appId,
                       QStringLiteral("--user"),
                       Test::TestUser}
    + extra;
}

std::unique_ptr<QProcess> startProbe(const QStringList &arguments,
                                     const QProcessEnvironment &environment)
{
    auto process = std::make_unique<QProcess>();
    QProcessEnvironment env = environment;
    // What the probe logs is not under test here; keep its stderr to warnings.
    env.remove(QStringLiteral("QT_LOGGING_RULES"));
    process->setProcessEnvironment(env);
    process->start(probePath(), arguments);
    return process;
}

ProbeRun collect(QProcess &process, int timeoutMs)
{
    ProbeRun run;
    // Spin the event loop while waiting (not waitForFinished()): an in-process proxy or
    // fake server between the probe and the real server must keep working meanwhile.
    run.finished = process.state() == QProcess::NotRunning
            || QTest::qWaitFor([&] { return process.state() == QProcess::NotRunning; }, timeoutMs);
    if (!run.finished) {
        process.kill();
        process.waitForFinished(5000);
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    const QString out = QString::fromUtf8(process.readAllStandardOutput());
    for (const QString &line : out.split(QLatin1Char('\n'))) {
        if (!line.trimmed().isEmpty())
            run.lines << line.trimmed();
    }
    run.stdErr = QString::fromUtf8(process.readAllStandardError());
    return run;
}

ProbeRun runProbe(const QStringList &arguments, const QByteArray &stdinData,
                  const QProcessEnvironment &environment, int timeoutMs)
{
    auto process = startProbe(arguments, environment);
    if (!process->waitForStarted(10000)) {
        ProbeRun run;
        run.stdErr = QStringLiteral("cannot start %1: %2").arg(probePath(), process->errorString());
        return run;
    }
    if (!stdinData.isEmpty())
        process->write(stdinData);
    process->closeWriteChannel();
    return collect(*process, timeoutMs);
}

// --- Secret Service and files -------------------------------------------------

QList<SecretItem> secretToolSearch(const QStringList &attributes, QString *raw)
{
    // secret-tool prints an item's header and secret on stdout and its attributes on
    // stderr; unbuffered and merged, each item's lines stay together.
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(QStringLiteral("stdbuf"),
                  QStringList{QStringLiteral("-o0"), QStringLiteral("-e0"),
                              QStringLiteral("secret-tool"), QStringLiteral("search"),
                              QStringLiteral("--all")}
                          + attributes);
    process.waitForFinished(15000);
    const QString out = QString::fromUtf8(process.readAll());
    if (raw)
        *raw = out;
    QList<SecretItem> items;
    for (const QString &line : out.split(QLatin1Char('\n'))) {
        if (line.startsWith(QLatin1Char('['))) {
            items.append(SecretItem());
            continue;
        }
        const qsizetype eq = line.indexOf(QStringLiteral(" = "));
        if (eq <= 0 || items.isEmpty())
            continue;
        const QString name = line.left(eq).trimmed();
        const QString value = line.mid(eq + 3);
        if (name == QLatin1String("secret"))
            items.last().rawSecret = value;
        else if (name.startsWith(QLatin1String("attribute.")))
            items.last().attributes.insert(name.mid(10), value);
    }
    for (SecretItem &item : items) {
        item.secret = item.attributes.value(QStringLiteral("type")) == QLatin1String("base64")
                ? QByteArray::fromBase64(item.rawSecret.toLatin1())
                : item.rawSecret.toUtf8();
    }
    return items;
}

QList<SecretItem> keychainItems(const QString &appId, QString *raw)
{
    return secretToolSearch({QStringLiteral("server"), QStringLiteral("tessera:") + appId}, raw);
}

QByteArray keychainRefreshToken(const SessionConfig &config)
{
    for (const SecretItem &item : keychainItems(config.appId())) {
        if (item.attributes.value(QStringLiteral("user")) == config.storageKey(Test::TestUser))
            return item.secret;
    }
    return {};
}

QStringList filesContaining(const QString &dir, const QList<QByteArray> &needles)
{
    QStringList hits;
    QDirIterator it(dir, QDir::Files | QDir::Hidden | QDir::System, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            continue; // sockets, pipes, files of others
        const QByteArray bytes = file.readAll();
        for (qsizetype i = 0; i < needles.size(); ++i) {
            if (!needles.at(i).isEmpty() && bytes.contains(needles.at(i)))
                hits << QStringLiteral("%1: needle#%2")
                                .arg(QDir(dir).relativeFilePath(path))
                                .arg(i);
        }
    }
    return hits;
}

} // namespace Tessera::SessionTest
