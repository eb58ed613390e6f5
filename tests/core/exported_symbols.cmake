# ctest core_exported_symbols_are_public_api: every symbol that
# libculturespa.so exports (`nm -D --defined-only`) is culturespa:: API, or
# the vtable/typeinfo of a public class, and none belongs to an internal module
# (the namespaces and classes declared in lib/<layer>/*.h), a pimpl's Impl or
# an anonymous namespace. CULTURESPA_API (include/culturespa/core/export.h) marks the API;
# cmake/culturespa.map keeps everything else local.
#   cmake -DLIBRARY=<libculturespa.so> -DSOURCE_DIR=<source tree> -P exported_symbols.cmake
find_program(NM nm REQUIRED)
execute_process(COMMAND "${NM}" -D --defined-only -C "${LIBRARY}"
  OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D failed (${rc}) on ${LIBRARY}")
endif()
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")

# Internal names: `namespace culturespa::x` and top-level classes in lib/*/*.h.
set(internal)
file(GLOB private_headers "${SOURCE_DIR}/lib/*/*.h")
foreach(header ${private_headers})
  file(STRINGS "${header}" declarations REGEX "^(namespace culturespa::[a-z_]+|(class|struct) [A-Za-z_]+[ ;{])")
  foreach(declaration ${declarations})
    string(REGEX REPLACE "^(namespace culturespa::|class |struct )([A-Za-z_]+).*" "\\2" name "${declaration}")
    list(APPEND internal "${name}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES internal)
list(REMOVE_ITEM internal CULTURESPA_HIDDEN)  # `struct CULTURESPA_HIDDEN Model::Impl`
string(JOIN "|" internal_pattern ${internal})

set(bad)
set(count 0)
foreach(line ${lines})
  if(NOT line MATCHES "^[0-9a-f]+ [A-Za-z] (.+)$")
    continue()
  endif()
  set(symbol "${CMAKE_MATCH_1}")
  math(EXPR count "${count} + 1")
  string(REGEX REPLACE "^(typeinfo name for|typeinfo for|vtable for|VTT for) " "" scoped "${symbol}")
  if(NOT scoped MATCHES "^culturespa::")
    list(APPEND bad "outside culturespa::  ${symbol}")
  elseif(scoped MATCHES "\\(anonymous namespace\\)")
    list(APPEND bad "anonymous namespace  ${symbol}")
  elseif(scoped MATCHES "::Impl::")
    list(APPEND bad "pimpl internals  ${symbol}")
  elseif(internal_pattern AND scoped MATCHES "^culturespa::(${internal_pattern})(::|\\(|$| )")
    list(APPEND bad "internal (lib/*/*.h)  ${symbol}")
  endif()
endforeach()
if(count LESS 100 OR NOT listing MATCHES "culturespa::version\\(\\)")
  message(FATAL_ERROR "${LIBRARY} exports only ${count} symbols and/or no culturespa::version(): "
                      "is the public API marked CULTURESPA_API?")
endif()
if(bad)
  list(LENGTH bad n)
  string(JOIN "\n  " report ${bad})
  message(FATAL_ERROR "${LIBRARY} exports ${n} symbols that are not culturespa:: public API "
                      "(mark only include/culturespa/ declarations CULTURESPA_API):\n  ${report}")
endif()
message(STATUS "${count} exported symbols, all culturespa:: public API (internal names checked: ${internal})")
