// SPDX-License-Identifier: MIT
#include "backoff_p.h"

#include <QtCore/QRandomGenerator>

namespace Tessera {

qint64 Backoff::nextDelayMs()
{
    const qint64 base = qMin<qint64>(MaxDelayMs, m_baseMs << qMin(m_attempt, 6));
    const qint64 delay = base / 2 + qint64(QRandomGenerator::global()->bounded(quint32(base)));
    ++m_attempt;
    return qMin(delay, MaxDelayMs);
}

} // namespace Tessera
