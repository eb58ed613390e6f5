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

include(Sentencepiece)
