// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>
#include <QtCore/QStringList>

namespace Tessera::Server {

// Registered public native clients (docs/SERVER.md "Clients"): what an id and
// a redirect URI may be at registration, and which redirect URI of a request
// matches a registered one.

// Client ids: 1 to 64 characters of A-Z a-z 0-9 . _ ~ -, starting with a
// letter or digit (URL-unreserved: printed, logged and put in URLs or HTML as
// they are). Empty when `id` is acceptable, else why not.
QString clientIdProblem(const QString &id);

// Empty when `uri` may be registered, else one line saying why not. Accepted
// (RFC 8252 §7; lowercase scheme and host, an absolute path, no dot segments,
// no fragment, no userinfo, only RFC 3986 characters with well-formed
// percent-escapes, at most 2000 characters):
// - loopback: http://127.0.0.1[:PORT]/PATH[?QUERY] or http://[::1][:PORT]/PATH[?QUERY]
//   (`localhost` refused, RFC 8252 §8.3);
// - claimed https: https://HOST[:PORT]/PATH[?QUERY], HOST a DNS name, PORT not 443;
// - private-use scheme: REVERSE.DOMAIN:/PATH[?QUERY] (a dot in the scheme, one slash).
QString redirectUriProblem(const QString &uri);

// Empty when `uris` may be registered together for one client: at most 16,
// each accepted by redirectUriProblem(), no two the same. Else one line
// naming the first one refused (escaped by printableForError()) and why.
QString redirectUriListProblem(const QStringList &uris);

// Whether `presented` (from a request) matches `registered` (accepted by
// redirectUriProblem()). A loopback registration matches the same scheme,
// loopback literal, path and query with any port, or none (RFC 8252 §7.3);
// every other registration only the identical string (RFC 6749 §3.1.2.3,
// RFC 9700 §4.1.3: simple string comparison, RFC 3986 §6.2.1, no normalisation).
bool redirectUriMatches(const QString &registered, const QString &presented);

// `text` made safe to print on one line of a terminal: printable ASCII kept,
// every other byte of its UTF-8 as \xHH, cut after 120 characters.
QString printableForError(const QString &text);

} // namespace Tessera::Server
