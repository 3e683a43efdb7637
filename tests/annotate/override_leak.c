/* override_leak.c — a malloc'd block no pointer leads to, in a program run
   under memcheck with libkeel-valgrind-override.so preloaded: memcheck
   must report it definitely lost, allocated by keel (memcheck_expect.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void __attribute__((noinline)) leak_one(void) {
    char* volatile p = (char*)malloc(24);
    if (p) strcpy(p, "lost");
}

int main(void) {
    void* q = malloc(100);
    leak_one();
    free(q);
    printf("leaked a malloc(24) block\n");
    return 0;
}
