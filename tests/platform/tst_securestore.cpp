// SPDX-License-Identifier: MIT
// Secure storage (platform/): the memory store; the QtKeychain store against the real
// gnome-keyring of scripts/with-keyring.sh, checked with secret-tool; and, in child processes
// with D-Bus sessions of their own, no bus / no Secret Service (Unavailable) and a locked or
// missing keyring collection (Locked).
//
// Child processes re-run this binary in helper mode (TESSERA_TST_SECURESTORE_HELPER=1):
//   tst_securestore LABEL OP SERVICE KEY [SECRET]
// OP is read, write or remove through createKeychainStore(), or raw-read, raw-write,
// raw-remove straight through QtKeychain (to record the texts QtKeychain itself reports).
// It prints one tab-separated line:
//   RESULT LABEL STATUS MILLISECONDS BASE64(DATA) MESSAGE
//   RAW    LABEL QKEYCHAIN-ERROR CLASSIFIED-STATUS MILLISECONDS TEXT
#include "keychain/keychainerrors_p.h"
#include "keychain/keychainprobe_p.h"
#include "securestore_p.h"
#include "storeutil_p.h"

#include "keyringtest.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDirIterator>
#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtCore/QUuid>
#include <QtTest/QTest>

#include <qt6keychain/keychain.h>

#include <cstdio>
#include <memory>
#include <optional>

using namespace Tessera::Platform;
using Tessera::Secret;
using Status = StoreResult::Status;
using Tessera::Test::bareSessionBusArguments;
using Tessera::Test::entriesBelow;
using Tessera::Test::isolatedEnvironment;

namespace {

const char HelperEnv[] = "TESSERA_TST_SECURESTORE_HELPER";
const QString KeyringPassword = QStringLiteral("tessera-test-only");

// --- waiting for one completion --------------------------------------------------------------

struct Completed
{
    int calls = 0;
    bool synchronous = false; // the completion ran before the call returned
    StoreResult result;
};

using Starter = std::function<void(SecureStore::Completion)>;

// Starts one call and returns its record; the completion only touches shared state, so a
// late call after a timeout cannot write to a dead stack frame.
std::shared_ptr<Completed> start(const Starter &starter)
{
    auto completed = std::make_shared<Completed>();
    auto inCall = std::make_shared<bool>(true);
    starter([completed, inCall](StoreResult result) {
        if (*inCall)
            completed->synchronous = true;
        ++completed->calls;
        completed->result = std::move(result);
    });
    *inCall = false;
    return completed;
}

std::shared_ptr<Completed> await(const Starter &starter, int timeoutMs = 20000)
{
    auto completed = start(starter);
    (void)QTest::qWaitFor([&] { return completed->calls > 0; }, timeoutMs);
    return completed;
}

std::shared_ptr<Completed> readKey(SecureStore &store, const QString &key)
{
    return await([&](SecureStore::Completion done) { store.read(key, std::move(done)); });
}

std::shared_ptr<Completed> writeKey(SecureStore &store, const QString &key,
                                    const QByteArray &secret)
{
    return await([&](SecureStore::Completion done) {
        store.write(key, Secret(secret), std::move(done));
    });
}

std::shared_ptr<Completed> removeKey(SecureStore &store, const QString &key)
{
    return await([&](SecureStore::Completion done) { store.remove(key, std::move(done)); });
}

// Compares a completion with an expected status; names, not numbers, in failure output.
// `completed` is evaluated once.
#define COMPARE_RESULT(completed, expected) \
    do { \
        const std::shared_ptr<Completed> c_ = (completed); \
        const Status e_ = (expected); \
        QCOMPARE(c_->calls, 1); \
        QVERIFY2(!c_->synchronous, "completion ran synchronously"); \
        QVERIFY2(c_->result.status == e_, \
                 qPrintable(QStringLiteral("status %1 (%2), expected %3") \
                                    .arg(statusName(c_->result.status), c_->result.message, \
                                         statusName(e_)))); \
    } while (false)

QByteArray bytesOfSize(qsizetype size, char seed)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        bytes[i] = char(seed + i * 7);
    return bytes;
}

// --- the Secret Service and secret-tool -------------------------------------------------------

// Why this process cannot reach a Secret Service; empty when it can.
QString secretServiceProblem()
{
    QObject context;
    std::optional<QString> problem; // empty when the probe found nothing wrong
    Detail::probeKeychain(Detail::KeychainOperation::Write, QStringLiteral("tessera-probe"),
                          QStringLiteral("probe"), &context,
                          [&](const Detail::ProbeResult &result) {
                              problem = result.result ? result.result->message : QString();
                          });
    if (!QTest::qWaitFor([&] { return problem.has_value(); }, 15000))
        return QStringLiteral("the availability probe did not answer");
    return *problem;
}

