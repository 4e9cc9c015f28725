# One INTERFACE target carries the warning flags; every taskrt target links it.
add_library(taskrt_warnings INTERFACE)
target_compile_options(taskrt_warnings INTERFACE -Wall -Wextra -Wpedantic)
