/* The state every room of the library shares, and the settings from
 * MEMWATCH_* environment variables, read once when the
 * library starts (before any recording, so getenv is allowed here).  An
 * invalid value gets one warning line and the default; the program always
 * runs. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mw.h"
#include "platform.h"

struct mw_config mw_cfg;
struct mw_global mw_g;
__thread unsigned mw_tls __attribute__((tls_model("initial-exec")));

#define DEFAULT_OUTPUT "memwatch.%p.%n.mws"
#define DEFAULT_NATIVE_DEPTH 32
#define DEFAULT_PYTHON_DEPTH 128

/* Parse a decimal integer in [lo, hi]; returns 0 on success. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "on", "yes", "true" };
    static const char *const no[] = { "0", "off", "no", "false" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* Seconds, decimals allowed: "5", "0.5". */
static int parse_seconds(const char *s, uint64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1e6)
        return -1;
    *ns = (uint64_t)(v * 1e9);
    return *ns ? 0 : -1;
}

static int parse_signal(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = { { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "HUP", SIGHUP },
                  { "WINCH", SIGWINCH }, { "PROF", SIGPROF }, { "URG", SIGURG },
                  { "PWR", SIGPWR } };
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].sig;
    long n;
    if (strncasecmp(s, "RTMIN+", 6) == 0 && parse_int(s + 6, 0, SIGRTMAX - SIGRTMIN, &n) == 0)
        return SIGRTMIN + (int)n;
    /* Signals whose default action matters to the program or the kernel
     * (KILL, STOP, SEGV, ...) are refused: only the ones above or an
     * explicit real-time signal. */
    if (parse_int(s, SIGRTMIN, SIGRTMAX, &n) == 0)
        return (int)n;
    return -1;
}

static void invalid(const char *var, const char *value, const char *expected,
                    const char *fallback)
{
    mw_os_warn("ignoring %s=%s: expected %s; using %s", var, value, expected, fallback);
}

static void load_output(void)
{
    const char *pattern = getenv("MEMWATCH_OUTPUT");
    if (!pattern || !*pattern)
        pattern = DEFAULT_OUTPUT;
    char cwd[MW_PATH_MAX];
    size_t n = 0;
    /* Absolute from the start, so a program that changes directory keeps
     * writing where the user looks. */
    if (pattern[0] != '/' && mw_os_getcwd(cwd, sizeof cwd) == 0)
        n = mw_fmt(mw_cfg.output, sizeof mw_cfg.output, "%s/", strcmp(cwd, "/") ? cwd : "");
    mw_fmt(mw_cfg.output + n, sizeof mw_cfg.output - n, "%s", pattern);
}

void mw_config_load(void)
{
    const char *v;
    long n;

    memset(&mw_cfg, 0, sizeof mw_cfg);
    mw_cfg.native_depth = DEFAULT_NATIVE_DEPTH;
    mw_cfg.python = 1;
    mw_cfg.python_depth = DEFAULT_PYTHON_DEPTH;
    mw_cfg.ring_slots = 1u << 15; /* per thread: 2 MiB of address space */

    if ((v = getenv("MEMWATCH_VERBOSE")) && *v && parse_bool(v, &mw_cfg.verbose))
        invalid("MEMWATCH_VERBOSE", v, "0 or 1", "0");

    if (mw_os_is_secure()) {
        /* setuid/setgid: record nothing, write nothing (as LD_PRELOAD
         * itself is restricted there). */
        mw_cfg.disabled = 1;
        mw_cfg.disabled_why = "setuid or setgid program";
        return;
    }
    if ((v = getenv("MEMWATCH_DISABLE")) && *v) {
        int off = 0;
        if (parse_bool(v, &off))
            invalid("MEMWATCH_DISABLE", v, "0 or 1", "0");
        if (off) {
            mw_cfg.disabled = 1;
            mw_cfg.disabled_why = "MEMWATCH_DISABLE=1";
            return;
        }
    }

    load_output();
    if ((v = getenv("MEMWATCH_MANIFEST")) && *v)
        mw_fmt(mw_cfg.manifest, sizeof mw_cfg.manifest, "%s", v);
    if ((v = getenv("MEMWATCH_INTERVAL")) && *v && parse_seconds(v, &mw_cfg.interval_ns)) {
        mw_cfg.interval_ns = 0;
        invalid("MEMWATCH_INTERVAL", v, "a number of seconds above 0", "no periodic snapshots");
    }
    if ((v = getenv("MEMWATCH_SIGNAL")) && *v) {
        int sig = parse_signal(v);
        if (sig < 0)
            invalid("MEMWATCH_SIGNAL", v, "USR1, USR2, HUP, WINCH, PROF, URG, PWR or RTMIN+N",
                    "no snapshot signal");
        else
            mw_cfg.signal = sig;
    }
    if ((v = getenv("MEMWATCH_NATIVE_DEPTH")) && *v) {
        if (parse_int(v, 1, MW_MAX_NATIVE_DEPTH, &n))
            invalid("MEMWATCH_NATIVE_DEPTH", v, "a whole number from 1 to 128", "32");
        else
            mw_cfg.native_depth = (int)n;
    }
    if ((v = getenv("MEMWATCH_NATIVE")) && *v && parse_bool(v, &mw_cfg.native_mixed))
        invalid("MEMWATCH_NATIVE", v, "0 or 1", "0");
    if ((v = getenv("MEMWATCH_PYTHON")) && *v && parse_bool(v, &mw_cfg.python)) {
        mw_cfg.python = 1;
        invalid("MEMWATCH_PYTHON", v, "on or off", "on");
    }
    if ((v = getenv("MEMWATCH_PYTHON_DEPTH")) && *v) {
        if (parse_int(v, 1, MW_MAX_PYTHON_DEPTH, &n))
            invalid("MEMWATCH_PYTHON_DEPTH", v, "a whole number from 1 to 192", "128");
        else
            mw_cfg.python_depth = (int)n;
    }
}
