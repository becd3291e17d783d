// SPDX-License-Identifier: MIT
#include <tessera/error.h>

#include <QtCore/QDebug>

namespace Tessera {

Error::Error(Code code, const QString &message, const QString &serverCode)
    : m_code(code)
    , m_message(message)
    , m_serverCode(serverCode)
{ }

bool Error::isTransient(Code code)
{
    switch (code) {
    case Code::NetworkError:
    case Code::Timeout:
    case Code::ServerError:
    case Code::RateLimited:
    case Code::StorageLocked:
        return true;
    default:
        return false;
    }
}

QDebug operator<<(QDebug debug, const Error &error)
{
    QDebugStateSaver saver(debug);
    debug.nospace() << "Tessera::Error(" << error.code();
    if (!error.serverCode().isEmpty())
        debug << ", server code " << error.serverCode();
    debug << ", " << (error.isTransient() ? "transient" : "fatal") << ", " << error.message()
          << ')';
    return debug;
}

} // namespace Tessera
