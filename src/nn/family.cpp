#include "nn/family.hpp"

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "nn/elastic_mbv3.hpp"
#include "nn/elastic_vit.hpp"
#include "nn/group_cnn.hpp"

namespace dyndnn::nn {

std::unique_ptr<Supernet> openSupernet(format::Package& package) {
  if (package.family == kOfaMbv3Family) return std::make_unique<ElasticMbv3>(package);
  if (package.family == kGroupCnnFamily) return std::make_unique<GroupCnn>(package);
  if (package.family == kElasticVitFamily) return std::make_unique<ElasticVit>(package);
  throw FormatError(fmt::format("{}: metadata field 'family': unknown family '{}' (this build knows: {}, {}, {})",
                                package.path(), package.family, kOfaMbv3Family, kGroupCnnFamily, kElasticVitFamily));
}

}  // namespace dyndnn::nn
