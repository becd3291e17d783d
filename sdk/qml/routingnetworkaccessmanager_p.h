// SPDX-License-Identifier: MIT
// Private: the network access manager that NetworkAccessManagerFactory hands to QML engines.
#pragma once

#include <QtNetwork/QNetworkAccessManager>

namespace Tessera {
namespace SessionDirectory {
struct Entry;
}
namespace Qml {
namespace Detail {

// Routes a request by the SDK's directory of live sessions (sessiondirectory_p.h), which any
// thread may read: to a signed-in session's origin (its server, or its issuer's origin) or one
// of its resource origins through that session's one authenticated manager
// (networkAccessManager(Session *)), on the session's thread; to its token endpoints not at all;
// anywhere else unchanged. A routed request is answered by a reply this manager owns, so the
// engine's reply outlives a session destroyed meanwhile.
class RoutingNetworkAccessManager : public QNetworkAccessManager
{
    Q_OBJECT
public:
    explicit RoutingNetworkAccessManager(QObject *parent = nullptr);
    ~RoutingNetworkAccessManager() override;

protected:
    QNetworkReply *createRequest(Operation operation, const QNetworkRequest &request,
                                 QIODevice *outgoingData = nullptr) override;

private:
    QNetworkReply *relay(const SessionDirectory::Entry &route, Operation operation,
                         const QNetworkRequest &request, QIODevice *outgoingData);
};

} // namespace Detail
} // namespace Qml
} // namespace Tessera
