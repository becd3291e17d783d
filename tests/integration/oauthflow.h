// SPDX-License-Identifier: MIT
// Test support for tst_server_oauth, tst_server_oauthtoken and tst_server_device: their server
// (startOAuthServer), one browser-less person going through tessera-server's authorization
// endpoint and login form, and the client's token requests. Cookies are the test's to send
// (the manager's jar would hide a missing one).
#pragma once

#include "testsupport.h"

#include <tessera/jose.h>

#include <QtCore/QJsonArray>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUrlQuery>
#include <QtNetwork/QNetworkCookieJar>

namespace Tessera::Test::OAuth {

const QString Client = QStringLiteral("tessera-demo"); // --demo: http://127.0.0.1/callback
const QString Redirect = QStringLiteral("http://127.0.0.1:51000/callback");
const QString OtherClient = QStringLiteral("other-app");
const QString OtherRedirect = QStringLiteral("http://127.0.0.1/other");

// `tessera-server client add CLIENT --redirect-uri REDIRECT` on `server`'s database. False,
// with `error` saying why, unless it exits 0.
inline bool addClient(const ServerProcess &server, const QString &client, const QString &redirect,
                      QString *error)
{
    QProcess add;
    add.setProcessChannelMode(QProcess::MergedChannels);
    add.start(ServerProcess::binaryPath(),
              {QStringLiteral("client"), QStringLiteral("add"), client,
               QStringLiteral("--redirect-uri"), redirect, QStringLiteral("--db"),
               server.databasePath()});
    if (!add.waitForFinished(15000) || add.exitStatus() != QProcess::NormalExit
        || add.exitCode() != 0) {
        *error = QStringLiteral("client add %1: %2").arg(client, QString::fromUtf8(add.readAll()));
        return false;
    }
    return true;
}

// The OAuth tests' server, made with --demo (client Client): the test user and OtherClient
// (redirect OtherRedirect) added to its database, then started. False, with `error` saying
// why, on failure.
inline bool startOAuthServer(ServerProcess &server, QString *error)
{
    if (!server.addUser(TestUser, TestPassword.toUtf8())) {
        *error = server.errorString();
        return false;
    }
    if (!addClient(server, OtherClient, OtherRedirect, error))
        return false;
    if (!server.start()) {
        *error = server.errorString();
        return false;
    }
    return true;
}

#define TESSERA_START_OAUTH(server) \
    do { \
        QString oauthStartError; \
        QVERIFY2(::Tessera::Test::OAuth::startOAuthServer((server), &oauthStartError), \
                 qPrintable(oauthStartError)); \
    } while (false)

// The server's clock under libfaketime (Debian package libfaketime), moved ahead by the test
// without waiting: the server reads the offset file on every call. Monotonic time is real.
class FakeClock
{
public:
    static QString library()
    {
        return QStringLiteral("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    }
    static bool available() { return QFile::exists(library()); }

    // For the server process (ServerProcess::setEnvironment), the clock at offset 0.
    QProcessEnvironment environment()
    {
        advance(0);
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("LD_PRELOAD"), library());
        environment.insert(QStringLiteral("FAKETIME_TIMESTAMP_FILE"), offsetPath());
        environment.insert(QStringLiteral("FAKETIME_NO_CACHE"), QStringLiteral("1"));
        environment.insert(QStringLiteral("FAKETIME_DONT_FAKE_MONOTONIC"), QStringLiteral("1"));
        return environment;
    }
    // `seconds` further ahead. False if the offset file cannot be written.
    bool advance(int seconds)
    {
        m_offsetSeconds += seconds;
        QFile file(offsetPath());
        return file.open(QIODevice::WriteOnly | QIODevice::Truncate)
                && file.write("+" + QByteArray::number(m_offsetSeconds) + "\n") > 0;
    }

private:
    QString offsetPath() const { return m_dir.filePath(QStringLiteral("offset")); }

    QTemporaryDir m_dir;
    int m_offsetSeconds = 0;
};

// The hidden fields of a page's form, their values unescaped.
inline QList<QPair<QString, QString>> hiddenFields(const QByteArray &body)
{
    QList<QPair<QString, QString>> fields;
    static const QRegularExpression input(
            QStringLiteral("<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\">"));
    for (auto it = input.globalMatch(QString::fromUtf8(body)); it.hasNext();) {
        const auto match = it.next();
        QString value = match.captured(2);
        value.replace(QLatin1String("&quot;"), QLatin1String("\""))
                .replace(QLatin1String("&#39;"), QLatin1String("'"))
                .replace(QLatin1String("&lt;"), QLatin1String("<"))
                .replace(QLatin1String("&gt;"), QLatin1String(">"))
                .replace(QLatin1String("&amp;"), QLatin1String("&"));
        fields.append({match.captured(1), value});
    }
    return fields;
}

// Cookies are the test's to send: the manager's jar would hide a missing one.
class NoCookies : public QNetworkCookieJar
{
public:
    bool setCookiesFromUrl(const QList<QNetworkCookie> &, const QUrl &) override { return false; }
};

QString encode(const QString &value)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(value));
}

