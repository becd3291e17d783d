// SPDX-License-Identifier: MIT
// Registered clients' rules (docs/SERVER.md "Clients"): which client ids and
// redirect URIs may be registered (RFC 8252 §7, RFC 6749 §3.1.2), and which
// redirect URI of a request matches a registered one: loopback with any port
// (RFC 8252 §7.3), everything else by simple string comparison (RFC 9700
// §4.1.3).
#include "redirecturi.h"

#include <QtTest/QTest>

using namespace Tessera::Server;

class tst_ServerRedirectUri : public QObject
{
    Q_OBJECT
private slots:
    void clientIds_data();
    void clientIds();
    void registration_data();
    void registration();
    void matching_data();
    void matching();
    void redirectUriLists();
    void everyAcceptedFormMatchesItself();
    void printableForErrorEscapes();
};

void tst_ServerRedirectUri::clientIds_data()
{
    QTest::addColumn<QString>("id");
    QTest::addColumn<QString>("problem"); // empty: accepted; else part of the message

    QTest::addRow("plain") << "tessera-demo"
                           << "";
    QTest::addRow("all allowed characters") << "A.b_c~d-9"
                                            << "";
    QTest::addRow("one character") << "x"
                                   << "";
    QTest::addRow("64 characters") << QString(64, u'a') << "";
    QTest::addRow("65 characters") << QString(65, u'a') << "longer than 64";
    QTest::addRow("empty") << ""
                           << "empty";
    QTest::addRow("leading dash") << "-app"
                                  << "start with a letter or a digit";
    QTest::addRow("leading dot") << ".app"
                                 << "start with a letter or a digit";
    QTest::addRow("space") << "my app"
                           << "only A-Z";
    QTest::addRow("html") << "<script>"
                          << "start with";
    QTest::addRow("quote inside") << "a\"b"
                                  << "only A-Z";
    QTest::addRow("slash") << "a/b"
                           << "only A-Z";
    QTest::addRow("colon") << "a:b"
                           << "only A-Z";
    QTest::addRow("non-ASCII letter") << QString::fromUtf8("caf\xc3\xa9") << "only A-Z";
    QTest::addRow("newline") << "a\nb"
                             << "only A-Z";
    QTest::addRow("NUL") << QString(QStringLiteral("a") + QChar(0) + QStringLiteral("b"))
                         << "only A-Z";
}

void tst_ServerRedirectUri::clientIds()
{
    QFETCH(QString, id);
    QFETCH(QString, problem);
    const QString actual = clientIdProblem(id);
    if (problem.isEmpty())
        QVERIFY2(actual.isEmpty(), qPrintable(actual));
    else
        QVERIFY2(actual.contains(problem), qPrintable(actual));
}

