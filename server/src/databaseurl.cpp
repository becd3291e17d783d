// SPDX-License-Identifier: MIT
#include "databaseurl.h"

#include <QtCore/QRegularExpression>
#include <QtCore/QStringList>

namespace Tessera::Server {
namespace {

// Parameters accepted after '?' besides host, port, user, password and dbname;
// passed to libpq as they are (values checked to be one plain word).
const QStringList PassedParameters = {
        QStringLiteral("sslmode"),          QStringLiteral("sslrootcert"),
        QStringLiteral("sslcert"),          QStringLiteral("sslkey"),
        QStringLiteral("sslcrl"),           QStringLiteral("connect_timeout"),
        QStringLiteral("application_name"),
};

const QStringList SslModes = {QStringLiteral("disable"),   QStringLiteral("allow"),
                              QStringLiteral("prefer"),    QStringLiteral("require"),
                              QStringLiteral("verify-ca"), QStringLiteral("verify-full")};

// RFC 3986 percent-decoding, strict: a '%' not followed by two hex digits, a
// NUL byte or bytes that are not UTF-8 are refused.
std::optional<QString> percentDecoded(const QString &text)
{
    const QByteArray in = text.toUtf8();
    QByteArray out;
    out.reserve(in.size());
    for (qsizetype i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.append(in[i]);
            continue;
        }
        if (i + 2 >= in.size() || !isxdigit(uchar(in[i + 1])) || !isxdigit(uchar(in[i + 2])))
            return std::nullopt;
        out.append(char(QByteArray::fromHex(in.mid(i + 1, 2)).at(0)));
        i += 2;
    }
    if (out.contains('\0'))
        return std::nullopt;
    const QString decoded = QString::fromUtf8(out);
    if (decoded.toUtf8() != out)
        return std::nullopt;
    return decoded;
}

bool isLoopbackHost(const QString &host)
{
    return host.isEmpty() || host.startsWith(u'/') || host == QLatin1String("localhost")
            || host == QLatin1String("::1") || host.startsWith(QLatin1String("127."));
}

// libpq reads connect options unquoted: one word, no quoting characters.
bool isPlainWord(const QString &value)
{
    static const QRegularExpression plain(QStringLiteral("^[A-Za-z0-9_.,:/@+=-]+$"));
    return plain.match(value).hasMatch();
}

std::optional<DatabaseLocation> parseUri(const QString &rest, const QProcessEnvironment &env,
                                         QString *error)
{
    auto fail = [error](const QString &message) -> std::optional<DatabaseLocation> {
        *error = QStringLiteral("--db: ") + message;
        return std::nullopt;
    };
    DatabaseLocation location;
    location.engine = DatabaseLocation::Engine::PostgreSQL;

    // postgresql://[userinfo@]hostport[/dbname][?query]; no fragment.
    QString uri = rest;
    if (uri.contains(u'#'))
        return fail(QStringLiteral("a database URI has no fragment ('#' must be written %23)"));
    QString query;
    if (const qsizetype mark = uri.indexOf(u'?'); mark >= 0) {
        query = uri.mid(mark + 1);
        uri.truncate(mark);
    }
    QString path;
    bool hasPath = false;
    if (const qsizetype slash = uri.indexOf(u'/'); slash >= 0) {
        path = uri.mid(slash + 1);
        hasPath = true;
        uri.truncate(slash);
    }
    QString hostPort = uri;
    std::optional<QString> user;
    std::optional<QString> password;
    if (const qsizetype at = uri.lastIndexOf(u'@'); at >= 0) {
        const QString userInfo = uri.left(at);
        hostPort = uri.mid(at + 1);
        const qsizetype colon = userInfo.indexOf(u':');
        user = percentDecoded(colon >= 0 ? userInfo.left(colon) : userInfo);
        if (!user)
            return fail(QStringLiteral("bad percent-encoding in the user name of the URI"));
        if (colon >= 0) {
            password = percentDecoded(userInfo.mid(colon + 1));
            if (!password)
                return fail(QStringLiteral("bad percent-encoding in the password of the URI"));
        }
    }

    QString host;
    QString portText;
    if (hostPort.startsWith(u'[')) {
        const qsizetype close = hostPort.indexOf(u']');
        if (close < 0)
            return fail(QStringLiteral("unclosed '[' in the host of the URI"));
        host = hostPort.mid(1, close - 1);
        const QString after = hostPort.mid(close + 1);
        if (!after.isEmpty() && !after.startsWith(u':'))
            return fail(QStringLiteral("unexpected text after ']' in the URI"));
        portText = after.mid(1);
        if (host.isEmpty() || !host.contains(u':'))
            return fail(QStringLiteral("'[...]' in the URI must hold an IPv6 address"));
    } else {
        const qsizetype colon = hostPort.lastIndexOf(u':');
        host = colon >= 0 ? hostPort.left(colon) : hostPort;
        portText = colon >= 0 ? hostPort.mid(colon + 1) : QString();
        const auto decoded = percentDecoded(host);
        if (!decoded)
            return fail(QStringLiteral("bad percent-encoding in the host of the URI"));
        host = *decoded;
    }
    if (host.contains(u','))
        return fail(QStringLiteral("several hosts in one URI are not supported"));

    std::optional<QString> databaseName;
    if (hasPath && !path.isEmpty()) {
        databaseName = percentDecoded(path);
        if (!databaseName)
            return fail(QStringLiteral("bad percent-encoding in the database name of the URI"));
    }

    QStringList options;
    bool sslModeGiven = false;
    bool timeoutGiven = false;
    if (!query.isEmpty()) {
        for (const QString &pair : query.split(u'&')) {
            const qsizetype equals = pair.indexOf(u'=');
            if (equals <= 0)
                return fail(QStringLiteral("a URI parameter is not key=value"));
            const auto key = percentDecoded(pair.left(equals));
            const auto value = percentDecoded(pair.mid(equals + 1));
            if (!key || !value)
                return fail(QStringLiteral("bad percent-encoding in a URI parameter"));
            if (*key == QLatin1String("host")) {
                host = *value;
            } else if (*key == QLatin1String("port")) {
                portText = *value;
            } else if (*key == QLatin1String("user")) {
                user = *value;
            } else if (*key == QLatin1String("password")) {
                password = *value;
            } else if (*key == QLatin1String("dbname")) {
                databaseName = *value;
            } else if (PassedParameters.contains(*key)) {
                if (!isPlainWord(*value))
                    return fail(QStringLiteral("the value of URI parameter %1 must be one word "
                                               "without spaces or quotes")
                                        .arg(*key));
                if (*key == QLatin1String("sslmode") && !SslModes.contains(*value))
                    return fail(QStringLiteral("sslmode must be one of %1")
                                        .arg(SslModes.join(QStringLiteral(", "))));
                sslModeGiven |= *key == QLatin1String("sslmode");
                timeoutGiven |= *key == QLatin1String("connect_timeout");
                options.append(*key + u'=' + *value);
            } else {
                // The key is not quoted: with an unencoded '?' in a password it
                // would be a piece of that password.
                return fail(QStringLiteral("unknown URI parameter (known: host, port, user, "
                                           "password, dbname, %1)")
                                    .arg(PassedParameters.join(QStringLiteral(", "))));
            }
        }
    }

    // The PG* variables fill in what the URI leaves out.
    auto fromEnvironment = [&env](const char *name) {
        return env.value(QString::fromLatin1(name));
    };
    location.host = host.isEmpty() ? fromEnvironment("PGHOST") : host;
    if (location.host.contains(u','))
        return fail(QStringLiteral("several hosts (PGHOST) are not supported"));
    if (portText.isEmpty())
        portText = fromEnvironment("PGPORT");
    if (!portText.isEmpty()) {
        bool ok = false;
        const int port = portText.toInt(&ok);
        static const QRegularExpression digits(QStringLiteral("^[0-9]{1,5}$"));
        if (!ok || !digits.match(portText).hasMatch() || port < 1 || port > 65535)
            return fail(QStringLiteral("the port must be a number from 1 to 65535"));
        location.port = port;
    }
    location.user = user.value_or(fromEnvironment("PGUSER"));
    location.password = password.value_or(fromEnvironment("PGPASSWORD"));
    location.databaseName = databaseName.value_or(fromEnvironment("PGDATABASE"));
    if (location.databaseName.isEmpty())
        return fail(QStringLiteral("the URI names no database (postgresql://HOST/DBNAME) and "
                                   "PGDATABASE is not set"));

    // Secure by default: a database off this machine is reached over TLS with a
    // verified certificate unless the operator says otherwise (libpq's own
    // default, "prefer", falls back to plain text without a word).
    if (!sslModeGiven && fromEnvironment("PGSSLMODE").isEmpty() && !isLoopbackHost(location.host))
        options.append(QStringLiteral("sslmode=verify-full"));
    if (!timeoutGiven && fromEnvironment("PGCONNECT_TIMEOUT").isEmpty())
        options.append(QStringLiteral("connect_timeout=10"));
    location.connectOptions = options.join(u';');
    return location;
}

} // namespace

