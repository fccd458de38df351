// Runtime manager unit tests: LibTorch-free, synthetic profiles and simulated platforms, no timing assertions.
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include <catch2/catch.hpp>
