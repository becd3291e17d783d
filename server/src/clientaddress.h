// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtNetwork/QHostAddress>

#include <optional>

namespace Tessera::Server {

// A network given on the command line: an address and a prefix length
// (32 or 128 for a single address).
using Subnet = QPair<QHostAddress, int>;

// "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6); std::nullopt when malformed.
std::optional<Subnet> parseSubnet(const QString &text);

// Who a request comes from, for login limits and logs. The TCP peer, unless
// the peer is a trusted proxy (--trusted-proxy): then X-Forwarded-For is read
// from the right, skipping trusted proxies, and the first address that is not
// one is the client. Without trusted proxies X-Forwarded-For is ignored: any
// client can write it.
class ClientAddressResolver
{
public:
    explicit ClientAddressResolver(QList<Subnet> trustedProxies);

    bool isTrustedProxy(const QHostAddress &address) const;

    // `forwardedFor`: every X-Forwarded-For field of the request, in order.
    // An entry that is not an IP address ends the walk at the last trusted hop.
    QHostAddress clientAddress(const QHostAddress &peer,
                               const QList<QByteArray> &forwardedFor) const;

    // The key a limit counts a client under: an IPv4 address as is (also when
    // IPv4-mapped), an IPv6 address by its /64, which one subscriber usually
    // holds whole.
    static QString limiterKey(const QHostAddress &address);
    // For logs: IPv4-mapped addresses printed as IPv4.
    static QString displayAddress(const QHostAddress &address);

private:
    QList<Subnet> m_trustedProxies;
};

} // namespace Tessera::Server
