#include "common.h"

#include "culturespa/core/version.h"

namespace culturespa::bindings {

void register_version(py::module_& m) {
  m.attr("__version__") = version();
  m.def("build_info", [] {
    const BuildInfo info = culturespa::build_info();
    py::dict d;
    d["version"] = info.version;
    d["compiler"] = info.compiler;
    d["build_type"] = info.build_type;
    d["torch_version"] = info.torch_version;
    d["sentencepiece"] = info.sentencepiece;
    d["cuda"] = info.cuda;
    return d;
  }, "How this copy of culturespa was built, as a dict.");
}

}  // namespace culturespa::bindings
