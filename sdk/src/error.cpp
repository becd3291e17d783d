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

ErrorException::ErrorException(const Error &error)
    : m_error(error)
    , m_what(error.message().toUtf8())
{ }

const char *ErrorException::what() const noexcept
{
    return m_what.constData();
}

void ErrorException::raise() const
{
    throw *this;
}

ErrorException *ErrorException::clone() const
{
    return new ErrorException(*this);
}

Error errorOf(const QFuture<void> &future)
{
    if (!future.isFinished())
        return {Error::Code::Cancelled, QStringLiteral("the operation has not finished yet")};
    if (!future.isCanceled())
        return {};
    // A failed future is cancelled and holds an exception, which waitForFinished() rethrows
    // (at once: the future is finished).
    QFuture<void> finished = future;
    try {
        finished.waitForFinished();
    } catch (const ErrorException &exception) {
        return exception.error();
    } catch (const std::exception &exception) {
        return {Error::Code::Cancelled,
                QStringLiteral("the operation failed: %1")
                        .arg(QString::fromUtf8(exception.what()))};
    } catch (...) {
        return {Error::Code::Cancelled, QStringLiteral("the operation failed")};
    }
    return {Error::Code::Cancelled, QStringLiteral("the operation was cancelled")};
}

} // namespace Tessera
