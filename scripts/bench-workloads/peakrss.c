/* peakrss FD CMD ARGS...: run CMD and write its peak resident set size (KiB,
 * of its largest process) to file descriptor FD.  The benchmark measures
 * through this small program because Linux carries a process's high-water
 * RSS across fork and exec: measured from the Python benchmark itself,
 * every command would count the benchmark's own memory. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: peakrss FD CMD ARGS...\n");
        return 2;
    }
    int fd = atoi(argv[1]);
    pid_t pid = fork();
    if (pid < 0) {
        perror("peakrss: fork");
        return 2;
    }
    if (pid == 0) {
        close(fd);
        execvp(argv[2], argv + 2);
        perror("peakrss: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("peakrss: wait4");
        return 2;
    }
    dprintf(fd, "%ld\n", ru.ru_maxrss);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
