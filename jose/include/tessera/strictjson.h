// SPDX-License-Identifier: MIT
// Tessera::Jose — the one strict parser for JSON objects that a security decision is made on:
// JOSE headers, JWT claims and tessera-server's request bodies. Two parsers that read the same
// bytes differently (which of two "alg" members counts, whether a raw NUL is part of a string)
// are a way around whichever check uses the other one, so all of these use this parser.
#pragma once

#include <tessera/tessera_jose_export.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

#include <optional>

namespace Tessera::Jose {

// Headers, claim sets and request bodies nest two or three levels; 64 leaves room for any
// honest document and keeps the recursive parser's stack small.
inline constexpr int DefaultMaxJsonDepth = 64;

// Parses a JSON text (RFC 8259) whose top level is an object, and refuses:
//  - a member name that appears twice in one object, at any depth, compared after unescaping
//    ("a" and "\u0061" are one name); RFC 7515 section 4 and RFC 7519 section 4 let a JOSE
//    parser choose between refusing and "last one wins", and this one refuses;
//  - raw control characters U+0000..U+001F inside strings (RFC 8259 section 7);
//  - invalid UTF-8 (overlong forms, UTF-8 encoded surrogates, beyond U+10FFFF, truncated
//    sequences) and escaped surrogates that do not form a pair (RFC 7493 section 2.1);
//  - escapes other than the nine of RFC 8259 section 7;
//  - a byte order mark, anything but whitespace after the object, a top level that is not an
//    object, and more than `maxDepth` nested objects and arrays (the top level counts as one);
//  - numbers outside the grammar of RFC 8259 section 6 (01, .5, 1., +1, NaN) or outside the
//    range of a double.
// An accepted text gives the same QJsonObject that QJsonDocument::fromJson gives for it.
// On refusal: std::nullopt, and *problem (when given) names the rule and the byte offset; it
// never quotes the input, so it may go into an error response or a log line.
TESSERA_JOSE_EXPORT std::optional<QJsonObject> parseJsonObject(QByteArrayView json,
                                                               QString *problem = nullptr,
                                                               int maxDepth = DefaultMaxJsonDepth);

} // namespace Tessera::Jose
