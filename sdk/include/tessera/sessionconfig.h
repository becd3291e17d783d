// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/error.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>
#include <QtNetwork/QSslCertificate>

#include <chrono>

namespace Tessera {

// Where and how a Session signs in. A plain value type: copy it, change it,
// hand it to a Session. Two profiles (profile()):
//  - SimpleJwt (no issuer set, the default): username and password posted to the server's
//    djangorestframework-simplejwt endpoints (serverUrl + the paths below);
//  - OAuth (an issuer set): OpenID Connect through the system browser (authorization code with
//    PKCE, RFC 8252), endpoints from the issuer's discovery document; serverUrl is not used.
//
// The properties are what QML may set (`session.config.serverUrl: ...`); the refresh lead,
// timeout, pins and certificates are set from C++ and kept when QML changes the others.
// Nothing in it is secret.
class TESSERA_SDK_EXPORT SessionConfig
{
    Q_GADGET
    Q_PROPERTY(QUrl serverUrl READ serverUrl WRITE setServerUrl)
    Q_PROPERTY(QString appId READ appId WRITE setAppId)
    Q_PROPERTY(QString obtainPath READ obtainPath WRITE setObtainPath)
    Q_PROPERTY(QString refreshPath READ refreshPath WRITE setRefreshPath)
    Q_PROPERTY(QString revokePath READ revokePath WRITE setRevokePath)
    Q_PROPERTY(StoragePolicy storagePolicy READ storagePolicy WRITE setStoragePolicy)
    Q_PROPERTY(QUrl issuer READ issuer WRITE setIssuer)
    Q_PROPERTY(QString clientId READ clientId WRITE setClientId)
    Q_PROPERTY(QStringList scopes READ scopes WRITE setScopes)
    Q_PROPERTY(QStringList resourceOrigins READ resourceOrigins WRITE setResourceOrigins)
    Q_PROPERTY(Profile profile READ profile)
    Q_PROPERTY(DpopPolicy dpopPolicy READ dpopPolicy WRITE setDpopPolicy)
public:
    enum class Profile {
        SimpleJwt, // username + password to a SimpleJWT-style server
        OAuth,     // OpenID Connect: browser sign-in at `issuer`
    };
    Q_ENUM(Profile)

    enum class StoragePolicy {
        SecureStorage, // refresh token in the platform's secure storage (default)
        MemoryOnly,    // nothing persisted: the session ends with the process
    };
    Q_ENUM(StoragePolicy)

    // Sender-constrained tokens (DPoP, RFC 9449): whether the session holds a P-256 key of
    // its own (in secure storage beside the refresh token) and proves possession of it on
    // every token request and every request that carries the access token. A bound token
    // (token_type DPoP) is worth nothing to someone who copies it without the key.
    enum class DpopPolicy {
        Off,         // no proofs; a DPoP-bound token answer is refused as unusable
        IfSupported, // (default) proofs when the OAuth provider's metadata lists ES256 in
                     // dpop_signing_alg_values_supported; off for SimpleJWT servers, which
                     // advertise nothing (set Required for a server known to bind)
        Required,    // proofs always; a server that does not bind the tokens (token_type is
                     // not DPoP) fails the sign-in or refresh with Error::Code::DpopNotBound
    };
    Q_ENUM(DpopPolicy)

    SessionConfig() = default;
    // `appId` names the application in the storage namespace (e.g. "org.example.notes").
    SessionConfig(const QUrl &serverUrl, const QString &appId);

    QUrl serverUrl() const { return m_serverUrl; }
    void setServerUrl(const QUrl &url) { m_serverUrl = url; }

    QString appId() const { return m_appId; }
    void setAppId(const QString &appId) { m_appId = appId; }

    // Endpoint paths, relative to serverUrl. An empty revoke path means the
    // server has no revocation endpoint; logout then reports RevokeFailed.
    QString obtainPath() const { return m_obtainPath; }
    void setObtainPath(const QString &path) { m_obtainPath = path; }
    QString refreshPath() const { return m_refreshPath; }
    void setRefreshPath(const QString &path) { m_refreshPath = path; }
    QString revokePath() const { return m_revokePath; }
    void setRevokePath(const QString &path) { m_revokePath = path; }

    // Refresh this long before the access token expires; never less than 20 %
    // and never more than 50 % of the token's lifetime.
    std::chrono::seconds refreshLead() const { return m_refreshLead; }
    void setRefreshLead(std::chrono::seconds lead) { m_refreshLead = lead; }

    // Time allowed for one HTTP exchange with no progress.
    std::chrono::milliseconds requestTimeout() const { return m_requestTimeout; }
    void setRequestTimeout(std::chrono::milliseconds timeout) { m_requestTimeout = timeout; }

    // SHA-256 of the server certificate's SubjectPublicKeyInfo, base64 (as in
    // HPKP / `openssl ... | openssl dgst -sha256 -binary | base64`). When the
    // list is non-empty, a TLS connection whose chain contains none of them is refused.
    QList<QByteArray> spkiPins() const { return m_spkiPins; }
    void setSpkiPins(const QList<QByteArray> &pins) { m_spkiPins = pins; }

