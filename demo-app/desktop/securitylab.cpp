// SPDX-License-Identifier: MIT
#include "securitylab.h"

#include "diskscan.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/dpop.h>
#include <tessera/qmlnetwork.h>
#include <tessera/session.h>
#include <tessera/sessionconfig.h>

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QFutureWatcher>
#include <QtCore/QJsonDocument>
#include <QtCore/QLocale>
#include <QtCore/QMetaEnum>
#include <QtCore/QStandardPaths>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkReply>
#include <qt6keychain/keychain.h>

#include <algorithm>

namespace TesseraDemo {
namespace {

const QString Idle = QStringLiteral("idle");
const QString Running = QStringLiteral("running");
const QString Pass = QStringLiteral("pass");
const QString Fail = QStringLiteral("fail");
const QString Info = QStringLiteral("info");

// The server's reuse grace window is 10 s by default; replays are retried for
// longer than that before the check gives up.
constexpr int ReplayIntervalMs = 1500;
constexpr int ReplayAttempts = 24;

QString describe(int status, const QString &code)
{
    if (status == 0)
        return QStringLiteral("no HTTP response");
    return code.isEmpty() ? QStringLiteral("HTTP %1").arg(status)
                          : QStringLiteral("HTTP %1 %2").arg(status).arg(code);
}

QString byteSize(qint64 bytes)
{
    if (bytes < 1024 * 1024)
        return QStringLiteral("%1 KB").arg(qMax<qint64>(1, (bytes + 1023) / 1024));
    return QLocale::c().toString(double(bytes) / (1024.0 * 1024.0), 'f', 1) + QStringLiteral(" MB");
}

} // namespace

SecurityLab::SecurityLab(QObject *parent)
    : QObject(parent)
{
    // The lab's own requests keep nothing: no cookies, no cache, no redirects.
    m_http.setCookieJar(nullptr);
    m_http.setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    reset();
}

SecurityLab::~SecurityLab() = default;

QStringList SecurityLab::checks()
{
    return {QStringLiteral("disk"),   QStringLiteral("csrf"),   QStringLiteral("mitm"),
            QStringLiteral("stolen"), QStringLiteral("logout"), QStringLiteral("reuse")};
}

void SecurityLab::setSession(Tessera::Session *session)
{
    if (session == m_session)
        return;
    m_session = session;
    emit sessionChanged();
}

void SecurityLab::reset()
{
    ++m_generation;
    const bool wasRunning = isRunning();
    m_current.clear();
    m_queue.clear();
    m_details.clear();
    m_tokenEndpoint.clear(); // a new sign-in may be at another issuer
    for (const QString &check : checks()) {
        m_results.insert(check,
                         QVariantMap{{QStringLiteral("status"), Idle},
                                     {QStringLiteral("summary"), QString()},
                                     {QStringLiteral("details"), QStringList()},
                                     {QStringLiteral("elapsedMs"), 0}});
    }
    emit resultsChanged();
    if (wasRunning)
        emit runningChanged();
}

void SecurityLab::runSafeChecks()
{
    if (isRunning())
        return;
    m_queue = {QStringLiteral("disk"), QStringLiteral("csrf"), QStringLiteral("mitm"),
               QStringLiteral("stolen")};
    runNextQueued();
}

void SecurityLab::runNextQueued()
{
    if (isRunning() || m_queue.isEmpty())
        return;
    run(m_queue.takeFirst());
}

void SecurityLab::run(const QString &check)
{
    if (isRunning() || !checks().contains(check))
        return;
    if (check == u"disk")
        runDisk();
    else if (check == u"csrf")
        runCsrf();
    else if (check == u"mitm")
        runMitm();
    else if (check == u"stolen")
        runStolen();
    else if (check == u"logout")
        runLogout();
    else if (check == u"reuse")
        runReuse();
}

// --- bookkeeping ---------------------------------------------------------------

void SecurityLab::start(const QString &check, const QString &firstLine)
{
    m_current = check;
    m_details.clear();
    m_clock.start();
    QVariantMap entry;
    entry.insert(QStringLiteral("status"), Running);
    entry.insert(QStringLiteral("summary"), firstLine);
    entry.insert(QStringLiteral("details"), QStringList());
    entry.insert(QStringLiteral("elapsedMs"), 0);
    m_results.insert(check, entry);
    emit resultsChanged();
    emit runningChanged();
}

void SecurityLab::progress(const QString &line)
{
    if (m_current.isEmpty())
        return;
    m_details.append(line);
    QVariantMap entry = m_results.value(m_current).toMap();
    entry.insert(QStringLiteral("details"), m_details);
    m_results.insert(m_current, entry);
    emit resultsChanged();
}

void SecurityLab::finish(const QString &status, const QString &summary)
{
    if (m_current.isEmpty())
        return;
    const QString check = m_current;
    QVariantMap entry;
    entry.insert(QStringLiteral("status"), status);
    entry.insert(QStringLiteral("summary"), summary);
    entry.insert(QStringLiteral("details"), m_details);
    entry.insert(QStringLiteral("elapsedMs"), int(m_clock.elapsed()));
    m_results.insert(check, entry);
    m_current.clear();
    emit resultsChanged();
    emit runningChanged();
    emit checkFinished(check, status);
    QTimer::singleShot(0, this, &SecurityLab::runNextQueued);
}

bool SecurityLab::isSignedIn() const
{
    return m_session
            && (m_session->state() == Tessera::Session::State::SignedIn
                || m_session->state() == Tessera::Session::State::Refreshing);
}

bool SecurityLab::isMemoryOnly() const
{
    return m_session
            && m_session->config().storagePolicy()
            == Tessera::SessionConfig::StoragePolicy::MemoryOnly;
}

bool SecurityLab::requireSignedIn()
{
    if (isSignedIn())
        return true;
    finish(Info, tr("Sign in first: this check needs a live session."));
    return false;
}

// --- plumbing --------------------------------------------------------------------

QUrl SecurityLab::endpoint(const QString &path) const
{
    return m_session ? m_session->config().endpoint(path) : QUrl();
}

void SecurityLab::get(const QString &path, const Tessera::Secret *token, HttpCallback done,
                      const QByteArray &scheme, const QByteArray &proof)
{
    QNetworkRequest request(endpoint(path));
    request.setRawHeader("Accept", "application/json");
    request.setTransferTimeout(15000);
    if (token) {
        QByteArray authorization = scheme + ' ';
        authorization.append(token->reveal().data(), token->size());
        request.setRawHeader("Authorization", authorization);
        Tessera::secureWipe(authorization);
    }
    if (!proof.isEmpty())
        request.setRawHeader("DPoP", proof);
    deliverWhenFinished(m_http.get(request), std::move(done));
}

void SecurityLab::withTokenEndpoint(std::function<void(const QUrl &endpoint)> done)
{
    const Tessera::SessionConfig config = m_session->config();
    if (config.profile() == Tessera::SessionConfig::Profile::SimpleJwt)
        return done(config.endpoint(config.refreshPath()));
    if (m_tokenEndpoint.isValid())
        return done(m_tokenEndpoint);
    // The session's discovery is private to it; the lab reads the document as anyone can.
    QUrl discovery = config.issuer();
    QString path = discovery.path();
    if (path.endsWith(u'/'))
        path.chop(1);
    discovery.setPath(path + QStringLiteral("/.well-known/openid-configuration"));
    QNetworkRequest request(discovery);
    request.setTransferTimeout(15000);
    deliverWhenFinished(m_http.get(request), [this, done](HttpResult &result) {
        m_tokenEndpoint = QUrl(result.json.value(QStringLiteral("token_endpoint")).toString());
        done(m_tokenEndpoint);
    });
}

void SecurityLab::postRefresh(const Tessera::Secret &refresh, HttpCallback done,
                              const Tessera::Jose::Key *proofKey)
{
    const Tessera::SessionConfig config = m_session->config();
    // The key is copied: the callback may run after the caller's key is gone.
    std::optional<Tessera::Jose::Key> key;
    if (proofKey)
        key = *proofKey;
    auto stolen = std::make_shared<Tessera::Secret>(refresh.clone());
    withTokenEndpoint([this, config, key, stolen, done](const QUrl &url) {
        if (!url.isValid()) {
            stolen->clear();
            HttpResult none;
            none.transportError = tr("no token endpoint in the issuer's discovery document");
            return done(none);
        }
        QNetworkRequest request(url);
        request.setTransferTimeout(15000);
        QByteArray body;
        if (config.profile() == Tessera::SessionConfig::Profile::SimpleJwt) {
            request.setHeader(QNetworkRequest::ContentTypeHeader,
                              QByteArrayLiteral("application/json"));
            body = QByteArrayLiteral("{\"refresh\":\"");
            body.append(stolen->reveal().data(), stolen->size());
            body.append("\"}");
        } else {
            request.setHeader(QNetworkRequest::ContentTypeHeader,
                              QByteArrayLiteral("application/x-www-form-urlencoded"));
            body = QByteArrayLiteral("grant_type=refresh_token&client_id=")
                    + QUrl::toPercentEncoding(config.clientId()) + "&refresh_token=";
            // Refresh tokens are URL-safe (base64url or hex): no encoding needed.
            body.append(stolen->reveal().data(), stolen->size());
        }
        stolen->clear();
        if (key) {
            request.setRawHeader("DPoP",
                                 Tessera::Jose::Dpop::createProof(
                                         *key, "POST", url, QDateTime::currentSecsSinceEpoch()));
        }
        QNetworkReply *reply = m_http.post(request, body);
        Tessera::secureWipe(body);
        deliverWhenFinished(reply, done);
    });
}

// A GET through the session's own network access manager (the token, and a proof when bound).
void SecurityLab::getWithSession(const QString &path, std::function<void(int status)> done)
{
    QNetworkReply *reply =
            Tessera::Qml::networkAccessManager(m_session)->get(QNetworkRequest(endpoint(path)));
    const quint64 generation = m_generation;
    connect(reply, &QNetworkReply::finished, this, [this, reply, generation, done] {
        reply->deleteLater();
        if (generation == m_generation)
            done(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt());
    });
}

// The answer of a lab request, unless the lab was reset meanwhile. The raw body
// is wiped: a refresh answer carries tokens.
void SecurityLab::deliverWhenFinished(QNetworkReply *reply, HttpCallback done)
{
    const quint64 generation = m_generation;
    connect(reply, &QNetworkReply::finished, this, [this, reply, generation, done] {
        reply->deleteLater();
        if (generation != m_generation)
            return;
        HttpResult result;
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        if (result.status == 0)
            result.transportError = reply->errorString();
        QByteArray raw = reply->readAll();
        result.json = QJsonDocument::fromJson(raw).object();
        Tessera::secureWipe(raw);
        result.code = result.json.value(QStringLiteral("code")).toString();
        if (result.code.isEmpty())
            result.code = result.json.value(QStringLiteral("error")).toString();
        done(result);
    });
}

void SecurityLab::readStoredToken(const QString &user, StoredCallback done, const QString &suffix)
{
    // The SDK's storage layout (service "tessera:<appId>", key
    // SessionConfig::storageKey(user)); read here as any code of this app could.
    const Tessera::SessionConfig config = m_session->config();
    // Not parented: QtKeychain 0.13 must not have a job deleted mid-flight;
    // the job deletes itself when done.
    auto *job = new QKeychain::ReadPasswordJob(config.storageService());
    job->setInsecureFallback(false);
    job->setAutoDelete(true);
    job->setKey(config.storageKey(user) + suffix);
    const quint64 generation = m_generation;
    connect(job, &QKeychain::Job::finished, this, [this, generation, done](QKeychain::Job *job) {
        if (generation != m_generation)
            return;
        StoredToken stored;
        if (job->error() == QKeychain::NoError) {
            QByteArray data = static_cast<QKeychain::ReadPasswordJob *>(job)->binaryData();
            stored.status = StoredToken::Status::Found;
            stored.token = Tessera::Secret(data);
            Tessera::secureWipe(data);
        } else if (job->error() == QKeychain::EntryNotFound) {
            stored.status = StoredToken::Status::NotFound;
        } else {
            stored.message = job->errorString();
        }
        done(stored);
    });
    job->start();
}

void SecurityLab::withAccessToken(TokenCallback done)
{
    if (!m_session) {
        done(std::nullopt);
        return;
    }
    const quint64 generation = m_generation;
    m_session->freshAccessToken()
            .then(this,
                  [this, generation, done](Tessera::Secret token) {
                      if (generation == m_generation)
                          done(std::move(token));
                  })
            .onFailed(this, [this, generation, done] {
                if (generation == m_generation)
                    done(std::nullopt);
            });
}

// --- token theft from disk ---------------------------------------------------------

void SecurityLab::runDisk()
{
    start(QStringLiteral("disk"), tr("Reading the Secret Service, then scanning the disk…"));
    if (!requireSignedIn())
        return;
    const bool memoryOnly = isMemoryOnly();
    auto needles = std::make_shared<QList<QByteArray>>();
    auto storedLine = std::make_shared<QString>();

    auto scan = [this, needles, storedLine, memoryOnly] {
        QStringList roots{QDir::homePath()};
        for (auto location : {QStandardPaths::AppConfigLocation, QStandardPaths::AppDataLocation,
                              QStandardPaths::CacheLocation, QStandardPaths::GenericConfigLocation,
                              QStandardPaths::GenericDataLocation}) {
            const QString path = QStandardPaths::writableLocation(location);
            if (!path.isEmpty() && !roots.contains(path))
                roots.append(path);
        }
        const QString where = QDir::homePath() == roots.constFirst()
                ? tr("your home folder and the app's config, data and cache folders")
                : tr("the app's folders");
        // The worker gets the only copies and wipes them when done.
        auto secrets = std::make_shared<QList<QByteArray>>(std::move(*needles));
        needles->clear();
        auto *watcher = new QFutureWatcher<DiskScanReport>(this);
        const quint64 generation = m_generation;
        connect(watcher, &QFutureWatcher<DiskScanReport>::finished, this,
                [this, watcher, storedLine, memoryOnly, where, generation] {
                    watcher->deleteLater();
                    if (generation != m_generation)
                        return;
                    const DiskScanReport report = watcher->result();
                    progress(*storedLine);
                    progress(tr("Access token: in this process's memory only."));
                    progress(tr("Scanned %1 files (%2) under %3%4.")
                                     .arg(report.files)
                                     .arg(byteSize(report.bytes), where,
                                          report.truncated ? tr(" (budget reached)") : QString()));
                    if (!report.hits.isEmpty()) {
                        for (const QString &hit : report.hits)
                            progress(tr("Found in %1").arg(hit));
                        return finish(Fail,
                                      tr("A token is on disk in %n file(s).", nullptr,
                                         int(report.hits.size())));
                    }
                    finish(Pass,
                           memoryOnly ? tr("Not on disk: memory-only session, nothing stored.")
                                      : tr("Not on disk: no file holds either token; the refresh "
                                           "token is in the Secret Service."));
                });
        watcher->setFuture(QtConcurrent::run([roots, secrets] {
            DiskScanReport report = scanForSecrets(roots, *secrets);
            for (QByteArray &secret : *secrets)
                Tessera::secureWipe(secret);
            return report;
        }));
    };

    auto afterStored = [this, needles, scan]() {
        withAccessToken([needles, scan](std::optional<Tessera::Secret> access) {
            if (access) {
                const QByteArray jwt = access->reveal().toByteArray();
                needles->append(jwt);
                // The signature alone, in case a token was stored in pieces.
                needles->append(jwt.mid(jwt.lastIndexOf('.') + 1));
            }
            scan();
        });
    };

    if (memoryOnly) {
        *storedLine = tr("Refresh token: memory-only mode, nothing in secure storage.");
        return afterStored();
    }
    readStoredToken(
            m_session->user(), [this, needles, storedLine, afterStored](StoredToken &stored) {
                switch (stored.status) {
                case StoredToken::Status::Found:
                    *storedLine =
                            tr("Refresh token: held by the Secret Service (read OK, %1 characters; "
                               "value not shown).")
                                    .arg(stored.token.size());
                    needles->append(stored.token.reveal().toByteArray());
                    break;
                case StoredToken::Status::NotFound:
                    *storedLine = tr("Refresh token: not found in the Secret Service.");
                    break;
                case StoredToken::Status::Failed:
                    *storedLine = tr("Refresh token: the Secret Service could not be read (%1).")
                                          .arg(stored.message);
                    break;
                }
                stored.token.clear();
                afterStored();
            });
}

// --- CSRF -----------------------------------------------------------------------------

void SecurityLab::runCsrf()
{
    start(QStringLiteral("csrf"), tr("Sending a request with no bearer header…"));
    if (!requireSignedIn())
        return;
    // What a forged cross-site request would be: no Authorization header, and
    // whatever cookies the client has (Tessera keeps none).
    get(QStringLiteral("/api/me/"), nullptr, [this](HttpResult &result) {
        progress(tr("GET /api/me/ without the bearer header: %1.")
                         .arg(describe(result.status, result.code)));
        progress(tr("Tessera's requests carry no cookies: nothing is sent ambiently."));
        if (result.status == 401)
            return finish(Pass, tr("No ambient credential: without the header the API says 401."));
        finish(Fail, tr("Unexpected answer: %1.").arg(describe(result.status, result.code)));
    });
}

// --- MITM -------------------------------------------------------------------------------

void SecurityLab::runMitm()
{
    start(QStringLiteral("mitm"), tr("Checking the transport policy…"));
    if (!requireSignedIn())
        return;
    const Tessera::SessionConfig current = m_session->config();
    Tessera::SessionConfig plain(QUrl(QStringLiteral("http://auth.example.com")), current.appId());
    const Tessera::Error refused = plain.validate();
    progress(tr("http://auth.example.com: %1.")
                     .arg(refused.code() == Tessera::Error::Code::InsecureTransport
                                  ? tr("refused (InsecureTransport)")
                                  : tr("accepted")));
    const QUrl server = current.serverUrl();
    const bool https = server.scheme() == u"https";
    progress(https ? tr("This server uses https; certificate errors are never ignored.")
                   : tr("This server: plain http, allowed only because %1 is a loopback "
                        "address (traffic never leaves this machine).")
                             .arg(server.host()));
    progress(tr("SPKI pinning: %1.")
                     .arg(current.spkiPins().isEmpty() ? tr("available, not configured here")
                                                       : tr("on")));
    if (refused.code() == Tessera::Error::Code::InsecureTransport
        && Tessera::isTransportAllowed(server))
        return finish(Pass, tr("Plain http to a remote host is refused before any byte is sent."));
    finish(Fail, tr("The transport policy did not refuse plain http."));
}

// --- stolen access token -----------------------------------------------------------------

void SecurityLab::runStolen()
{
    start(QStringLiteral("stolen"), tr("Copying the access token, then using it as a thief…"));
    if (!requireSignedIn())
        return;
    withAccessToken([this](std::optional<Tessera::Secret> token) {
        if (!token)
            return finish(Fail,
                          tr("Could not get an access token: %1")
                                  .arg(m_session ? m_session->lastError().message() : QString()));
        const bool bound = m_session->isDpopBound();
        progress(bound ? tr("This session is DPoP-bound (key %1…); the copy has no key.")
                                 .arg(m_session->dpopKeyThumbprint().left(8))
                       : tr("This session holds a bearer token."));
        auto stolen = std::make_shared<Tessera::Secret>(std::move(*token));
        const QString path = QStringLiteral("/api/me/");
        auto theft = std::make_shared<QList<int>>();

        // The thief's own key: a valid proof, just not of the key the token is bound to.
        auto withThiefsProof = [this, stolen, path, theft, bound] {
            const Tessera::Jose::Key thief =
                    Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::ES256);
            Tessera::Jose::Dpop::ProofOptions options;
            options.accessToken = stolen->reveal();
            const QByteArray proof = Tessera::Jose::Dpop::createProof(
                    thief, "GET", endpoint(path), QDateTime::currentSecsSinceEpoch(), options);
            get(
                    path, stolen.get(),
                    [this, stolen, path, theft, bound](HttpResult &result) {
                        stolen->clear();
                        theft->append(result.status);
                        progress(tr("As DPoP with a proof from the thief's own key: %1.")
                                         .arg(describe(result.status, result.code)));
                        getWithSession(path, [this, theft, bound](int own) {
                            progress((bound ? tr("This app's own request (the token and a "
                                                 "proof of its key): HTTP %1.")
                                            : tr("This app's own request: HTTP %1."))
                                             .arg(own));
                            const bool allRefused =
                                    std::all_of(theft->cbegin(), theft->cend(),
                                                [](int status) { return status == 401; });
                            if (bound && allRefused && own == 200)
                                return finish(Pass,
                                              tr("Stolen token refused: without the session's "
                                                 "key the copy is worth nothing."));
                            if (!bound && theft->value(0) == 200 && own == 200)
                                return finish(Info,
                                              tr("Bearer session: a copied access token works "
                                                 "until it expires. Bind it with DPoP (--dpop)."));
                            finish(Fail, tr("Unexpected answers (see above)."));
                        });
                    },
                    QByteArrayLiteral("DPoP"), proof);
        };
        get(path, stolen.get(), [this, stolen, path, theft, withThiefsProof](HttpResult &result) {
            theft->append(result.status);
            progress(tr("GET %1 as Bearer: %2.").arg(path, describe(result.status, result.code)));
            get(
                    path, stolen.get(),
                    [this, theft, withThiefsProof](HttpResult &result) {
                        theft->append(result.status);
                        progress(tr("As DPoP without a proof: %1.")
                                         .arg(describe(result.status, result.code)));
                        withThiefsProof();
                    },
                    QByteArrayLiteral("DPoP"));
        });
    });
}