struct SecretToolItems
{
    int count = 0;
    QHash<QString, QString> fields; // "secret", "schema", "attribute.user", ... of the last item
    QString raw;
};

// `secret-tool search --all` for these attributes. secret-tool prints item headers, labels and
// secrets on stdout and the attributes on stderr.
SecretToolItems secretToolSearch(const QStringList &attributes)
{
    QProcess process;
    process.start(QStringLiteral("secret-tool"),
                  QStringList{QStringLiteral("search"), QStringLiteral("--all")} + attributes);
    process.waitForFinished(15000);
    SecretToolItems items;
    const QString out = QString::fromUtf8(process.readAllStandardOutput());
    const QString err = QString::fromUtf8(process.readAllStandardError());
    items.raw = out + err;
    for (const QString &line : (out + QLatin1Char('\n') + err).split(QLatin1Char('\n'))) {
        if (line.startsWith(QLatin1Char('['))) {
            ++items.count;
            continue;
        }
        const qsizetype eq = line.indexOf(QStringLiteral(" = "));
        if (eq > 0)
            items.fields.insert(line.left(eq).trimmed(), line.mid(eq + 3));
    }
    return items;
}

// --- child processes --------------------------------------------------------------------------

struct HelperLine
{
    QString status; // a statusName()
    qint64 ms = -1;
    QByteArray data;
    QString message;
    int keychainError = -1; // RAW lines only
};

struct ChildRun
{
    int exitCode = -1;
    bool finished = false;
    qint64 wallMs = 0;
    QHash<QString, HelperLine> results; // by label
    QHash<QString, HelperLine> raw;     // by label
    QString stdOut;
    QString stdErr;
};

ChildRun runChild(const QString &program, const QStringList &arguments,
                  const QProcessEnvironment &env, int timeoutMs = 90000)
{
    ChildRun run;
    QProcess process;
    process.setProcessEnvironment(env);
    QElapsedTimer timer;
    timer.start();
    process.start(program, arguments);
    run.finished = process.waitForFinished(timeoutMs);
    if (!run.finished) {
        process.kill();
        process.waitForFinished(5000);
    }
    run.wallMs = timer.elapsed();
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.stdOut = QString::fromUtf8(process.readAllStandardOutput());
    run.stdErr = QString::fromUtf8(process.readAllStandardError());
    for (const QString &line : run.stdOut.split(QLatin1Char('\n'))) {
        const QStringList f = line.split(QLatin1Char('\t'));
        if (f.value(0) == QLatin1String("RESULT") && f.size() >= 6) {
            HelperLine h;
            h.status = f.at(2);
            h.ms = f.at(3).toLongLong();
            h.data = QByteArray::fromBase64(f.at(4).toLatin1());
            h.message = f.mid(5).join(QLatin1Char('\t'));
            run.results.insert(f.at(1), h);
        } else if (f.value(0) == QLatin1String("RAW") && f.size() >= 6) {
            HelperLine h;
            h.keychainError = f.at(2).toInt();
            h.status = f.at(3);
            h.ms = f.at(4).toLongLong();
            h.message = f.mid(5).join(QLatin1Char('\t'));
            run.raw.insert(f.at(1), h);
        }
    }
    return run;
}

// A child environment (isolatedEnvironment()) that runs this binary in helper mode.
QProcessEnvironment childEnvironment(const QString &home, const QString &runtimeDir)
{
    QProcessEnvironment env = isolatedEnvironment(home, runtimeDir);
    env.insert(QString::fromLatin1(HelperEnv), QStringLiteral("1"));
    return env;
}

// `script` run by bash on a session bus of its own (dbus-run-session).
ChildRun runOnOwnBus(const QString &script, const QProcessEnvironment &env)
{
    return runChild(QStringLiteral("dbus-run-session"),
                    {QStringLiteral("--"), QStringLiteral("bash"), QStringLiteral("-c"), script},
                    env);
}

// Every file (not directory) below dir, relative to it.
QStringList filesBelow(const QString &dir)
{
    QStringList files;
    QDirIterator it(dir, QDir::Files | QDir::Hidden | QDir::System, QDirIterator::Subdirectories);
    while (it.hasNext())
        files << QDir(dir).relativeFilePath(it.next());
    files.sort();
    return files;
}

bool haveTools(const QStringList &tools, QString *missing)
{
    for (const QString &tool : tools) {
        if (QStandardPaths::findExecutable(tool).isEmpty()) {
            *missing = tool;
            return false;
        }
    }
    return true;
}

// --- helper mode (child side) -----------------------------------------------------------------

QString oneLine(QString text)
{
    return text.replace(QLatin1Char('\n'), QLatin1Char(' '))
            .replace(QLatin1Char('\t'), QLatin1Char(' '));
}

