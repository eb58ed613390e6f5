# Run by ctest: installs the built library into a scratch prefix and builds
# examples/cpp as an outside project would, with find_package(culturespa).
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
set(launcher)
if(COMPILER_LAUNCHER)
  set(launcher "-DCMAKE_CXX_COMPILER_LAUNCHER=${COMPILER_LAUNCHER}")
endif()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/cpp" -B "${WORK_DIR}/build"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DTorch_DIR=${Torch_DIR}" -DCMAKE_BUILD_TYPE=Release ${launcher})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build" --target culturespa_info_example)
run("${WORK_DIR}/build/culturespa_info_example")
