/* Exit statuses, signals and standard input must pass through memwatch.
 *
 *   status exit N        exit(N) after some allocations
 *   status _exit N       _exit(N)
 *   status signal SIG    kill itself with SIG (TERM, SEGV, ABRT, KILL)
 *   status stdin         read stdin, print its length and a checksum
 *   status stderr        write a line to stdout and one to stderr
 *   status pthread_exit  the main thread ends with pthread_exit while
 *                        another finishes later: the process exits 0
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *late_thread(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 200000000 };
    nanosleep(&ts, NULL);
    void *p = malloc(321);
    printf("late thread done %d\n", p != NULL);
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv)
{
    char *junk = malloc(100);
    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "exit") == 0 && argc > 2) {
        exit(atoi(argv[2]));
    } else if (strcmp(argv[1], "_exit") == 0 && argc > 2) {
        _exit(atoi(argv[2]));
    } else if (strcmp(argv[1], "signal") == 0 && argc > 2) {
        int sig = strcmp(argv[2], "TERM") == 0 ? SIGTERM
                : strcmp(argv[2], "SEGV") == 0 ? SIGSEGV
                : strcmp(argv[2], "ABRT") == 0 ? SIGABRT
                                               : SIGKILL;
        fflush(NULL);
        signal(sig, SIG_DFL);
        raise(sig);
        return 3;
    } else if (strcmp(argv[1], "stdin") == 0) {
        unsigned long n = 0, sum = 0;
        int c;
        while ((c = getchar()) != EOF) {
            n++;
            sum = sum * 131 + (unsigned char)c;
        }
        printf("%lu bytes, checksum %lu\n", n, sum);
    } else if (strcmp(argv[1], "pthread_exit") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, late_thread, NULL);
        printf("main thread leaves\n");
        fflush(stdout);
        pthread_exit(NULL);
    } else if (strcmp(argv[1], "stderr") == 0) {
        printf("to stdout\n");
        fprintf(stderr, "to stderr\n");
    }
    free(junk);
    return 0;
}