int runHelper(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() < 5) {
        std::fprintf(stderr, "usage: %s LABEL OP SERVICE KEY [SECRET]\n", argv[0]);
        return 2;
    }
    const QString label = args.at(1), op = args.at(2), service = args.at(3), key = args.at(4);
    const QByteArray secret = args.value(5).toUtf8();

    QTimer::singleShot(30000, &app, [&] {
        std::printf("TIMEOUT\t%s\n", qPrintable(label));
        std::fflush(stdout);
        app.exit(3);
    });

    QElapsedTimer timer;
    timer.start();

    if (op.startsWith(QLatin1String("raw-"))) {
        QKeychain::Job *job = nullptr;
        if (op == QLatin1String("raw-write")) {
            auto *write = new QKeychain::WritePasswordJob(service);
            write->setBinaryData(secret);
            job = write;
        } else if (op == QLatin1String("raw-read")) {
            job = new QKeychain::ReadPasswordJob(service);
        } else {
            job = new QKeychain::DeletePasswordJob(service);
        }
        job->setInsecureFallback(false);
        job->setKey(key);
        QObject::connect(job, &QKeychain::Job::finished, &app, [&](QKeychain::Job *finished) {
            const Status status =
                    statusForKeychainError(finished->error(), finished->errorString());
            std::printf("RAW\t%s\t%d\t%s\t%lld\t%s\n", qPrintable(label), int(finished->error()),
                        qPrintable(statusName(status)), qlonglong(timer.elapsed()),
                        qPrintable(oneLine(finished->errorString())));
            std::fflush(stdout);
            app.quit();
        });
        job->start();
        return app.exec();
    }

    std::unique_ptr<SecureStore> store = createKeychainStore(service);
    auto done = [&](const StoreResult &result) {
        std::printf("RESULT\t%s\t%s\t%lld\t%s\t%s\n", qPrintable(label),
                    qPrintable(statusName(result.status)), qlonglong(timer.elapsed()),
                    result.data.reveal().toByteArray().toBase64().constData(),
                    qPrintable(oneLine(result.message)));
        std::fflush(stdout);
        app.quit();
    };
    if (op == QLatin1String("write"))
        store->write(key, Secret(secret), done);
    else if (op == QLatin1String("read"))
        store->read(key, done);
    else if (op == QLatin1String("remove"))
        store->remove(key, done);
    else
        return 2;
    return app.exec();
}

} // namespace

class TestSecureStore : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    // memory store
    void memoryRoundTrip();
    void memorySizeLimit_data();
    void memorySizeLimit();
    void memoryAsyncContract();
    void memoryNoCompletionAfterDestruction();

    // error texts -> statuses
    void keychainErrorMapping_data();
    void keychainErrorMapping();

    // keychain store against the real Secret Service
    void keychainRoundTrip();
    void keychainSizeLimit_data();
    void keychainSizeLimit();
    void keychainKeepsCallOrder();
    void keychainCompletionMayDestroyStore();
    void keychainDestroyedMidFlight();

    // child processes with their own D-Bus setups
    void keychainUnavailable_data();
    void keychainUnavailable();
    void keychainLockedCollection();
    void keychainNoLoginCollection();

private:
    // A child environment for a keyring script: $TST runs this binary in helper mode on
    // $SERVICE.
    QProcessEnvironment scriptEnvironment(const QString &home, const QString &runtimeDir) const
    {
        QProcessEnvironment env = childEnvironment(home, runtimeDir);
        env.insert(QStringLiteral("TST"), m_self);
        env.insert(QStringLiteral("SERVICE"), m_service);
        return env;
    }

    QString m_secretServiceProblem; // empty when this process reaches a Secret Service

    const QString m_service =
            QStringLiteral("tessera-tst-") + QUuid::createUuid().toString(QUuid::WithoutBraces);
    QString m_self;
};

void TestSecureStore::initTestCase()
{
    m_self = QCoreApplication::applicationFilePath();
    m_secretServiceProblem = secretServiceProblem();
}

// --- memory store -----------------------------------------------------------------------------

void TestSecureStore::memoryRoundTrip()
{
    const auto store = createMemoryStore();
    QCOMPARE(store->backendName(), QStringLiteral("memory"));
    const QByteArray first = QByteArray("refresh\0token\xff", 14);

    COMPARE_RESULT(readKey(*store, QStringLiteral("alice")), Status::NotFound);
    COMPARE_RESULT(writeKey(*store, QStringLiteral("alice"), first), Status::Ok);
    auto read = readKey(*store, QStringLiteral("alice"));
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), first);

    COMPARE_RESULT(writeKey(*store, QStringLiteral("alice"), "second"), Status::Ok);
    COMPARE_RESULT(writeKey(*store, QStringLiteral("bob"), "bobs"), Status::Ok);
    read = readKey(*store, QStringLiteral("alice"));
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), QByteArray("second"));

    COMPARE_RESULT(removeKey(*store, QStringLiteral("alice")), Status::Ok);
    COMPARE_RESULT(readKey(*store, QStringLiteral("alice")), Status::NotFound);
    COMPARE_RESULT(removeKey(*store, QStringLiteral("alice")), Status::NotFound);
    read = readKey(*store, QStringLiteral("bob"));
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), QByteArray("bobs"));
}

