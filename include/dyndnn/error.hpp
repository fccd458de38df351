#pragma once
/// \file error.hpp
/// The one exception hierarchy of dyndnn. Every message says what was wrong, where, and what to do.
/// No other exception leaves a public call: what LibTorch, oneDNN or the allocator throw inside becomes a
/// BackendError or an OutOfMemory that names the call.
/// Python raises the same classes (dyndnn.FormatError, ...; every one a dyndnn.Error, a RuntimeError), each also
/// the built-in a caller would catch: FormatError and InvalidArgument are ValueErrors, IoError and HardwareError
/// OSErrors, OutOfMemory a MemoryError. The message is the same.

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

/// The compute backend (LibTorch or oneDNN) failed inside a call. The message names the call, the backend and
/// its own words.
class BackendError : public Error {
 public:
  using Error::Error;
};

/// Memory ran out inside a call (a plan being built, a tensor). The message says what to lower.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

}  // namespace dyndnn
