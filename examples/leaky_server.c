/* A toy request server with two known leaks, for memwatch's demo.
 *
 * Each request allocates a buffer (freed: not a leak), may add an entry to a
 * bounded cache (held, but stops growing: not a leak), and leaks one
 * session record (a leak: grows with every request) and, every tenth
 * request, a copy of its path (a smaller leak).  Halfway through it asks
 * memwatch for a snapshot, so a diff of that snapshot and the exit one
 * shows what grew.  It runs, unchanged, without memwatch too. */
#include <memwatch/memwatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUESTS 20000
#define CACHE_SLOTS 256

struct session {
    int id;
    char user[60];
};

static char *cache[CACHE_SLOTS];
static struct session **sessions; /* the leak: appended to, never pruned */

static struct session *open_session(int id)
{
    struct session *s = malloc(sizeof *s); /* leaks: one per request */
    s->id = id;
    snprintf(s->user, sizeof s->user, "user%d", id % 97);
    return s;
}

static void remember(int id, const char *path)
{
    char **slot = &cache[id % CACHE_SLOTS];
    free(*slot);
    *slot = strdup(path); /* held by the cache, which stops growing */
}

static size_t handle(int id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/items/%d", id);
    char *body = malloc(4096); /* request buffer: freed below */
    memset(body, 'x', 4096);
    remember(id, path);
    sessions[id] = open_session(id);
    if (id % 10 == 0) {
        char *copy = strdup(path); /* leaks: every tenth request */
        (void)copy;
    }
    size_t n = strlen(path) + (size_t)body[id % 4096];
    free(body);
    return n;
}

int main(void)
{
    size_t total = 0;
    sessions = calloc(REQUESTS, sizeof *sessions);
    for (int id = 0; id < REQUESTS; id++) {
        total += handle(id);
        if (id == REQUESTS / 2)
            memwatch_snapshot_if_loaded(NULL); /* 0 under memwatch, -ENOSYS without */
    }
    printf("handled %d requests (%zu bytes of paths)\n", REQUESTS, total);
    return 0;
}
