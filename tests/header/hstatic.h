/* hstatic.h — the one call between the two files of a VMEM_STATIC test. */
#ifndef KEEL_HSTATIC_H
#define KEEL_HSTATIC_H

#include <stddef.h>

/* Runs the checks of file b against its private copy of vmem, while file a
   holds a reservation of a_reserved bytes in its own copy; adds b's counts
   of passed and failed checks to *passed and *failed. */
void hstatic_b_run(size_t a_reserved, int* passed, int* failed);

#endif /* KEEL_HSTATIC_H */
