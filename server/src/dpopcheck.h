// SPDX-License-Identifier: MIT
#pragma once

#include "config.h"
#include "dpopproof.h"
#include "store.h"
#include "tokenservice.h"

#include <tessera/dpop.h>

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>
#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtHttpServer/QHttpServerResponse>

#include <functional>
#include <memory>

namespace Tessera::Server {

// The server's side of DPoP (RFC 9449; docs/SERVER.md "DPoP") over HTTP: the proofs of token
// requests and of resource requests, checked by DpopVerifier (dpopproof.h) against the URL the
// client used (the configured public base URL, never the Host header), the Authorization
// schemes, DPoP-Nonce, and the answers to refused proofs. Event-loop thread only, except the
// signature checks of authorizeDeferred(), which run on a pool of worker threads.
// Replays: DpopVerifier's in-memory cache refuses a jti this process saw; on PostgreSQL every
// proof it accepts is then recorded in the database too (Store::rememberDpopProof()), so a
// proof is accepted once by the whole deployment, also across restarts. On SQLite (one
// process) the in-memory cache is the only one.
class DpopCheck
{
public:
    // `deploymentKey`: the key material every instance on one database shares (HttpApi); the
    // nonces are derived from it, so one instance accepts the nonces of another.
    // `store`: the database of the deployment's replay cache when it is PostgreSQL; null, or
    // SQLite: the in-memory cache alone.
    DpopCheck(const ServerConfig &config, QByteArrayView deploymentKey, Store *store = nullptr);
    ~DpopCheck();

    using Proof = DpopVerifier::Proof;
    bool isReady() const { return m_verifier.isReady(); }

    // A token request's proof. With --dpop off the DPoP header is ignored (an empty jkt).
    // Without a proof: ok with an empty jkt, or MissingProof with --dpop required.
    Proof tokenRequest(const QHttpServerRequest &request);
    // The proof of a revocation request (/api/token/blacklist/, /revoke), which needs one only
    // for a bound token: checked when present (ignored with --dpop off), never required.
    Proof presentedProof(const QHttpServerRequest &request);
    // A resource request carrying `accessToken` bound to `jkt`: a proof is needed, with the
    // token's ath, this request's method and URL, and that key.
    Proof resourceRequest(const QHttpServerRequest &request, QByteArrayView accessToken,
                          const QString &jkt);

    // The answer of a token endpoint to a refused proof: 400 invalid_dpop_proof or
    // use_dpop_nonce (RFC 9449 sections 5 and 8) in both error shapes ({"error",
    // "error_description"} and SimpleJWT's {"code","detail"}), 503 when the replay cache is full
    // or the database holding it cannot be reached (then storageErrorResponse(), SimpleJWT's
    // answer to any database trouble; the OAuth endpoints answer oauthStorageError() instead).
    QHttpServerResponse tokenRefusal(const Proof &proof) const;
    // A token of a DPoP-bound family presented without a proof of its key.
    QHttpServerResponse wrongKeyRefusal() const;