// --- replay after logout -------------------------------------------------------------

void SecurityLab::runLogout()
{
    start(QStringLiteral("logout"), tr("Keeping a copy of the access token, then signing out…"));
    if (!requireSignedIn())
        return;
    const bool memoryOnly = isMemoryOnly();
    const bool bound = m_session->isDpopBound();
    const QString user = m_session->user();
    auto access = std::make_shared<Tessera::Secret>();
    auto refresh = std::make_shared<Tessera::Secret>();

    auto afterLogout = [this, access, refresh, memoryOnly, bound, user] {
        const qint64 loggedOutAt = m_clock.elapsed();
        get(QStringLiteral("/api/me/"), access.get(),
            [this, access, refresh, memoryOnly, bound, user, loggedOutAt](HttpResult &replay) {
                const qint64 latency = m_clock.elapsed() - loggedOutAt;
                access->clear();
                progress(tr("After logout, the same access token: %1 (answered in %2 ms).")
                                 .arg(describe(replay.status, replay.code))
                                 .arg(latency));
                // A bound token was never usable without the key (see "stolen"), so its
                // refusal here says nothing about logout; what does: the refresh token is
                // revoked and the key deleted with it.
                const bool accessDead = replay.status == 401;
                auto conclude = [this, accessDead, bound](bool refreshDead, bool storageEmpty) {
                    if (accessDead && refreshDead && storageEmpty)
                        return finish(Pass,
                                      bound ? tr("Replay refused: the bound tokens need the key, "
                                                 "and logout deleted the key and the refresh "
                                                 "token.")
                                            : tr("Replay refused: logout killed the access token "
                                                 "at once, not at its expiry."));
                    finish(Fail, tr("Something survived logout (see above)."));
                };
                if (refresh->isEmpty())
                    return conclude(true, true);
                postRefresh(
                        *refresh,
                        [this, refresh, conclude, memoryOnly, bound, user](HttpResult &result) {
                            refresh->clear();
                            progress(tr("After logout, the old refresh token: %1.")
                                             .arg(describe(result.status, result.code)));
                            // 400 invalid_grant from an OAuth token endpoint.
                            const bool refreshDead = result.status == 401 || result.status == 400;
                            if (memoryOnly)
                                return conclude(refreshDead, true);
                            readStoredToken(
                                    user,
                                    [this, conclude, refreshDead, bound,
                                     user](StoredToken &stored) {
                                        stored.token.clear();
                                        const bool empty =
                                                stored.status == StoredToken::Status::NotFound;
                                        progress(empty ? tr("Secret Service entry: deleted.")
                                                       : tr("Secret Service entry: still there!"));
                                        if (!bound)
                                            return conclude(refreshDead, empty);
                                        readStoredToken(
                                                user,
                                                [this, conclude, refreshDead,
                                                 empty](StoredToken &key) {
                                                    key.token.clear();
                                                    const bool keyGone = key.status
                                                            == StoredToken::Status::NotFound;
                                                    progress(keyGone ? tr("The DPoP key: deleted.")
                                                                     : tr("The DPoP key: still "
                                                                          "there!"));
                                                    conclude(refreshDead, empty && keyGone);
                                                },
                                                QStringLiteral("#dpop"));
                                    });
                        });
            });
    };

    auto signOut = [this, afterLogout] {
        const quint64 generation = m_generation;
        m_session->logout()
                .then(this,
                      [this, generation, afterLogout] {
                          if (generation != m_generation)
                              return;
                          progress(tr("Signed out: the server revoked the session."));
                          afterLogout();
                      })
                .onFailed(this,
                          [this, generation, afterLogout](const Tessera::ErrorException &failure) {
                              if (generation != m_generation)
                                  return;
                              progress(tr("Signed out locally; %1").arg(failure.error().message()));
                              afterLogout();
                          });
    };

    withAccessToken([this, access, refresh, memoryOnly, user,
                     signOut](std::optional<Tessera::Secret> token) {
        if (!token)
            return finish(Fail,
                          tr("Could not get an access token: %1")
                                  .arg(m_session ? m_session->lastError().message() : QString()));
        *access = std::move(*token);
        get(QStringLiteral("/api/me/"), access.get(),
            [this, refresh, memoryOnly, user, signOut](HttpResult &before) {
                progress(tr("Before logout, the access token as Bearer: %1%2.")
                                 .arg(describe(before.status, before.code),
                                      m_session && m_session->isDpopBound()
                                              ? tr(" (DPoP-bound: refused without the key "
                                                   "even now)")
                                              : QString()));
                if (memoryOnly)
                    return signOut();
                readStoredToken(user, [refresh, signOut](StoredToken &stored) {
                    if (stored.status == StoredToken::Status::Found)
                        *refresh = std::move(stored.token);
                    signOut();
                });
            });
    });
}

