// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/jose.h>
#include <tessera/secret.h>
#include <tessera/session.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonObject>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QVariantMap>
#include <QtNetwork/QNetworkAccessManager>
#include <QtQml/qqmlregistration.h>

#include <functional>
#include <memory>
#include <optional>

namespace TesseraDemo {

// The "security lab": the reference article's threat table, checked live
// against the companion server. Some checks do what the SDK deliberately does
// not offer (reading the stored refresh token as a thief would, replaying a
// rotated one), so they live here, in the demo's C++, and talk to the server's
// endpoints directly. QML only ever sees verdicts: status, a summary and
// detail lines. No token value leaves this class, and none is logged.
//
// results: { "<check>": { status: "idle|running|pass|fail|info",
//                         summary: string, details: [string], elapsedMs: int } }
class SecurityLab : public QObject
{
    Q_OBJECT
    QML_ELEMENT
    Q_PROPERTY(Tessera::Session *session READ session WRITE setSession NOTIFY sessionChanged)
    Q_PROPERTY(QVariantMap results READ results NOTIFY resultsChanged)
    Q_PROPERTY(bool running READ isRunning NOTIFY runningChanged)
    Q_PROPERTY(QStringList checks READ checks CONSTANT)

public:
    explicit SecurityLab(QObject *parent = nullptr);
    ~SecurityLab() override;

    Tessera::Session *session() const { return m_session; }
    void setSession(Tessera::Session *session);
    QVariantMap results() const { return m_results; }
    bool isRunning() const { return !m_current.isEmpty(); }
    static QStringList checks();

    // "disk", "csrf", "mitm", "stolen" (harmless), "logout" (signs out), "reuse" (ends a bearer
    // session; a DPoP-bound one survives it).
    Q_INVOKABLE void run(const QString &check);
    // disk, csrf, mitm and stolen, one after the other.
    Q_INVOKABLE void runSafeChecks();
    Q_INVOKABLE void reset();

Q_SIGNALS:
    void sessionChanged();
    void resultsChanged();
    void runningChanged();
    void checkFinished(const QString &check, const QString &status);

private:
    struct HttpResult
    {
        int status = 0;
        QString code; // the server's stable error code (or OAuth "error"), if any
        QJsonObject json;
        QString transportError;
    };
    using HttpCallback = std::function<void(HttpResult &result)>;
    using TokenCallback = std::function<void(std::optional<Tessera::Secret> token)>;
    struct StoredToken
    {
        enum class Status { Found, NotFound, Failed } status = Status::Failed;
        QString message;
        Tessera::Secret token;
    };
    using StoredCallback = std::function<void(StoredToken &stored)>;

    void runDisk();
    void runCsrf();
    void runMitm();
    void runStolen();
    void runLogout();
    void runReuse();
    void reuseOfBoundToken(std::shared_ptr<Tessera::Secret> stolen);
    void replayUntilDetected(std::shared_ptr<Tessera::Secret> stolen,
                             std::shared_ptr<Tessera::Secret> thief, int attempt);
    void endReuseCheck(std::shared_ptr<Tessera::Secret> thief);

    void start(const QString &check, const QString &progress);
    void progress(const QString &line);
    void finish(const QString &status, const QString &summary);
    void runNextQueued();

    bool isSignedIn() const;
    bool isMemoryOnly() const;
    bool requireSignedIn();
    QUrl endpoint(const QString &path) const;
    // A GET with `Authorization: <scheme> <token>` (none without a token) and, when not
    // empty, a DPoP proof header.
    void get(const QString &path, const Tessera::Secret *token, HttpCallback done,
             const QByteArray &scheme = QByteArrayLiteral("Bearer"), const QByteArray &proof = {});
    // Redeems a refresh token as a client without the session would: the SimpleJWT refresh
    // path, or the issuer's token endpoint (OAuth); with a DPoP proof from `proofKey` if given.
    void postRefresh(const Tessera::Secret &refresh, HttpCallback done,
                     const Tessera::Jose::Key *proofKey = nullptr);
    void withTokenEndpoint(std::function<void(const QUrl &endpoint)> done);
    void getWithSession(const QString &path, std::function<void(int status)> done);
    void deliverWhenFinished(QNetworkReply *reply, HttpCallback done);
    // The Secret Service entry of `user` (the refresh token; with suffix "#dpop" the DPoP key).
    void readStoredToken(const QString &user, StoredCallback done, const QString &suffix = {});
    void withAccessToken(TokenCallback done);

    QPointer<Tessera::Session> m_session;
    QNetworkAccessManager m_http;
    QVariantMap m_results;
    QString m_current;
    QStringList m_queue;
    QStringList m_details;
    QElapsedTimer m_clock;
    QUrl m_tokenEndpoint;     // OAuth: from the issuer's discovery document, once
    quint64 m_generation = 0; // bumped by reset(): late callbacks of a reset check are dropped
};

} // namespace TesseraDemo
