#!/usr/bin/python3
"""Check that every #include in the library goes with the direction of its layers (../shared/ARCHITECTURE.md).

    types -> format -> graph -> nn, engine ;  types -> hw -> runtime -> daemon ;  all of them -> api

A layer may include itself and the layers it depends on, never one below it: `runtime/` knows nothing of
DynamicModel, `format/` nothing of the engine, `engine/` nothing of a model family. Outside the library (the CLI,
the Python binding, examples, benchmarks) only the public headers (`include/dyndnn/`) and the part's own files may
be included; benchmarks/engine/ (single ops on single backends) may include the library's layers. Tests may
include anything. Prints every include against the direction, with the file and line, and
exits 1 when there is one.

Usage: /usr/bin/python3 scripts/check_layers.py [SOURCE_DIR]  (CTest: layers.include_direction)
"""
import os
import re
import sys

# Which layer a file (or an included path) belongs to: the first matching prefix wins.
LAYER_OF = [
    ("include/dyndnn/hw/", "hw"),
    ("include/dyndnn/sim/platform.hpp", "hw"),
    ("include/dyndnn/sim/simulation.hpp", "runtime"),
    ("include/dyndnn/error.hpp", "types"),
    ("include/dyndnn/types.hpp", "types"),
    ("include/dyndnn/subnet_config.hpp", "types"),
    ("include/dyndnn/version.hpp", "types"),
    ("include/dyndnn/tools/", "format"),  # datasets and image files
    ("include/dyndnn/estimators.hpp", "runtime"),
    ("include/dyndnn/runtime.hpp", "runtime"),
    ("include/dyndnn/daemon.hpp", "daemon"),
    ("include/dyndnn/", "api"),  # model, profiling and the umbrella header
    ("src/api/version.cpp", "types"),
    ("src/format/", "format"),
    ("src/engine/graph.", "graph"),
    ("src/engine/graph_io.", "graph"),  # the graph as JSON: what a static package (nn/static_graph) stores
    ("src/engine/", "engine"),
    ("src/nn/", "nn"),
    ("src/hw/", "hw"),
    ("src/runtime/", "runtime"),
    ("src/daemon/", "daemon"),
    ("src/api/", "api"),
    ("src/cli/", "cli"),
    ("bindings/", "bindings"),
    ("examples/", "examples"),
    ("benchmarks/engine/", "engine_benchmarks"),
    ("benchmarks/", "benchmarks"),
]

LIBRARY = {"types", "format", "graph", "nn", "engine", "hw", "runtime", "daemon", "api"}
PUBLIC = {"types", "format", "hw", "runtime", "daemon", "api"}  # what include/dyndnn/ holds
ALLOWED = {
    "types": {"types"},
    "format": {"types", "format"},
    "graph": {"types", "graph"},
    "nn": {"types", "format", "graph", "nn"},
    "engine": {"types", "format", "graph", "engine"},
    "hw": {"types", "hw"},
    "runtime": {"types", "hw", "runtime"},
    "daemon": {"types", "hw", "runtime", "daemon"},
    "api": LIBRARY,
    "cli": PUBLIC | {"cli", "benchmarks"},  # `dyndnn bench` shares benchmarks/bench_stats.hpp
    "bindings": PUBLIC | {"bindings"},
    "examples": PUBLIC | {"examples"},
    "benchmarks": PUBLIC | {"benchmarks"},
    # One op on one backend, which the public API cannot express (benchmarks/engine/bench_backends.cpp): the
    # library's internals, as tests may.
    "engine_benchmarks": LIBRARY | {"benchmarks"},
}
SCANNED = ("include/", "src/", "bindings/", "examples/", "benchmarks/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    for prefix, layer in LAYER_OF:
        if path.startswith(prefix):
            return layer
    return None


def resolve(included, including_path, root):
    """The repository path an #include "..." names: the public headers, src/, or next to the including file."""
    for candidate in (f"include/{included}", f"src/{included}",
                      os.path.normpath(os.path.join(os.path.dirname(including_path), included)),
                      f"benchmarks/{included}"):
        if os.path.exists(os.path.join(root, candidate)):
            return candidate
    return None


def violations(root):
    found = []
    for top in SCANNED:
        for directory, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".hpp", ".cpp", ".h", ".cc")):
                    continue
                path = os.path.relpath(os.path.join(directory, name), root)
                own = layer_of(path)
                if own is None:
                    continue
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = resolve(m.group(1), path, root)
                        theirs = layer_of(target) if target else None
                        if theirs is not None and theirs not in ALLOWED[own]:
                            found.append(f"{path}:{lineno}: {own} includes {m.group(1)} ({theirs}); "
                                         f"{own} may use only {', '.join(sorted(ALLOWED[own]))}")
    return found


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print(f"check_layers: {len(found)} include(s) against the layer direction (see the docstring of "
              f"scripts/check_layers.py and ../shared/ARCHITECTURE.md)")
        return 1
    print("check_layers: every include goes with the layer direction")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
