/* fork with and without exec: every process writes its own snapshots.
 *
 * The parent leaks PARENT_SIZE once, forks CHILDREN children that each leak
 * (k + 1) blocks of CHILD_SIZE and end with exit(), one child that ends
 * with _exit(), and one child that execs `argv[1]` (another test program).
 * Threads churn in the parent meanwhile, so forks happen while other
 * threads are recording. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 5
#define PARENT_SIZE 1111
#define CHILD_SIZE 777

static atomic_int stop;
static void *volatile sink;

static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        void *p = malloc(100);
        sink = p;
        free(p);
    }
    return NULL;
}

static void wait_ok(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "child %d failed\n", (int)pid);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    pthread_t t[2];
    void *parent = malloc(PARENT_SIZE); /* LEAK:parent */
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (int k = 0; k < CHILDREN; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i <= k; i++) {
                void *volatile p = malloc(CHILD_SIZE); /* LEAK:child */
                (void)p;
            }
            exit(0);
        }
        wait_ok(pid);
    }
    pid_t pid = fork();
    if (pid == 0) {
        void *volatile p = malloc(CHILD_SIZE * 2); /* LEAK:quick */
        (void)p;
        _exit(0);
    }
    wait_ok(pid);
    if (argc > 1) {
        pid = fork();
        if (pid == 0) {
            execv(argv[1], argv + 1);
            _exit(127);
        }
        wait_ok(pid);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("forked %d children, parent block %p kept\n", CHILDREN + 1 + (argc > 1),
           parent ? (void *)1 : NULL);
    return 0;
}
