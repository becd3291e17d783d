// SPDX-License-Identifier: MIT
// The strict JSON-object parser (tessera/strictjson.h).
//
// Why not QJsonDocument::fromJson: on Qt 6.4.2 (Debian 12) it was run on each case below, and
//  - keeps the last of duplicate member names, silently, at every depth and after unescaping:
//    {"a":1,"a":2} and {"a":1,"\u0061":2} both give {"a":2};
//  - accepts every raw control character U+0000..U+001F inside strings and member names, NUL
//    included ("a<NUL>b" stays a three-character string);
//  - accepts escaped lone surrogates ("\ud800"), invalid escapes ("\x" reads as "x"), a leading
//    UTF-8 byte order mark, the numbers ".5" and "1.", and an array at the top level;
//  - refuses invalid UTF-8, trailing data other than whitespace, numbers whose double
//    conversion overflows or underflows (1e400, 1e-400), and nesting deeper than 1024.
// Values are built the way QJsonDocument builds them, so an accepted text gives the same
// object: an integer literal that fits in 64 bits stays an integer, and so does any other number
// whose double is integral and fits in 64 bits; the rest are doubles.
#include <tessera/strictjson.h>

#include <QtCore/QJsonArray>
#include <QtCore/QJsonValue>

#include <algorithm>
#include <vector>

namespace Tessera::Jose {
namespace {

class StrictJsonParser
{
public:
    StrictJsonParser(QByteArrayView json, int maxDepth)
        : m_begin(json.data())
        , m_p(json.data())
        , m_end(json.data() + json.size())
        , m_maxDepth(maxDepth)
    { }

    std::optional<QJsonObject> parseDocument()
    {
        skipWhitespace();
        if (atEnd() || *m_p != '{') {
            fail("the top level is not an object");
            return std::nullopt;
        }
        QJsonObject object;
        if (!parseObject(object, 1))
            return std::nullopt;
        skipWhitespace();
        if (!atEnd()) {
            fail("data after the object");
            return std::nullopt;
        }
        return object;
    }

    QString problem() const
    {
        return QStringLiteral("%1 at byte %2").arg(QLatin1String(m_problem)).arg(m_offset);
    }

private:
    struct Member
    {
        QString name;
        QJsonValue value;
        qsizetype offset; // of the name, for the duplicate report
    };

    bool atEnd() const { return m_p == m_end; }

    bool fail(const char *what) { return fail(what, m_p - m_begin); }

    bool fail(const char *what, qsizetype offset)
    {
        if (!m_problem) {
            m_problem = what;
            m_offset = offset;
        }
        return false;
    }

    bool consume(char c)
    {
        if (atEnd() || *m_p != c)
            return false;
        ++m_p;
        return true;
    }

    // RFC 8259 section 2: space, tab, line feed and carriage return only.
    void skipWhitespace()
    {
        while (!atEnd() && (*m_p == ' ' || *m_p == '\t' || *m_p == '\n' || *m_p == '\r'))
            ++m_p;
    }

    bool parseValue(QJsonValue &out, int depth)
    {
        if (atEnd())
            return fail("a value is missing");
        switch (*m_p) {
        case '{': {
            QJsonObject object;
            if (!parseObject(object, depth + 1))
                return false;
            out = object;
            return true;
        }
        case '[': {
            QJsonArray array;
            if (!parseArray(array, depth + 1))
                return false;
            out = array;
            return true;
        }
        case '"': {
            QString text;
            if (!parseString(text))
                return false;
            out = text;
            return true;
        }
        case 't':
            out = true;
            return parseWord("true");
        case 'f':
            out = false;
            return parseWord("false");
        case 'n':
            out = QJsonValue(QJsonValue::Null);
            return parseWord("null");
        default:
            return parseNumber(out);
        }
    }

    bool parseWord(QByteArrayView word)
    {
        if (QByteArrayView(m_p, m_end - m_p).startsWith(word)) {
            m_p += word.size();
            return true;
        }
        return fail("an invalid literal");
    }

