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
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

set(CULTURESPA_PRIVATE_LIBS Threads::Threads ${CMAKE_DL_LIBS})

# The text layer: PCRE2 (with its JIT) runs the pre-tokenizer split patterns of
# tokenizer.json files; utf8proc gives the Unicode normalizers (NFC, ...).
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
list(APPEND CULTURESPA_PRIVATE_LIBS PkgConfig::PCRE2 PkgConfig::UTF8PROC)

include(Sentencepiece)
