// Typed, read-only result classes: each C++ result struct is bound once as a
// Python class whose fields are read-only properties, with to_dict() (nested
// results become dicts, lists and dicts are converted element-wise) and a
// repr listing the scalar fields. The field list is written once, here, for
// the properties, to_dict() and repr alike.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"

namespace culturespa::bindings {

// A result as plain Python data: objects with to_dict() become dicts,
// lists/tuples and dicts are converted element-wise, the rest is kept.
inline py::object plain_python(const py::handle& value) {
  if (py::hasattr(value, "to_dict")) return value.attr("to_dict")();
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    py::list out;
    for (const auto& item : value) out.append(plain_python(item));
    return std::move(out);
  }
  if (py::isinstance<py::dict>(value)) {
    py::dict out;
    for (const auto& [k, v] : py::reinterpret_borrow<py::dict>(value)) out[k] = plain_python(v);
    return std::move(out);
  }
  return py::reinterpret_borrow<py::object>(value);
}

template <class T>
class ResultClass {
 public:
  ResultClass(py::module_& m, const char* name, const char* doc)
      : cls_(m, name, doc), fields_(std::make_shared<std::vector<Field>>()) {}

  // A struct member as a read-only property.
  template <class M>
  ResultClass& field(const char* name, M T::*member, const char* doc = "") {
    cls_.def_readonly(name, member, doc);
    fields_->push_back({name, [member](const T& t) { return py::cast(t.*member); }});
    return *this;
  }

  // A computed read-only property (e.g. an enum as its name).
  template <class F>
  ResultClass& property(const char* name, F getter, const char* doc = "") {
    cls_.def_property_readonly(name, getter, doc);
    fields_->push_back({name, [getter](const T& t) -> py::object {
                          auto value = getter(t);
                          if constexpr (std::is_base_of_v<py::handle, decltype(value)>)
                            return std::move(value);
                          else
                            return py::cast(std::move(value));
                        }});
    return *this;
  }

  // Adds to_dict() (the fields, or `to_dict` where a record has a shape of
  // its own) and __repr__; returns the class for further methods.
  py::class_<T>& done(std::function<py::dict(const T&)> to_dict = {}) {
    auto fields = fields_;
    if (!to_dict)
      to_dict = [fields](const T& t) {
        py::dict out;
        for (const auto& f : *fields) out[py::str(f.name)] = plain_python(f.get(t));
        return out;
      };
    cls_.def("to_dict", to_dict, "The fields as a dict of plain Python values (nested results as dicts).");
    const std::string class_name = py::str(cls_.attr("__name__"));
    cls_.def("__repr__", [fields, class_name](const T& t) {
      std::string out = class_name + "(";
      bool first = true;
      for (const auto& f : *fields) {
        py::object v = f.get(t);
        if (!(py::isinstance<py::str>(v) || py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v) ||
              py::isinstance<py::bool_>(v)))
          continue;
        out += (first ? "" : ", ") + f.name + "=" + py::repr(v).cast<std::string>();
        first = false;
      }
      return out + ")";
    });
    return cls_;
  }

 private:
  struct Field {
    std::string name;
    std::function<py::object(const T&)> get;
  };
  py::class_<T> cls_;
  std::shared_ptr<std::vector<Field>> fields_;
};

}  // namespace culturespa::bindings