void TestSecureStore::memorySizeLimit_data()
{
    QTest::addColumn<qsizetype>("size");
    QTest::addColumn<bool>("fits");
    QTest::addRow("empty") << qsizetype(0) << true;
    QTest::addRow("typical-refresh-token") << qsizetype(400) << true;
    QTest::addRow("exactly-the-limit") << SecureStore::MaxSecretBytes << true;
    QTest::addRow("one-byte-over") << SecureStore::MaxSecretBytes + 1 << false;
    QTest::addRow("wincred-blob-limit") << qsizetype(2560) << false;
    QTest::addRow("one-mebibyte") << qsizetype(1 << 20) << false;
}

void TestSecureStore::memorySizeLimit()
{
    QFETCH(qsizetype, size);
    QFETCH(bool, fits);
    const auto store = createMemoryStore();
    COMPARE_RESULT(writeKey(*store, QStringLiteral("k"), "previous"), Status::Ok);

    const QByteArray secret = bytesOfSize(size, 'a');
    COMPARE_RESULT(writeKey(*store, QStringLiteral("k"), secret),
                   fits ? Status::Ok : Status::TooLarge);
    const auto read = readKey(*store, QStringLiteral("k"));
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), fits ? secret : QByteArray("previous"));
}

void TestSecureStore::memoryAsyncContract()
{
    const auto store = createMemoryStore();
    QStringList order;
    auto record = [&order](const QString &what) {
        return [&order, what](const StoreResult &result) {
            order << what + QLatin1Char(':') + statusName(result.status);
        };
    };
    store->write(QStringLiteral("k"), Secret("v"), record(QStringLiteral("write")));
    store->read(QStringLiteral("k"), record(QStringLiteral("read")));
    store->write(QStringLiteral("k"), Secret(bytesOfSize(SecureStore::MaxSecretBytes + 1, 'x')),
                 record(QStringLiteral("too-large")));
    store->remove(QStringLiteral("k"), record(QStringLiteral("remove")));
    store->remove(QStringLiteral("k"), record(QStringLiteral("remove-again")));
    QVERIFY2(order.isEmpty(), "a completion ran inside the call");
    QTRY_COMPARE(order.size(), 5);
    QCOMPARE(order,
             QStringList({QStringLiteral("write:Ok"), QStringLiteral("read:Ok"),
                          QStringLiteral("too-large:TooLarge"), QStringLiteral("remove:Ok"),
                          QStringLiteral("remove-again:NotFound")}));
    QTest::qWait(50);
    QCOMPARE(order.size(), 5); // each completion exactly once
}

void TestSecureStore::memoryNoCompletionAfterDestruction()
{
    int calls = 0;
    {
        auto store = createMemoryStore();
        store->write(QStringLiteral("k"), Secret("v"), [&calls](const StoreResult &) { ++calls; });
        store->read(QStringLiteral("k"), [&calls](const StoreResult &) { ++calls; });
    }
    QTest::qWait(50);
    QCOMPARE(calls, 0);
}

// --- error mapping ----------------------------------------------------------------------------

