// Loads main.qml (import Tessera) from the installed module and runs its checks: a Session
// configured while signed out, typed errors in lastError, and, given a tessera-server URL as
// the first argument, a sign-in and sign-out. Prints "<name> ok" on success.
//   qmlconsumer [SERVER_URL]
#ifdef WITH_TESSERA_QML_LIBRARY
#include <tessera/qmlnetwork.h>
#endif

#include <QtCore/QCoreApplication>
#include <QtCore/QFileInfo>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpServer>
#include <QtQml/QQmlComponent>
#include <QtQml/QQmlEngine>

#include <cstdio>
#include <memory>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QString name = QFileInfo(app.applicationFilePath()).fileName();

    // A loopback port nobody listens on: the sign-in there must fail as a network error.
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 2;
    const QString unreachable = QStringLiteral("http://127.0.0.1:%1").arg(probe.serverPort());
    probe.close();

    QQmlEngine engine;
    engine.addImportPath(QStringLiteral(TESSERA_QML_IMPORT_PATH));
#ifdef WITH_TESSERA_QML_LIBRARY
    Tessera::Qml::installNetworkAccess(&engine);
#endif
    QQmlComponent component(&engine, QUrl::fromLocalFile(QStringLiteral(CONSUMER_QML)));
    std::unique_ptr<QObject> root(component.createWithInitialProperties(
            {{QStringLiteral("unreachableUrl"), unreachable},
             {QStringLiteral("serverUrl"), app.arguments().value(1)}}));
    if (!root) {
        std::fprintf(stderr, "%s: %s\n", qPrintable(name), qPrintable(component.errorString()));
        return 1;
    }
    int status = 1;
    QObject::connect(root.get(), SIGNAL(finished()), &app, SLOT(quit()));
    QTimer::singleShot(30000, &app, [&] {
        std::fprintf(stderr, "%s: timed out at step %s\n", qPrintable(name),
                     qPrintable(root->property("step").toString()));
        app.quit();
    });
    if (root->property("failure").toString().isEmpty() && !root->property("done").toBool())
        app.exec();
    const QString failure = root->property("failure").toString();
    if (root->property("done").toBool() && failure.isEmpty()) {
        std::printf("%s ok\n", qPrintable(name));
        status = 0;
    } else if (!failure.isEmpty()) {
        std::fprintf(stderr, "%s: %s\n", qPrintable(name), qPrintable(failure));
    }
    return status;
}
