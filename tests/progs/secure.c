/* Linked against libmemwatch.so (not preloaded), so the library loads even
 * in a setuid program; made setuid to `nobody` by the test.  memwatch must
 * then record and write nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    void *p = malloc(1234);
    printf("euid=%d uid=%d %p\n", (int)geteuid(), (int)getuid(), p ? (void *)1 : NULL);
    return 0;
}
