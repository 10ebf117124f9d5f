/* `memwatch run -- CMD ARGS...`: run a program with libmemwatch.so
 * preloaded, pass its standard streams, exit status and terminating signal
 * through unchanged, and tell which snapshot files were written.
 *
 * The shim appends the name of every file it writes to a manifest file
 * (MEMWATCH_MANIFEST); children and exec'd programs inherit the variable, so
 * the list covers the whole process tree. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyzer.h"
#include "util.h"

#ifndef MEMWATCH_INSTALLED_LIB
#define MEMWATCH_INSTALLED_LIB "/usr/local/lib/memwatch/libmemwatch.so"
#endif

static void help(FILE *out)
{
    fprintf(out,
            "usage: memwatch run [options] [--] COMMAND [ARGS...]\n"
            "\n"
            "Run COMMAND with memwatch recording every allocation, and print the\n"
            "snapshot files written (on stderr) when it ends.  COMMAND's input,\n"
            "output, exit status and terminating signal pass through unchanged.\n"
            "Snapshots are written at exit (always the last file), and as asked below.\n"
            "\n"
            "options (each sets the environment variable shown, which also works\n"
            "with LD_PRELOAD=libmemwatch.so directly):\n"
            "  -o, --output DIR      write snapshots into DIR (created if missing)\n"
            "                        MEMWATCH_OUTPUT=DIR/memwatch.%%p.%%n.mws; the default\n"
            "                        pattern is memwatch.%%p.%%n.mws in the current\n"
            "                        directory, %%p = pid, %%n = 0, 1, 2... per process\n"
            "  --interval SECONDS    also a snapshot every SECONDS   MEMWATCH_INTERVAL\n"
            "  --signal SIG          also a snapshot when SIG arrives (USR1, USR2, HUP,\n"
            "                        WINCH, PROF, URG, PWR, RTMIN+N) MEMWATCH_SIGNAL\n"
            "  --native-depth N      native frames kept per stack, 1-128 (default 32)\n"
            "                                                        MEMWATCH_NATIVE_DEPTH\n"
            "  --native              Python: mixed stacks, native frames with the\n"
            "                        Python frames they run         MEMWATCH_NATIVE=1\n"
            "  --python on|off       Python frames (default on)     MEMWATCH_PYTHON\n"
            "  --python-depth N      Python frames kept, 1-192 (default 128)\n"
            "                                                        MEMWATCH_PYTHON_DEPTH\n"
            "  -v, --verbose         the shim reports what it does  MEMWATCH_VERBOSE=1\n"
            "  -q, --quiet           do not list the snapshot files at the end\n"
            "  --check [CHECK OPTIONS] --\n"
            "                        when COMMAND succeeds, check its exit snapshot as\n"
            "                        `memwatch check` does (see 'memwatch check --help'),\n"
            "                        e.g. memwatch run --check --max-leaked 1MiB -- ./prog\n"
            "\n"
            "Other variables: MEMWATCH_DISABLE=1 records nothing; MEMWATCH_LIB names\n"
            "the library to preload.\n"
            "\n"
            "Exit status: COMMAND's own (or its signal); 2 when memwatch cannot run\n"
            "it; 126/127 when COMMAND cannot be executed or found.  With --check: 23\n"
            "when COMMAND succeeded but leaked beyond the limits; when COMMAND itself\n"
            "fails, its own status, and memory is not checked.\n");
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The library next to this executable in a build tree, or installed.
 * out must hold PATH_MAX bytes. */
