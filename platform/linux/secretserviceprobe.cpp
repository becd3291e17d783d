// SPDX-License-Identifier: MIT
// Linux: QtKeychain 0.13 reaches the Secret Service (gnome-keyring, KWallet, KeePassXC, ...)
// through libsecret on the D-Bus session bus, and has no isAvailable(). Before any job runs,
// this probe checks for a session bus and for org.freedesktop.secrets on it, without
// autolaunching a bus or spawning anything. For reads and removes it also asks the service
// whether the entry exists and whether it sits in a locked collection: libsecret reports a
// locked entry it could not unlock as "not found" and a remove of it as done.
#include "keychain/keychainprobe_p.h"
#include "storeutil_p.h"

#include <QtCore/QFileInfo>
#include <QtCore/QMap>
#include <QtCore/QMetaObject>
#include <QtDBus/QDBusConnection>
#include <QtDBus/QDBusError>
#include <QtDBus/QDBusMessage>
#include <QtDBus/QDBusMetaType>
#include <QtDBus/QDBusObjectPath>
#include <QtDBus/QDBusPendingCallWatcher>

namespace Tessera::Platform::Detail {
namespace {

using Status = StoreResult::Status;
using Attributes = QMap<QString, QString>;

const QString SecretsName = QStringLiteral("org.freedesktop.secrets");
constexpr int BusQueryTimeoutMs = 5000;
// SearchItems may start the Secret Service through D-Bus activation.
constexpr int SearchTimeoutMs = 10000;

ProbeResult finish(Status status, const QString &message)
{
    ProbeResult probe;
    probe.result = makeResult(status, message);
    return probe;
}

// Empty when a session bus is connected. Qt (libdbus) and libsecret (GDBus) both autolaunch a
// bus when no address is known, and spawn dbus-launch if $DISPLAY is set: decide before
// either is asked.
QString sessionBusProblem()
{
    const QByteArray address = qgetenv("DBUS_SESSION_BUS_ADDRESS");
    if (address.isEmpty()) {
        const QString runtimeDir = qEnvironmentVariable("XDG_RUNTIME_DIR");
        if (runtimeDir.isEmpty() || !QFileInfo::exists(runtimeDir + QStringLiteral("/bus")))
            return QStringLiteral("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)");
    } else if (address.startsWith("autolaunch:")) {
        return QStringLiteral("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS asks for "
                              "autolaunch, which Tessera never starts)");
    }
    const QDBusConnection bus = QDBusConnection::sessionBus();
    if (!bus.isConnected())
        return QStringLiteral("no D-Bus session bus (%1)").arg(bus.lastError().message());
    return {};
}

QDBusMessage busDaemonCall(const QString &method)
{
    return QDBusMessage::createMethodCall(QStringLiteral("org.freedesktop.DBus"),
                                          QStringLiteral("/org/freedesktop/DBus"),
                                          QStringLiteral("org.freedesktop.DBus"), method);
}

// Sends `call` and hands the reply (or error) to handler on context's thread.
void callAsync(const QDBusMessage &call, int timeoutMs, QObject *context,
               std::function<void(const QDBusMessage &)> handler)
{
    auto *watcher = new QDBusPendingCallWatcher(
            QDBusConnection::sessionBus().asyncCall(call, timeoutMs), context);
    QObject::connect(watcher, &QDBusPendingCallWatcher::finished, context,
                     [watcher, handler = std::move(handler)]() {
                         watcher->deleteLater();
                         handler(watcher->reply());
                     });
}

bool isError(const QDBusMessage &reply)
{
    return reply.type() != QDBusMessage::ReplyMessage;
}

// The attributes QtKeychain 0.13's libsecret path stores and matches: user = key,
// server = service (plus type = plaintext|base64, not needed to find the entry).
void searchItems(KeychainOperation operation, const QString &service, const QString &key,
                 QObject *context, ProbeDone done)
{
    static const QMetaType registered = qDBusRegisterMetaType<Attributes>();
    Q_UNUSED(registered);

    QDBusMessage call = QDBusMessage::createMethodCall(
            SecretsName, QStringLiteral("/org/freedesktop/secrets"),
            QStringLiteral("org.freedesktop.Secret.Service"), QStringLiteral("SearchItems"));
    const Attributes attributes{{QStringLiteral("user"), key}, {QStringLiteral("server"), service}};
    call << QVariant::fromValue(attributes);

    callAsync(call, SearchTimeoutMs, context, [operation, done](const QDBusMessage &reply) {
        if (isError(reply) || reply.arguments().size() != 2) {
            // Let QtKeychain try and report what it finds.
            qCDebug(lcStorage) << "Secret Service search failed:" << reply.errorMessage();
            done(ProbeResult{});
            return;
        }
        const auto unlocked = qdbus_cast<QList<QDBusObjectPath>>(reply.arguments().at(0));
        const auto locked = qdbus_cast<QList<QDBusObjectPath>>(reply.arguments().at(1));
        const bool found = !unlocked.isEmpty() || !locked.isEmpty();

        if (operation == KeychainOperation::VerifyRemoved) {
            if (!found)
                done(ProbeResult{});
            else if (!locked.isEmpty())
                done(finish(Status::Locked,
                            QStringLiteral("the entry is in a locked keyring collection and "
                                           "was not removed")));
            else
                done(finish(Status::Other,
                            QStringLiteral("the entry is still present after removal")));
            return;
        }
        if (!found) {
            done(finish(Status::NotFound, QStringLiteral("no entry under that key")));
            return;
        }
        ProbeResult probe;
        probe.entryLocked = unlocked.isEmpty();
        done(probe);
    });
}

} // namespace

void probeKeychain(KeychainOperation operation, const QString &service, const QString &key,
                   QObject *context, ProbeDone done)
{
    const QString busProblem = sessionBusProblem();
    if (!busProblem.isEmpty()) {
        QMetaObject::invokeMethod(
                context,
                [done = std::move(done), busProblem]() {
                    done(finish(Status::Unavailable, busProblem));
                },
                Qt::QueuedConnection);
        return;
    }

    auto afterService = [operation, service, key, context, done]() {
        if (operation == KeychainOperation::Write)
            done(ProbeResult{});
        else
            searchItems(operation, service, key, context, done);
    };
    auto noService = [done](const QString &detail) {
        QString message =
                QStringLiteral("no Secret Service (org.freedesktop.secrets) on the session bus");
        if (!detail.isEmpty())
            message += QStringLiteral(" (%1)").arg(detail);
        done(finish(Status::Unavailable, message));
    };

    QDBusMessage hasOwner = busDaemonCall(QStringLiteral("NameHasOwner"));
    hasOwner << SecretsName;
    callAsync(hasOwner, BusQueryTimeoutMs, context,
              [context, afterService, noService](const QDBusMessage &reply) {
                  if (isError(reply)) {
                      noService(reply.errorMessage());
                      return;
                  }
                  if (reply.arguments().value(0).toBool()) {
                      afterService();
                      return;
                  }
                  callAsync(busDaemonCall(QStringLiteral("ListActivatableNames")),
                            BusQueryTimeoutMs, context,
                            [afterService, noService](const QDBusMessage &names) {
                                if (isError(names)) {
                                    noService(names.errorMessage());
                                    return;
                                }
                                if (names.arguments().value(0).toStringList().contains(SecretsName))
                                    afterService();
                                else
                                    noService({});
                            });
              });
}

} // namespace Tessera::Platform::Detail
