// `dyndnn hw --restore STATEFILE`: the answer to SIGKILL, which no handler sees. A supervisor (systemd
// ExecStopPost, a shell trap in the parent) replays the originals the governor wrote before changing anything.
// The file is input from disk, so every path is checked against the knob allow-list before it is written.

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/governor.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {

int restoreFromStateFile(const std::string& state_file) {
  std::ifstream in(state_file);
  if (!in) throw HardwareError(fmt::format("cannot read state file {}; check the path (nothing to restore?)", state_file));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const std::exception& e) {
    throw HardwareError(fmt::format("state file {} is not valid JSON ({}); restore the knobs by hand", state_file,
                                    e.what()));
  }
  if (!doc.is_object() || doc.value("format", "") != "dyndnn-hw-state" || !doc.contains("entries") ||
      !doc["entries"].is_array())
    throw HardwareError(fmt::format("{} is not a dyndnn hardware state file", state_file));

  struct Item {
    std::string path, value;
    bool best_effort;
  };
  std::vector<Item> items;
  for (const auto& e : doc["entries"]) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("value") ||
        !e["value"].is_string())
      throw HardwareError(fmt::format("{}: an entry lacks a string path/value", state_file));
    const std::string path = e["path"].get<std::string>();
    if (path.empty() || path[0] != '/') throw HardwareError(fmt::format("{}: path '{}' is not absolute", state_file, path));
    items.push_back({path, e["value"].get<std::string>(), e.value("best_effort", false)});
  }
  // The recorded path may lie under a fake root (tests): the knob check needs the part from "sys/" on.
  auto split = [&](const std::string& path) -> std::pair<std::string, std::string> {
    const auto pos = path.find("/sys/");
    if (pos == std::string::npos || !isKnobPath(path.substr(pos + 1)))
      throw HardwareError(fmt::format("{}: refusing to write {}: not a known knob file", state_file, path));
    return {path.substr(0, pos + 1), path.substr(pos + 1)};
  };
  for (const auto& item : items) split(item.path);  // validate all before writing any

  std::vector<const Item*> failed;
  std::string last_error;
  for (auto it = items.rbegin(); it != items.rend(); ++it) {  // newest first, as the journal does
    try {
      const auto [root, rel] = split(it->path);
      Sysfs(root).write(rel, it->value);
    } catch (const HardwareError&) {
      failed.push_back(&*it);
    }
  }
  int restored = static_cast<int>(items.size() - failed.size());
  std::string failures;
  for (const Item* item : failed) {  // second pass for min/max ordering
    try {
      const auto [root, rel] = split(item->path);
      Sysfs(root).write(rel, item->value);
      ++restored;
    } catch (const HardwareError& e) {
      if (item->best_effort) {
        ++restored;  // "<unsupported>" under a restored governor: nothing to put back
        continue;
      }
      failures += std::string(failures.empty() ? "" : "; ") + e.what();
    }
  }
  if (!failures.empty())
    throw HardwareError(fmt::format("{}: restored {} of {} file(s); {}", state_file, restored, items.size(), failures));
  ::unlink(state_file.c_str());
  return restored;
}

}  // namespace dyndnn::hw
