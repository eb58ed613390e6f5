# culturespa_add_layer(): one OBJECT library per layer of the library
# (culturespa_<name>), so that the build enforces the layering of
# docs/getting-started.md:
#
# - Public headers: a layer compiles against a view of include/ that holds
#   only the layers it USES (symlinks under <build>/layer-include/<name>/), so
#   `#include "culturespa/pipeline/..."` from the survey layer fails to
#   compile. HEADERS adds single header files of a layer not in USES.
# - Private headers: lib/<layer>/*.h are included by file name
#   (`#include "bpe.h"`) and found beside the including file only; no layer
#   has lib/ on its include path. PRIVATE_INCLUDE adds a folder of private
#   headers shared within the target.
# - Libraries: only the layers marked TORCH see LibTorch (link checked for the
#   survey target by the culturespa_survey_link_check executable).
#
# Layers never link each other: the objects of every layer are linked
# together only into libculturespa (and the Python extension and the internal
# static library), listed in CULTURESPA_LAYER_TARGETS, lowest layer first.
#
#   culturespa_add_layer(<name> SOURCES <files...> USES <layers...>
#                        [HEADERS <files...>] [PRIVATE_INCLUDE <dirs...>]
#                        [LIBS <libraries...>] [TORCH])
set(CULTURESPA_LAYER_TARGETS)
function(culturespa_add_layer name)
  cmake_parse_arguments(LAYER "TORCH" "" "SOURCES;USES;HEADERS;PRIVATE_INCLUDE;LIBS" ${ARGN})
  set(target culturespa_${name})
  add_library(${target} OBJECT ${LAYER_SOURCES})

  set(view "${PROJECT_BINARY_DIR}/layer-include/${name}")
  file(REMOVE_RECURSE "${view}")
  file(MAKE_DIRECTORY "${view}/culturespa")
  foreach(used ${LAYER_USES})
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/include/culturespa/${used}" "${view}/culturespa/${used}" SYMBOLIC)
  endforeach()
  foreach(header ${LAYER_HEADERS})
    get_filename_component(header_dir "${header}" DIRECTORY)
    file(MAKE_DIRECTORY "${view}/${header_dir}")
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/include/${header}" "${view}/${header}" SYMBOLIC)
  endforeach()
  target_include_directories(${target} PRIVATE "${view}" ${LAYER_PRIVATE_INCLUDE})
  # What links the objects (libculturespa, _core, culturespa_internal) sees all of include/.
  target_include_directories(${target} INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)

  target_link_libraries(${target} PRIVATE ${LAYER_LIBS} ${CULTURESPA_PRIVATE_LIBS})
  if(LAYER_TORCH)
    target_link_libraries(${target} PUBLIC torch)
  endif()
  target_compile_definitions(${target} PRIVATE
    CULTURESPA_VERSION_STRING="${PROJECT_VERSION}"
    CULTURESPA_BUILD_TYPE="${CMAKE_BUILD_TYPE}"
    CULTURESPA_TORCH_VERSION="${Torch_VERSION}"
    CULTURESPA_SENTENCEPIECE_SOURCE="${CULTURESPA_SENTENCEPIECE_SOURCE}"
    CULTURESPA_WITH_CUDA=$<BOOL:${CULTURESPA_TORCH_HAS_CUDA}>)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  # Only what include/culturespa/ marks CULTURESPA_API leaves libculturespa.so
  # (culturespa/core/export.h).
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(CULTURESPA_SANITIZE)
    target_compile_options(${target} PRIVATE ${CULTURESPA_SANITIZE_FLAGS})
  endif()
  set(CULTURESPA_LAYER_TARGETS ${CULTURESPA_LAYER_TARGETS} ${target} PARENT_SCOPE)
endfunction()

# The sources of one lib/<dir>, without the EXCLUDE ones (file names).
function(culturespa_layer_sources out dir)
  cmake_parse_arguments(ARG "" "" "EXCLUDE" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/lib/${dir}/*.cpp")
  foreach(name ${ARG_EXCLUDE})
    list(REMOVE_ITEM sources "${PROJECT_SOURCE_DIR}/lib/${dir}/${name}")
  endforeach()
  set(${out} ${sources} PARENT_SCOPE)
endfunction()
