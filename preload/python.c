/* CPython support: reading the calling thread's Python frames from
 * interpreter memory.  (First version: detection only; frames to come.) */
#include "mw.h"

void *mw_py_code_type;
uintptr_t mw_py_interp_addr;
_Atomic int mw_py_exit_snapshot_taken;

void mw_py_init(void)
{
}

void mw_py_poll(void)
{
}

int mw_py_capture(uint64_t *words, int max_words)
{
    (void)words;
    (void)max_words;
    return 0;
}

int mw_py_capture_mixed(uint64_t *words, int max_words)
{
    (void)words;
    (void)max_words;
    return 0;
}

struct mw_code *mw_py_code(const uint64_t *pair)
{
    (void)pair;
    return NULL;
}

void mw_py_code_freed(void *code)
{
    (void)code;
}

const char *mw_py_state(void)
{
    return "not a Python process";
}

const char *mw_py_version(void)
{
    return "";
}

const char *mw_py_objects(void)
{
    return "";
}