void tst_ServerRedirectUri::registration_data()
{
    QTest::addColumn<QString>("uri");
    QTest::addColumn<QString>("problem"); // empty: accepted; else part of the message

    // RFC 8252 §7.3 loopback, §7.1 private-use, §7.2 claimed https.
    QTest::addRow("loopback IPv4") << "http://127.0.0.1/callback"
                                   << "";
    QTest::addRow("loopback IPv4 with port") << "http://127.0.0.1:51004/callback"
                                             << "";
    QTest::addRow("loopback IPv6") << "http://[::1]/callback"
                                   << "";
    QTest::addRow("loopback IPv6 with port") << "http://[::1]:8080/cb"
                                             << "";
    QTest::addRow("loopback root path") << "http://127.0.0.1/"
                                        << "";
    QTest::addRow("loopback with query") << "http://127.0.0.1/cb?app=1&x=%2F"
                                         << "";
    QTest::addRow("private-use") << "com.example.app:/oauth2redirect/provider"
                                 << "";
    QTest::addRow("private-use with digits and hyphen") << "org.example-2.app:/cb"
                                                        << "";
    QTest::addRow("claimed https") << "https://app.example.com/oauth/callback"
                                   << "";
    QTest::addRow("claimed https with port") << "https://app.example.com:8443/cb"
                                             << "";

    QTest::addRow("empty") << ""
                           << "is empty";
    QTest::addRow("too long") << "http://127.0.0.1/" + QString(2000, u'a') << "longer than 2000";
    QTest::addRow("relative") << "/callback"
                              << "no scheme";
    QTest::addRow("no scheme") << "127.0.0.1/callback"
                               << "no scheme";
    QTest::addRow("fragment") << "http://127.0.0.1/cb#frag"
                              << "fragment";
    QTest::addRow("empty fragment") << "https://app.example.com/cb#"
                                    << "fragment";
    QTest::addRow("fragment in private-use") << "com.example.app:/cb#x"
                                             << "fragment";
    QTest::addRow("userinfo on loopback") << "http://user@127.0.0.1/cb"
                                          << "userinfo";
    QTest::addRow("userinfo hiding another host") << "http://127.0.0.1@evil.example/cb"
                                                  << "userinfo";
    QTest::addRow("userinfo on https") << "https://user:pw@app.example.com/cb"
                                       << "userinfo";
    QTest::addRow("localhost") << "http://localhost/callback"
                               << "localhost";
    QTest::addRow("localhost with port") << "http://localhost:8080/callback"
                                         << "localhost";
    QTest::addRow("LOCALHOST") << "http://LOCALHOST/callback"
                               << "localhost";
    QTest::addRow("plain http to another host") << "http://app.example.com/cb"
                                                << "use https";
    QTest::addRow("plain http, look-alike host") << "http://127.0.0.1.evil.example/cb"
                                                 << "use https";
    QTest::addRow("other loopback address") << "http://127.0.0.2/cb"
                                            << "use https";
    QTest::addRow("short IPv4 form") << "http://127.1/cb"
                                     << "use https";
    QTest::addRow("integer IPv4 form") << "http://2130706433/cb"
                                       << "use https";
    QTest::addRow("long IPv6 form") << "http://[0:0:0:0:0:0:0:1]/cb"
                                    << "use https";
    QTest::addRow("IPv4-mapped IPv6") << "http://[::ffff:127.0.0.1]/cb"
                                      << "use https";
    QTest::addRow("unterminated IPv6") << "http://[::1/cb"
                                       << "unterminated";
    QTest::addRow("port 0") << "http://127.0.0.1:0/cb"
                            << "invalid port";
    QTest::addRow("port 65536") << "http://127.0.0.1:65536/cb"
                                << "invalid port";
    QTest::addRow("empty port") << "http://127.0.0.1:/cb"
                                << "invalid port";
    QTest::addRow("leading zero port") << "http://127.0.0.1:080/cb"
                                       << "invalid port";
    QTest::addRow("signed port") << "http://127.0.0.1:+80/cb"
                                 << "invalid port";
    QTest::addRow("no path") << "http://127.0.0.1"
                             << "path starting with /";
    QTest::addRow("no path, port") << "http://127.0.0.1:8080"
                                   << "path starting with /";
    QTest::addRow("no path, query") << "http://127.0.0.1?x=1"
                                    << "path starting with /";
    QTest::addRow("uppercase scheme") << "HTTP://127.0.0.1/cb"
                                      << "capitals";
    QTest::addRow("uppercase https host") << "https://App.Example.com/cb"
                                          << "lowercase";
    QTest::addRow("https with its default port") << "https://app.example.com:443/cb"
                                                 << "default port";
    QTest::addRow("https to an IPv6 literal") << "https://[::1]/cb"
                                              << "DNS name";
    QTest::addRow("https empty host") << "https:///cb"
                                      << "no host";
    QTest::addRow("https without //") << "https:app.example.com/cb"
                                      << "needs //host";
    QTest::addRow("https host with underscore") << "https://a_b.example.com/cb"
                                                << "DNS name";
    QTest::addRow("https empty label") << "https://app..example.com/cb"
                                       << "DNS name";
    QTest::addRow("dot segment") << "http://127.0.0.1/callback/../x"
                                 << "dot segment";
    QTest::addRow("single dot segment") << "https://app.example.com/./cb"
                                        << "dot segment";
    QTest::addRow("trailing dot-dot") << "com.example.app:/cb/.."
                                      << "dot segment";
    QTest::addRow("encoded dot segment") << "http://127.0.0.1/a/%2e%2E/cb"
                                         << "dot segment";
    QTest::addRow("space") << "http://127.0.0.1/call back"
                           << "not allowed in a URI";
    QTest::addRow("newline") << "http://127.0.0.1/cb\nx"
                             << "not allowed in a URI";
    QTest::addRow("non-ASCII") << QString::fromUtf8("https://\xc3\xa9xample.com/cb")
                               << "not allowed in a URI";
    QTest::addRow("backslash") << "http://127.0.0.1\\@evil.example/cb"
                               << "not allowed in a URI";
    QTest::addRow("bad percent") << "http://127.0.0.1/%zz"
                                 << "two hexadecimal";
    QTest::addRow("truncated percent") << "http://127.0.0.1/%2"
                                       << "two hexadecimal";
    QTest::addRow("bracket in path") << "http://127.0.0.1/[cb]"
                                     << "in its path";
    QTest::addRow("javascript") << "javascript:alert(1)"
                                << "private-use scheme";
    QTest::addRow("data") << "data:text/html,x"
                          << "private-use scheme";
    QTest::addRow("file") << "file:///etc/passwd"
                          << "private-use scheme";
    QTest::addRow("private-use without a dot") << "myapp:/callback"
                                               << "reverse domain";
    QTest::addRow("private-use with an empty label") << "com..app:/cb"
                                                     << "reverse domain";
    QTest::addRow("private-use with a trailing dot") << "com.example.:/cb"
                                                     << "reverse domain";
    QTest::addRow("private-use with //") << "com.example.app://callback"
                                         << "one slash";
    QTest::addRow("private-use without a path") << "com.example.app:callback"
                                                << "path starting with /";
    QTest::addRow("scheme starting with a digit") << "1com.example:/cb"
                                                  << "invalid scheme";
}

