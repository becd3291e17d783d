// SPDX-License-Identifier: MIT
// bench_trivial_server [PORT]: one trivial Qt HttpServer route, GET / -> {"status":"ok"}.
// The baseline for "authenticated GET at least half of a trivial Qt HttpServer route".
// Prints "listening on http://127.0.0.1:PORT" once it accepts connections.
#include <QtCore/QCoreApplication>
#include <QtHttpServer/QHttpServer>
#include <QtNetwork/QHostAddress>

#include <cstdio>
#include <cstdlib>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QHttpServer server;
    server.route(QStringLiteral("/"), [] {
        return QHttpServerResponse(QByteArrayLiteral("application/json"),
                                   QByteArrayLiteral("{\"status\":\"ok\"}"));
    });
    const quint16 port =
            server.listen(QHostAddress::LocalHost, argc > 1 ? quint16(std::atoi(argv[1])) : 0);
    if (port == 0) {
        std::fputs("bench_trivial_server: cannot listen\n", stderr);
        return 1;
    }
    std::printf("listening on http://127.0.0.1:%u\n", unsigned(port));
    std::fflush(stdout);
    return app.exec();
}
