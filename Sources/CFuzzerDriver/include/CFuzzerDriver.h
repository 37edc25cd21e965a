#ifndef C_FUZZER_DRIVER_H
#define C_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (clang 12 and later), linked in by -sanitize=fuzzer. Declared here so that a
/// Swift executable whose `main` SwiftPM owns can hand control to libFuzzer.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
