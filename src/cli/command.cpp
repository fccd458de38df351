#include "cli/command.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::cli {
namespace {

constexpr std::size_t kNameColumn = 26, kLineWidth = 110;

// Greedy word wrap to `width` columns; the caller's own line breaks stay.
std::string wrap(const std::string& text, std::size_t width) {
  std::string out, line;
  std::istringstream paragraphs(text);
  for (std::string paragraph; std::getline(paragraphs, paragraph);) {
    std::istringstream words(paragraph);
    line.clear();
    for (std::string word; words >> word;) {
      if (!line.empty() && line.size() + 1 + word.size() > width) {
        out += line + "\n";
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
    }
    out += line + "\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

// "usage: dyndnn VERB SYNOPSIS", the description, then CLI11's option table, wrapped: the synopsis first, as man
// pages and every other verb of this tool print it.
class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(std::string usage) : usage_(std::move(usage)) { column_width(kNameColumn); }
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return make_expanded(app);
    std::ostringstream out;
    out << "usage: " << name << " " << usage_ << "\n\n" << wrap(app->get_description(), kLineWidth) << "\n"
        << make_positionals(app) << make_groups(app, mode) << make_footer(app);
    std::string text = out.str();
    if (text.empty() || text.back() != '\n') text += '\n';
    return text;
  }
  // "--runs N (default 50)": the value's name and default, without CLI11's validator and exclusion notes (the
  // description says what is allowed, and a bad value's error says it again).
  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string text;
    if (opt->get_type_size() != 0 && !opt->get_type_name().empty()) text += " " + opt->get_type_name();
    if (opt->get_type_size() != 0 && !opt->get_default_str().empty()) text += " (default " + opt->get_default_str() + ")";
    if (opt->get_required() && !opt->get_positional()) text += " (required)";
    return text;
  }
  std::string make_option_desc(const CLI::Option* opt) const override {
    return wrap(opt->get_description(), kLineWidth - kNameColumn);
  }

 private:
  std::string usage_;
};

// A number check with a readable complaint ("must be >= 1, not 0"); conversion errors stay CLI11's.
CLI::Validator numberAtLeast(double lo, bool strict, double hi, const std::string& rule) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return fmt::format("'{}' is not a number", text);
        if (v < lo || (strict && v == lo) || v > hi) return fmt::format("must be {}, not {}", rule, text);
        return "";
      },
      "");
}

}  // namespace

CLI::Validator positive() { return numberAtLeast(0, true, HUGE_VAL, "> 0"); }
CLI::Validator nonNegative() { return numberAtLeast(0, false, HUGE_VAL, ">= 0"); }
CLI::Validator inRange(int lo, int hi) { return numberAtLeast(lo, false, hi, fmt::format("in {}..{}", lo, hi)); }

Command::Command(const std::string& verb, const std::string& usage, const std::string& description)
    : app_(description, "dyndnn " + verb) {
  app_.formatter(std::make_shared<HelpFormatter>(usage));
  app_.set_help_flag("-h,--help", "print this help and exit");
  app_.get_formatter()->label("REQUIRED", "(required)");
}

CLI::Option* Command::addFile(std::string& file) {
  return app_.add_option("FILE", file, "the package (.dyn)")->required()->type_name("");
}

void Command::SubnetChoice::applyTo(DynamicModel& model) const {
  if (!op.empty()) model.setSubnet(op);
  if (!config.empty()) model.setSubnet(SubnetConfig::fromJson(config));
}

void Command::addSubnet(SubnetChoice& choice) {
  auto* by_name = app_.add_option("--op", choice.op, "operating point to run (default: the package's first)")->type_name("NAME");
  app_.add_option("--config", choice.config,
                  "an explicit sub-network in its family's dict form, e.g. '{\"ks\":7,\"e\":6,\"d\":4,\"r\":28}' for "
                  "OFA-MobileNetV3 (`dyndnn info FILE --json` shows the operating points' configs)")
      ->type_name("JSON")
      ->excludes(by_name);
}

CLI::Option* Command::addJson(bool& json) { return app_.add_flag("--json", json, "machine-readable output"); }

CLI::Option* Command::addThreads(int& threads, const std::string& what) {
  return app_.add_option("--threads", threads, "intra-op threads (" + what + ")")
      ->type_name("N")
      ->check(inRange(1, 4096));
}

CLI::Option* Command::addBackend(std::string& backend) {
  return app_.add_option("--backend", backend,
                         "operator library: auto (default: oneDNN unless it has only reference code for an op, as on "
                         "NEON-only ARM cores, then XNNPACK), onednn, xnnpack, aten, reference")
      ->type_name("NAME")
      ->check(CLI::IsMember({"auto", "onednn", "xnnpack", "aten", "reference"}));
}

bool Command::parse(const std::vector<std::string>& argv) {
  std::vector<std::string> reversed(argv.rbegin(), argv.rend());  // CLI11 consumes from the back
  try {
    app_.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app_.help());
    return false;
  } catch (const CLI::ParseError& e) {
    throw InvalidArgument(fmt::format("{} (see {} --help)", e.what(), app_.get_name()));
  }
  return true;
}

}  // namespace dyndnn::cli
