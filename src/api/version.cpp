#include "dyndnn/version.hpp"

namespace dyndnn {
const char* version() { return DYNDNN_VERSION_STRING; }
}  // namespace dyndnn