    // An authenticated resource request (Authorization: Bearer or DPoP).
    struct Access
    {
        enum class Failure {
            None,
            NoCredentials,        // 401 with the schemes' challenges
            AmbiguousCredentials, // several Authorization fields: 400
            InvalidToken,         // 401 invalid_token
            InvalidProof,         // 401 invalid_dpop_proof
            UseNonce,             // 401 use_dpop_nonce
            TryLater,             // 503: the replay cache is full (or its database failed)
            Internal,             // storage failure
        };
        Failure failure = Failure::NoCredentials;
        TokenService::AccessCheck check;
        QString description; // for the error body; never the token
        bool dpopScheme = false;
        bool databaseUnavailable = false; // TryLater because the replay cache's database failed
    };
    // Reads the Authorization field, checks the token (TokenService::checkAccess, whose cache
    // may skip the signature) and, for a bound token, always the proof.
    Access authorize(const QHttpServerRequest &request, TokenService &tokens);
    // authorize() for a resource route, answered through `responder`: a bound token's proof is
    // verified on a worker thread (one signature check per proof costs more than the rest of
    // the request), and `answer` then runs back on this thread, which records the proof in the
    // database's replay cache and writes the answer; to a client gone meanwhile, nothing.
    // Everything else (Bearer, refusals before the proof) is answered at once.
    // Queued checks are bounded by the connections: each has at most one request handed over
    // at a time (HttpConnection), and there are at most --max-connections of them.
    using AccessAnswer = std::function<QHttpServerResponse(const Access &)>;
    void authorizeDeferred(const QHttpServerRequest &request, TokenService &tokens,
                           QHttpServerResponder &&responder, AccessAnswer answer);
    // Drops the deferred checks unanswered and waits for the running ones. Call while the HTTP
    // server, and so the responders' sockets, still exist.
    void shutdown();
    // The answer to a refused `access` (not Internal): `body` makes the endpoint's error body
    // from a status, an error code and a description; this adds WWW-Authenticate, DPoP-Nonce
    // and Retry-After.
    using ErrorBody = std::function<QHttpServerResponse(
            QHttpServerResponse::StatusCode, const QString &code, const QString &description)>;
    QHttpServerResponse accessRefusal(const Access &access, const ErrorBody &body) const;
    // A checked proof's verdict on `access`: None when accepted, else the failure and the
    // description accessRefusal() answers with.
    static void applyProof(Access &access, const Proof &proof);

    // Adds the current DPoP-Nonce when nonces are on (every answer of a DPoP endpoint).
    void addNonce(QHttpServerResponse &response) const;
    // The current nonce; empty when nonces are off.
    QByteArray currentNonce() const;
    // "ES256 EdDSA": the algorithms accepted in proofs.
    static QStringList signingAlgorithms();
    // The URL a request was made to as its client saw it: the public base URL's scheme and
    // authority (--issuer, or the listen URL) with the request's path.
    QUrl publicUrl(const QHttpServerRequest &request) const;

private:
    class ProofWorkers;

    // publicUrl() and its Jose::Dpop::normalizeHtu(), once per path.
    struct RequestUrl
    {
        QUrl url;
        QString htu; // empty when the URL does not normalise (no proof matches it)
    };
    const RequestUrl &requestUrl(const QHttpServerRequest &request);

    // The Authorization field (its token into `token`) and the token's check into `access`;
    // true when the token is valid and bound, and its proof remains to be checked.
    bool checkToken(const QHttpServerRequest &request, TokenService &tokens, Access &access,
                    QByteArray &token);
    // The request's method as a proof's htm names it.
    static QByteArray proofMethod(const QHttpServerRequest &request);
    // A verified (or refused) proof: the database's replay cache on PostgreSQL, the log.
    Proof settle(Proof proof, const RequestUrl &url);
    // Hands the round's proofs to the pool (authorizeDeferred()).
    void dispatchBatch();
    void finishDeferred(quint64 id, const Proof &proof);
    Proof verify(const QHttpServerRequest &request, std::optional<QByteArrayView> accessToken,
                 const QString &jkt);
    QByteArray challenge(const QString &error, const QString &description) const;
    // A proof DpopVerifier accepted, checked against and recorded in the database's cache.
    Proof rememberInDatabase(const Proof &accepted, const RequestUrl &url);

    const ServerConfig &m_config;
    DpopVerifier m_verifier;
    Store *m_sharedReplay = nullptr; // set on PostgreSQL only
    std::unique_ptr<ProofWorkers> m_workers;
    // Server thread only. The few paths DPoP routes serve; emptied when the issuer changes
    // (set once listening) or when full.
    QHash<QString, RequestUrl> m_requestUrls;
    QString m_requestUrlsIssuer;
};

} // namespace Tessera::Server
