// SPDX-License-Identifier: MIT
#include "loginform.h"

#include "formparameters.h"
#include "jsonresponses.h"
#include "loginpage.h"

#include <tessera/secret.h>

namespace Tessera::Server {
namespace {

// Beyond these the form is refused before any hashing.
constexpr qsizetype MaxUsername = 150;
constexpr qsizetype MaxPassword = 1024;

} // namespace

void checkLoginForm(LoginRoute &login, const QHttpServerRequest &request,
                    const FormParameters &parameters, QHttpServerResponder &&responder,
                    LoginFormAnswers answers)
{
    const QString username = parameters.value(QStringLiteral("username"));
    QByteArray password = parameters.value(QStringLiteral("password")).toUtf8();
    if (username.isEmpty() || password.isEmpty() || username.size() > MaxUsername
        || password.size() > MaxPassword) {
        secureWipe(password);
        return answers
                .formPage(Status::BadRequest, QStringLiteral("Enter your username and password."))
                .write(std::move(responder));
    }
    Secret secret(password);
    secureWipe(password);

    LoginAnswers checkAnswers;
    checkAnswers.checked = [answers](QHttpServerResponder &&responder, const Store::User *user) {
        if (!user)
            return answers
                    .formPage(Status::Unauthorized, QStringLiteral("Wrong username or password."))
                    .write(std::move(responder));
        answers.signedIn(std::move(responder), *user);
    };
    checkAnswers.refused = [formPage = answers.formPage](QHttpServerResponder &&responder,
                                                         Status status, const QString &,
                                                         const QString &detail, qint64 retryAfter) {
        if (retryAfter <= 0)
            return errorPage(Status::InternalServerError,
                             QStringLiteral("The server could not check the password."))
                    .write(std::move(responder));
        QHttpServerResponse response = formPage(status, detail);
        response.setHeader(QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfter));
        response.write(std::move(responder));
    };
    login.check(request, username, std::move(secret), std::move(responder),
                std::move(checkAnswers));
}

} // namespace Tessera::Server
