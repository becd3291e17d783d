// SPDX-License-Identifier: MIT
#include "heldfields.h"

namespace Tessera::Server::HeldFields {
namespace {

thread_local const Fields *dispatched = nullptr;

} // namespace

bool isHeld(QByteArrayView name)
{
    return name.compare("authorization", Qt::CaseInsensitive) == 0
            || name.compare("dpop", Qt::CaseInsensitive) == 0;
}

const Fields *current()
{
    return dispatched;
}

Dispatch::Dispatch(const Fields *fields)
    : m_previous(dispatched)
{
    dispatched = fields;
}

Dispatch::~Dispatch()
{
    dispatched = m_previous;
}

} // namespace Tessera::Server::HeldFields
