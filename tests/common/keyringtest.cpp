// SPDX-License-Identifier: MIT
#include "keyringtest.h"

#include <QtDBus/QDBusConnection>
#include <QtDBus/QDBusConnectionInterface>
#include <QtDBus/QDBusReply>

#include <QtCore/QDir>
#include <QtCore/QDirIterator>
#include <QtCore/QFile>

namespace Tessera::Test {

namespace {

// A session bus configuration that provides no services at all.
// (A plain literal: moc misreads raw strings holding "//".)
const char BareSessionBusConfig[] =
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig>\n"
        "  <type>session</type>\n"
        "  <listen>unix:tmpdir=/tmp</listen>\n"
        "  <auth>EXTERNAL</auth>\n"
        "  <policy context=\"default\">\n"
        "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
        "    <allow eavesdrop=\"true\"/>\n"
        "    <allow own=\"*\"/>\n"
        "  </policy>\n"
        "</busconfig>\n";

} // namespace

QProcessEnvironment isolatedEnvironment(const QString &home, const QString &runtimeDir)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *name :
         {"DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME",
          "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "GNOME_KEYRING_CONTROL"}) {
        env.remove(QString::fromLatin1(name));
    }
    env.insert(QStringLiteral("HOME"), home);
    env.insert(QStringLiteral("XDG_RUNTIME_DIR"), runtimeDir);
    return env;
}

QStringList bareSessionBusArguments(const QString &dir, const QStringList &command)
{
    const QString config = QDir(dir).filePath(QStringLiteral("bare-session.conf"));
    QFile file(config);
    if (!file.open(QIODevice::WriteOnly)
        || file.write(BareSessionBusConfig) != qint64(sizeof(BareSessionBusConfig) - 1))
        return {};
    return QStringList{QStringLiteral("--config-file=") + config, QStringLiteral("--")} + command;
}

QStringList entriesBelow(const QString &dir)
{
    QStringList entries;
    QDirIterator it(dir, QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext())
        entries << QDir(dir).relativeFilePath(it.next());
    return entries;
}

QString secretServiceProblem()
{
    QDBusConnection bus = QDBusConnection::sessionBus();
    if (!bus.isConnected())
        return QStringLiteral("no D-Bus session bus");
    const QString name = QStringLiteral("org.freedesktop.secrets");
    // gnome-keyring-daemon may still be registering (scripts/with-keyring.sh starts the test
    // right after it), or the service is D-Bus activatable.
    if (QTest::qWaitFor([&] { return bus.interface()->isServiceRegistered(name).value(); }, 5000))
        return {};
    const QDBusReply<QStringList> activatable = bus.interface()->activatableServiceNames();
    if (activatable.isValid() && activatable.value().contains(name))
        return {};
    return QStringLiteral("no Secret Service on the session bus");
}

} // namespace Tessera::Test
