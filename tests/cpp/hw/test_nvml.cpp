#include <dlfcn.h>

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/nvml.hpp"
#include "dyndnn/hw/sensors.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;

TEST_CASE("NVML absent (as on this machine): unavailability is reported cleanly - nothing crashes") {
  NvmlOptions missing;
  missing.library = "libnvidia-ml-definitely-absent.so.1";
  std::string why;
  CHECK_FALSE(nvmlAvailable(missing, &why));
  CHECK_THAT(why, Catch::Contains("NVML is unavailable") && Catch::Contains("libnvidia-ml-definitely-absent.so.1") &&
                      Catch::Contains("install the NVIDIA driver"));
  CHECK_THROWS_AS(makeNvmlGovernor(missing), HardwareError);
  CHECK_THROWS_AS(makeNvmlSensor(missing), HardwareError);
  // The real library name: absent on this VM; where a driver exists this reports a device instead.
  std::string why_default;
  if (!nvmlAvailable({}, &why_default)) CHECK_THAT(why_default, Catch::Contains("libnvidia-ml.so.1"));
}

TEST_CASE("NVML through a stand-in library: clocks as a knob - locking only when opted in - power and energy") {
  NvmlOptions o;
  o.library = DYNDNN_FAKE_NVML;
  REQUIRE(nvmlAvailable(o));
  auto keep = makeNvmlSensor(o);  // keeps the library loaded between governors
  void* fake = ::dlopen(DYNDNN_FAKE_NVML, RTLD_NOW | RTLD_NOLOAD);  // the same copy the backend loaded
  REQUIRE(fake);
  auto locked_max = reinterpret_cast<unsigned (*)()>(::dlsym(fake, "fake_nvml_locked_max"));
  auto set_lock_result = reinterpret_cast<void (*)(int)>(::dlsym(fake, "fake_nvml_set_lock_result"));

  {
    auto gov = makeNvmlGovernor(o);
    const auto k = gov->knobs().at(0);
    CHECK(k.name == "nvml.gpu0.clock");
    CHECK(k.levels == std::vector<std::int64_t>{345, 705, 1095, 1410, 1755, 1980});
    CHECK_FALSE(k.writable);
    CHECK_THROWS_WITH(gov->apply({{"nvml.gpu0.clock", 705}}), Catch::Contains("allow_clock_locking"));
    CHECK(locked_max() == 0);
  }
  o.allow_clock_locking = true;
  {
    auto gov = makeNvmlGovernor(o);
    gov->apply({{"nvml.gpu0.clock", 705}});
    CHECK(locked_max() == 705);
    CHECK(gov->current().at("nvml.gpu0.clock") == 705);
    CHECK_THROWS_AS(gov->apply({{"nvml.gpu0.clock", 700}}), HardwareError);  // not a supported clock
  }  // destructor resets the locked clocks
  CHECK(locked_max() == 0);
  {
    set_lock_result(4);  // NVML_ERROR_NO_PERMISSION
    auto gov = makeNvmlGovernor(o);
    CHECK_THROWS_WITH(gov->apply({{"nvml.gpu0.clock", 1410}}),
                      Catch::Contains("Insufficient Permissions") && Catch::Contains("run as root"));
    set_lock_result(0);
  }

  double now = 10.0;
  auto sensor = makeNvmlSensor(o, [&] { return now; });
  CHECK(sensor->info().name == "nvml.gpu0");
  CHECK(sensor->info().note == "energy counter (mJ)");
  sensor->sample();
  now = 11.0;
  const auto s = sensor->sample();  // the stand-in's counter advances 1.5 J per read
  CHECK(s.joules == Approx(1.5));
  CHECK(s.watts == Approx(1.5));
  ::dlclose(fake);
}
