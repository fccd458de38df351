#!/usr/bin/env python3
"""Fails when an #include in src/ points against the layer order (format -> engine/graph -> nn -> engine -> api):
the lower layers must not reach the DynamicModel facade, the runtime manager or the hardware layer, format must
not know families or the engine, and the engine must not know families (only nn/ lowers them to the graph).
Usage: check_layers.py [SOURCE_DIR]"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FACADE = ("dyndnn/model.hpp", "dyndnn/dyndnn.hpp", "dyndnn/runtime.hpp", "dyndnn/managed_model.hpp",
          "dyndnn/profiling.hpp", "dyndnn/runtime_sim.hpp", "dyndnn/hw/", "runtime/", "hw/", "api/", "cli/")
FORBIDDEN = {
    "format": FACADE + ("nn/", "engine/"),
    "nn": FACADE,
    "engine": FACADE + ("nn/",),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')

bad = []
for layer, forbidden in FORBIDDEN.items():
    folder = os.path.join(ROOT, "src", layer)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if m and m.group(1).startswith(forbidden):
                    bad.append(f"src/{layer}/{name}:{number}: includes \"{m.group(1)}\", which is above the {layer} "
                               f"layer; move what it needs down (e.g. value types to dyndnn/types.hpp)")
print("\n".join(bad) if bad else f"include direction ok ({', '.join(FORBIDDEN)})")
sys.exit(1 if bad else 0)
