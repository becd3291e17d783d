// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QLoggingCategory>

// Events only. Never log a token, a password, a hash or an Authorization header.
Q_DECLARE_LOGGING_CATEGORY(lcServerHttp)
Q_DECLARE_LOGGING_CATEGORY(lcServerAuth)
Q_DECLARE_LOGGING_CATEGORY(lcServerStore)
