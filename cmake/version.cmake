# The build's identity: TASKRT_VERSION is project(VERSION); TASKRT_GIT_COMMIT
# is `git describe --always --dirty` of the source tree at configure time
# ("unknown" outside a git checkout, e.g. a source tarball or an image build
# without .git). Only runtime/version.cpp sees them, so a new commit
# recompiles one file.
set(TASKRT_GIT_COMMIT "unknown" CACHE STRING "Commit the build comes from (empty: ask git)")
if(TASKRT_GIT_COMMIT STREQUAL "unknown" OR TASKRT_GIT_COMMIT STREQUAL "")
  find_package(Git QUIET)
  if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
    execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
      OUTPUT_VARIABLE _taskrt_commit OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _taskrt_git_rc ERROR_QUIET)
    if(_taskrt_git_rc EQUAL 0 AND NOT _taskrt_commit STREQUAL "")
      set(TASKRT_BUILD_COMMIT ${_taskrt_commit})
    endif()
  endif()
else()
  set(TASKRT_BUILD_COMMIT ${TASKRT_GIT_COMMIT})
endif()
if(NOT TASKRT_BUILD_COMMIT)
  set(TASKRT_BUILD_COMMIT "unknown")
endif()
message(STATUS "taskrt ${PROJECT_VERSION} (${TASKRT_BUILD_COMMIT})")