void TestSecureStore::keychainErrorMapping_data()
{
    QTest::addColumn<int>("error");
    QTest::addColumn<QString>("text");
    QTest::addColumn<Status>("expected");

    // Texts as QtKeychain 0.13.2 reports them here (see keychainUnavailable and the locked
    // tests, which check these against the real thing).
    QTest::addRow("no-error") << int(QKeychain::NoError) << QString() << Status::Ok;
    QTest::addRow("entry-not-found") << int(QKeychain::EntryNotFound)
                                     << QStringLiteral("Entry not found") << Status::NotFound;
    QTest::addRow("no-backend") << int(QKeychain::NoBackendAvailable)
                                << QStringLiteral("No keychain service available")
                                << Status::Unavailable;
    QTest::addRow("not-implemented")
            << int(QKeychain::NotImplemented) << QString() << Status::Unavailable;
    QTest::addRow("no-bus-autolaunch")
            << int(QKeychain::OtherError)
            << QStringLiteral("Cannot autolaunch D-Bus without X11 $DISPLAY")
            << Status::Unavailable;
    QTest::addRow("no-bus-socket") << int(QKeychain::OtherError)
                                   << QStringLiteral("Could not connect: No such file or directory")
                                   << Status::Unavailable;
    QTest::addRow("no-secret-service")
            << int(QKeychain::OtherError)
            << QStringLiteral("The name org.freedesktop.secrets was not provided by any .service "
                              "files")
            << Status::Unavailable;
    QTest::addRow("kwallet-no-dbus")
            << int(QKeychain::OtherError)
            << QStringLiteral("Could not open wallet: D-Bus is not running") << Status::Unavailable;
    QTest::addRow("locked-collection")
            << int(QKeychain::AccessDenied)
            << QStringLiteral("Cannot create an item in a locked collection") << Status::Locked;
    QTest::addRow("no-login-collection")
            << int(QKeychain::OtherError)
            << QStringLiteral("Object does not exist at path "
                              "\u201c/org/freedesktop/secrets/collection/login\u201d")
            << Status::Locked;
    QTest::addRow("access-denied")
            << int(QKeychain::AccessDenied) << QStringLiteral("Access to keychain denied")
            << Status::AccessDenied;
    QTest::addRow("denied-by-user")
            << int(QKeychain::AccessDeniedByUser) << QStringLiteral("User canceled the operation.")
            << Status::AccessDenied;
    QTest::addRow("could-not-delete") << int(QKeychain::CouldNotDeleteEntry)
                                      << QStringLiteral("Could not delete entry") << Status::Other;
    QTest::addRow("other") << int(QKeychain::OtherError) << QStringLiteral("I/O error")
                           << Status::Other;
}

void TestSecureStore::keychainErrorMapping()
{
    QFETCH(int, error);
    QFETCH(QString, text);
    QFETCH(Status, expected);
    QCOMPARE(statusName(statusForKeychainError(QKeychain::Error(error), text)),
             statusName(expected));
}

// --- keychain store, real Secret Service ------------------------------------------------------

void TestSecureStore::keychainRoundTrip()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const auto store = createKeychainStore(m_service);
    QCOMPARE(store->backendName(), QStringLiteral("keychain"));
    const QString key = QStringLiteral("refresh:alice");
    const QStringList attributes{QStringLiteral("server"), m_service, QStringLiteral("user"), key};
    // Binary on purpose: NUL and high bytes must survive.
    const QByteArray first = QByteArray("rt-1\0\x01\xfe\xff-end", 12);
    const QByteArray second = "rt-2-rotated";

    COMPARE_RESULT(readKey(*store, key), Status::NotFound);
    COMPARE_RESULT(removeKey(*store, key), Status::NotFound);

    COMPARE_RESULT(writeKey(*store, key, first), Status::Ok);
    auto read = readKey(*store, key);
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), first);

    // What QtKeychain's libsecret path put into the Secret Service.
    SecretToolItems items = secretToolSearch(attributes);
    QVERIFY2(items.count == 1, qPrintable(items.raw));
    QCOMPARE(items.fields.value(QStringLiteral("attribute.server")), m_service);
    QCOMPARE(items.fields.value(QStringLiteral("attribute.user")), key);
    QCOMPARE(items.fields.value(QStringLiteral("attribute.type")), QStringLiteral("base64"));
    QCOMPARE(items.fields.value(QStringLiteral("schema")), QStringLiteral("org.qt.keychain"));
    QCOMPARE(items.fields.value(QStringLiteral("label")), m_service);
    QCOMPARE(items.fields.value(QStringLiteral("secret")).toLatin1(), first.toBase64());

    // Overwrite: still one entry, new value.
    COMPARE_RESULT(writeKey(*store, key, second), Status::Ok);
    read = readKey(*store, key);
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), second);
    items = secretToolSearch(attributes);
    QVERIFY2(items.count == 1, qPrintable(items.raw));
    QCOMPARE(items.fields.value(QStringLiteral("secret")).toLatin1(), second.toBase64());

    // A second store with the same service sees the same entry.
    const auto other = createKeychainStore(m_service);
    read = readKey(*other, key);
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), second);

    COMPARE_RESULT(removeKey(*store, key), Status::Ok);
    COMPARE_RESULT(readKey(*store, key), Status::NotFound);
    COMPARE_RESULT(removeKey(*store, key), Status::NotFound);
    items = secretToolSearch(attributes);
    QVERIFY2(items.count == 0, qPrintable(items.raw));
}

void TestSecureStore::keychainSizeLimit_data()
{
    QTest::addColumn<qsizetype>("size");
    QTest::addColumn<bool>("fits");
    QTest::addRow("exactly-the-limit") << SecureStore::MaxSecretBytes << true;
    QTest::addRow("one-byte-over") << SecureStore::MaxSecretBytes + 1 << false;
    QTest::addRow("one-mebibyte") << qsizetype(1 << 20) << false;
}