void tst_ServerRedirectUri::registration()
{
    QFETCH(QString, uri);
    QFETCH(QString, problem);
    const QString actual = redirectUriProblem(uri);
    if (problem.isEmpty()) {
        QVERIFY2(actual.isEmpty(), qPrintable(actual));
    } else {
        QVERIFY2(actual.contains(problem), qPrintable(actual));
        QVERIFY2(!actual.contains(u'\n'), "one line");
    }
}

void tst_ServerRedirectUri::matching_data()
{
    QTest::addColumn<QString>("registered");
    QTest::addColumn<QString>("presented");
    QTest::addColumn<bool>("matches");

    const QString v4 = QStringLiteral("http://127.0.0.1/callback");
    const QString v6 = QStringLiteral("http://[::1]/callback");
    const QString https = QStringLiteral("https://app.example.com/cb");
    const QString privateUse = QStringLiteral("com.example.app:/oauth2redirect");

    // Loopback: any port, or none (RFC 8252 §7.3).
    QTest::addRow("loopback, same") << v4 << v4 << true;
    QTest::addRow("loopback, a port") << v4 << "http://127.0.0.1:51004/callback" << true;
    QTest::addRow("loopback, port 1") << v4 << "http://127.0.0.1:1/callback" << true;
    QTest::addRow("loopback, port 65535") << v4 << "http://127.0.0.1:65535/callback" << true;
    QTest::addRow("loopback registered with a port, another port")
            << "http://127.0.0.1:8080/callback"
            << "http://127.0.0.1:9090/callback" << true;
    QTest::addRow("loopback registered with a port, none")
            << "http://127.0.0.1:8080/callback" << v4 << true;
    QTest::addRow("IPv6 loopback, a port") << v6 << "http://[::1]:4000/callback" << true;
    QTest::addRow("loopback with query, same query") << "http://127.0.0.1/cb?app=1"
                                                     << "http://127.0.0.1:5000/cb?app=1" << true;

    QTest::addRow("empty") << v4 << "" << false;
    QTest::addRow("port 0") << v4 << "http://127.0.0.1:0/callback" << false;
    QTest::addRow("port 65536") << v4 << "http://127.0.0.1:65536/callback" << false;
    QTest::addRow("port 99999999999") << v4 << "http://127.0.0.1:99999999999/callback" << false;
    QTest::addRow("empty port") << v4 << "http://127.0.0.1:/callback" << false;
    QTest::addRow("port with a sign") << v4 << "http://127.0.0.1:-80/callback" << false;
    QTest::addRow("port with leading zero") << v4 << "http://127.0.0.1:0080/callback" << false;
    QTest::addRow("port, then host") << v4 << "http://127.0.0.1:80.evil.example/callback" << false;
    QTest::addRow("other host") << v4 << "http://evil.example/callback" << false;
    QTest::addRow("other host, same port rule") << v4 << "http://evil.example:80/callback" << false;
    QTest::addRow("other scheme") << v4 << "https://127.0.0.1/callback" << false;
    QTest::addRow("other scheme, port") << v4 << "https://127.0.0.1:443/callback" << false;
    QTest::addRow("uppercase scheme") << v4 << "HTTP://127.0.0.1/callback" << false;
    QTest::addRow("look-alike host") << v4 << "http://127.0.0.1.evil.example/callback" << false;
    QTest::addRow("userinfo hiding a host")
            << v4 << "http://127.0.0.1@evil.example/callback" << false;
    QTest::addRow("userinfo before loopback") << v4 << "http://user@127.0.0.1/callback" << false;
    QTest::addRow("port then userinfo")
            << v4 << "http://127.0.0.1:80@evil.example/callback" << false;
    QTest::addRow("fragment") << v4 << "http://127.0.0.1/callback#x" << false;
    QTest::addRow("fragment, port") << v4 << "http://127.0.0.1:5000/callback#x" << false;
    QTest::addRow("localhost for 127.0.0.1") << v4 << "http://localhost:5000/callback" << false;
    QTest::addRow("localhost, no port") << v4 << "http://localhost/callback" << false;
    QTest::addRow("IPv6 for IPv4") << v4 << "http://[::1]:5000/callback" << false;
    QTest::addRow("IPv4 for IPv6") << v6 << "http://127.0.0.1:5000/callback" << false;
    QTest::addRow("long IPv6 form") << v6 << "http://[0:0:0:0:0:0:0:1]/callback" << false;
    QTest::addRow("long IPv6 form, port") << v6 << "http://[0:0:0:0:0:0:0:1]:80/callback" << false;
    QTest::addRow("short IPv4 form") << v4 << "http://127.1/callback" << false;
    QTest::addRow("integer IPv4 form") << v4 << "http://2130706433/callback" << false;
    QTest::addRow("dot-dot after path") << v4 << "http://127.0.0.1:5000/callback/../x" << false;
    QTest::addRow("dot-dot back to path") << v4 << "http://127.0.0.1/x/../callback" << false;
    QTest::addRow("suffix") << v4 << "http://127.0.0.1/callbackX" << false;
    QTest::addRow("sub-path") << v4 << "http://127.0.0.1/callback/x" << false;
    QTest::addRow("prefix") << v4 << "http://127.0.0.1/callbac" << false;
    QTest::addRow("case") << v4 << "http://127.0.0.1/CALLBACK" << false;
    QTest::addRow("percent-encoded letter") << v4 << "http://127.0.0.1/c%61llback" << false;
    QTest::addRow("percent-encoded slash") << v4 << "http://127.0.0.1%2Fcallback" << false;
    QTest::addRow("trailing slash") << v4 << "http://127.0.0.1/callback/" << false;
    QTest::addRow("added query") << v4 << "http://127.0.0.1/callback?x=1" << false;
    QTest::addRow("empty query") << v4 << "http://127.0.0.1/callback?" << false;
    QTest::addRow("other query") << "http://127.0.0.1/cb?app=1"
                                 << "http://127.0.0.1/cb?app=2" << false;
    QTest::addRow("leading space") << v4 << " http://127.0.0.1/callback" << false;
    QTest::addRow("trailing space") << v4 << "http://127.0.0.1/callback " << false;
    QTest::addRow("trailing newline") << v4 << "http://127.0.0.1/callback\n" << false;
    QTest::addRow("no path") << v4 << "http://127.0.0.1:5000" << false;

    // Everything else: the identical string, nothing else (RFC 9700 §4.1.3).
    QTest::addRow("https, same") << https << https << true;
    QTest::addRow("https, explicit default port")
            << https << "https://app.example.com:443/cb" << false;
    QTest::addRow("https, another port") << https << "https://app.example.com:8443/cb" << false;
    QTest::addRow("https, uppercase host") << https << "https://APP.example.com/cb" << false;
    QTest::addRow("https, as http") << https << "http://app.example.com/cb" << false;
    QTest::addRow("https, look-alike host")
            << https << "https://app.example.com.evil.example/cb" << false;
    QTest::addRow("https, userinfo") << https << "https://app.example.com@evil.example/cb" << false;
    QTest::addRow("https, fragment") << https << "https://app.example.com/cb#x" << false;
    QTest::addRow("https, trailing slash") << https << "https://app.example.com/cb/" << false;
    QTest::addRow("https, query") << https << "https://app.example.com/cb?x" << false;
    QTest::addRow("https, percent-encoded") << https << "https://app.example.com/%63b" << false;
    QTest::addRow("https, trailing dot host") << https << "https://app.example.com./cb" << false;
    QTest::addRow("private-use, same") << privateUse << privateUse << true;
    QTest::addRow("private-use, with //")
            << privateUse << "com.example.app://oauth2redirect" << false;
    QTest::addRow("private-use, other scheme")
            << privateUse << "com.evil.app:/oauth2redirect" << false;
    QTest::addRow("private-use, uppercase")
            << privateUse << "COM.EXAMPLE.APP:/oauth2redirect" << false;
    QTest::addRow("private-use, suffix")
            << privateUse << "com.example.app:/oauth2redirectX" << false;
    QTest::addRow("private-use, no port rule")
            << privateUse << "com.example.app:80/oauth2redirect" << false;
    QTest::addRow("nothing registered") << ""
                                        << "" << false;
}

