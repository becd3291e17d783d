// SPDX-License-Identifier: MIT
// Apple Keychain, Windows Credential Manager, Android Keystore: QtKeychain reports what is
// wrong itself, so there is nothing to ask beforehand.
#include "keychain/keychainprobe_p.h"

#include <QtCore/QMetaObject>

namespace Tessera::Platform::Detail {

void probeKeychain(KeychainOperation, const QString &, const QString &, QObject *context,
                   ProbeDone done)
{
    QMetaObject::invokeMethod(
            context, [done = std::move(done)]() { done(ProbeResult{}); }, Qt::QueuedConnection);
}

} // namespace Tessera::Platform::Detail
