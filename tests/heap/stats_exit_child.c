/* stats_exit_child.c — a program linked with libkeel.a that never calls
   keel_stats_print: with KEEL_SHOW_STATS=1 keel prints its report at exit
   all the same (the destructor must be linked in by allocation alone).
   test_stats_print runs it and reads the report; CTest runs it too, with
   KEEL_SHOW_STATS=1, and matches the report (on Windows under wine). */
#include "keel/keel.h"
#include "check.h"

int main(void) {
    static void* small[300];
    void* large = keel_alloc((size_t)3 << 20);
    size_t i;
    for (i = 0; i < 300; i++) small[i] = keel_alloc(i % 3 == 0 ? 40 : 2000);
    for (i = 0; i < 300; i++) CHECK(small[i] != NULL);
    CHECK(large != NULL);
    for (i = 0; i < 300; i += 2) keel_free(small[i]);   /* 150 stay live, and the large block */
    return check_done("stats_exit_child");
}
