// Item access kept for one release on results that were dicts before they
// had a class of their own: result["files"] gives result.files and warns.
#pragma once

#include <string>

#include "common.h"

namespace culturespa::bindings {

template <class T>
void def_deprecated_items(py::class_<T> cls) {
  cls.def("__getitem__", [](const py::object& self, const std::string& key) {
    const std::string type = py::str(py::type::of(self).attr("__name__"));
    py::module_::import("warnings")
        .attr("warn")(type + "[\"" + key + "\"] is deprecated: use the attribute ." + key,
                      py::module_::import("builtins").attr("DeprecationWarning"), 2);
    return py::object(self.attr(key.c_str()));
  });
}

}  // namespace culturespa::bindings
