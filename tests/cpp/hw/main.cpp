// Catch's own SIGINT/SIGTERM handlers are off: these tests send those signals to child processes on purpose
// and check that dyndnn's handler, not Catch's, restores the hardware and ends the process.
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include <catch2/catch.hpp>
