// SPDX-License-Identifier: MIT
#include "dpopcheck.h"

#include "jsonresponses.h"
#include "logging.h"
#include "workerthreads.h"

#include <tessera/jose.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QPointer>
#include <QtCore/QThread>
#include <QtCore/QThreadPool>
#include <QtNetwork/QTcpSocket>

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace Tessera::Server {
namespace {

using Jose::Dpop::Challenge;
using Jose::Dpop::Error;

// A quoted-string parameter value of a challenge (RFC 9110 section 11.2): descriptions are
// fixed sentences, but quotes and backslashes are escaped all the same.
QByteArray quoted(const QString &text)
{
    QByteArray out = "\"";
    for (const char c : text.toLatin1()) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + '"';
}

} // namespace

// The deferred resource requests: their responders (server thread only) and the pool their
// proofs are verified on. Results come back as queued calls to this object, so responders
// are only touched and destroyed on the server thread.
class DpopCheck::ProofWorkers : public QObject
{
public:
    struct Pending
    {
        QHttpServerResponder responder;
        QPointer<QTcpSocket> socket;
        Access access;
        RequestUrl url;
        AccessAnswer answer;
    };

    // A proof to check, copied out of its request (which lives only for the handler's call).
    struct Job
    {
        quint64 id;
        QList<QByteArray> values;
        QByteArray method;
        RequestUrl url;
        QByteArray token;
        QString jkt;
        qint64 now;
    };

    QThreadPool pool;
    std::map<quint64, Pending> pending;
    quint64 lastId = 0;
    // The proofs of this event-loop round, handed to the pool together once it ends.
    std::vector<Job> batch;
    bool dispatchScheduled = false;
};

DpopCheck::DpopCheck(const ServerConfig &config, QByteArrayView deploymentKey, Store *store)
    : m_config(config)
    , m_verifier(config.dpopWindow, config.dpopNonces, deploymentKey)
    , m_sharedReplay(store && store->isPostgreSQL() ? store : nullptr)
    , m_workers(std::make_unique<ProofWorkers>())
{
    // The checks are CPU-bound: one thread per core.
    m_workers->pool.setMaxThreadCount(qMax(1, QThread::idealThreadCount()));
}

DpopCheck::~DpopCheck()
{
    shutdown();
}

void DpopCheck::shutdown()
{
    retireWorkerThreads(m_workers->pool);
    // Results of the checks that ran are queued calls: dropped with their responders.
    QCoreApplication::removePostedEvents(m_workers.get(), QEvent::MetaCall);
    m_workers->batch.clear();
    m_workers->dispatchScheduled = false;
    m_workers->pending.clear();
}

QStringList DpopCheck::signingAlgorithms()
{
    return {QStringLiteral("ES256"), QStringLiteral("EdDSA")};
}

QUrl DpopCheck::publicUrl(const QHttpServerRequest &request) const
{
    // Read per request: without --issuer it is the listen URL, known once listening.
    QUrl url(m_config.issuer);
    url.setPath(request.url().path(QUrl::FullyEncoded), QUrl::TolerantMode);
    url.setQuery(QString());
    url.setFragment(QString());
    return url;
}

const DpopCheck::RequestUrl &DpopCheck::requestUrl(const QHttpServerRequest &request)
{
    // Hostile paths never reach a DPoP route's check, but the cache stays bounded all the same.
    constexpr qsizetype MaxPaths = 64;
    if (m_requestUrlsIssuer != m_config.issuer || m_requestUrls.size() >= MaxPaths) {
        m_requestUrls.clear();
        m_requestUrlsIssuer = m_config.issuer;
    }
    const QString path = request.url().path(QUrl::FullyEncoded);
    auto found = m_requestUrls.constFind(path);
    if (found == m_requestUrls.constEnd()) {
        RequestUrl entry;
        entry.url = publicUrl(request);
        entry.htu = Jose::Dpop::normalizeHtu(entry.url).value_or(QString());
        found = m_requestUrls.insert(path, std::move(entry));
    }
    return *found;
}

QByteArray DpopCheck::currentNonce() const
{
    return m_verifier.nonceAt(QDateTime::currentSecsSinceEpoch());
}

void DpopCheck::addNonce(QHttpServerResponse &response) const
{
    if (m_config.dpopNonces)
        response.setHeader(QByteArrayLiteral("DPoP-Nonce"), currentNonce());
}

QByteArray DpopCheck::proofMethod(const QHttpServerRequest &request)
{
    // The DPoP routes are GET and POST ones; any other method matches no htm.
    if (request.method() == QHttpServerRequest::Method::Get)
        return QByteArrayLiteral("GET");
    if (request.method() == QHttpServerRequest::Method::Post)
        return QByteArrayLiteral("POST");
    return QByteArrayLiteral("-");
}

DpopCheck::Proof DpopCheck::verify(const QHttpServerRequest &request,
                                   std::optional<QByteArrayView> accessToken, const QString &jkt)
{
    const RequestUrl url = requestUrl(request);
    return settle(m_verifier.verify(headerValues(request, "dpop"), proofMethod(request), url.url,
                                    accessToken, jkt, QDateTime::currentSecsSinceEpoch(), url.htu),
                  url);
}

DpopCheck::Proof DpopCheck::settle(Proof proof, const RequestUrl &url)
{
    if (proof.ok() && m_sharedReplay)
        proof = rememberInDatabase(proof, url);
    if (!proof.ok())
        qCInfo(lcServerAuth).noquote() << "DPoP proof refused:" << proof.reason;
    return proof;
}

DpopCheck::Proof DpopCheck::rememberInDatabase(const Proof &accepted, const RequestUrl &url)
{
    // The proof's htu matched this URL, so the URL normalises; a space never occurs in it.
    const QByteArray id = url.htu.toUtf8() + ' ' + accepted.jti.toUtf8();
    const qint64 expiresAtMs = (accepted.issuedAt + m_verifier.windowSeconds()) * 1000;
    switch (m_sharedReplay->rememberDpopProof(Jose::sha256(id), expiresAtMs,
                                              QDateTime::currentMSecsSinceEpoch())) {
    case Store::DpopProofResult::New:
        return accepted;
    case Store::DpopProofResult::Replayed:
        return {Error::Replayed,
                QStringLiteral("the proof was used before (at this or another instance)"),
                {}};
    case Store::DpopProofResult::Failed:
        break;
    }
    // Unknown whether it was used before: refused, never accepted.
    Proof refused{Error::ReplayCacheFull,
                  QStringLiteral("the DPoP replay cache's database is unavailable"),
                  {}};
    refused.databaseUnavailable = true;
    return refused;
}

DpopCheck::Proof DpopCheck::tokenRequest(const QHttpServerRequest &request)
{
    if (m_config.dpopMode == DpopMode::Off)
        return {};
    if (headerValues(request, "dpop").isEmpty()) {
        if (m_config.dpopMode == DpopMode::Required)
            return {Error::MissingProof,
                    QStringLiteral("this server requires a DPoP proof with every token request"),
                    {}};
        return {};
    }
    return verify(request, std::nullopt, {});
}

DpopCheck::Proof DpopCheck::presentedProof(const QHttpServerRequest &request)
{
    if (m_config.dpopMode == DpopMode::Off || headerValues(request, "dpop").isEmpty())
        return {};
    return verify(request, std::nullopt, {});
}

DpopCheck::Proof DpopCheck::resourceRequest(const QHttpServerRequest &request,
                                            QByteArrayView accessToken, const QString &jkt)
{
    return verify(request, accessToken, jkt);
}

QByteArray DpopCheck::challenge(const QString &error, const QString &description) const
{
    QByteArray value = "DPoP";
    if (!error.isEmpty()) {
        value += " error=" + quoted(error);
        if (!description.isEmpty())
            value += ", error_description=" + quoted(description);
        value += ',';
    }
    return value + " algs=" + quoted(signingAlgorithms().join(u' '));
}

QHttpServerResponse DpopCheck::tokenRefusal(const Proof &proof) const
{
    const Challenge challengeKind = Jose::Dpop::challengeFor(proof.error);
    if (proof.databaseUnavailable) {
        // The SimpleJWT endpoints' answer to database trouble, whatever the statement; the OAuth
        // endpoints answer theirs (oauthStorageError()) before calling this.
        QHttpServerResponse response = storageErrorResponse(true);
        addNonce(response);
        return response;
    }
    if (challengeKind == Challenge::TryLater) {
        QHttpServerResponse response = retryLaterResponse(
                Status::ServiceUnavailable, QStringLiteral("server_busy"),
                QStringLiteral("too many DPoP proofs; try again later"), m_config.dpopWindow);
        addNonce(response);
        return response;
    }
    const QString error = Jose::Dpop::errorCode(challengeKind);
    const QString description = challengeKind == Challenge::UseDpopNonce
            ? QStringLiteral("a DPoP proof with the nonce of DPoP-Nonce is required")
            : proof.reason;
    QHttpServerResponse response = errorResponse(
            Status::BadRequest, error, description,
            {{QStringLiteral("error"), error}, {QStringLiteral("error_description"), description}});
    response.setHeader(QByteArrayLiteral("WWW-Authenticate"), challenge(error, description));
    addNonce(response);
    return response;
}

QHttpServerResponse DpopCheck::wrongKeyRefusal() const
{
    return tokenRefusal({Error::WrongKey,
                         QStringLiteral("the token is bound to a DPoP key: a proof of that key "
                                        "is required"),
                         {}});
}

bool DpopCheck::checkToken(const QHttpServerRequest &request, TokenService &tokens, Access &access,
                           QByteArray &token)
{
    using Failure = Access::Failure;
    const QList<QByteArray> fields = headerValues(request, "authorization");
    // A singleton field; with two, which one counts is ambiguous (a proxy may pick another).
    if (fields.size() > 1) {
        access.failure = Failure::AmbiguousCredentials;
        access.description = QStringLiteral("More than one Authorization header.");
        return false;
    }
    Authorization authorization = parseAuthorization(fields.value(0));
    token = std::move(authorization.token);
    access.dpopScheme = authorization.scheme == Authorization::Scheme::Dpop;
    if (authorization.scheme == Authorization::Scheme::None) {
        access.description = QStringLiteral("Authentication credentials were not provided.");
        return false;
    }
    access.check = tokens.checkAccess(token);
    if (access.check.outcome == TokenService::Outcome::Internal) {
        access.failure = Failure::Internal;
        return false;
    }
    if (access.check.outcome != TokenService::Outcome::Ok) {
        qCDebug(lcServerAuth) << "access refused:" << access.check.reason;
        access.failure = Failure::InvalidToken;
        access.description = QStringLiteral("Token is invalid or expired");
        return false;
    }
    const bool bound = !access.check.dpopJkt.isEmpty();
    if (bound != access.dpopScheme) {
        // A bound token as a bearer token is what a thief without the key would send; an
        // unbound one under the DPoP scheme claims a binding it does not have.
        qCInfo(lcServerAuth) << (bound ? "a DPoP-bound token was sent as a Bearer token"
                                       : "an unbound token was sent with the DPoP scheme");
        access.failure = Failure::InvalidToken;
        access.description = bound
                ? QStringLiteral("The token is DPoP-bound: send it as Authorization: DPoP with a "
                                 "proof of its key")
                : QStringLiteral("The token is not DPoP-bound: send it as a Bearer token");
        access.dpopScheme = true; // the challenge names the scheme the token needs
        return false;
    }
    access.failure = Failure::None;
    return bound;
}

void DpopCheck::applyProof(Access &access, const Proof &proof)
{
    using Failure = Access::Failure;
    switch (Jose::Dpop::challengeFor(proof.error)) {
    case Challenge::None:
        access.failure = Failure::None;
        return;
    case Challenge::UseDpopNonce:
        access.failure = Failure::UseNonce;
        access.description =
                QStringLiteral("a DPoP proof with the nonce of DPoP-Nonce is required");
        return;
    case Challenge::TryLater:
        access.failure = Failure::TryLater;
        access.databaseUnavailable = proof.databaseUnavailable;
        access.description = proof.databaseUnavailable
                ? QStringLiteral("The database is unavailable; try again.")
                : QStringLiteral("too many DPoP proofs; try again later");
        return;
    case Challenge::InvalidDpopProof:
        access.failure = Failure::InvalidProof;
        access.description = proof.reason;
        return;
    }
}

DpopCheck::Access DpopCheck::authorize(const QHttpServerRequest &request, TokenService &tokens)
{
    Access access;
    QByteArray token;
    if (checkToken(request, tokens, access, token)) {
        // Never cached: the token's verdict may come from the cache, every proof is checked.
        applyProof(access, resourceRequest(request, token, access.check.dpopJkt));
    }
    return access;
}

void DpopCheck::authorizeDeferred(const QHttpServerRequest &request, TokenService &tokens,
                                  QHttpServerResponder &&responder, AccessAnswer answer)
{
    Access access;
    QByteArray token;
    if (!checkToken(request, tokens, access, token))
        return answer(access).write(std::move(responder));
    const RequestUrl url = requestUrl(request);
    const quint64 id = ++m_workers->lastId;
    QTcpSocket *socket = responder.socket();
    m_workers->pending.emplace(
            id,
            ProofWorkers::Pending{std::move(responder), socket, access, url, std::move(answer)});
    m_workers->batch.push_back(ProofWorkers::Job{
            id, headerValues(request, "dpop"), proofMethod(request), url, std::move(token),
            access.check.dpopJkt, QDateTime::currentSecsSinceEpoch()});
    if (!m_workers->dispatchScheduled) {
        m_workers->dispatchScheduled = true;
        // Queued: runs once the round's socket events are handled, so the round's proofs go
        // to the pool in a few runnables and come back in as few queued calls, instead of a
        // wake-up of a worker and of this thread for each request.
        QMetaObject::invokeMethod(
                m_workers.get(), [this] { dispatchBatch(); }, Qt::QueuedConnection);
    }
}

void DpopCheck::dispatchBatch()
{
    m_workers->dispatchScheduled = false;
    std::vector<ProofWorkers::Job> jobs = std::exchange(m_workers->batch, {});
    constexpr size_t ProofsPerRunnable = 8;
    startInChunks(m_workers->pool, std::move(jobs), ProofsPerRunnable,
                  [this](const std::vector<ProofWorkers::Job> &chunk) {
                      // The verifier's replay and key caches are thread-safe; it holds nothing
                      // else that changes.
                      std::vector<std::pair<quint64, Proof>> results;
                      results.reserve(chunk.size());
                      for (const ProofWorkers::Job &job : chunk)
                          results.emplace_back(job.id,
                                               m_verifier.verify(job.values, job.method,
                                                                 job.url.url, job.token, job.jkt,
                                                                 job.now, job.url.htu));
                      QMetaObject::invokeMethod(
                              m_workers.get(),
                              [this, results = std::move(results)] {
                                  for (const auto &[id, proof] : results)
                                      finishDeferred(id, proof);
                              },
                              Qt::QueuedConnection);
                  });
}

void DpopCheck::finishDeferred(quint64 id, const Proof &proof)
{
    auto node = m_workers->pending.extract(id);
    if (node.empty())
        return;
    ProofWorkers::Pending &pending = node.mapped();
    // Recorded in the database even when the client has left: the proof is spent here.
    applyProof(pending.access, settle(proof, pending.url));
    if (!pending.socket || pending.socket->state() != QAbstractSocket::ConnectedState) {
        qCDebug(lcServerAuth) << "resource client disconnected during its proof check";
        return;
    }
    pending.answer(pending.access).write(std::move(pending.responder));
}

QHttpServerResponse DpopCheck::accessRefusal(const Access &access, const ErrorBody &body) const
{
    using Failure = Access::Failure;
    const bool dpop = m_config.dpopMode != DpopMode::Off;
    QString error;
    Status status = Status::Unauthorized;
    switch (access.failure) {
    case Failure::None:
    case Failure::Internal:
        return internalError();
    case Failure::AmbiguousCredentials:
        return body(Status::BadRequest, QStringLiteral("invalid_request"), access.description);
    case Failure::TryLater: {
        QHttpServerResponse response =
                body(Status::ServiceUnavailable,
                     access.databaseUnavailable ? QStringLiteral("database_unavailable")
                                                : QStringLiteral("server_busy"),
                     access.description);
        // Database trouble passes in seconds; a full cache empties as its proofs expire.
        response.setHeader(
                QByteArrayLiteral("Retry-After"),
                QByteArray::number(access.databaseUnavailable ? 1 : m_config.dpopWindow));
        addNonce(response);
        return response;
    }
    case Failure::NoCredentials: {
        // RFC 9449 section 7.1: one challenge per scheme the resource accepts.
        QHttpServerResponse response =
                body(status, QStringLiteral("not_authenticated"), access.description);
        QByteArray value = "Bearer realm=\"api\"";
        if (dpop)
            value += ", " + challenge({}, {});
        response.setHeader(QByteArrayLiteral("WWW-Authenticate"), value);
        addNonce(response);
        return response;
    }
    case Failure::InvalidToken:
        error = QStringLiteral("invalid_token");
        break;
    case Failure::InvalidProof:
        error = QStringLiteral("invalid_dpop_proof");
        break;
    case Failure::UseNonce:
        error = QStringLiteral("use_dpop_nonce");
        break;
    }
    QHttpServerResponse response = body(status, error, access.description);
    response.setHeader(QByteArrayLiteral("WWW-Authenticate"),
                       access.dpopScheme
                               ? challenge(error, access.description)
                               : QByteArray("Bearer realm=\"api\", error=\"invalid_token\""));
    addNonce(response);
    return response;
}

} // namespace Tessera::Server