    bool parseObject(QJsonObject &out, int depth)
    {
        if (depth > m_maxDepth)
            return fail("nesting deeper than the limit");
        ++m_p; // '{'
        std::vector<Member> members;
        skipWhitespace();
        if (!consume('}')) {
            for (;;) {
                skipWhitespace();
                if (atEnd() || *m_p != '"')
                    return fail("a member name is missing");
                Member member;
                member.offset = m_p - m_begin;
                if (!parseString(member.name))
                    return false;
                skipWhitespace();
                if (!consume(':'))
                    return fail("':' is missing after a member name");
                skipWhitespace();
                if (!parseValue(member.value, depth))
                    return false;
                members.push_back(std::move(member));
                skipWhitespace();
                if (consume(','))
                    continue;
                if (consume('}'))
                    break;
                return fail("',' or '}' is missing in an object");
            }
        }
        // Sorted, duplicates sit side by side; QJsonObject keeps its keys sorted too, so
        // inserting in this order appends (no quadratic cost for objects with many members).
        std::sort(members.begin(), members.end(),
                  [](const Member &a, const Member &b) { return a.name < b.name; });
        for (size_t i = 1; i < members.size(); ++i) {
            if (members[i].name == members[i - 1].name)
                return fail("a duplicate member name",
                            std::max(members[i].offset, members[i - 1].offset));
        }
        for (Member &member : members)
            out.insert(member.name, member.value);
        return true;
    }

    bool parseArray(QJsonArray &out, int depth)
    {
        if (depth > m_maxDepth)
            return fail("nesting deeper than the limit");
        ++m_p; // '['
        skipWhitespace();
        if (consume(']'))
            return true;
        for (;;) {
            skipWhitespace();
            QJsonValue value;
            if (!parseValue(value, depth))
                return false;
            out.append(value);
            skipWhitespace();
            if (consume(','))
                continue;
            if (consume(']'))
                return true;
            return fail("',' or ']' is missing in an array");
        }
    }

    bool parseString(QString &out)
    {
        ++m_p; // '"'
        out.clear();
        for (;;) {
            if (atEnd())
                return fail("an unterminated string");
            const auto c = static_cast<unsigned char>(*m_p);
            if (c == '"') {
                ++m_p;
                return true;
            }
            if (c == '\\') {
                if (!parseEscape(out))
                    return false;
            } else if (c < 0x20) {
                return fail("a raw control character in a string");
            } else if (c < 0x80) {
                // A run of plain ASCII up to the next quote, backslash, control or non-ASCII
                // byte, appended at once (each byte is its own code point).
                const char *const run = m_p;
                while (!atEnd() && static_cast<unsigned char>(*m_p) >= 0x20
                       && static_cast<unsigned char>(*m_p) < 0x80 && *m_p != '"' && *m_p != '\\')
                    ++m_p;
                out.append(QLatin1StringView(run, m_p - run));
            } else if (!parseUtf8Sequence(out)) {
                return false;
            }
        }
    }

    // One multi-byte UTF-8 sequence, well-formed as in Unicode table 3-7: no overlong forms,
    // no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
    bool parseUtf8Sequence(QString &out)
    {
        const auto lead = static_cast<unsigned char>(*m_p);
        int length = 0;
        char32_t codePoint = 0;
        unsigned char low = 0x80; // range of the second byte
        unsigned char high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            codePoint = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            codePoint = lead & 0x0F;
            if (lead == 0xE0)
                low = 0xA0;
            else if (lead == 0xED)
                high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            codePoint = lead & 0x07;
            if (lead == 0xF0)
                low = 0x90;
            else if (lead == 0xF4)
                high = 0x8F;
        } else {
            return fail("invalid UTF-8");
        }
        if (m_end - m_p < length)
            return fail("invalid UTF-8");
        for (int i = 1; i < length; ++i) {
            const auto byte = static_cast<unsigned char>(m_p[i]);
            if (byte < (i == 1 ? low : 0x80) || byte > (i == 1 ? high : 0xBF))
                return fail("invalid UTF-8");
            codePoint = (codePoint << 6) | (byte & 0x3F);
        }
        m_p += length;
        appendCodePoint(out, codePoint);
        return true;
    }

