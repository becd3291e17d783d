// SPDX-License-Identifier: MIT
// The PATH argument of `tessera get`, resolved strictly on the session's origin.
//
// An absolute path is accepted: one leading "/" followed by anything but a
// second "/" or "\". Resolving anything else as a URL reference could name
// another origin ("//host/x", "http://host/x"; "\\host" and "/\host" in
// clients that read "\" as "/"), and the CLI must never send a request, with
// or without the token, anywhere but the origin it signed in to. The one
// exception is a full http(s) URL on an origin the user listed at login as a
// resource origin (an API at another host that accepts the session's token).
#pragma once

#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

namespace TesseraCli {

// The URL of PATH on base's origin (the server, or the OAuth issuer), or of a full URL whose
// origin is one of resourceOrigins; else an invalid QUrl with *error set to one line saying
// what is wrong.
QUrl resolveRequestPath(const QUrl &base, const QString &path, QString *error,
                        const QStringList &resourceOrigins = {});

} // namespace TesseraCli
