// SPDX-License-Identifier: MIT
#pragma once

#include "loginroute.h"
#include "store.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtHttpServer/QHttpServerResponse>

#include <functional>

namespace Tessera::Server {

struct FormParameters;

// What differs between the pages that carry the login form (the authorization endpoint's and
// the device page's): the page the form is shown again on, and what a right password leads to.
struct LoginFormAnswers
{
    // The page with its form again, with `status` and a message for the person (plain text).
    std::function<QHttpServerResponse(QHttpServerResponse::StatusCode status,
                                      const QString &message)>
            formPage;
    // The password was right: write the page's answer.
    std::function<void(QHttpServerResponder &&, const Store::User &user)> signedIn;
};

// The password half of a posted login form, once the page has checked its CSRF guard and its
// own fields: the username and password fields bounded, then LoginRoute::check (the one
// password check: its queue, login limits and Argon2id). A wrong password, a throttled or
// queued-out login show the form again (429 and 503 with Retry-After); a failed check is an
// error page.
void checkLoginForm(LoginRoute &login, const QHttpServerRequest &request,
                    const FormParameters &parameters, QHttpServerResponder &&responder,
                    LoginFormAnswers answers);

} // namespace Tessera::Server