QByteArray formBody(const QList<QPair<QString, QString>> &fields)
{
    QStringList pairs;
    for (const auto &[name, value] : fields)
        pairs << encode(name) + u'=' + encode(value);
    return pairs.join(u'&').toUtf8();
}

struct Pkce
{
    QString verifier;
    QString challenge;
};

Pkce newPkce()
{
    const QByteArray verifier = Jose::base64UrlEncode(Jose::randomBytes(32));
    return {QString::fromLatin1(verifier),
            QString::fromLatin1(Jose::base64UrlEncode(Jose::sha256(verifier)))};
}

QJsonObject jwtPart(const QString &jwt, int index)
{
    const auto decoded = Jose::base64UrlDecode(jwt.split(u'.').value(index).toLatin1());
    return decoded ? QJsonDocument::fromJson(*decoded).object() : QJsonObject();
}

// The login form as the browser got it.
struct Form
{
    HttpResponse response;
    QList<QPair<QString, QString>> hidden;
    QByteArray cookie; // name=value of its Set-Cookie
};

class OAuthFlow
{
public:
    explicit OAuthFlow(const ServerProcess &server)
        : http(server)
    {
        http.manager().setCookieJar(new NoCookies);
    }

    QList<QPair<QString, QString>> authorizeParameters(const Pkce &pkce) const;
    QString authorizePath(const QList<QPair<QString, QString>> &parameters) const;
    Form openForm(const QList<QPair<QString, QString>> &parameters);
    HttpResponse submit(const Form &form, const QString &username, const QString &password,
                        bool withCookie = true);
    // A code through the login page; empty on failure (with a warning saying why).
    QString code(const Pkce &pkce, const QString &client = Client,
                 const QString &redirect = Redirect);
    HttpResponse exchange(const QString &code, const QString &verifier,
                          const QString &client = Client, const QString &redirect = Redirect);
    HttpResponse tokenRequest(const QList<QPair<QString, QString>> &fields);
    QUrlQuery locationQuery(const HttpResponse &response) const;

    HttpClient http;
};

inline QList<QPair<QString, QString>> OAuthFlow::authorizeParameters(const Pkce &pkce) const
{
    return {{QStringLiteral("response_type"), QStringLiteral("code")},
            {QStringLiteral("client_id"), Client},
            {QStringLiteral("redirect_uri"), Redirect},
            {QStringLiteral("scope"), QStringLiteral("openid profile")},
            {QStringLiteral("state"), QStringLiteral("st-1")},
            {QStringLiteral("nonce"), QStringLiteral("n-1")},
            {QStringLiteral("code_challenge"), pkce.challenge},
            {QStringLiteral("code_challenge_method"), QStringLiteral("S256")}};
}

inline QString OAuthFlow::authorizePath(const QList<QPair<QString, QString>> &parameters) const
{
    return QStringLiteral("/authorize?") + QString::fromUtf8(formBody(parameters));
}

inline Form OAuthFlow::openForm(const QList<QPair<QString, QString>> &parameters)
{
    Form form;
    form.response = http.get(authorizePath(parameters));
    form.hidden = hiddenFields(form.response.body);
    form.cookie = form.response.header("Set-Cookie").split(';').first();
    return form;
}

inline HttpResponse OAuthFlow::submit(const Form &form, const QString &username,
                                      const QString &password, bool withCookie)
{
    auto fields = form.hidden;
    fields << qMakePair(QStringLiteral("username"), username)
           << qMakePair(QStringLiteral("password"), password);
    HttpClient::Headers headers;
    if (withCookie)
        headers.append({"Cookie", form.cookie});
    return http.post(QStringLiteral("/authorize"), formBody(fields),
                     "application/x-www-form-urlencoded", headers);
}

inline QUrlQuery OAuthFlow::locationQuery(const HttpResponse &response) const
{
    return QUrlQuery(QUrl(QString::fromUtf8(response.header("Location"))));
}

inline QString OAuthFlow::code(const Pkce &pkce, const QString &client, const QString &redirect)
{
    auto parameters = authorizeParameters(pkce);
    parameters[1].second = client;
    parameters[2].second = redirect;
    const Form form = openForm(parameters);
    if (form.response.status != 200) {
        qWarning("authorize: %s", qPrintable(form.response.describe()));
        return {};
    }
    const HttpResponse answer = submit(form, TestUser, TestPassword);
    if (answer.status != 303) {
        qWarning("login: %s", qPrintable(answer.describe()));
        return {};
    }
    return locationQuery(answer).queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded);
}

inline HttpResponse OAuthFlow::tokenRequest(const QList<QPair<QString, QString>> &fields)
{
    return http.post(QStringLiteral("/token"), formBody(fields),
                     "application/x-www-form-urlencoded");
}

inline HttpResponse OAuthFlow::exchange(const QString &code, const QString &verifier,
                                        const QString &client, const QString &redirect)
{
    return tokenRequest({{QStringLiteral("grant_type"), QStringLiteral("authorization_code")},
                         {QStringLiteral("code"), code},
                         {QStringLiteral("code_verifier"), verifier},
                         {QStringLiteral("redirect_uri"), redirect},
                         {QStringLiteral("client_id"), client}});
}

} // namespace Tessera::Test::OAuth