static int find_library(char *out, size_t size)
{
    const char *env = getenv("MEMWATCH_LIB");
    if (env && *env) {
        if (!file_exists(env)) {
            mw_error("MEMWATCH_LIB=%s: no such file", env);
            return -1;
        }
        snprintf(out, size, "%s", env);
        return 0;
    }
    char exe[PATH_MAX - 64]; /* leaves room for the suffix below */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, size, "%s/../preload/libmemwatch.so", exe);
            if (file_exists(out)) {
                mw_path_normalize(out);
                return 0;
            }
        }
    }
    snprintf(out, size, "%s", MEMWATCH_INSTALLED_LIB);
    if (file_exists(out))
        return 0;
    mw_error("libmemwatch.so was found neither next to this memwatch nor at %s; set "
             "MEMWATCH_LIB",
             MEMWATCH_INSTALLED_LIB);
    return -1;
}

/* Resolve a command like execvp would; 0 when found. */
static int resolve_command(const char *cmd, char *out, size_t size)
{
    if (strchr(cmd, '/')) {
        snprintf(out, size, "%s", cmd);
        return access(out, F_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(out, size, "%.*s/%s", (int)len, len ? p : ".", cmd);
        if (access(out, X_OK) == 0 && file_exists(out))
            return 0;
        p += len + (end != NULL);
    }
    return -1;
}

/* 1 when path is an ELF executable without a program interpreter: no
 * dynamic loader, so LD_PRELOAD cannot reach it. */
static int is_static_elf(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Ehdr eh;
    int result = 0;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_phentsize == sizeof(Elf64_Phdr)) {
        result = 1;
        for (int i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) !=
                (ssize_t)sizeof ph)
                break;
            if (ph.p_type == PT_INTERP)
                result = 0;
        }
    }
    close(fd);
    return result;
}

static int make_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return -errno;
    return access(path, W_OK | X_OK) == 0 ? 0 : -errno;
}

static pid_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* Print the snapshot files listed in the manifest; returns how many. */
static int report_files(const char *manifest, int quiet)
{
    FILE *f = fopen(manifest, "r");
    char line[PATH_MAX + 64];
    int n = 0;
    char **lines = NULL;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            char *tab = strchr(line, '\t');
            if (tab)
                *tab = 0;
            char entry[PATH_MAX + 80];
            snprintf(entry, sizeof entry, "  %s (%s)", line, tab ? tab + 1 : "?");
            lines = mw_xrealloc(lines, (size_t)(n + 1) * sizeof *lines);
            lines[n++] = mw_xstrdup(entry);
        }
        fclose(f);
    }
    if (!quiet) {
        if (n == 0)
            fprintf(stderr, "memwatch: no snapshot was written\n");
        else
            fprintf(stderr, "memwatch: wrote %d snapshot%s:\n", n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++)
            fprintf(stderr, "%s\n", lines[i]);
    }
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return n;
}

enum {
    OPT_INTERVAL = MW_OPT_FIRST_FREE,
    OPT_SIGNAL,
    OPT_NATIVE_DEPTH,
    OPT_NATIVE,
    OPT_PYTHON,
    OPT_PYTHON_DEPTH,
};

#define LEAK_EXIT_STATUS 23 /* as LeakSanitizer's */

/* The exit snapshot of the process started (pid), from the manifest. */
static int exit_snapshot_of(const char *manifest, pid_t pid, char *out, size_t size)
{
    FILE *f = fopen(manifest, "r");
    char line[PATH_MAX + 64];
    int found = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        if (strcmp(tab + 1, "exit") != 0 && strcmp(tab + 1, "python-exit") != 0)
            continue;
        struct mw_snap *s;
        char err[MW_ERR_SIZE];
        if (mw_snap_load(line, &s, err, sizeof err) == 0) {
            if (mw_snap_uint(s, "pid", 0) == (uint64_t)pid && strlen(line) < size) {
                memcpy(out, line, strlen(line) + 1);
                found = 0;
            }
            mw_snap_free(s);
        }
    }
    fclose(f);
    return found;
}

