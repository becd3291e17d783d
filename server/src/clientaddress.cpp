// SPDX-License-Identifier: MIT
#include "clientaddress.h"

#include <optional>

namespace Tessera::Server {
namespace {

// IPv4-mapped IPv6 addresses (a dual-stack listener) compare as IPv4.
QHostAddress normalized(const QHostAddress &address)
{
    if (address.protocol() == QAbstractSocket::IPv6Protocol) {
        bool isMapped = false;
        const quint32 ipv4 = address.toIPv4Address(&isMapped);
        if (isMapped)
            return QHostAddress(ipv4);
    }
    return address;
}

// One X-Forwarded-For entry: "203.0.113.7", "2001:db8::1", "[2001:db8::1]:443"
// or "203.0.113.7:443" (some proxies add the port).
std::optional<QHostAddress> parseForwardedEntry(QByteArray entry)
{
    entry = entry.trimmed();
    if (entry.startsWith('[')) {
        const qsizetype close = entry.indexOf(']');
        if (close < 0)
            return std::nullopt;
        entry = entry.mid(1, close - 1);
    } else if (entry.count(':') == 1) {
        entry.truncate(entry.indexOf(':'));
    }
    QHostAddress address;
    if (entry.isEmpty() || !address.setAddress(QString::fromLatin1(entry)))
        return std::nullopt;
    return normalized(address);
}

} // namespace

std::optional<Subnet> parseSubnet(const QString &text)
{
    if (text.contains(u'/')) {
        const Subnet subnet = QHostAddress::parseSubnet(text);
        if (subnet.first.isNull() || subnet.second < 0)
            return std::nullopt;
        return subnet;
    }
    QHostAddress address;
    if (!address.setAddress(text))
        return std::nullopt;
    address = normalized(address);
    return Subnet{address, address.protocol() == QAbstractSocket::IPv4Protocol ? 32 : 128};
}

ClientAddressResolver::ClientAddressResolver(QList<Subnet> trustedProxies)
    : m_trustedProxies(std::move(trustedProxies))
{ }

bool ClientAddressResolver::isTrustedProxy(const QHostAddress &address) const
{
    const QHostAddress candidate = normalized(address);
    for (const Subnet &subnet : m_trustedProxies) {
        if (candidate.isInSubnet(subnet.first, subnet.second))
            return true;
    }
    return false;
}

QHostAddress ClientAddressResolver::clientAddress(const QHostAddress &peer,
                                                  const QList<QByteArray> &forwardedFor) const
{
    QHostAddress client = normalized(peer);
    if (m_trustedProxies.isEmpty() || !isTrustedProxy(client))
        return client;
    // Each proxy appends the address it received the request from, so the
    // right-most entries are the ones trusted hops wrote. Left of the first
    // untrusted address, anything may be forged by the client.
    QList<QByteArray> entries;
    for (const QByteArray &field : forwardedFor)
        entries += field.split(',');
    for (qsizetype i = entries.size() - 1; i >= 0; --i) {
        const auto address = parseForwardedEntry(entries.at(i));
        if (!address)
            break;
        client = *address;
        if (!isTrustedProxy(client))
            break;
    }
    return client;
}

QString ClientAddressResolver::limiterKey(const QHostAddress &address)
{
    const QHostAddress key = normalized(address);
    if (key.protocol() != QAbstractSocket::IPv6Protocol)
        return key.toString();
    Q_IPV6ADDR bytes = key.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        bytes[i] = 0;
    return QHostAddress(bytes).toString() + QStringLiteral("/64");
}

QString ClientAddressResolver::displayAddress(const QHostAddress &address)
{
    return normalized(address).toString();
}

} // namespace Tessera::Server
