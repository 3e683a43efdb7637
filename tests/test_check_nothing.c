/* test_check_nothing.c — check.h fails a test that made no check: this
   program makes none, so check_done must return non-zero (registered with
   WILL_FAIL: the test passes only when this program fails). */
#include "check.h"

int main(void) {
    return check_done("test_check_nothing");
}
