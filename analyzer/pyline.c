/* CPython line tables, decoded offline: the recorder copies a code
 * object's raw table and records instruction byte offsets; this turns them
 * into the line PyCode_Addr2Line would give (so, tracemalloc's line).
 *
 * Three formats (see CPython's Objects/lnotab_notes.txt and locations.md):
 *   3.8, 3.9  co_lnotab: byte pairs (address increment, signed line
 *             increment); the line of an address is the line after the
 *             last pair whose cumulative address does not pass it.
 *   3.10      co_linetable: byte pairs (range length in bytes, signed line
 *             delta, -128 = no line); ranges follow each other from 0.
 *   3.11+     location table: entries of 1 to 8 code units, the first byte
 *             0x80 | code << 3 | (length - 1), followed by code-specific
 *             data; line deltas are "svarints" in 6-bit chunks. */
#include "analyzer.h"

#define NOT_STARTED 0xffffffffu /* the recorder's mark for offset < 0 */

static int lnotab_line(const uint8_t *t, size_t len, int64_t first, uint64_t addrq)
{
    int64_t line = first;
    uint64_t addr = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        addr += t[i];
        if (addr > addrq)
            break;
        line += (int8_t)t[i + 1];
    }
    return (int)line;
}

static int linetable310_line(const uint8_t *t, size_t len, int64_t first, uint64_t addrq)
{
    int64_t computed = first;
    uint64_t start = 0, end = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        start = end;
        end += t[i];
        int8_t delta = (int8_t)t[i + 1];
        int line = -1;
        if (delta != -128) {
            computed += delta;
            line = (int)computed;
        }
        /* Empty ranges only carry their line delta forward. */
        if (start != end && start <= addrq && addrq < end)
            return line;
    }
    return -1;
}

struct reader {
    const uint8_t *p, *end;
};

static unsigned next_byte(struct reader *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static uint64_t read_varint(struct reader *r)
{
    unsigned b = next_byte(r);
    uint64_t v = b & 63;
    for (unsigned shift = 6; (b & 64) && shift < 64; shift += 6) {
        b = next_byte(r);
        v |= (uint64_t)(b & 63) << shift;
    }
    return v;
}

static int64_t read_svarint(struct reader *r)
{
    uint64_t u = read_varint(r);
    return (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
}

static int locations_line(const uint8_t *t, size_t len, int64_t first, uint64_t addrq)
{
    struct reader r = { t, t + len };
    int64_t computed = first;
    uint64_t start = 0, end = 0;
    while (r.p < r.end) {
        unsigned head = next_byte(&r);
        if (!(head & 0x80))
            return -1; /* not the start of an entry: damaged table */
        unsigned code = (head >> 3) & 15;
        start = end;
        end += 2 * ((head & 7) + 1); /* code units of 2 bytes */
        int line;
        if (code == 15) { /* no location */
            line = -1;
        } else if (code == 14) { /* long form */
            computed += read_svarint(&r);
            read_varint(&r); /* end line delta */
            read_varint(&r); /* column + 1 */
            read_varint(&r); /* end column + 1 */
            line = (int)computed;
        } else if (code == 13) { /* no column */
            computed += read_svarint(&r);
            line = (int)computed;
        } else if (code >= 10) { /* one line, two column bytes */
            computed += code - 10;
            next_byte(&r);
            next_byte(&r);
            line = (int)computed;
        } else { /* short form: same line, one column byte */
            next_byte(&r);
            line = (int)computed;
        }
        if (start <= addrq && addrq < end)
            return line;
    }
    return -1;
}

int mw_pyline(int py_version, const uint8_t *table, size_t len, int64_t firstlineno,
              uint64_t offset)
{
    if (offset >= NOT_STARTED)
        return (int)firstlineno; /* as PyCode_Addr2Line for addrq < 0 */
    if (py_version < 310)
        return lnotab_line(table, len, firstlineno, offset);
    if (py_version == 310)
        return linetable310_line(table, len, firstlineno, offset);
    return locations_line(table, len, firstlineno, offset);
}
