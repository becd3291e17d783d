// SPDX-License-Identifier: MIT
#include "authorizationresponse_p.h"

#include <QtCore/QList>

#include <optional>

namespace Tessera::OAuth {

namespace {

using Kind = AuthorizationResponse::Kind;

// Longest error_description kept for the message; the rest is cut.
constexpr qsizetype MaxDescription = 200;

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

// application/x-www-form-urlencoded decoding of one name or value: '+' is a space, "%XX" a byte;
// a '%' not followed by two hex digits makes the whole query malformed.
std::optional<QByteArray> formDecode(QByteArrayView text)
{
    QByteArray out;
    out.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out.append(' ');
        } else if (c == '%') {
            if (i + 2 >= text.size())
                return std::nullopt;
            const int high = hexValue(text[i + 1]);
            const int low = hexValue(text[i + 2]);
            if (high < 0 || low < 0)
                return std::nullopt;
            out.append(char(high * 16 + low));
            i += 2;
        } else {
            out.append(c);
        }
    }
    return out;
}

struct Parameter
{
    QByteArray name;
    QByteArray value;
};

// The decoded values hold the code: wiped when the evaluation is over, whatever its outcome.
struct WipeValues
{
    QList<Parameter> &parameters;
    ~WipeValues()
    {
        for (Parameter &parameter : parameters)
            secureWipe(parameter.value);
    }
};

// All name=value pairs, decoded; nullopt when any is malformed.
std::optional<QList<Parameter>> parseQuery(QByteArrayView query)
{
    QList<Parameter> parameters;
    if (query.isEmpty())
        return parameters;
    qsizetype start = 0;
    while (start <= query.size()) {
        qsizetype amp = query.indexOf('&', start);
        if (amp < 0)
            amp = query.size();
        const QByteArrayView pair = query.sliced(start, amp - start);
        if (!pair.isEmpty()) {
            const qsizetype equals = pair.indexOf('=');
            auto name = formDecode(equals < 0 ? pair : pair.first(equals));
            auto value = formDecode(equals < 0 ? QByteArrayView() : pair.sliced(equals + 1));
            if (!name || !value)
                return std::nullopt;
            parameters.append({std::move(*name), std::move(*value)});
        }
        start = amp + 1;
    }
    return parameters;
}

// The values of `name`: none, one, or (RFC 6749 §3.1 forbids it) several.
QList<const QByteArray *> valuesOf(const QList<Parameter> &parameters, QByteArrayView name)
{
    QList<const QByteArray *> values;
    for (const Parameter &parameter : parameters) {
        if (parameter.name == name)
            values.append(&parameter.value);
    }
    return values;
}

// NQSCHAR of RFC 6749 Appendix A (error, error_description): %x20-21 / %x23-5B / %x5D-7E.
bool isNqsChars(QByteArrayView text)
{
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

AuthorizationResponse failed(Error::Code code, const QString &message,
                             const QString &serverCode = {})
{
    AuthorizationResponse response;
    response.kind = Kind::Failed;
    response.error = Error(code, message, serverCode);
    return response;
}

// An error redirect (RFC 6749 §4.1.2.1) as an Error. The code and description are the
// provider's words, shown to the user: only when they are well-formed, and cut short.
AuthorizationResponse errorRedirect(const QByteArray &error, const QByteArray *description)
{
    if (error.isEmpty() || !isNqsChars(error)) {
        return failed(Error::Code::AccessDenied,
                      QStringLiteral("the identity provider refused the sign-in"));
    }
    const QString serverCode = QString::fromLatin1(error);
    QString message;
    Error::Code code = Error::Code::AccessDenied;
    if (error == "access_denied") {
        message = QStringLiteral("the sign-in was refused (access_denied)");
    } else if (error == "server_error" || error == "temporarily_unavailable") {
        code = Error::Code::ServerError;
        message = QStringLiteral("the identity provider could not complete the sign-in (%1)")
                          .arg(serverCode);
    } else if (error == "invalid_request" || error == "unauthorized_client"
               || error == "unsupported_response_type" || error == "invalid_scope") {
        // The request the client built was refused: its configuration (client id, redirect
        // URI, scopes) needs fixing, not the user.
        code = Error::Code::InvalidConfiguration;
        message = QStringLiteral("the identity provider refused the authorization request (%1)")
                          .arg(serverCode);
    } else {
        message = QStringLiteral("the identity provider refused the sign-in (%1)").arg(serverCode);
    }
    if (description && !description->isEmpty() && isNqsChars(*description)) {
        message += QStringLiteral(": ") + QString::fromLatin1(description->left(MaxDescription));
    }
    return failed(code, message, serverCode);
}

} // namespace

AuthorizationResponse AuthorizationResponse::evaluate(QByteArrayView query, const Secret &state,
                                                      const IssuerExpectation &expectation)
{
    std::optional<QList<Parameter>> parameters = parseQuery(query);
    if (!parameters)
        return {};
    const WipeValues wipe{*parameters};
    const QList<const QByteArray *> states = valuesOf(*parameters, "state");
    if (states.size() != 1 || state.isEmpty() || !state.equals(*states.first()))
        return {};

    // Our state from here on: every outcome ends the wait.
    const QList<const QByteArray *> issuers = valuesOf(*parameters, "iss");
    const QList<const QByteArray *> errors = valuesOf(*parameters, "error");
    const QList<const QByteArray *> descriptions = valuesOf(*parameters, "error_description");
    const QList<const QByteArray *> codes = valuesOf(*parameters, "code");
    if (issuers.size() > 1 || errors.size() > 1 || descriptions.size() > 1 || codes.size() > 1) {
        return failed(Error::Code::InvalidResponse,
                      QStringLiteral("the authorization response repeats a parameter"));
    }

    // RFC 9207 §2.4, for error responses too: an `iss` that is present must be the issuer the
    // request went to; one that is missing is refused when the issuer said it sends it.
    QString issuer;
    if (!issuers.isEmpty()) {
        issuer = QString::fromUtf8(*issuers.first());
        if (issuer != expectation.issuer) {
            return failed(Error::Code::InvalidResponse,
                          QStringLiteral("the authorization response comes from another issuer "
                                         "than the one the sign-in went to"));
        }
    } else if (expectation.issParameterSupported) {
        return failed(Error::Code::InvalidResponse,
                      QStringLiteral("the authorization response has no `iss`, which this "
                                     "issuer says it always sends"));
    }

    if (!errors.isEmpty()) {
        AuthorizationResponse response = errorRedirect(
                *errors.first(), descriptions.isEmpty() ? nullptr : descriptions.first());
        response.issuer = issuer;
        return response;
    }
    if (codes.isEmpty() || codes.first()->isEmpty()) {
        return failed(Error::Code::InvalidResponse,
                      QStringLiteral("the authorization response has neither a code nor an error"));
    }
    AuthorizationResponse response;
    response.kind = Kind::Code;
    response.code = Secret(*codes.first());
    response.issuer = issuer;
    return response;
}

} // namespace Tessera::OAuth
