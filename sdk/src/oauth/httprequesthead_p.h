// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

namespace Tessera::OAuth {

// The head of one HTTP/1.x request as the loopback redirect receiver accepts it (RFC 9112),
// parsed strictly: a browser following a redirect sends exactly this shape, so anything looser
// is refused rather than guessed at. Only what the receiver needs is kept.
struct TESSERA_SDK_EXPORT HttpRequestHead
{
    enum class Status {
        Complete,   // a whole, well-formed GET head
        Incomplete, // no empty line yet: read more (the caller caps the size)
        BadRequest, // malformed, or a form the receiver never accepts: answer 400
        NotGet,     // well-formed but not GET: answer 405
    };

    // Parses `bytes`, which holds everything read on the connection so far. Requires CRLF line
    // ends (no bare CR or LF), "GET <origin-form> HTTP/1.1" (or 1.0), header field names that
    // are tokens directly followed by ':', no obsolete line folding, exactly one Host on
    // HTTP/1.1 (RFC 9112 §3.2) and no request body (Content-Length other than 0, or
    // Transfer-Encoding). The target must be origin-form: "/" then no second "/" at once (a
    // "//host" target reads as an authority to some parsers), no absolute-form, no "*", no
    // fragment, only visible ASCII.
    static HttpRequestHead parse(QByteArrayView bytes);

    Status status = Status::Incomplete;
    QByteArray path;  // the target up to '?', as sent (not percent-decoded)
    QByteArray query; // after the first '?', as sent; empty when there is none
    QByteArray host;  // the Host field value, trimmed; empty on HTTP/1.0 without one
};

} // namespace Tessera::OAuth