void tst_ServerRedirectUri::matching()
{
    QFETCH(QString, registered);
    QFETCH(QString, presented);
    QFETCH(bool, matches);
    QCOMPARE(redirectUriMatches(registered, presented), matches);
}

void tst_ServerRedirectUri::redirectUriLists()
{
    const QString v4 = QStringLiteral("http://127.0.0.1/cb");
    const QString v6 = QStringLiteral("http://[::1]/cb");
    QVERIFY(redirectUriListProblem({v4, v6}).isEmpty());
    QCOMPARE(redirectUriListProblem({v4, v6, v4}),
             QStringLiteral("'http://127.0.0.1/cb' is given twice"));
    QCOMPARE(redirectUriListProblem({v4, QStringLiteral("http://localhost/cb\n")}).left(31),
             QStringLiteral("'http://localhost/cb\\x0a' has a"));
    QStringList sixteen;
    for (int port = 1; port <= 16; ++port)
        sixteen << QStringLiteral("http://127.0.0.1:%1/cb").arg(port);
    QVERIFY(redirectUriListProblem(sixteen).isEmpty());
    QVERIFY(redirectUriListProblem(sixteen + QStringList{v6}).contains(u"at most 16"));
}

// Whatever may be registered matches itself: a registration is usable.
void tst_ServerRedirectUri::everyAcceptedFormMatchesItself()
{
    for (const char *uri :
         {"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb?x=1",
          "https://app.example.com/cb", "com.example.app:/cb"}) {
        const QString text = QString::fromLatin1(uri);
        QVERIFY2(redirectUriProblem(text).isEmpty(), uri);
        QVERIFY2(redirectUriMatches(text, text), uri);
    }
}

void tst_ServerRedirectUri::printableForErrorEscapes()
{
    QCOMPARE(printableForError(QStringLiteral("http://127.0.0.1/cb")),
             QStringLiteral("http://127.0.0.1/cb"));
    QCOMPARE(printableForError(QStringLiteral("a\x1b[31m\nb\\")),
             QStringLiteral("a\\x1b[31m\\x0ab\\x5c"));
    QCOMPARE(printableForError(QString::fromUtf8("\xc3\xa9")), QStringLiteral("\\xc3\\xa9"));
    const QString shown = printableForError(QString(500, u'a'));
    QVERIFY(shown.size() < 130);
    QVERIFY(shown.endsWith(QStringLiteral("...")));
}

QTEST_GUILESS_MAIN(tst_ServerRedirectUri)
#include "tst_server_redirecturi.moc"
