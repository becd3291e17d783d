// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/jose.h>

#include <QtCore/QJsonObject>
#include <QtCore/QString>
#include <QtCore/QStringList>

namespace Tessera::Server {

// The issuer (--issuer, default the listen URL) and the metadata documents that describe it
// (RFC 8414, OpenID Connect Discovery 1.0). Every OAuth endpoint is served under the
// issuer's path: issuer https://id.example/tenant has its token endpoint at
// https://id.example/tenant/token.

// Empty when `issuer` may be configured, else why not: an https URL, or http with a loopback
// host (127.0.0.1, [::1], localhost); no userinfo, query or fragment; a path of
// A-Z a-z 0-9 - _ ~ / segments without a trailing slash (route patterns take it as it is).
QString issuerProblem(const QString &issuer);

// The issuer's path ("" or "/tenant").
QString issuerPath(const QString &issuer);

// The paths at which the two metadata documents are served for this issuer: RFC 8414 §3.1
// inserts the well-known segment before the path (/.well-known/oauth-authorization-server
// /tenant), OpenID Connect Discovery §4 appends it (/tenant/.well-known/openid-configuration);
// both are served, with the same document.
QStringList discoveryPaths(const QString &issuer);

// The metadata document (the same for both names).
QJsonObject discoveryDocument(const QString &issuer, Jose::Algorithm algorithm);

// RFC 8628 §7.2.
inline const QString DeviceCodeGrantType =
        QStringLiteral("urn:ietf:params:oauth:grant-type:device_code");

// The scope values this server grants.
QStringList supportedScopes();

} // namespace Tessera::Server
