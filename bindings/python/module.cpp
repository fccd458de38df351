// Python bindings: `import dyndnn`. Arrays cross as numpy without torch on the Python side; the GIL is
// released while the library works. C++ errors become dyndnn.FormatError / InvalidArgument (ValueErrors),
// IoError / HardwareError (OSErrors) or dyndnn.Error (a RuntimeError) with the same text.

#include <ATen/ATen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dyndnn/dyndnn.hpp"
#include "runtime_bindings.hpp"
#include "search_bindings.hpp"

namespace py = pybind11;
using namespace dyndnn;

namespace {

// The family validates the knobs (DynamicModel::setSubnet); here only the types are checked.
SubnetConfig configFromPython(const py::dict& d) {
  SubnetConfig c;
  for (auto item : d) {
    const auto key = py::str(item.first).cast<std::string>();
    py::handle v = item.second;
    if (key == "r") {
      if (!py::isinstance<py::int_>(v)) throw InvalidArgument("sub-network config: 'r' must be one int");
      c.r = v.cast<int>();
    } else if (py::isinstance<py::int_>(v)) {
      c.knobs[key] = {v.cast<int>()};
    } else {
      try {
        c.knobs[key] = v.cast<std::vector<int>>();
      } catch (const py::cast_error&) {
        throw InvalidArgument("sub-network config: '" + key + "' must be an int or a list of ints");
      }
    }
  }
  return c;
}

py::dict configToPython(const SubnetConfig& c) {
  py::dict d;
  for (const auto& [name, values] : c.knobs) {
    if (values.size() == 1)
      d[py::str(name)] = values[0];
    else
      d[py::str(name)] = values;
  }
  if (c.r != 0) d["r"] = c.r;
  return d;
}

py::dict operatingPointToPython(const OperatingPoint& op) {
  py::dict d;
  d["name"] = op.name;
  d["config"] = configToPython(op.config);
  d["bn_stats"] = op.has_bn_stats;
  d["macs"] = op.metrics.macs;
  d["params"] = op.metrics.params;
  d["accuracy"] = op.metrics.accuracy ? py::cast(*op.metrics.accuracy) : py::none();
  return d;
}

py::array_t<float> toNumpy(const at::Tensor& t) {
  auto c = t.contiguous();
  std::vector<py::ssize_t> shape(c.sizes().begin(), c.sizes().end());
  py::array_t<float> out(shape);
  std::memcpy(out.mutable_data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return out;
}

py::array_t<float> infer(const DynamicModel& m, const py::array& array) {
  if (array.dtype().is(py::dtype::of<std::uint8_t>())) {  // an image: HWC or HW
    auto img = py::array_t<std::uint8_t, py::array::forcecast>::ensure(array);
    if (img.ndim() != 2 && img.ndim() != 3)
      throw InvalidArgument("infer: a uint8 image must be HxW or HxWxC");
    auto c = py::array_t<std::uint8_t, py::array::c_style>::ensure(img);
    ImageView view{c.data(), static_cast<int>(c.shape(0)), static_cast<int>(c.shape(1)),
                   c.ndim() == 3 ? static_cast<int>(c.shape(2)) : 1, 0};
    at::Tensor out;
    {
      py::gil_scoped_release release;
      out = m.infer(view);
    }
    return toNumpy(out);
  }
  if (!array.dtype().is(py::dtype::of<float>()))
    throw InvalidArgument("infer: pass a float32 NCHW/CHW array or a uint8 HxWxC image, not dtype " +
                          py::str(array.dtype()).cast<std::string>());
  auto c = py::array_t<float, py::array::c_style>::ensure(array);  // copies only when not C-contiguous
  std::vector<std::int64_t> shape(c.shape(), c.shape() + c.ndim());
  auto tensor = at::from_blob(const_cast<float*>(c.data()), shape, at::TensorOptions().dtype(at::kFloat));
  at::Tensor out;
  {
    py::gil_scoped_release release;
    out = m.infer(tensor);
  }
  return toNumpy(out);
}

}  // namespace

PYBIND11_MODULE(_core, mod) {
  mod.doc() = "dyndnn: dynamic DNNs (Once-for-All supernets) that switch sub-networks at run time";
  mod.attr("__version__") = version();

  // The library's exception classes, each also the built-in a Python caller would catch (FormatError is a
  // ValueError, IoError an OSError, ...), so `except ValueError` and `except dyndnn.FormatError` both work.
  auto exceptionClass = [&mod](const char* name, py::handle base, py::handle builtin) {
    py::tuple bases = builtin ? py::make_tuple(base, builtin) : py::make_tuple(base);
    py::object type = py::reinterpret_steal<py::object>(
        PyErr_NewException((std::string("dyndnn.") + name).c_str(), bases.ptr(), nullptr));
    mod.attr(name) = type;
    return type;
  };
  static const py::object error = exceptionClass("Error", PyExc_RuntimeError, py::handle());
  static const py::object format_error = exceptionClass("FormatError", error, PyExc_ValueError);
  static const py::object invalid_argument = exceptionClass("InvalidArgument", error, PyExc_ValueError);
  static const py::object io_error = exceptionClass("IoError", error, PyExc_OSError);
  static const py::object hardware_error = exceptionClass("HardwareError", error, PyExc_OSError);
  static const py::object backend_error = exceptionClass("BackendError", error, py::handle());
  static const py::object out_of_memory = exceptionClass("OutOfMemory", error, PyExc_MemoryError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FormatError& e) {
      PyErr_SetString(format_error.ptr(), e.what());
    } catch (const InvalidArgument& e) {
      PyErr_SetString(invalid_argument.ptr(), e.what());
    } catch (const IoError& e) {
      PyErr_SetString(io_error.ptr(), e.what());
    } catch (const HardwareError& e) {
      PyErr_SetString(hardware_error.ptr(), e.what());
    } catch (const BackendError& e) {
      PyErr_SetString(backend_error.ptr(), e.what());
    } catch (const OutOfMemory& e) {
      PyErr_SetString(out_of_memory.ptr(), e.what());
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    } catch (const c10::Error& e) {  // LibTorch's, from the binding's own conversion of the caller's data
      PyErr_SetString(backend_error.ptr(), e.what_without_backtrace());
    }
  });

  py::class_<DynamicModel> model(mod, "DynamicModel", R"(A dynamic DNN: one shared-weight supernet and its operating points.

infer() may be called from several threads, also while set_subnet() switches.)");
  model
      .def(py::init([](const std::string& path, int threads, const std::string& device, bool verify_checksum,
                       const std::string& backend) {
             ModelOptions o;
             o.threads = threads;
             o.backend = backend;
             if (device == "cuda") {
               o.device = Device::CUDA;
             } else if (device != "cpu") {
               throw InvalidArgument("device must be 'cpu' or 'cuda', not '" + device + "'");
             }
             o.verify_checksum = verify_checksum;
             py::gil_scoped_release release;
             return DynamicModel::load(path, o);
           }),
           py::arg("path"), py::arg("threads") = 0, py::arg("device") = "cpu", py::arg("verify_checksum") = true,
           py::arg("backend") = "auto",
           "Load a .dyn package (memory-mapped). threads=0 leaves LibTorch's process-wide setting alone. backend: "
           "'auto', 'onednn', 'xnnpack', 'aten' or 'reference' (ModelOptions::backend).")
      .def_property_readonly("operating_points",
                             [](const DynamicModel& m) {
                               py::list out;
                               for (const auto& op : m.operatingPoints()) out.append(operatingPointToPython(op));
                               return out;
                             },
                             "List of dicts: name, config (the family's knobs and r), bn_stats, macs, params, accuracy.")
      .def(
          "set_subnet",
          [](DynamicModel& m, const py::object& what) {
            if (py::isinstance<py::str>(what)) {
              auto name = what.cast<std::string>();
              py::gil_scoped_release release;
              m.setSubnet(name);
            } else if (py::isinstance<py::dict>(what)) {
              auto config = configFromPython(what.cast<py::dict>());
              py::gil_scoped_release release;
              m.setSubnet(config);
            } else {
              throw InvalidArgument("set_subnet takes an operating point name or a config dict (the family's knobs: "
                                    "OFA {ks, e, d, r}, group_cnn {g}, elastic_vit {d, w, h, m})");
            }
          },
          py::arg("name_or_config"),
          "Activate an operating point by name, or a sub-network as a dict of its family's knobs: OFA-MobileNetV3 "
          "{ks, e, d, r}, group_cnn {g}, elastic_vit {d, w, h, m}; scalars broadcast.")
      .def(
          "request_subnet",
          [](DynamicModel& m, const py::object& what) {
            if (py::isinstance<py::str>(what)) {
              m.requestSubnet(what.cast<std::string>());
            } else if (py::isinstance<py::dict>(what)) {
              m.requestSubnet(configFromPython(what.cast<py::dict>()));
            } else {
              throw InvalidArgument("request_subnet takes an operating point name or a config dict {ks, e, d, r}");
            }
          },
          py::arg("name_or_config"),
          "Asynchronous switch: returns at once; infer() keeps serving the current sub-network until the new "
          "one is prepared, then swaps to it.")
      .def_property_readonly("switch_pending", &DynamicModel::switchPending)
      .def_property_readonly("last_switch_error", &DynamicModel::lastSwitchError)
      .def_property_readonly("backend", &DynamicModel::backend, "Execution backend of the active sub-network.")
      .def_property_readonly("plan_cache_stats",
                             [](const DynamicModel& m) {
                               auto s = m.planCacheStats();
                               py::dict d;
                               d["hits"] = s.hits;
                               d["misses"] = s.misses;
                               d["evictions"] = s.evictions;
                               d["builds"] = s.builds;
                               d["bytes"] = s.bytes;
                               d["entries"] = s.entries;
                               d["budget"] = s.budget;
                               return d;
                             })
      .def("set_plan_cache_budget", &DynamicModel::setPlanCacheBudget, py::arg("bytes"))
      .def(
          "export_subnet",
          [](const DynamicModel& m, const py::object& what, const std::string& path) {
            if (py::isinstance<py::str>(what)) {
              const auto name = what.cast<std::string>();
              py::gil_scoped_release release;
              m.exportSubnet(name, path);
            } else if (py::isinstance<py::dict>(what)) {
              const auto config = configFromPython(what.cast<py::dict>());
              py::gil_scoped_release release;
              m.exportSubnet(config, path);
            } else {
              throw InvalidArgument("export_subnet takes an operating point name or a config dict, then the path");
            }
          },
          py::arg("name_or_config"), py::arg("path"),
          "Write one sub-network as a static package (family static_graph): its op graph and only the tensors it "
          "reads, BN statistics baked in. It loads like any package and gives the same outputs.")
      .def_property_readonly("active_config", [](const DynamicModel& m) { return configToPython(m.activeConfig()); })
      .def_property_readonly("active_name", &DynamicModel::activeName)
      .def("cost",
           [](const DynamicModel& m, const py::dict& config) {
             auto c = m.cost(configFromPython(config));
             py::dict d;
             d["macs"] = c.macs;
             d["params"] = c.params;
             return d;
           },
           py::arg("config"), "MACs and params of a sub-network given as a config dict (validated as set_subnet does).")
      .def_property_readonly("num_classes", [](const DynamicModel& m) { return m.info().num_classes; })
      .def_property_readonly("input_channels", [](const DynamicModel& m) { return m.info().input.channels; })
      .def_property_readonly("resolutions", [](const DynamicModel& m) { return m.info().input.resolutions; })
      .def("infer", &infer, py::arg("array"),
           "Logits (numpy float32 [N, classes]) for a float32 NCHW/CHW array of any spatial size, or for a "
           "uint8 HxWxC image (resized, centre-cropped, normalised). While a target is in force (set_target), "
           "the runtime manager picks the operating point first.");
  dyndnn::python::bindRuntime(mod, model);
  dyndnn::python::bindSearch(mod);
}
