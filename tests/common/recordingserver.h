// SPDX-License-Identifier: MIT
// Test support: a loopback HTTP server of another origin that records every byte it was
// sent and answers each request 200 with an empty JSON object: where a token must never go.
#pragma once

#include <QtCore/QByteArray>
#include <QtNetwork/QTcpServer>

namespace Tessera::Test {

class RecordingServer : public QTcpServer
{
public:
    RecordingServer();

    QByteArray received; // all requests, as sent
};

} // namespace Tessera::Test