void TestSecureStore::keychainSizeLimit()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    QFETCH(qsizetype, size);
    QFETCH(bool, fits);
    const auto store = createKeychainStore(m_service);
    const QString key = QStringLiteral("size-%1").arg(size);
    const QByteArray secret = bytesOfSize(size, 'k');

    COMPARE_RESULT(writeKey(*store, key, secret), fits ? Status::Ok : Status::TooLarge);
    const SecretToolItems items =
            secretToolSearch({QStringLiteral("server"), m_service, QStringLiteral("user"), key});
    if (fits) {
        QVERIFY2(items.count == 1, qPrintable(items.raw));
        const auto read = readKey(*store, key);
        COMPARE_RESULT(read, Status::Ok);
        QCOMPARE(read->result.data.reveal().toByteArray(), secret);
        COMPARE_RESULT(removeKey(*store, key), Status::Ok);
    } else {
        QVERIFY2(items.count == 0, qPrintable(items.raw)); // storage untouched
        COMPARE_RESULT(readKey(*store, key), Status::NotFound);
    }
}

void TestSecureStore::keychainKeepsCallOrder()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const auto store = createKeychainStore(m_service);
    const QString key = QStringLiteral("order");
    COMPARE_RESULT(writeKey(*store, key, "old"), Status::Ok);

    // Logout then an immediate new login: the remove must not overtake the write.
    const auto removed =
            start([&](SecureStore::Completion done) { store->remove(key, std::move(done)); });
    const auto written = start([&](SecureStore::Completion done) {
        store->write(key, Secret("new"), std::move(done));
    });
    const auto read =
            start([&](SecureStore::Completion done) { store->read(key, std::move(done)); });
    QVERIFY(removed->calls == 0 && written->calls == 0 && read->calls == 0);
    QTRY_COMPARE_WITH_TIMEOUT(read->calls, 1, 20000);
    COMPARE_RESULT(removed, Status::Ok);
    COMPARE_RESULT(written, Status::Ok);
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), QByteArray("new"));
    COMPARE_RESULT(removeKey(*store, key), Status::Ok);
}

void TestSecureStore::keychainCompletionMayDestroyStore()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    auto store = createKeychainStore(m_service);
    int laterCalls = 0;
    bool firstDone = false;
    store->read(QStringLiteral("absent"), [&](const StoreResult &) {
        firstDone = true;
        store.reset(); // the queued read below must then never complete
    });
    store->read(QStringLiteral("absent-too"), [&](const StoreResult &) { ++laterCalls; });
    QTRY_VERIFY_WITH_TIMEOUT(firstDone, 20000);
    QVERIFY(!store);
    QTest::qWait(300);
    QCOMPARE(laterCalls, 0);
}

void TestSecureStore::keychainDestroyedMidFlight()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    // Destroy stores at different points of their work (while probing, while the QtKeychain
    // job runs): no completion may run afterwards and nothing may crash.
    int calls = 0;
    for (int delayMs : {0, 1, 2, 5, 10, 20, 50}) {
        auto store = createKeychainStore(m_service);
        store->write(QStringLiteral("mid-flight"), Secret("value"),
                     [&](const StoreResult &) { ++calls; });
        if (delayMs > 0)
            QTest::qWait(delayMs);
        const int before = calls;
        store.reset();
        QTest::qWait(100);
        QCOMPARE(calls, before);
    }
    QTest::qWait(300);
    // QtKeychain's job queue is not stuck, and the store still works.
    const auto store = createKeychainStore(m_service);
    COMPARE_RESULT(writeKey(*store, QStringLiteral("mid-flight"), "final"), Status::Ok);
    const auto read = readKey(*store, QStringLiteral("mid-flight"));
    COMPARE_RESULT(read, Status::Ok);
    QCOMPARE(read->result.data.reveal().toByteArray(), QByteArray("final"));
    COMPARE_RESULT(removeKey(*store, QStringLiteral("mid-flight")), Status::Ok);
}

// --- child processes: Unavailable ------------------------------------------------------------

void TestSecureStore::keychainUnavailable_data()
{
    QTest::addColumn<QString>("setup");
    QTest::addColumn<QString>("op");
    QTest::addColumn<QString>("expectedMessage");

    const QString noBus = QStringLiteral("no D-Bus session bus");
    const QString noService =
            QStringLiteral("no Secret Service (org.freedesktop.secrets) on the session bus");
    for (const char *op : {"write", "read", "remove", "raw-write", "raw-read"}) {
        const QString o = QString::fromLatin1(op);
        // DBUS_SESSION_BUS_ADDRESS names a socket nobody listens on.
        QTest::addRow("no-bus-socket/%s", op) << QStringLiteral("no-bus-socket") << o << noBus;
        // No address, no $XDG_RUNTIME_DIR/bus, no $DISPLAY: nothing to connect to, and an
        // autolaunch must not be attempted.
        QTest::addRow("no-bus-unset/%s", op) << QStringLiteral("no-bus-unset") << o << noBus;
        // A bus, but no org.freedesktop.secrets, neither running nor activatable.
        QTest::addRow("no-secret-service/%s", op)
                << QStringLiteral("no-secret-service") << o << noService;
    }
}

