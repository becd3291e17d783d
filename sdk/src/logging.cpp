// SPDX-License-Identifier: MIT
#include "logging_p.h"

Q_LOGGING_CATEGORY(lcSession, "tessera.session", QtWarningMsg)
Q_LOGGING_CATEGORY(lcNetwork, "tessera.network", QtWarningMsg)
