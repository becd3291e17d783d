// SPDX-License-Identifier: MIT
#include "discovery_p.h"

#include "../logging_p.h"
#include "../operation_p.h"
#include "../transport_p.h"

#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

#include <functional>
#include <vector>

namespace Tessera::OAuth {
namespace {

QString pathWithoutTerminatingSlash(const QUrl &issuer)
{
    QString path = issuer.path(QUrl::FullyEncoded);
    if (path.endsWith(u'/'))
        path.chop(1);
    return path;
}

QUrl withPath(const QUrl &issuer, const QString &encodedPath)
{
    QUrl url = issuer;
    url.setPath(encodedPath, QUrl::TolerantMode);
    url.setQuery(QString());
    url.setFragment(QString());
    return url;
}

bool isJson(QNetworkReply *reply)
{
    return Transport::mediaTypeOf(reply) == "application/json";
}

} // namespace

QUrl openIdConfigurationUrl(const QString &issuer)
{
    const QUrl url(issuer);
    return withPath(url,
                    pathWithoutTerminatingSlash(url)
                            + QStringLiteral("/.well-known/openid-configuration"));
}

QUrl authorizationServerMetadataUrl(const QString &issuer)
{
    const QUrl url(issuer);
    return withPath(url,
                    QStringLiteral("/.well-known/oauth-authorization-server")
                            + pathWithoutTerminatingSlash(url));
}

// One fetch: the OpenID configuration, then on 404 the RFC 8414 document. Reports once.
class DiscoveryFetch : public QObject
{
public:
    using Done = std::function<void(const std::optional<ProviderMetadata> &, const Error &)>;

    DiscoveryFetch(QNetworkAccessManager &network, const QString &issuer,
                   const SessionConfig &transport, Done done)
        : m_network(network)
        , m_issuer(issuer)
        , m_transport(transport)
        , m_done(std::move(done))
    { }

    ~DiscoveryFetch() override
    {
        if (m_reply) {
            m_reply->disconnect(this);
            m_reply->abort();
            m_reply->deleteLater();
        }
    }

    void start() { get(MetadataDocument::OpenIdConfiguration); }

private:
    void get(MetadataDocument kind)
    {
        m_kind = kind;
        m_url = kind == MetadataDocument::OpenIdConfiguration
                ? openIdConfigurationUrl(m_issuer)
                : authorizationServerMetadataUrl(m_issuer);
        // No redirects (neither specification has the document moved elsewhere, and a redirect
        // would let another origin answer for the issuer), no cookies, no cache.
        m_reply = Transport::getDocument(m_network, m_url, m_transport, "application/json",
                                         MaxProviderMetadataBytes);
        connect(m_reply, &QNetworkReply::finished, this, &DiscoveryFetch::onFinished);
    }

    void onFinished()
    {
        QNetworkReply *reply = m_reply;
        m_reply = nullptr;
        reply->deleteLater();
        const Error transport = Transport::replyError(reply);
        if (transport.isError())
            return report({}, transport);
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        if (status == 404 && m_kind == MetadataDocument::OpenIdConfiguration) {
            qCInfo(lcNetwork) << "discovery: no OpenID configuration, trying RFC 8414 metadata";
            m_firstUrl = m_url;
            return get(MetadataDocument::AuthorizationServerMetadata);
        }
        if (status != 200)
            return report({}, statusError(status));
        if (!isJson(reply))
            return report({},
                          {Error::Code::ServerError,
                           QStringLiteral("discovery: %1 is not application/json")
                                   .arg(Transport::shownUrl(m_url))});
        Error error;
        const QByteArray body = reply->readAll();
        std::optional<ProviderMetadata> metadata =
                parseProviderMetadata(body, m_issuer, m_kind, &error);
        if (!metadata) {
            qCWarning(lcNetwork) << "discovery: document of" << m_url.path() << "refused";
            return report({}, error);
        }
        report(metadata, {});
    }

