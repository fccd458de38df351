#pragma once
/// \file dyndnn.hpp
/// Umbrella header: everything a host application needs. Not in it, because an application that only runs
/// models has no use for them: dyndnn/sim/ (the simulated platforms and the policy simulator, for studies
/// without the hardware) and dyndnn/tools/ (the IDX dataset reader the CLI and examples use).

#include "dyndnn/error.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/subnet_config.hpp"
#include "dyndnn/version.hpp"

// Hardware layer: governors (DVFS, affinity/threads, NVML) and sensors.
#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/nvml.hpp"
#include "dyndnn/hw/report.hpp"
#include "dyndnn/hw/sensors.hpp"

// Runtime manager: targets, profiles, slowdown estimation, policies, arbiter (DynamicModel::setRuntime ties them
// to a model).
#include "dyndnn/profiling.hpp"
#include "dyndnn/search.hpp"
#include "dyndnn/runtime.hpp"
