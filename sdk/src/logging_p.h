// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QLoggingCategory>

// Events only: never a token, password, or Authorization header value.
Q_DECLARE_LOGGING_CATEGORY(lcSession)
Q_DECLARE_LOGGING_CATEGORY(lcNetwork)
