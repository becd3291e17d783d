// SPDX-License-Identifier: MIT
// The strict JSON-object rules as one data table, shared by the JOSE unit tests
// (tests/unit/tst_jose.cpp) and tessera-server's request-body tests
// (tests/server/tst_server_units.cpp): both parsers are run on the same rows, so a document
// that one accepts and the other refuses shows up as a failing row in one of them.
#pragma once

#include <tessera/strictjson.h>

#include <QtCore/QByteArray>
#include <QtTest/QTest>

namespace Tessera::Test {

// `nested` levels of objects: {"a":{"a":...{}...}}, the outermost included.
inline QByteArray nestedObjects(int levels)
{
    QByteArray text;
    for (int i = 1; i < levels; ++i)
        text += "{\"a\":";
    text += "{}";
    text += QByteArray(levels - 1, '}');
    return text;
}

// Columns: "json" (the document) and "problem" (empty when it must be accepted, else a
// substring of the problem parseJsonObject() reports).
inline void addStrictJsonRows()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("problem");

    const QString ok;
    const QString duplicate = QStringLiteral("duplicate member name");
    const QString control = QStringLiteral("raw control character");
    const QString utf8 = QStringLiteral("invalid UTF-8");
    const QString surrogate = QStringLiteral("surrogate");
    const QString escape = QStringLiteral("escape");
    const QString notObject = QStringLiteral("top level is not an object");
    const QString trailing = QStringLiteral("data after the object");
    const QString depth = QStringLiteral("nesting deeper than the limit");
    auto row = [](const char *name, const QByteArray &json, const QString &problem) {
        QTest::addRow("%s", name) << json << problem;
    };

    // Accepted: every kind of value, the same name in different objects, escapes.
    row("empty object", "{}", ok);
    row("login body", R"({"username":"alice","password":"correct horse"})", ok);
    row("whitespace around everything", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\r\n ", ok);
    row("every kind of value",
        R"({"s":"x","i":-12,"d":1.5e3,"e":-0.25E-2,"t":true,"f":false,"n":null,"a":[],"o":{}})",
        ok);
    row("same name in nested and sibling objects",
        R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":{"a":3}})", ok);
    row("names differing in case", R"({"sub":1,"Sub":2,"SUB":3})", ok);
    row("escapes", R"({"a":"\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00"})", ok);
    row("escaped NUL is a character, not a raw one", R"({"a":"x\u0000y","\u0000":1})", ok);
    row("UTF-8 of two, three and four bytes", "{\"\xc3\xa9\":\"\xe6\x97\xa5\xf0\x9f\x98\x80\"}",
        ok);
    row("DEL and U+FFFE are not control characters here", "{\"a\":\"\x7f\xef\xbf\xbe\"}", ok);
    row("integers at the edges of 64 bits",
        R"({"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808})", ok);
    row("number at the edge of a double", R"({"a":1.7976931348623157e308,"b":4.9e-324})", ok);
    // Found by fuzz_server_request: a fraction whose double is integral is an integer to
    // QJsonDocument, and must be to the strict parser too.
    row("integral double that fits in 64 bits",
        R"({"a":111111000011101111.11111111,"b":1e2,"c":-0.0,"d":9223372036854775807.0})", ok);
    row("nesting at the limit", nestedObjects(Jose::DefaultMaxJsonDepth), ok);

    // Duplicate member names, compared after unescaping.
    row("duplicate name", R"({"a":1,"a":2})", duplicate);
    row("duplicate name, same value", R"({"a":1,"a":1})", duplicate);
    row("duplicate name, escaped", R"({"a":1,"\u0061":2})", duplicate);
    row("duplicate name, escaped surrogate pair and UTF-8",
        "{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}", duplicate);
    row("duplicate name, escaped solidus", R"({"a/b":1,"a\/b":2})", duplicate);
    row("duplicate name, far apart", R"({"a":1,"b":2,"c":3,"d":4,"e":5,"a":6})", duplicate);
    row("duplicate name, three times", R"({"a":1,"a":2,"a":3})", duplicate);
    row("duplicate name in a nested object", R"({"x":{"a":1,"a":2}})", duplicate);
    row("duplicate name in an object in an array", R"({"x":[1,{"a":1,"a":2}]})", duplicate);
    row("duplicate password in a login body",
        R"({"username":"alice","password":"wrong","password":"right"})", duplicate);
    row("duplicate empty name", R"({"":1,"":2})", duplicate);

