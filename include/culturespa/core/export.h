// culturespa/core/export.h: CULTURESPA_API marks what libculturespa.so exports.
//
// The library is compiled with -fvisibility=hidden and
// -fvisibility-inlines-hidden: only the classes and functions declared in
// include/culturespa/ with CULTURESPA_API are visible to programs that link
// it; internals (lib/<layer>/*.h, text_detail::, cpu_kernels::, ...) stay
// private, so they can change without breaking applications and do not clash
// with other libraries' symbols. tests/core/exported_symbols.cmake checks the
// exported set (`nm -D` of the library).
//
// Mark a public class once (`class CULTURESPA_API Model`: its members, vtable
// and typeinfo follow) and each public free function
// (`CULTURESPA_API std::string version();`). Inline functions and templates
// in headers need no mark. A class nested in a public class takes its
// visibility, so the private implementation of a public class
// (`struct Model::Impl`, defined in lib/) is defined CULTURESPA_HIDDEN.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define CULTURESPA_API __attribute__((visibility("default")))
#define CULTURESPA_HIDDEN __attribute__((visibility("hidden")))
#else
#define CULTURESPA_API
#define CULTURESPA_HIDDEN
#endif
