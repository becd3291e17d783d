// SPDX-License-Identifier: MIT
#include "logging.h"

Q_LOGGING_CATEGORY(lcServerHttp, "tessera.server.http", QtInfoMsg)
Q_LOGGING_CATEGORY(lcServerAuth, "tessera.server.auth", QtInfoMsg)
Q_LOGGING_CATEGORY(lcServerStore, "tessera.server.store", QtInfoMsg)