    Error statusError(int status) const
    {
        if (status == 404)
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("discovery: no metadata for issuer %1 at %2 nor %3 (HTTP 404)")
                            .arg(m_issuer, Transport::shownUrl(m_firstUrl),
                                 Transport::shownUrl(m_url))};
        if (status == 429)
            return {Error::Code::RateLimited,
                    QStringLiteral("discovery: %1 answered 429 (too many requests)")
                            .arg(Transport::shownUrl(m_url))};
        if (status >= 500)
            return {Error::Code::ServerError,
                    QStringLiteral("discovery: %1 answered server error %2")
                            .arg(Transport::shownUrl(m_url))
                            .arg(status)};
        if (status >= 300 && status < 400)
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("discovery: %1 answered a redirect (%2), which is not followed: "
                                   "check the issuer URL")
                            .arg(Transport::shownUrl(m_url))
                            .arg(status)};
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("discovery: %1 answered HTTP %2")
                        .arg(Transport::shownUrl(m_url))
                        .arg(status)};
    }

    void report(const std::optional<ProviderMetadata> &metadata, const Error &error)
    {
        // m_done may destroy this object: nothing touches a member after it.
        Done done = std::move(m_done);
        done(metadata, error);
    }

    QNetworkAccessManager &m_network;
    const QString m_issuer;
    const SessionConfig &m_transport;
    Done m_done;
    MetadataDocument m_kind = MetadataDocument::OpenIdConfiguration;
    QUrl m_url;
    QUrl m_firstUrl;
    QNetworkReply *m_reply = nullptr;
};

struct Discovery::Waiters
{
    std::vector<std::unique_ptr<Operation<ProviderMetadata>>> operations;
};

Discovery::Discovery(const QString &issuer, const SessionConfig &transport, QObject *parent)
    : QObject(parent)
    , m_issuer(issuer)
    , m_transport(transport)
    , m_waiters(std::make_unique<Waiters>())
{ }

Discovery::~Discovery()
{
    m_fetch.reset();
    // Unfinished operations fail with Cancelled as they are destroyed.
    m_waiters.reset();
}

QFuture<ProviderMetadata> Discovery::metadata()
{
    if (m_cached) {
        Operation<ProviderMetadata> done;
        done.succeed(*m_cached);
        return done.future();
    }
    return refetch();
}

QFuture<ProviderMetadata> Discovery::refetch()
{
    auto operation = std::make_unique<Operation<ProviderMetadata>>();
    QFuture<ProviderMetadata> future = operation->future();
    const Error issuerProblem = checkIssuer(m_issuer);
    if (issuerProblem.isError()) {
        operation->fail(issuerProblem);
        return future;
    }
    m_waiters->operations.push_back(std::move(operation));
    if (!m_fetch)
        start();
    return future;
}

void Discovery::start()
{
    if (!m_network) {
        m_network = std::make_unique<QNetworkAccessManager>();
        m_network->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    }
    m_fetch = std::make_unique<DiscoveryFetch>(
            *m_network, m_issuer, m_transport,
            [this](const std::optional<ProviderMetadata> &fetched, const Error &error) {
                finish(fetched, error);
            });
    m_fetch->start();
}

void Discovery::finish(const std::optional<ProviderMetadata> &fetched, const Error &error)
{
    // The fetch is done: delete it once its reply's signal has returned.
    m_fetch.release()->deleteLater();
    Error outcome = error;
    // A moved endpoint, or a provider that stops sending RFC 9207's iss (the mix-up defence),
    // is not taken over silently by a running session.
    if (fetched && m_cached
        && (!m_cached->sameEndpoints(*fetched)
            || (m_cached->authorizationResponseIssParameterSupported
                && !fetched->authorizationResponseIssParameterSupported)))
        outcome = {Error::Code::InvalidConfiguration,
                   QStringLiteral("discovery: the metadata of issuer %1 changed its endpoints "
                                  "or dropped authorization_response_iss_parameter_supported "
                                  "since it was first read; the session keeps the first")
                           .arg(m_issuer)};
    else if (fetched)
        m_cached = fetched;
    if (outcome.isError())
        qCWarning(lcNetwork) << "discovery failed:" << outcome.code();
    else
        qCInfo(lcNetwork) << "discovery: metadata of the issuer read";
    // Callers' continuations may call metadata() or refetch() again: take the list first.
    const auto operations = std::move(m_waiters->operations);
    m_waiters->operations.clear();
    for (const auto &operation : operations) {
        if (outcome.isError())
            operation->fail(outcome);
        else
            operation->succeed(*m_cached);
    }
}

} // namespace Tessera::OAuth