    static void appendCodePoint(QString &out, char32_t codePoint)
    {
        if (QChar::requiresSurrogates(codePoint)) {
            out.append(QChar(QChar::highSurrogate(codePoint)));
            out.append(QChar(QChar::lowSurrogate(codePoint)));
        } else {
            out.append(QChar(char16_t(codePoint)));
        }
    }

    bool parseEscape(QString &out)
    {
        ++m_p; // '\\'
        if (atEnd())
            return fail("an unterminated string");
        const char c = *m_p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            out.append(QLatin1Char(c));
            return true;
        case 'b':
            out.append(QLatin1Char('\b'));
            return true;
        case 'f':
            out.append(QLatin1Char('\f'));
            return true;
        case 'n':
            out.append(QLatin1Char('\n'));
            return true;
        case 'r':
            out.append(QLatin1Char('\r'));
            return true;
        case 't':
            out.append(QLatin1Char('\t'));
            return true;
        case 'u':
            break;
        default:
            --m_p;
            return fail("an invalid escape");
        }
        char16_t unit = 0;
        if (!parseHex4(unit))
            return false;
        if (QChar::isLowSurrogate(unit))
            return fail("an escaped surrogate without its pair");
        if (!QChar::isHighSurrogate(unit)) {
            out.append(QChar(unit));
            return true;
        }
        char16_t second = 0;
        if (!consume('\\') || !consume('u') || !parseHex4(second) || !QChar::isLowSurrogate(second))
            return fail("an escaped surrogate without its pair");
        out.append(QChar(unit));
        out.append(QChar(second));
        return true;
    }

    bool parseHex4(char16_t &unit)
    {
        if (m_end - m_p < 4)
            return fail("an invalid \\u escape");
        unsigned value = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = m_p[i];
            int digit = -1;
            if (c >= '0' && c <= '9')
                digit = c - '0';
            else if (c >= 'a' && c <= 'f')
                digit = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                digit = c - 'A' + 10;
            if (digit < 0)
                return fail("an invalid \\u escape");
            value = value << 4 | unsigned(digit);
        }
        m_p += 4;
        unit = char16_t(value);
        return true;
    }

    bool isDigit() const { return !atEnd() && *m_p >= '0' && *m_p <= '9'; }

    // RFC 8259 section 6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
    bool parseNumber(QJsonValue &out)
    {
        const char *start = m_p;
        consume('-');
        if (consume('0')) {
            // a leading zero stands alone; "01" fails at the caller's delimiter check
        } else if (isDigit()) {
            while (isDigit())
                ++m_p;
        } else {
            return fail("an invalid value");
        }
        bool integer = true;
        if (consume('.')) {
            integer = false;
            if (!isDigit())
                return fail("an invalid number");
            while (isDigit())
                ++m_p;
        }
        if (consume('e') || consume('E')) {
            integer = false;
            if (!consume('+'))
                consume('-');
            if (!isDigit())
                return fail("an invalid number");
            while (isDigit())
                ++m_p;
        }
        const QByteArrayView text(start, m_p - start);
        bool ok = false;
        if (integer) {
            const qint64 value = text.toLongLong(&ok);
            if (ok) {
                out = QJsonValue(value);
                return true;
            }
        }
        const double value = text.toDouble(&ok);
        if (!ok)
            return fail("a number out of the range of a double", start - m_begin);
        // QJsonDocument keeps an integral double that fits in 64 bits as an integer
        // (111111000011101111.1 reads as the integer 111111000011101104).
        constexpr double TwoToThe63 = 9223372036854775808.0;
        if (value >= -TwoToThe63 && value < TwoToThe63 && value == double(qint64(value))) {
            out = QJsonValue(qint64(value));
            return true;
        }
        out = QJsonValue(value);
        return true;
    }

    const char *const m_begin;
    const char *m_p;
    const char *const m_end;
    const int m_maxDepth;
    const char *m_problem = nullptr;
    qsizetype m_offset = 0;
};

} // namespace

std::optional<QJsonObject> parseJsonObject(QByteArrayView json, QString *problem, int maxDepth)
{
    StrictJsonParser parser(json, maxDepth);
    std::optional<QJsonObject> object = parser.parseDocument();
    if (!object && problem)
        *problem = parser.problem();
    return object;
}

} // namespace Tessera::Jose
