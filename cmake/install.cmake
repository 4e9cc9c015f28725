# `cmake --install build --prefix P` lays out taskrt for users:
#   P/bin/taskrt                        the stock binary (demo tasks)
#   P/libexec/taskrt/pg                 the embedded-Postgres helper (scripts/pg)
#   P/libexec/taskrt/collect-runtime    k8s/collect-runtime (for a team's image)
#   P/include/taskrt/taskrt.hpp         the public header, and what it includes:
#   P/include/taskrt/{runtime,cluster,cli}/...  (runtime/*, cluster/client.hpp,
#                                       cluster/tls.hpp, cli/run.hpp only)
#   P/lib/libtaskrt_*.a                 the static libraries (every taskrt_*
#                                       library of the module folders)
#   P/lib/cmake/taskrt/                 the package: find_package(taskrt) gives
#                                       taskrt::taskrt (and FindCAF.cmake)
#   P/lib/pkgconfig/taskrt.pc           pkg-config --cflags --libs taskrt
#   P/share/doc/taskrt/                 README.md, CHANGELOG.md and docs/*.md (the
#                                       systemd units' Documentation= names deploy.md)
#   P/share/taskrt/systemd/             the units and taskrt.ini of deploy/systemd
#   P/lib/systemd/system/taskrt-*.service  the units, naming P/bin/taskrt
# Headers of persistence/, actors/, the rest of cluster/ and cli/ are
# internal: not installed, and the public ones never include them.
include(CMakePackageConfigHelpers)

set(taskrt_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/taskrt)
set(taskrt_include_dir ${CMAKE_INSTALL_INCLUDEDIR}/taskrt)

# Every library target named taskrt_* of the top directory and of the module
# folders (not examples/, bench/, tests/) is installed and exported, so a new
# module that an exported one links is exported too. Exported names drop the
# prefix: taskrt::runtime, ..., taskrt::cli; taskrt_library is taskrt::taskrt.
function(taskrt_collect_libraries dir out)
  set(found)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(t MATCHES "^taskrt_" AND type MATCHES "^(STATIC|SHARED|INTERFACE)_LIBRARY$")
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    get_filename_component(name ${sub} NAME)
    if(NOT name MATCHES "^(examples|bench|tests)$")
      taskrt_collect_libraries(${sub} more)
      list(APPEND found ${more})
    endif()
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
taskrt_collect_libraries(${PROJECT_SOURCE_DIR} taskrt_libraries)
foreach(t IN LISTS taskrt_libraries)
  string(REGEX REPLACE "^taskrt_" "" name ${t})
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${name})
  # A module's `PUBLIC ${PROJECT_SOURCE_DIR}` include directory holds for the
  # build tree only (an exported target may not name the source tree).
  get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
  if(dirs)
    set(fixed)
    foreach(d IN LISTS dirs)
      string(FIND "${d}" "${PROJECT_SOURCE_DIR}" in_source)
      string(FIND "${d}" "${PROJECT_BINARY_DIR}" in_binary)
      if(in_source EQUAL 0 OR in_binary EQUAL 0)
        set(d "$<BUILD_INTERFACE:${d}>")
      endif()
      list(APPEND fixed "${d}")
    endforeach()
    set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${fixed}")
  endif()
endforeach()
set_target_properties(taskrt_library PROPERTIES EXPORT_NAME taskrt)

# Components (the Debian packages of cmake/packaging.cmake): "taskrt" is the
# binary, the helper, the systemd units and the docs; "dev" the rest.
install(TARGETS ${taskrt_libraries}
  EXPORT taskrt_targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(TARGETS taskrt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT taskrt)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/pg
  DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/taskrt COMPONENT taskrt)
# k8s/collect-runtime: a team's image ships its app like taskrt's own
# (examples/user_project/Dockerfile).
install(PROGRAMS ${PROJECT_SOURCE_DIR}/k8s/collect-runtime
  DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/taskrt COMPONENT dev)

file(GLOB taskrt_docs ${PROJECT_SOURCE_DIR}/docs/*.md ${PROJECT_SOURCE_DIR}/docs/*.png)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md ${taskrt_docs}
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT taskrt)
file(GLOB taskrt_systemd ${PROJECT_SOURCE_DIR}/deploy/systemd/*)
install(FILES ${taskrt_systemd} DESTINATION ${CMAKE_INSTALL_DATADIR}/taskrt/systemd
  COMPONENT taskrt)
install(FILES ${PROJECT_SOURCE_DIR}/include/taskrt/taskrt.hpp DESTINATION ${taskrt_include_dir}
  COMPONENT dev)
file(GLOB taskrt_runtime_headers ${PROJECT_SOURCE_DIR}/runtime/*.hpp)
install(FILES ${taskrt_runtime_headers} DESTINATION ${taskrt_include_dir}/runtime COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/cluster/client.hpp ${PROJECT_SOURCE_DIR}/cluster/tls.hpp
  DESTINATION ${taskrt_include_dir}/cluster COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/cli/run.hpp DESTINATION ${taskrt_include_dir}/cli
  COMPONENT dev)

install(EXPORT taskrt_targets NAMESPACE taskrt:: FILE taskrtTargets.cmake
  DESTINATION ${taskrt_cmake_dir} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/taskrtConfig.cmake.in
  ${PROJECT_BINARY_DIR}/taskrtConfig.cmake INSTALL_DESTINATION ${taskrt_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/taskrtConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/taskrtConfig.cmake
  ${PROJECT_BINARY_DIR}/taskrtConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
  DESTINATION ${taskrt_cmake_dir} COMPONENT dev)

# pkg-config: the libraries in link order and the system ones they need; the
# prefix is found from the .pc file's own place (${pcfiledir}), so the file
# stays right whatever --prefix the install gets.
file(RELATIVE_PATH taskrt_pc_to_prefix "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" taskrt_pc_to_prefix "${taskrt_pc_to_prefix}")
# Folders are added in dependency order (runtime first), so the reverse is
# the link order of the static libraries.
set(taskrt_pc_libs)
foreach(t IN LISTS taskrt_libraries)
  get_target_property(type ${t} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    list(PREPEND taskrt_pc_libs "-l${t}")
  endif()
endforeach()
list(JOIN taskrt_pc_libs " " taskrt_pc_libs)
configure_file(${PROJECT_SOURCE_DIR}/cmake/taskrt.pc.in ${PROJECT_BINARY_DIR}/taskrt.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/taskrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT dev)

# The systemd units (deploy/systemd) name the binary under /usr/local; the
# install writes them with the prefix it installs to (/usr for the package).
install(CODE "
  foreach(unit taskrt-head.service taskrt-node.service)
    file(READ \"${PROJECT_SOURCE_DIR}/deploy/systemd/\${unit}\" text)
    string(REPLACE \"/usr/local/\" \"\${CMAKE_INSTALL_PREFIX}/\" text \"\${text}\")
    file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/\${unit}\" \"\${text}\")
  endforeach()" COMPONENT taskrt)
