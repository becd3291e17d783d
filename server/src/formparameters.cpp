// SPDX-License-Identifier: MIT
#include "formparameters.h"

#include <QtCore/QStringDecoder>

namespace Tessera::Server {
namespace {

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Decodes one name or value; false on a malformed escape, bad UTF-8 or a control character.
bool decode(QByteArrayView encoded, QString *out)
{
    QByteArray bytes;
    bytes.reserve(encoded.size());
    for (qsizetype i = 0; i < encoded.size(); ++i) {
        const char c = encoded[i];
        if (c == '+') {
            bytes.append(' ');
        } else if (c == '%') {
            if (i + 2 >= encoded.size())
                return false;
            const int high = hexValue(encoded[i + 1]);
            const int low = hexValue(encoded[i + 2]);
            if (high < 0 || low < 0)
                return false;
            bytes.append(char(high * 16 + low));
            i += 2;
        } else {
            bytes.append(c);
        }
    }
    QStringDecoder utf8(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    *out = utf8(bytes);
    if (utf8.hasError())
        return false;
    for (const QChar ch : *out) {
        // Tab, CR and LF included: no parameter of these endpoints has a use for them.
        if (ch.unicode() < 0x20 || ch.unicode() == 0x7f)
            return false;
    }
    return true;
}

} // namespace

FormParameters parseFormParameters(QByteArrayView encoded)
{
    FormParameters parameters;
    for (const QByteArrayView pair :
         QByteArray::fromRawData(encoded.data(), encoded.size()).split('&')) {
        if (pair.isEmpty())
            continue;
        const qsizetype equals = pair.indexOf('=');
        QString name;
        QString value;
        if (!decode(equals < 0 ? pair : pair.first(equals), &name)
            || (equals >= 0 && !decode(pair.sliced(equals + 1), &value))) {
            parameters.problem = QStringLiteral("malformed parameter encoding");
            return parameters;
        }
        if (parameters.values.contains(name)) {
            parameters.problem = QStringLiteral("parameter %1 is repeated").arg(name);
            return parameters;
        }
        parameters.values.insert(name, value); // empty ones count for repetition, then go
    }
    for (auto it = parameters.values.begin(); it != parameters.values.end();) {
        if (it.value().isEmpty())
            it = parameters.values.erase(it);
        else
            ++it;
    }
    return parameters;
}

bool isFormContentType(QByteArrayView contentType)
{
    const qsizetype semicolon = contentType.indexOf(';');
    const QByteArray mediaType =
            (semicolon < 0 ? contentType : contentType.first(semicolon)).trimmed().toByteArray();
    return mediaType.compare("application/x-www-form-urlencoded", Qt::CaseInsensitive) == 0;
}

} // namespace Tessera::Server
