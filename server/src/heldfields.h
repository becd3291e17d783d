// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QList>

#include <utility>

namespace Tessera::Server {

// Request fields the connection guard keeps out of Qt's parser (httpconnection.h):
// Authorization and DPoP. Together they are most of an authenticated request's head (a JWT
// and a signed proof), and Qt HttpServer 6.4 reads a head a byte at a time. The route
// handlers get them from here instead (header() and headerValues() in jsonresponses.h), for
// the request being dispatched on the calling thread: the guard hands Qt one request at a
// time and Qt dispatches it before the hand-over returns.
namespace HeldFields {

using Fields = QList<std::pair<QByteArray, QByteArray>>;

// Authorization or DPoP, in any case.
bool isHeld(QByteArrayView name);

// The held fields of the request being dispatched on this thread, in their order; null
// outside a dispatch of a guarded request (then Qt has every field).
const Fields *current();

// Makes `fields` current on this thread for its lifetime.
class Dispatch
{
public:
    explicit Dispatch(const Fields *fields);
    ~Dispatch();
    Dispatch(const Dispatch &) = delete;
    Dispatch &operator=(const Dispatch &) = delete;

private:
    const Fields *m_previous;
};

} // namespace HeldFields
} // namespace Tessera::Server
