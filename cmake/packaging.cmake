# Debian packages (`cpack -G DEB` in the build dir, or scripts/package-test):
#   taskrt         /usr/bin/taskrt, /usr/libexec/taskrt/pg (the embedded-
#                  Postgres helper), the systemd units, the docs
#   libtaskrt-dev  headers (include/taskrt only), the static libraries, the
#                  CMake package and the pkg-config file
# taskrt's Depends come from dpkg-shlibdeps (the Debian libraries the binary
# links); Postgres is a Recommends: only the embedded journal (`start --head`
# without --db) runs it. libtaskrt-dev depends on the -dev packages its CMake
# package and .pc file find.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME taskrt)
set(CPACK_PACKAGE_VENDOR "taskrt")
set(CPACK_PACKAGE_CONTACT "taskrt maintainers <taskrt@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "actor-model distributed task runtime with a Postgres journal")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL taskrt dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_TASKRT_PACKAGE_NAME taskrt)
set(CPACK_DEBIAN_TASKRT_PACKAGE_SECTION net)
# adduser: the postinst creates the user the units run as.
# tzdata: schedules read IANA time zones from the system (libdate-tz3,
# found by shlibdeps, depends on it too; named here because taskrt reads it).
set(CPACK_DEBIAN_TASKRT_PACKAGE_DEPENDS "adduser, tzdata")
set(CPACK_DEBIAN_TASKRT_PACKAGE_RECOMMENDS "postgresql (>= 15), postgresql-client")
set(CPACK_DEBIAN_TASKRT_DESCRIPTION "actor-model distributed task runtime with a Postgres journal
 The taskrt command: heads, worker nodes and the CLI, the embedded-Postgres
 helper and systemd units for a head and a node.")
set(CPACK_COMPONENT_TASKRT_DESCRIPTION "${CPACK_DEBIAN_TASKRT_DESCRIPTION}")
# The units run as the system user taskrt.
set(CPACK_DEBIAN_TASKRT_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/postinst)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libtaskrt-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "taskrt (= ${PROJECT_VERSION}), libcaf-dev (>= 0.17), libcaf-dev (<< 0.18), libpqxx-dev (>= 6.4), libpq-dev, nlohmann-json3-dev (>= 3), libspdlog-dev, libfmt-dev, libssl-dev, libcpp-httplib-dev, libhowardhinnant-date-dev, pkg-config")
set(CPACK_COMPONENT_DEV_DESCRIPTION "taskrt as a C++ library
 Headers (include/taskrt), static libraries, the CMake package
 (find_package(taskrt)) and pkg-config file (taskrt.pc).")
include(CPack)
