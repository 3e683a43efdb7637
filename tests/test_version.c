/* test_version.c — keel_version() is "MAJOR.MINOR.PATCH" of the KEEL_VERSION_*
   macros of keel.h, and that is the version CMake builds and installs
   (passed here as KEEL_TEST_PROJECT_VERSION). */
#include "keel/keel.h"
#include "check.h"

#include <stdio.h>

int main(void) {
    char expected[48];
    const char* v = keel_version();
    snprintf(expected, sizeof expected, "%d.%d.%d", KEEL_VERSION_MAJOR, KEEL_VERSION_MINOR, KEEL_VERSION_PATCH);
    CHECK_NOTE(v != NULL && strcmp(v, expected) == 0, v ? v : "NULL");
    CHECK_NOTE(strcmp(KEEL_TEST_PROJECT_VERSION, expected) == 0, KEEL_TEST_PROJECT_VERSION);
    CHECK(keel_version() == v);   /* a static string */
    printf("keel %s\n", v);
    return check_done("test_version");
}
