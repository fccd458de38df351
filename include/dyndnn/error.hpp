#pragma once
/// \file error.hpp
/// The one exception hierarchy of dyndnn. Every message says what was wrong, where, and what to do.
/// Python maps FormatError and InvalidArgument to ValueError, IoError and HardwareError to OSError, and
/// everything else to RuntimeError, with the same message.

#include <stdexcept>
#include <string>

namespace dyndnn {

/// Base class of every exception dyndnn throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A package (.dyn file) is malformed: truncated, corrupt, or disagreeing with its architecture.
/// The message names the file and the offending field.
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A file could not be opened, mapped or read (missing, permissions, I/O error).
class IoError : public Error {
 public:
  using Error::Error;
};

/// A caller passed a value the library cannot accept (bad config, unknown operating point, bad input
/// tensor, invalid option).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// A hardware knob or sensor could not be read or written.
class HardwareError : public Error {
 public:
  using Error::Error;
};

}  // namespace dyndnn