QString DatabaseLocation::displayName() const
{
    if (engine == Engine::SQLite)
        return sqlitePath;
    QString shownHost = host.contains(u':') ? u'[' + host + u']' : host;
    if (host.startsWith(u'/'))
        shownHost = QStringLiteral("(socket in %1)").arg(host);
    return QStringLiteral("postgresql://%1%2:%3/%4")
            .arg(user.isEmpty() ? QString() : user + u'@', shownHost)
            .arg(port)
            .arg(databaseName);
}

std::optional<DatabaseLocation> parseDatabaseLocation(const QString &value, QString *error,
                                                      const QProcessEnvironment &environment)
{
    static const QRegularExpression scheme(QStringLiteral("^([A-Za-z][A-Za-z0-9+.-]*)://"));
    const QRegularExpressionMatch match = scheme.match(value);
    if (!match.hasMatch()) {
        if (value.isEmpty()) {
            *error = QStringLiteral("--db: empty path");
            return std::nullopt;
        }
        DatabaseLocation location;
        location.sqlitePath = value;
        return location;
    }
    const QString name = match.captured(1);
    if (name != QLatin1String("postgresql") && name != QLatin1String("postgres")) {
        *error = QStringLiteral("--db: unsupported URI scheme '%1' (use a file path for SQLite, "
                                "or postgresql://USER@HOST:PORT/DBNAME)")
                         .arg(name);
        return std::nullopt;
    }
    return parseUri(value.mid(match.capturedLength()), environment, error);
}

} // namespace Tessera::Server
