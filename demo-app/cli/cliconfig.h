// SPDX-License-Identifier: MIT
// The `tessera` CLI's remembered settings: server URL, username, app id and
// endpoint paths, or for OAuth the issuer, client id, scopes and resource
// origins (never a token), in a small INI file.
//
// The server URL decides where the next typed password goes (the issuer,
// where the browser is sent and the token goes), so the file is
// trusted the way ssh trusts ~/.ssh/config: it must be a regular file (not a
// symbolic link) owned by the user and not writable by group or others, and
// every directory above it must be owned by the user or root and not writable
// by group or others (unless sticky, like /tmp). Anything else is refused with
// one line that says why and how to fix it. It is written 0600, in a directory
// created 0700, through a temporary file renamed over the old one.
#pragma once

#include <QtCore/QMap>
#include <QtCore/QString>

namespace TesseraCli {

class CliConfig
{
public:
    // $XDG_CONFIG_HOME/tessera/cli.conf (or its platform equivalent).
    static QString defaultPath();

    explicit CliConfig(const QString &path);

    QString path() const { return m_path; }

    // Checks that the file (if it exists) and its directories are safe, then
    // reads it. A missing file is an empty configuration. On failure returns
    // false and sets *error to one line: what is wrong and how to fix it.
    bool load(QString *error);

    bool contains(const QString &key) const { return m_values.contains(key); }
    QString value(const QString &key) const { return m_values.value(key); }
    void setValue(const QString &key, const QString &value) { m_values.insert(key, value); }
    void remove(const QString &key) { m_values.remove(key); }

    // Creates missing directories 0700 (and tightens the default directory to
    // 0700), writes the settings to a temporary 0600 file beside the target and
    // renames it over the target. On failure returns false and sets *error.
    bool save(QString *error);

private:
    QString m_path;
    QMap<QString, QString> m_values;
};

} // namespace TesseraCli