// --- stolen refresh token: rotation and reuse detection -------------------------------

void SecurityLab::runReuse()
{
    start(QStringLiteral("reuse"), tr("Playing the thief: reading the stored refresh token…"));
    if (!requireSignedIn())
        return;
    if (isMemoryOnly())
        return finish(Info,
                      tr("Needs secure storage: the thief's copy is read from the Secret "
                         "Service, and a memory-only session stores nothing."));
    readStoredToken(m_session->user(), [this](StoredToken &stored) {
        if (stored.status != StoredToken::Status::Found)
            return finish(
                    Fail,
                    tr("No stored refresh token to steal (%1).")
                            .arg(stored.message.isEmpty() ? tr("not found") : stored.message));
        auto stolen = std::make_shared<Tessera::Secret>(std::move(stored.token));
        progress(tr("Stolen: a copy of the refresh token (value not shown)."));
        if (m_session->isDpopBound())
            return reuseOfBoundToken(stolen);
        postRefresh(*stolen, [this, stolen](HttpResult &result) {
            progress(tr("The thief redeems it: %1%2.")
                             .arg(describe(result.status, result.code),
                                  result.status == 200 ? tr(", a new pair; the stolen token is now "
                                                            "rotated")
                                                       : QString()));
            if (result.status != 200)
                return finish(Fail,
                              tr("The stolen token did not work at all: %1.")
                                      .arg(describe(result.status, result.code)));
            QString issued = result.json.value(QStringLiteral("refresh")).toString();
            if (issued.isEmpty()) // OAuth
                issued = result.json.value(QStringLiteral("refresh_token")).toString();
            auto thief = std::make_shared<Tessera::Secret>(issued.toLatin1());
            issued.fill(u'\0');
            result.json = {};
            replayUntilDetected(stolen, thief, 0);
        });
    });
}

