// SPDX-License-Identifier: MIT
// Qt Quick Test runner for oauth/tst_*.qml: starts the real oidc-provider (tests/interop/oidc)
// and hands the QML tests its issuer, its client id and browser.py as the person in the browser
// (scriptedbrowser.h). The context properties are test harness only; the Tessera module itself
// never uses one.
#include "oidcproviderprocess.h"
#include "scriptedbrowser.h"

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
        m_provider = std::make_unique<Tessera::Test::OidcProviderProcess>();
        if (!m_provider->start())
            qFatal("cannot start oidc-provider: %s", qPrintable(m_provider->errorString()));
    }

    void qmlEngineAvailable(QQmlEngine *engine)
    {
        // Qt 6.4 does not search the module resources by default.
        engine->addImportPath(QStringLiteral("qrc:/qt/qml"));
        Tessera::Qml::installNetworkAccess(engine);
        auto *browser = new Tessera::Test::ScriptedBrowser({}, engine);
        QQmlContext *context = engine->rootContext();
        context->setContextProperty(QStringLiteral("testIssuer"), m_provider->issuer().toString());
        context->setContextProperty(QStringLiteral("testClientId"), m_provider->clientId());
        context->setContextProperty(QStringLiteral("scriptedBrowser"), browser);
    }

    void cleanupTestCase()
    {
        if (m_provider)
            m_provider->stop();
        m_provider.reset();
    }

private:
    std::unique_ptr<Tessera::Test::OidcProviderProcess> m_provider;
};

QUICK_TEST_MAIN_WITH_SETUP(qml_oauth, Setup)

#include "tst_qml_oauth.moc"