int mw_cmd_run(int argc, char **argv)
{
    /* `--check OPTIONS --`: the options between are check's, not ours. */
    int check_at = -1, check_end = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--check") == 0) {
            check_at = i;
            for (int k = i + 1; k < argc; k++)
                if (strcmp(argv[k], "--") == 0) {
                    check_end = k;
                    break;
                }
            break;
        }
    }
    char **check_argv = NULL;
    int check_argc = 0;
    if (check_at >= 0) {
        if (check_end < 0) {
            mw_error("run --check: end the check options with --, then the command");
            return MW_EXIT_USAGE;
        }
        check_argc = check_end - check_at;
        check_argv = mw_xcalloc((size_t)check_argc + 1, sizeof *check_argv);
        check_argv[0] = "run --check";
        for (int k = 1; k < check_argc; k++)
            check_argv[k] = argv[check_at + k];
        if (mw_check_validate(check_argc, check_argv)) {
            free(check_argv);
            return MW_EXIT_USAGE;
        }
        /* Drop "--check ... " up to (not including) "--" from our argv. */
        int removed = check_end - check_at;
        memmove(argv + check_at, argv + check_end, (size_t)(argc - check_end + 1) * sizeof *argv);
        argc -= removed;
    }
    static const struct option longopts[] = {
        { "output", 1, NULL, 'o' },
        { "interval", 1, NULL, OPT_INTERVAL },
        { "signal", 1, NULL, OPT_SIGNAL },
        { "native-depth", 1, NULL, OPT_NATIVE_DEPTH },
        { "native", 0, NULL, OPT_NATIVE },
        { "python", 1, NULL, OPT_PYTHON },
        { "python-depth", 1, NULL, OPT_PYTHON_DEPTH },
        { "verbose", 0, NULL, 'v' },
        { "quiet", 0, NULL, 'q' },
        { "help", 0, NULL, 'h' },
        { 0 },
    };
    const char *outdir = NULL;
    int quiet = 0, c;
    optind = 1;
    /* "+": stop at the command, so its own options are left alone. */
    while ((c = getopt_long(argc, argv, "+:o:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case OPT_INTERVAL: setenv("MEMWATCH_INTERVAL", optarg, 1); break;
        case OPT_SIGNAL: setenv("MEMWATCH_SIGNAL", optarg, 1); break;
        case OPT_NATIVE_DEPTH: setenv("MEMWATCH_NATIVE_DEPTH", optarg, 1); break;
        case OPT_NATIVE: setenv("MEMWATCH_NATIVE", "1", 1); break;
        case OPT_PYTHON: setenv("MEMWATCH_PYTHON", optarg, 1); break;
        case OPT_PYTHON_DEPTH: setenv("MEMWATCH_PYTHON_DEPTH", optarg, 1); break;
        case 'v': setenv("MEMWATCH_VERBOSE", "1", 1); break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return MW_EXIT_OK;
        default: mw_option_error("run", c, argv); return MW_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        mw_error("run needs a command to run, as in 'memwatch run -- python app.py'");
        return MW_EXIT_USAGE;
    }
    char **cmd = argv + optind;

    char lib[PATH_MAX], path[PATH_MAX];
    if (find_library(lib, sizeof lib))
        return MW_EXIT_USAGE;
    if (resolve_command(cmd[0], path, sizeof path) == 0 && is_static_elf(path)) {
        mw_error("%s is statically linked: memwatch observes programs through the dynamic "
                 "loader, which it does not use",
                 path);
        return MW_EXIT_USAGE;
    }
    if (outdir) {
        int r = make_dir(outdir);
        if (r) {
            mw_error("cannot write snapshots into %s: %s", outdir, strerror(-r));
            return MW_EXIT_USAGE;
        }
    }
    /* An absolute pattern, so every process of the tree writes where the
     * user is looking, whatever directory it runs in. */
    const char *pattern = getenv("MEMWATCH_OUTPUT");
    char full[PATH_MAX + 64], cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    if (outdir)
        snprintf(full, sizeof full, "%s%s%s/memwatch.%%p.%%n.mws", outdir[0] == '/' ? "" : cwd,
                 outdir[0] == '/' ? "" : "/", outdir);
    else if (pattern && *pattern)
        snprintf(full, sizeof full, "%s%s%s", pattern[0] == '/' ? "" : cwd,
                 pattern[0] == '/' ? "" : "/", pattern);
    else
        snprintf(full, sizeof full, "%s/memwatch.%%p.%%n.mws", cwd);
    mw_path_normalize(full);
    setenv("MEMWATCH_OUTPUT", full, 1);

    /* The manifest: created empty here, appended to by every process. */
    const char *tmpdir = getenv("TMPDIR");
    char manifest_path[PATH_MAX];
    snprintf(manifest_path, sizeof manifest_path, "%s/memwatch-run-XXXXXX",
             tmpdir && *tmpdir ? tmpdir : "/tmp");
    int mfd = mkstemp(manifest_path);
    if (mfd < 0) {
        mw_error("cannot create a temporary file in %s: %s", tmpdir ? tmpdir : "/tmp",
                 strerror(errno));
        return MW_EXIT_USAGE;
    }
    close(mfd);
    setenv("MEMWATCH_MANIFEST", manifest_path, 1);
    /* Tools run under memwatch (the pytest plugin) find the analyzer. */
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl > 0) {
        self[sl] = 0;
        setenv("MEMWATCH_BIN", self, 1);
    }

    const char *old = getenv("LD_PRELOAD");
    size_t plen = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *preload = mw_xmalloc(plen);
    snprintf(preload, plen, "%s%s%s", lib, old && *old ? " " : "", old && *old ? old : "");
    setenv("LD_PRELOAD", preload, 1);
    free(preload);

    /* Like time(1): the terminal's interrupt reaches the child directly;
     * we stay to report.  Termination requests sent to us are forwarded. */
    struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal },
                     old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    fwd.sa_flags = SA_RESTART;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    static const int forwarded[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &fwd, NULL);

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        mw_error("cannot start %s: %s", cmd[0], strerror(errno));
        unlink(manifest_path);
        return MW_EXIT_USAGE;
    }
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
            signal(forwarded[i], SIG_DFL);
        execvp(cmd[0], cmd);
        int e = errno;
        mw_error("cannot run %s: %s", cmd[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            mw_error("lost track of %s: %s", cmd[0], strerror(errno));
            unlink(manifest_path);
            return MW_EXIT_USAGE;
        }
    }
    /* 126/127 from our own exec failure: nothing ran, nothing to list. */
    int exec_failed = WIFEXITED(status) && (WEXITSTATUS(status) == 126 ||
                                            WEXITSTATUS(status) == 127);
    if (!exec_failed || access(path, X_OK) == 0)
        report_files(manifest_path, quiet);
    int check_status = -1;
    if (check_argv) {
        int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        char snap[PATH_MAX];
        if (!ok) {
            if (WIFSIGNALED(status))
                mw_error("%s was killed by signal %d: its memory was not checked", cmd[0],
                         WTERMSIG(status));
            else
                mw_error("%s failed with exit status %d: its memory was not checked", cmd[0],
                         WEXITSTATUS(status));
        } else if (exit_snapshot_of(manifest_path, pid, snap, sizeof snap)) {
            mw_error("%s wrote no exit snapshot: nothing to check", cmd[0]);
            check_status = MW_EXIT_USAGE;
        } else {
            fflush(stdout);
            int r = mw_check_snapshot(snap, check_argc, check_argv);
            check_status = r == MW_EXIT_FAIL ? LEAK_EXIT_STATUS : r;
        }
        free(check_argv);
    }
    unlink(manifest_path);
    if (check_status >= 0)
        return check_status;

    if (WIFSIGNALED(status)) {
        /* Die the same way, without a core of our own. */
        int sig = WTERMSIG(status);
        struct rlimit none = { 0, 0 };
        setrlimit(RLIMIT_CORE, &none);
        fflush(NULL);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 128 + sig;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : MW_EXIT_USAGE;
}