    // Raw control characters in strings (RFC 8259 section 7).
    row("raw NUL in a value", QByteArray("{\"a\":\"x\0y\"}", 11), control);
    row("raw NUL in a name", QByteArray("{\"a\0\":1}", 8), control);
    row("raw NUL ending a value", QByteArray("{\"a\":\"x\0\"}", 10), control);
    row("raw tab in a value", "{\"a\":\"x\ty\"}", control);
    row("raw line feed in a value", "{\"a\":\"x\ny\"}", control);
    row("raw carriage return in a name", "{\"a\rb\":1}", control);
    row("raw 0x1f in a value", "{\"a\":\"\x1f\"}", control);
    row("raw 0x01 in a value", "{\"a\":\"\x01\"}", control);

    // UTF-8 and escaped surrogates.
    row("0xFF", "{\"a\":\"\xff\"}", utf8);
    row("lone continuation byte", "{\"a\":\"\x80\"}", utf8);
    row("overlong slash", "{\"a\":\"\xc0\xaf\"}", utf8);
    row("overlong quote", "{\"a\":\"\xc0\xa2\"}", utf8);
    row("overlong three-byte form", "{\"a\":\"\xe0\x80\xaf\"}", utf8);
    row("UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", utf8);
    row("beyond U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", utf8);
    row("truncated sequence at the end of a string", "{\"a\":\"\xe2\x82\"}", utf8);
    row("invalid UTF-8 in a name", "{\"\xfe\":1}", utf8);
    row("escaped lone high surrogate", R"({"a":"\ud800"})", surrogate);
    row("escaped lone low surrogate", R"({"a":"\udc00"})", surrogate);
    row("escaped high surrogate then a letter", R"({"a":"\ud800\u0041"})", surrogate);
    row("invalid escape \\x", R"({"a":"\x41"})", escape);
    row("invalid escape \\'", R"({"a":"\'"})", escape);
    row("octal-looking escape", R"({"a":"\0"})", escape);
    row("short \\u escape", R"({"a":"\u12"})", escape);
    row("non-hex \\u escape", R"({"a":"\u12G4"})", escape);

    // Not one object.
    row("empty document", "", notObject);
    row("whitespace only", " \n", notObject);
    row("array", R"([{"a":1}])", notObject);
    row("string", R"("a")", notObject);
    row("number", "1", notObject);
    row("null", "null", notObject);
    row("byte order mark", "\xef\xbb\xbf{}", notObject);
    row("trailing garbage", "{}x", trailing);
    row("two objects", "{}{}", trailing);
    row("trailing comma after the object", "{},", trailing);
    row("trailing NUL", QByteArray("{}\0", 3), trailing);
    row("nesting one past the limit", nestedObjects(Jose::DefaultMaxJsonDepth + 1), depth);
    row("array nesting past the limit",
        "{\"a\":" + QByteArray(Jose::DefaultMaxJsonDepth, '[')
                + QByteArray(Jose::DefaultMaxJsonDepth, ']') + "}",
        depth);
    row("deep nesting, never closed", "{\"a\":" + QByteArray(100000, '['), depth);

    // Grammar.
    row("truncated object", R"({"a":1)", QStringLiteral("missing"));
    row("truncated string", R"({"a":"x)", QStringLiteral("unterminated string"));
    row("trailing comma in an object", R"({"a":1,})", QStringLiteral("member name is missing"));
    row("trailing comma in an array", R"({"a":[1,]})", QStringLiteral("invalid value"));
    row("missing colon", R"({"a" 1})", QStringLiteral("':' is missing"));
    row("single quotes", R"({'a':1})", QStringLiteral("member name is missing"));
    row("unquoted name", R"({a:1})", QStringLiteral("member name is missing"));
    row("comment", R"({"a":1/*c*/})", QStringLiteral("missing"));
    row("vertical tab as whitespace", "{\v\"a\":1}", QStringLiteral("member name is missing"));
    row("leading zero", R"({"a":01})", QStringLiteral("missing"));
    row("plus sign", R"({"a":+1})", QStringLiteral("invalid value"));
    row("fraction without integer part", R"({"a":.5})", QStringLiteral("invalid value"));
    row("fraction without digits", R"({"a":1.})", QStringLiteral("invalid number"));
    row("exponent without digits", R"({"a":1e})", QStringLiteral("invalid number"));
    row("minus alone", R"({"a":-})", QStringLiteral("invalid value"));
    row("NaN", R"({"a":NaN})", QStringLiteral("invalid value"));
    row("Infinity", R"({"a":Infinity})", QStringLiteral("invalid value"));
    row("number overflowing a double", R"({"a":1e400})", QStringLiteral("out of the range"));
    row("number underflowing a double", R"({"a":1e-400})", QStringLiteral("out of the range"));
    row("TRUE", R"({"a":TRUE})", QStringLiteral("invalid value"));
    row("nul", R"({"a":nul})", QStringLiteral("invalid literal"));
}

} // namespace Tessera::Test