    // Extra CA certificates trusted in addition to the system ones (a private CA).
    QList<QSslCertificate> caCertificates() const { return m_caCertificates; }
    void setCaCertificates(const QList<QSslCertificate> &certificates)
    {
        m_caCertificates = certificates;
    }

    StoragePolicy storagePolicy() const { return m_storagePolicy; }
    void setStoragePolicy(StoragePolicy policy) { m_storagePolicy = policy; }

    // See DpopPolicy. Like the rest of the configuration it changes only with setConfig(),
    // which signs out first: a signed-in session never becomes unbound. A session bound to
    // a key that has gone from storage goes to ReauthRequired; it is never continued unbound.
    DpopPolicy dpopPolicy() const { return m_dpopPolicy; }
    void setDpopPolicy(DpopPolicy policy) { m_dpopPolicy = policy; }

    // --- the OAuth profile ---
    // OAuth when an issuer is set, else SimpleJwt.
    Profile profile() const { return m_issuer.isEmpty() ? Profile::SimpleJwt : Profile::OAuth; }
    // The OpenID provider's issuer identifier, exactly as its discovery document spells it
    // (it may have a path: https://id.example.com/realms/acme). https, or http on loopback.
    QUrl issuer() const { return m_issuer; }
    void setIssuer(const QUrl &issuer) { m_issuer = issuer; }
    // The app's registration at the provider: a public native client (no secret).
    QString clientId() const { return m_clientId; }
    void setClientId(const QString &clientId) { m_clientId = clientId; }
    // Requested scopes; "openid" brings the ID token that names the user, "offline_access" the
    // refresh token that lets the session outlive the browser's.
    QStringList scopes() const { return m_scopes; }
    void setScopes(const QStringList &scopes) { m_scopes = scopes; }
    // The path of the loopback redirect URI http://127.0.0.1:PORT/PATH (RFC 8252 §7.3): "/"
    // followed by unreserved characters.
    QString redirectPath() const { return m_redirectPath; }
    void setRedirectPath(const QString &path) { m_redirectPath = path; }
    // How long signInWithBrowser() waits for the browser to come back (then Timeout).
    std::chrono::milliseconds browserTimeout() const { return m_browserTimeout; }
    void setBrowserTimeout(std::chrono::milliseconds timeout) { m_browserTimeout = timeout; }

    // Origins besides origin() whose requests carry the access token (an API at another host),
    // e.g. "https://api.example.com". Each is reduced to its origin (originOf()); https, or
    // http on loopback. Both profiles. Part of the configuration, so the set cannot widen
    // under a running session: it changes only with setConfig(), which signs out first.
    QStringList resourceOrigins() const { return m_resourceOrigins; }
    void setResourceOrigins(const QStringList &origins) { m_resourceOrigins = origins; }

    // The origin that receives the token and names the storage namespace: originOf(serverUrl())
    // for SimpleJwt, originOf(issuer()) for OAuth.
    QString origin() const;
    QUrl endpoint(const QString &path) const;
    // The secure-storage service the entries are filed under ("tessera:" + app id;
    // the Secret Service attribute "server", the Keychain service).
    QString storageService() const;
    // The storage namespace of one account: app id + server origin + username, so builds,
    // servers and accounts never overwrite each other. For OAuth: app id + "oauth" + the
    // issuer (with its path) + client id + username, so a session stored for one issuer,
    // client or profile is never read by another.
    QString storageKey(const QString &username) const;

    // NoError when usable; InvalidConfiguration or InsecureTransport otherwise.
    Error validate() const;

private:
    Error validateSimpleJwt() const;
    Error validateOAuth() const;

    QUrl m_serverUrl;
    QString m_appId;
    QString m_obtainPath = QStringLiteral("/api/token/");
    QString m_refreshPath = QStringLiteral("/api/token/refresh/");
    QString m_revokePath = QStringLiteral("/api/token/blacklist/");
    std::chrono::seconds m_refreshLead{60};
    std::chrono::milliseconds m_requestTimeout{30000};
    QList<QByteArray> m_spkiPins;
    QList<QSslCertificate> m_caCertificates;
    StoragePolicy m_storagePolicy = StoragePolicy::SecureStorage;
    QUrl m_issuer;
    QString m_clientId;
    QStringList m_scopes = {QStringLiteral("openid"), QStringLiteral("offline_access")};
    QString m_redirectPath = QStringLiteral("/callback");
    std::chrono::milliseconds m_browserTimeout = std::chrono::minutes(10);
    QStringList m_resourceOrigins;
    DpopPolicy m_dpopPolicy = DpopPolicy::IfSupported;
};

// True for http:// URLs only when the host is a loopback address or "localhost".
TESSERA_SDK_EXPORT bool isTransportAllowed(const QUrl &url);

// The origin of a URL (RFC 6454) as the SDK compares and stores it: "scheme://host:port",
// scheme and host lower-case, IPv6 hosts in brackets, the default port (443 for https, else
// 80) filled in. Empty for a URL without a host. The one definition: the session's storage
// namespace and the decision which requests carry the token both use it.
TESSERA_SDK_EXPORT QString originOf(const QUrl &url);

} // namespace Tessera