void TestSecureStore::keychainUnavailable()
{
    QFETCH(QString, setup);
    QFETCH(QString, op);
    QFETCH(QString, expectedMessage);

    QTemporaryDir home, runtime, busConfigDir;
    QVERIFY(home.isValid() && runtime.isValid() && busConfigDir.isValid());
    QProcessEnvironment env = childEnvironment(home.path(), runtime.path());
    QString program = m_self;
    QStringList arguments{op, op, m_service, QStringLiteral("refresh:alice"),
                          QStringLiteral("must-not-be-stored")};

    if (setup == QLatin1String("no-bus-socket")) {
        env.insert(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"),
                   QStringLiteral("unix:path=/nonexistent/tessera-test-bus"));
    } else if (setup == QLatin1String("no-secret-service")) {
        QString missing;
        if (!haveTools({QStringLiteral("dbus-run-session")}, &missing))
            QSKIP(qPrintable(missing + QStringLiteral(" is not installed")));
        program = QStringLiteral("dbus-run-session");
        arguments = bareSessionBusArguments(busConfigDir.path(), QStringList{m_self} + arguments);
        QVERIFY(!arguments.isEmpty());
    }

    const ChildRun run = runChild(program, arguments, env, 30000);
    QVERIFY2(run.finished, qPrintable(run.stdErr));
    QVERIFY2(run.exitCode == 0, qPrintable(run.stdOut + run.stdErr));

    const bool raw = op.startsWith(QLatin1String("raw-"));
    const HelperLine line = raw ? run.raw.value(op) : run.results.value(op);
    QVERIFY2(line.ms >= 0, qPrintable(run.stdOut + run.stdErr));
    if (raw) {
        // What QtKeychain itself says, and that the classification maps it to Unavailable.
        qInfo("QtKeychain %s, %s: error %d, \"%s\"", qPrintable(op), qPrintable(setup),
              line.keychainError, qPrintable(line.message));
        QCOMPARE(line.status, statusName(Status::Unavailable));
    } else {
        QCOMPARE(line.status, statusName(Status::Unavailable));
        QVERIFY2(line.message.contains(expectedMessage), qPrintable(line.message));
    }
    QVERIFY2(line.ms < 3000, qPrintable(QString::number(line.ms)));
    QVERIFY2(run.wallMs < 15000, qPrintable(QString::number(run.wallMs)));

    // Nothing at all was written under HOME: no plaintext fallback (~/.config/*.conf), no
    // keyring, no cache.
    const QStringList written = entriesBelow(home.path());
    QVERIFY2(written.isEmpty(), qPrintable(written.join(QLatin1Char(' '))));
}

// --- child processes: Locked -----------------------------------------------------------------

