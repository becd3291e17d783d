// SPDX-License-Identifier: MIT
// Qt Quick Test runner for session/tst_*.qml: starts a live tessera-server
// (with the demo user) and hands its URL to the QML tests. The context property
// is test harness only; the Tessera module itself never uses one.
#include "serverprocess.h"

#include <tessera/qmlnetwork.h>

#include <QtQml/QQmlContext>
#include <QtQml/QQmlEngine>
#include <QtQuickTest/quicktest.h>

#include <memory>

class Setup : public QObject
{
    Q_OBJECT
public slots:
    void applicationAvailable()
    {
        // --demo creates demo / tessera-demo; the login limit is off because
        // the tests sign in many times in a row.
        m_server = std::make_unique<Tessera::Test::ServerProcess>(QStringList{
                QStringLiteral("--demo"), QStringLiteral("--login-limit"), QStringLiteral("0")});
        if (!m_server->start())
            qFatal("cannot start tessera-server: %s", qPrintable(m_server->errorString()));
    }

    void qmlEngineAvailable(QQmlEngine *engine)
    {
        // Qt 6.4 does not search the module resources by default.
        engine->addImportPath(QStringLiteral("qrc:/qt/qml"));
        Tessera::Qml::installNetworkAccess(engine);
        engine->rootContext()->setContextProperty(QStringLiteral("testServerUrl"),
                                                  m_server->baseUrl().toString());
    }

    void cleanupTestCase()
    {
        if (m_server)
            m_server->stop();
        m_server.reset();
    }

private:
    std::unique_ptr<Tessera::Test::ServerProcess> m_server;
};

QUICK_TEST_MAIN_WITH_SETUP(qml_session, Setup)

#include "tst_qml_session.moc"
