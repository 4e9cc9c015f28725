# One INTERFACE target carries the warning flags; every taskrt target links it.
# It is exported with the libraries (they name it as a private link) but
# gives an installed package's users no flags.
add_library(taskrt_warnings INTERFACE)
target_compile_options(taskrt_warnings INTERFACE "$<BUILD_INTERFACE:-Wall;-Wextra;-Wpedantic>")
