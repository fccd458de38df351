#pragma once
/// \file dyndnn.hpp
/// Umbrella header: everything a host application needs.

#include "dyndnn/error.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/subnet_config.hpp"
#include "dyndnn/version.hpp"
