# dualrpc_library(<layer> SOURCES <file>... [PUBLIC <dep>...] [PRIVATE <dep>...])
#
# One layer's library: target dualrpc_<layer>, alias dualrpc::<layer>,
# exported (and installed) as dualrpc::<layer>. Headers are included as
# "dualrpc/<layer>/..." from the source tree while building and from
# <prefix>/include once installed. Our warning flags apply to the layer's own
# sources only (a variable, not an interface target, so that nothing about
# warnings leaks into the exported link interface).
set(DUALRPC_WARNING_FLAGS -Wall -Wextra)
if(DUALRPC_WERROR)
  list(APPEND DUALRPC_WARNING_FLAGS -Werror)
endif()

function(dualrpc_library layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(dualrpc_${layer} STATIC ${ARG_SOURCES})
  add_library(dualrpc::${layer} ALIAS dualrpc_${layer})
  set_target_properties(dualrpc_${layer} PROPERTIES
    EXPORT_NAME ${layer} OUTPUT_NAME dualrpc_${layer} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(dualrpc_${layer} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_options(dualrpc_${layer} PRIVATE ${DUALRPC_WARNING_FLAGS})
  target_link_libraries(dualrpc_${layer} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  set_property(GLOBAL APPEND PROPERTY DUALRPC_EXPORTED_TARGETS dualrpc_${layer})
endfunction()
