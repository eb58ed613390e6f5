# Finds every dependency of the library. On Debian 12 all come from apt
# (scripts/setup-deps.sh installs them); elsewhere point CMAKE_PREFIX_PATH at
# them, e.g. at a pip-installed torch: python -c "import torch.utils; print(torch.utils.cmake_prefix_path)".
include(GNUInstallDirs)

find_package(Torch REQUIRED)
if(TORCH_CUDA_LIBRARIES OR CUDA_FOUND)
  set(CULTURESPA_TORCH_HAS_CUDA ON)
else()
  set(CULTURESPA_TORCH_HAS_CUDA OFF)
endif()
message(STATUS "culturespa: LibTorch ${Torch_VERSION} (CUDA: ${CULTURESPA_TORCH_HAS_CUDA})")

find_package(nlohmann_json 3.9 REQUIRED)
# toml11 (header-only, Debian's libtoml11-dev) reads the pipeline's TOML
# configs; without it those configs are read as JSON only (the same schema).
find_package(toml11 3 QUIET CONFIG)
if(toml11_FOUND)
  set(CULTURESPA_WITH_TOML ON)
else()
  set(CULTURESPA_WITH_TOML OFF)
  message(STATUS "culturespa: toml11 not found (apt-get install libtoml11-dev): pipeline configs in JSON only")
endif()
find_package(Threads REQUIRED)
find_package(PkgConfig)

set(CULTURESPA_PRIVATE_LIBS Threads::Threads ${CMAKE_DL_LIBS})

# The text layer: PCRE2 (with its JIT) runs the pre-tokenizer split patterns of
# tokenizer.json files; utf8proc gives the Unicode normalizers (NFC, ...).
#
# pkg-config first (Debian's -dev packages); else a plain header + library
# search along CMAKE_PREFIX_PATH, for machines where the libraries were copied
# in without their .pc files (scripts/gpu_check.sh does that).
function(culturespa_find_c_library target module header library)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(${target} QUIET IMPORTED_TARGET ${module})
    if(${target}_FOUND)
      add_library(culturespa::${target} ALIAS PkgConfig::${target})
      return()
    endif()
  endif()
  find_path(${target}_INCLUDE_DIR ${header})
  find_library(${target}_LIBRARY NAMES ${library} lib${library}.so.0 lib${library}.so.2)
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "culturespa needs ${module} (${header}): apt-get install the matching -dev "
                        "package, or add its prefix to CMAKE_PREFIX_PATH")
  endif()
  add_library(culturespa_${target} INTERFACE)
  target_include_directories(culturespa_${target} INTERFACE "${${target}_INCLUDE_DIR}")
  target_link_libraries(culturespa_${target} INTERFACE "${${target}_LIBRARY}")
  add_library(culturespa::${target} ALIAS culturespa_${target})
endfunction()
culturespa_find_c_library(PCRE2 libpcre2-8 pcre2.h pcre2-8)
culturespa_find_c_library(UTF8PROC libutf8proc utf8proc.h utf8proc)
list(APPEND CULTURESPA_PRIVATE_LIBS culturespa::PCRE2 culturespa::UTF8PROC)

include(Sentencepiece)
