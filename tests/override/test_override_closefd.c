/* test_override_closefd.c — a program that closes stdout and stderr before
   it exits, as coreutils do (close_stdout), then allocates, frees and
   exits from main, with an atexit handler that allocates too. Run by
   driver.sh with KEEL_SHOW_STATS=1: it must exit 0 and nothing may be
   written anywhere. Prints nothing itself; its status says whether its
   own checks passed (1: one failed). */
#define _GNU_SOURCE
#include "ovr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failed;

static void at_exit_handler(void) {
    void* p = malloc(1000);
    char* s = strdup("atexit");
    if (!p || !s) failed = 1;
    free(p);
    free(s);
    if (failed) _exit(1);
}

int main(void) {
    void* kept[10];
    int i;
    if (atexit(at_exit_handler) != 0) return 1;
    for (i = 0; i < 10; i++) kept[i] = malloc((size_t)i * 1000 + 1);   /* 5 stay live */
    if (fclose(stdout) != 0 || fclose(stderr) != 0) return 1;
    close(1);
    close(2);
    for (i = 0; i < 5; i++) free(kept[i]);
    for (i = 0; i < 1000; i++) free(malloc((size_t)i));
    return failed;
}
