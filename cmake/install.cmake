# `cmake --install build --prefix P` lays out taskrt for users:
#   P/bin/taskrt                        the stock binary (demo tasks)
#   P/libexec/taskrt/pg                 the embedded-Postgres helper (scripts/pg)
#   P/include/taskrt/taskrt.hpp         the public header, and what it includes:
#   P/include/taskrt/{runtime,cluster,cli}/...  (runtime/*, cluster/client.hpp,
#                                       cluster/tls.hpp, cli/run.hpp only)
#   P/lib/libtaskrt_*.a                 the static libraries
#   P/lib/cmake/taskrt/                 the package: find_package(taskrt) gives
#                                       taskrt::taskrt (and FindCAF.cmake)
#   P/lib/pkgconfig/taskrt.pc           pkg-config --cflags --libs taskrt
# Headers of persistence/, actors/, the rest of cluster/ and cli/ are
# internal: not installed, and the public ones never include them.
include(CMakePackageConfigHelpers)

set(taskrt_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/taskrt)
set(taskrt_include_dir ${CMAKE_INSTALL_INCLUDEDIR}/taskrt)

# Exported names: taskrt::taskrt, taskrt::cli, taskrt::cluster, ...
foreach(module runtime persistence actors cluster cli warnings)
  set_target_properties(taskrt_${module} PROPERTIES EXPORT_NAME ${module})
endforeach()
set_target_properties(taskrt_library PROPERTIES EXPORT_NAME taskrt)

install(TARGETS taskrt_library taskrt_cli taskrt_cluster taskrt_actors
                taskrt_persistence taskrt_runtime taskrt_warnings
  EXPORT taskrt_targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS taskrt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/pg
  DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/taskrt)

install(FILES ${PROJECT_SOURCE_DIR}/include/taskrt/taskrt.hpp DESTINATION ${taskrt_include_dir})
file(GLOB taskrt_runtime_headers ${PROJECT_SOURCE_DIR}/runtime/*.hpp)
install(FILES ${taskrt_runtime_headers} DESTINATION ${taskrt_include_dir}/runtime)
install(FILES ${PROJECT_SOURCE_DIR}/cluster/client.hpp ${PROJECT_SOURCE_DIR}/cluster/tls.hpp
  DESTINATION ${taskrt_include_dir}/cluster)
install(FILES ${PROJECT_SOURCE_DIR}/cli/run.hpp DESTINATION ${taskrt_include_dir}/cli)

install(EXPORT taskrt_targets NAMESPACE taskrt:: FILE taskrtTargets.cmake
  DESTINATION ${taskrt_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/taskrtConfig.cmake.in
  ${PROJECT_BINARY_DIR}/taskrtConfig.cmake INSTALL_DESTINATION ${taskrt_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/taskrtConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/taskrtConfig.cmake
  ${PROJECT_BINARY_DIR}/taskrtConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
  DESTINATION ${taskrt_cmake_dir})

# pkg-config: the libraries in link order and the system ones they need; the
# prefix is found from the .pc file's own place (${pcfiledir}), so the file
# stays right whatever --prefix the install gets.
file(RELATIVE_PATH taskrt_pc_to_prefix "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${PROJECT_SOURCE_DIR}/cmake/taskrt.pc.in ${PROJECT_BINARY_DIR}/taskrt.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/taskrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
