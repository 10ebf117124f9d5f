/* CPython line tables decoded offline.  (Placeholder: the decoder for the
 * 3.8-3.13 formats replaces this file.) */
#include "analyzer.h"

int mw_pyline(int py_version, const uint8_t *table, size_t len, int64_t firstlineno,
              uint64_t offset)
{
    (void)py_version;
    (void)table;
    (void)len;
    (void)offset;
    return (int)firstlineno;
}