// A DPoP-bound family: every refresh needs a proof of the session's key, which the thief does
// not have. Refused without a proof and with a proof of another key, and the refusal costs the
// holder nothing (the family is not revoked, so a thief cannot sign the user out either).
void SecurityLab::reuseOfBoundToken(std::shared_ptr<Tessera::Secret> stolen)
{
    postRefresh(*stolen, [this, stolen](HttpResult &withoutProof) {
        withoutProof.json = {};
        progress(tr("The thief redeems it without a proof: %1.")
                         .arg(describe(withoutProof.status, withoutProof.code)));
        const Tessera::Jose::Key thief =
                Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::ES256);
        const bool firstRefused = withoutProof.status == 400 || withoutProof.status == 401;
        postRefresh(
                *stolen,
                [this, stolen, firstRefused](HttpResult &withProof) {
                    withProof.json = {};
                    stolen->clear();
                    progress(tr("With a proof from the thief's own key: %1.")
                                     .arg(describe(withProof.status, withProof.code)));
                    const bool refused =
                            firstRefused && (withProof.status == 400 || withProof.status == 401);
                    getWithSession(QStringLiteral("/api/me/"), [this, refused](int own) {
                        const bool alive = m_session
                                && m_session->state() == Tessera::Session::State::SignedIn
                                && own == 200;
                        progress(tr("This app's next API call: HTTP %1; the session is %2.")
                                         .arg(own)
                                         .arg(alive ? tr("still signed in") : tr("not usable")));
                        if (refused && alive)
                            return finish(Pass,
                                          tr("Stolen refresh token refused: bound to this "
                                             "session's key, it is worth nothing without it."));
                        finish(Fail,
                               tr("The bound refresh token was not refused, or the "
                                  "session paid for the thief's attempt (see above)."));
                    });
                },
                &thief);
    });
}

