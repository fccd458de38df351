#pragma once
/// \file dyndnn.hpp
/// Umbrella header: everything a host application needs.

#include "dyndnn/error.hpp"
#include "dyndnn/idx_dataset.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/subnet_config.hpp"
#include "dyndnn/version.hpp"

// Hardware layer: governors (DVFS, affinity/threads, NVML, simulated) and sensors.
#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/nvml.hpp"
#include "dyndnn/hw/report.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/hw/simulated.hpp"
#include "dyndnn/hw/sysfs.hpp"

// Runtime manager: targets, profiles, slowdown estimation, policies, arbiter; ManagedModel ties them to a model.
#include "dyndnn/managed_model.hpp"
#include "dyndnn/profiling.hpp"
#include "dyndnn/runtime.hpp"
