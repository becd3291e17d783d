// SPDX-License-Identifier: MIT
// Test harness: tests/interop/oidc/browser.py (the person in the browser, scripted) as a child
// process, started for a browser or device sign-in and never waited for here: the session's
// loopback listener must answer while it runs. QML tests reach it as the context property
// `scriptedBrowser` (harness only; the Tessera module never uses a context property).
#pragma once

#include <QtCore/QObject>
#include <QtCore/QProcess>
#include <QtCore/QUrl>

#include <memory>
#include <vector>

namespace Tessera::Test {

class ScriptedBrowser : public QObject
{
    Q_OBJECT
    Q_PROPERTY(int opened READ opened NOTIFY openedChanged)
public:
    explicit ScriptedBrowser(QStringList options = {}, QObject *parent = nullptr)
        : QObject(parent)
        , m_options(std::move(options))
    { }
    ~ScriptedBrowser() override
    {
        for (const auto &process : m_processes) {
            if (process->state() != QProcess::NotRunning) {
                process->kill();
                process->waitForFinished(5000);
            }
        }
    }

    int opened() const { return m_opened; }

    // An authorization request URL (browserSignInRequested).
    Q_INVOKABLE void open(const QUrl &url) { start({QString::fromLatin1(url.toEncoded())}); }

    // The device flow's verification page (deviceSignInRequested), where the person types
    // `userCode`.
    Q_INVOKABLE void openDevicePage(const QUrl &verificationUri, const QString &userCode)
    {
        start({QStringLiteral("--user-code"), userCode,
               QString::fromLatin1(verificationUri.toEncoded())});
    }

Q_SIGNALS:
    void openedChanged();

private:
    void start(const QStringList &arguments)
    {
        auto process = std::make_unique<QProcess>();
        process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        process->start(QStringLiteral(TESSERA_PYTHON_PATH),
                       QStringList{QStringLiteral(TESSERA_BROWSER_SCRIPT)} << m_options
                                                                           << arguments);
        m_processes.push_back(std::move(process));
        ++m_opened;
        emit openedChanged();
    }

    QStringList m_options;
    std::vector<std::unique_ptr<QProcess>> m_processes;
    int m_opened = 0;
};

} // namespace Tessera::Test