// The keyring is created and unlocked, one entry stored, then the login collection is locked
// over D-Bus (Secret Service Lock; no prompt needed). With no display, the unlock prompt that
// gnome-keyring tries to show fails, as a dismissed prompt would.
void TestSecureStore::keychainLockedCollection()
{
    QString missing;
    if (!haveTools({QStringLiteral("dbus-run-session"), QStringLiteral("gnome-keyring-daemon"),
                    QStringLiteral("dbus-send"), QStringLiteral("secret-tool")},
                   &missing)) {
        QSKIP(qPrintable(missing + QStringLiteral(" is not installed")));
    }
    QTemporaryDir home, runtime;
    QVERIFY(home.isValid() && runtime.isValid());
    QProcessEnvironment env = scriptEnvironment(home.path(), runtime.path());
    env.insert(QStringLiteral("KEYRING_PASSWORD"), KeyringPassword);

    const QString script = QStringLiteral(R"sh(
printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$TST" seed write "$SERVICE" present first-value
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
"$TST" write-new write "$SERVICE" fresh new-value
"$TST" overwrite write "$SERVICE" present overwritten
"$TST" read-present read "$SERVICE" present
"$TST" read-absent read "$SERVICE" absent
"$TST" remove-present remove "$SERVICE" present
"$TST" raw-write raw-write "$SERVICE" fresh new-value
"$TST" raw-read raw-read "$SERVICE" present
"$TST" raw-remove raw-remove "$SERVICE" present
printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null
for i in $(seq 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q true && break
  sleep 0.1
done
"$TST" unlocked-present read "$SERVICE" present
"$TST" unlocked-fresh read "$SERVICE" fresh
echo "ITEMS $(secret-tool search --all server "$SERVICE" 2>/dev/null | grep -c '^\[')"
)sh");
    const ChildRun run = runOnOwnBus(script, env);
    QVERIFY2(run.finished, qPrintable(run.stdOut + run.stdErr));
    const QString output = run.stdOut + run.stdErr;

    const auto expect = [&](const char *label, Status status) {
        const HelperLine line = run.results.value(QString::fromLatin1(label));
        if (line.status != statusName(status)) {
            QTest::qFail(qPrintable(QStringLiteral("%1: %2 (%3), expected %4\n%5")
                                            .arg(QString::fromLatin1(label), line.status,
                                                 line.message, statusName(status), output)),
                         __FILE__, __LINE__);
            return false;
        }
        return true;
    };
    if (!expect("seed", Status::Ok))
        return;
    // While locked: writes, the read and the remove of an existing entry say Locked.
    if (!expect("write-new", Status::Locked) || !expect("overwrite", Status::Locked)
        || !expect("read-present", Status::Locked) || !expect("remove-present", Status::Locked)
        || !expect("read-absent", Status::NotFound)) {
        return;
    }
    for (const char *label : {"raw-write", "raw-read", "raw-remove"}) {
        const HelperLine line = run.raw.value(QString::fromLatin1(label));
        qInfo("QtKeychain %s, locked collection: error %d, \"%s\"", label, line.keychainError,
              qPrintable(line.message));
    }
    QCOMPARE(run.raw.value(QStringLiteral("raw-write")).status, statusName(Status::Locked));

    // Unlocked again: the old value is intact, nothing new was stored, nothing was removed.
    if (!expect("unlocked-present", Status::Ok) || !expect("unlocked-fresh", Status::NotFound))
        return;
    QCOMPARE(run.results.value(QStringLiteral("unlocked-present")).data, QByteArray("first-value"));
    QVERIFY2(run.stdOut.contains(QStringLiteral("ITEMS 1\n")), qPrintable(output));

    // Only the keyring's own files under HOME: no plaintext fallback file.
    const QStringList files = filesBelow(home.path());
    for (const QString &file : files) {
        QVERIFY2(file.startsWith(QLatin1String(".local/share/keyrings/")),
                 qPrintable(files.join(QLatin1Char(' '))));
    }
}

// gnome-keyring started without --unlock in a fresh HOME: there is no login collection to
// write into, and creating one needs a prompt that cannot be shown.
void TestSecureStore::keychainNoLoginCollection()
{
    QString missing;
    if (!haveTools({QStringLiteral("dbus-run-session"), QStringLiteral("gnome-keyring-daemon")},
                   &missing)) {
        QSKIP(qPrintable(missing + QStringLiteral(" is not installed")));
    }
    QTemporaryDir home, runtime;
    QVERIFY(home.isValid() && runtime.isValid());
    const QProcessEnvironment env = scriptEnvironment(home.path(), runtime.path());

    const QString script = QStringLiteral(R"sh(
gnome-keyring-daemon --start --components=secrets >/dev/null
"$TST" write write "$SERVICE" k value
"$TST" read read "$SERVICE" k
"$TST" remove remove "$SERVICE" k
"$TST" raw-write raw-write "$SERVICE" k value
)sh");
    const ChildRun run = runOnOwnBus(script, env);
    QVERIFY2(run.finished, qPrintable(run.stdOut + run.stdErr));
    const QString output = run.stdOut + run.stdErr;

    const HelperLine write = run.results.value(QStringLiteral("write"));
    QVERIFY2(write.status == statusName(Status::Locked), qPrintable(output));
    QVERIFY2(run.results.value(QStringLiteral("read")).status == statusName(Status::NotFound),
             qPrintable(output));
    QVERIFY2(run.results.value(QStringLiteral("remove")).status == statusName(Status::NotFound),
             qPrintable(output));
    const HelperLine raw = run.raw.value(QStringLiteral("raw-write"));
    qInfo("QtKeychain raw-write, no login collection: error %d, \"%s\"", raw.keychainError,
          qPrintable(raw.message));
    QCOMPARE(raw.status, statusName(Status::Locked));

    // No file at all under HOME (gnome-keyring only creates its empty keyrings directory).
    const QStringList files = filesBelow(home.path());
    QVERIFY2(files.isEmpty(), qPrintable(files.join(QLatin1Char(' '))));
}

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsSet(HelperEnv))
        return runHelper(argc, argv);
    QCoreApplication app(argc, argv);
    TestSecureStore test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_securestore.moc"
