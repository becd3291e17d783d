// SPDX-License-Identifier: MIT
// The PATH argument of `tessera get`, resolved strictly on the session's server.
//
// Only an absolute path is accepted: one leading "/" followed by anything but a
// second "/" or "\". Resolving anything else as a URL reference could name
// another origin ("//host/x", "http://host/x"; "\\host" and "/\host" in
// clients that read "\" as "/"), and the CLI must never send a request, with
// or without the token, anywhere but the server it signed in to.
#pragma once

#include <QtCore/QString>
#include <QtCore/QUrl>

namespace TesseraCli {

// The URL of PATH on server's origin, or an invalid QUrl with *error set to
// one line saying what is wrong.
QUrl resolveRequestPath(const QUrl &server, const QString &path, QString *error);

} // namespace TesseraCli
