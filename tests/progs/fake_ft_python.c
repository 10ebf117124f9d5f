/* To memwatch, this program looks like a free-threaded CPython 3.13: it
 * exports the symbols memwatch looks up, and a _PyRuntime whose debug
 * offsets say "free-threaded" (struct _Py_DebugOffsets: cookie, version,
 * free_threaded).  No free-threaded build can be installed on the test
 * machine; this checks what memwatch decides from what such a build shows
 * it: native frames, PYTHONMALLOC left alone (it is fatal there), and the
 * program unchanged.  Prints PYTHONMALLOC as it sees it, keeps 3 blocks of
 * 1000 bytes, exits with status 5. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct debug_offsets {
    char cookie[8];
    uint64_t version;
    uint64_t free_threaded;
    uint64_t rest[61];
};

struct debug_offsets _PyRuntime = { { 'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y' }, 0x030d00f0, 1, { 0 } };
char PyCode_Type[512];

const char *Py_GetVersion(void);
void *PyGILState_GetThisThreadState(void);
int Py_IsInitialized(void);
int Py_AddPendingCall(int (*func)(void *), void *arg);

const char *Py_GetVersion(void)
{
    return "3.13.0 experimental free-threading build (main, Oct  7 2024) [GCC 12.2.0]";
}

void *PyGILState_GetThisThreadState(void)
{
    return NULL;
}

int Py_IsInitialized(void)
{
    return 0;
}

int Py_AddPendingCall(int (*func)(void *), void *arg)
{
    (void)func;
    (void)arg;
    return -1;
}

int main(void)
{
    static void *keep[3];
    const char *pm = getenv("PYTHONMALLOC");
    printf("PYTHONMALLOC=%s\n", pm ? pm : "unset");
    for (int i = 0; i < 3; i++)
        keep[i] = malloc(1000); /* LEAK:kept */
    return keep[2] ? 5 : 1;
}
