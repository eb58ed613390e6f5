# `cmake --install` writes the library, its headers and a CMake package, so
# that an application does find_package(culturespa) and links
# culturespa::culturespa (examples/cpp/ is built that way by a test).
include(CMakePackageConfigHelpers)

install(TARGETS culturespa EXPORT culturespaTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/culturespa"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(CULTURESPA_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/culturespa")
install(EXPORT culturespaTargets NAMESPACE culturespa:: DESTINATION ${CULTURESPA_CMAKE_DIR})
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/culturespaConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/culturespaConfig.cmake"
  INSTALL_DESTINATION ${CULTURESPA_CMAKE_DIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/culturespaConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/culturespaConfig.cmake"
  "${PROJECT_BINARY_DIR}/culturespaConfigVersion.cmake"
  DESTINATION ${CULTURESPA_CMAKE_DIR})