void SecurityLab::replayUntilDetected(std::shared_ptr<Tessera::Secret> stolen,
                                      std::shared_ptr<Tessera::Secret> thief, int attempt)
{
    postRefresh(*stolen, [this, stolen, thief, attempt](HttpResult &result) {
        if (result.status == 200 && attempt + 1 < ReplayAttempts) {
            result.json = {};
            if (attempt == 0)
                progress(tr("Replaying the rotated token at once: HTTP 200, the server's reuse "
                            "grace window (a lost response is not an attack). Waiting it out…"));
            const quint64 generation = m_generation;
            QTimer::singleShot(ReplayIntervalMs, this, [this, stolen, thief, attempt, generation] {
                if (generation == m_generation)
                    replayUntilDetected(stolen, thief, attempt + 1);
            });
            return;
        }
        stolen->clear();
        progress(tr("Replaying the rotated token: %1.").arg(describe(result.status, result.code)));
        if (result.status != 401) {
            thief->clear();
            return finish(Fail, tr("The rotated token was accepted again: no reuse detection."));
        }
        endReuseCheck(thief);
    });
}

void SecurityLab::endReuseCheck(std::shared_ptr<Tessera::Secret> thief)
{
    postRefresh(*thief, [this, thief](HttpResult &thiefResult) {
        thief->clear();
        progress(tr("The thief's newest token: %1, the whole family is revoked.")
                         .arg(describe(thiefResult.status, thiefResult.code)));
        // This app's session: its access token is dead at once, and the one
        // refresh the SDK tries after the 401 is refused.
        QNetworkReply *reply = Tessera::Qml::networkAccessManager(m_session)->get(
                QNetworkRequest(endpoint(QStringLiteral("/api/me/"))));
        const quint64 generation = m_generation;
        const bool thiefDead = thiefResult.status == 401;
        connect(reply, &QNetworkReply::finished, this, [this, reply, generation, thiefDead] {
            reply->deleteLater();
            if (generation != m_generation)
                return;
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            progress(tr("This app's next API call: %1; the session is now %2.")
                             .arg(status ? QStringLiteral("HTTP %1").arg(status)
                                         : tr("refused by the SDK"),
                                  m_session ? QString::fromLatin1(
                                          QMetaEnum::fromType<Tessera::Session::State>().valueToKey(
                                                  int(m_session->state())))
                                            : QString()));
            const bool ended =
                    m_session && m_session->state() == Tessera::Session::State::ReauthRequired;
            if (thiefDead && ended)
                return finish(Pass,
                              tr("Reuse detected: the family was revoked, for the thief "
                                 "and for this session alike."));
            finish(Fail, tr("Reuse was detected, but not everything was revoked."));
        });
    });
}

} // namespace TesseraDemo
