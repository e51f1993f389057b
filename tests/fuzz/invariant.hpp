// INVARIANT(cond) for the fuzz targets: a property that must hold for every
// input. A violation aborts, so libFuzzer keeps the input as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace tbfuzz {
[[noreturn]] inline void violated(const char* what) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
}
}  // namespace tbfuzz

#define INVARIANT(cond)                          \
    do {                                         \
        if (!(cond)) ::tbfuzz::violated(#cond);  \
    } while (0)
