# `cmake --install <build> --prefix P` installs dualrpc as a package:
#   P/include/dualrpc/<layer>/*.h       every layer's headers
#   P/include/...                       the generated headers (proto/CMakeLists.txt)
#   P/lib/libdualrpc_<layer>.a          the layers and generated libraries
#   P/bin/protoc-gen-dualrpc, dualrpc, dualrpc-server
#   P/lib/cmake/dualrpc/                dualrpcConfig.cmake: find_package(dualrpc)
#                                       gives dualrpc::<layer>, dualrpc::protoc_gen_dualrpc
#                                       and dualrpc_generate()
#   P/lib/pkgconfig/dualrpc.pc          everything; dualrpc_<layer>.pc per layer
#   P/share/dualrpc/proto/              the contract's .proto files
# The targets are those in the global property DUALRPC_EXPORTED_TARGETS
# (dualrpc_library() and proto/CMakeLists.txt add to it): test-only and
# bench-only targets are not there, so they are not installed. Include once,
# after every directory that defines exported targets.
include(CMakePackageConfigHelpers)

set(DUALRPC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/dualrpc)
set(DUALRPC_INSTALL_PROTODIR ${CMAKE_INSTALL_DATADIR}/dualrpc/proto)
set(DUALRPC_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

get_property(dualrpc_exported_targets GLOBAL PROPERTY DUALRPC_EXPORTED_TARGETS)

install(TARGETS ${dualrpc_exported_targets} protoc_gen_dualrpc
  EXPORT dualrpcTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The programs users run; not targets anyone links.
install(TARGETS dualrpc dualrpc_server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT dualrpcTargets
  NAMESPACE dualrpc::
  FILE dualrpcTargets.cmake
  DESTINATION ${DUALRPC_INSTALL_CMAKEDIR})

# Each layer library's headers, from the folder that defines it
# (src/dualrpc/raw holds raw_wire, raw_server and raw_client). The programs'
# folders (server/, plugin/) define no library, so their headers stay.
set(header_dirs)
foreach(target IN LISTS dualrpc_exported_targets)
  get_target_property(dir ${target} SOURCE_DIR)
  file(RELATIVE_PATH relative ${PROJECT_SOURCE_DIR}/src/dualrpc ${dir})
  if(NOT relative MATCHES "^\\.\\.")
    list(APPEND header_dirs ${relative})
  endif()
endforeach()
list(REMOVE_DUPLICATES header_dirs)
foreach(relative IN LISTS header_dirs)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/dualrpc/${relative}/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dualrpc/${relative}
          FILES_MATCHING PATTERN "*.h")
endforeach()

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/dualrpcConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/dualrpcConfig.cmake
  INSTALL_DESTINATION ${DUALRPC_INSTALL_CMAKEDIR}
  PATH_VARS DUALRPC_INSTALL_PROTODIR)
# 0.x: a minor version may break the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/dualrpcConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/dualrpcConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/dualrpcConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/DualrpcGenerate.cmake
  DESTINATION ${DUALRPC_INSTALL_CMAKEDIR})

# pkg-config: one dualrpc_<target>.pc per exported library, written from its
# link libraries (all of them: the libraries are static), and dualrpc.pc
# requiring them all. pkg-config orders the -l flags along the Requires, so
# no link order is written down here. A dependency not in the table below
# stops the configure, so that a new one cannot leave the .pc files wrong.
# prefix is found relative to the .pc file, so the files stay right wherever
# `cmake --install --prefix` puts them.
file(RELATIVE_PATH DUALRPC_PC_PREFIX_FROM_PCDIR
     /${DUALRPC_INSTALL_PKGCONFIGDIR} /)
string(REGEX REPLACE "/$" "" DUALRPC_PC_PREFIX_FROM_PCDIR "${DUALRPC_PC_PREFIX_FROM_PCDIR}")
set(DUALRPC_PC_THIRD_PARTY
  protobuf::libprotobuf protobuf
  gRPC::grpc++ grpc++
  OpenSSL::SSL libssl
  OpenSSL::Crypto libcrypto
  spdlog::spdlog spdlog
  prometheus-cpp::core prometheus-cpp-core
  prometheus-cpp::pull prometheus-cpp-pull
  nlohmann_json::nlohmann_json nlohmann_json)
function(dualrpc_pkgconfig_requirement dependency out_requires out_libs)
  set(requires)
  set(libs)
  list(FIND DUALRPC_PC_THIRD_PARTY ${dependency} index)
  if(dependency MATCHES "^dualrpc::(.+)$")
    set(requires dualrpc_${CMAKE_MATCH_1})
  elseif(dependency MATCHES "^absl::(.+)$")
    set(requires absl_${CMAKE_MATCH_1})
  elseif(index GREATER_EQUAL 0)
    math(EXPR index "${index} + 1")
    list(GET DUALRPC_PC_THIRD_PARTY ${index} requires)
  elseif(dependency STREQUAL "gRPC::grpc++_reflection")
    # Debian's libgrpc++-dev has no grpc++_reflection.pc.
    set(requires grpc++)
    set(libs -lgrpc++_reflection)
  elseif(dependency STREQUAL "civetweb::civetweb")
    # Debian's libcivetweb-dev has no .pc file.
    set(libs -lcivetweb)
  elseif(dependency STREQUAL "protobuf::libprotoc")
    # Debian's libprotoc-dev has no .pc of its own.
    set(requires protobuf)
    set(libs -lprotoc)
  elseif(dependency STREQUAL "Threads::Threads")
    set(libs -pthread)
  else()
    message(FATAL_ERROR "dualrpc pkg-config: no pkg-config name for ${dependency}")
  endif()
  set(${out_requires} ${requires} PARENT_SCOPE)
  set(${out_libs} ${libs} PARENT_SCOPE)
endfunction()

set(DUALRPC_PC_ALL_REQUIRES)
foreach(target IN LISTS dualrpc_exported_targets)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    get_target_property(dependencies ${target} INTERFACE_LINK_LIBRARIES)
    set(DUALRPC_PC_LIBS)
  else()
    get_target_property(dependencies ${target} LINK_LIBRARIES)
    set(DUALRPC_PC_LIBS "-L\${libdir} -l${target}")
  endif()
  set(requires)
  foreach(dependency IN LISTS dependencies)
    dualrpc_pkgconfig_requirement(${dependency} dependency_requires dependency_libs)
    list(APPEND requires ${dependency_requires})
    string(APPEND DUALRPC_PC_LIBS " ${dependency_libs}")
  endforeach()
  list(REMOVE_DUPLICATES requires)
  string(REPLACE ";" ", " DUALRPC_PC_REQUIRES "${requires}")
  string(STRIP "${DUALRPC_PC_LIBS}" DUALRPC_PC_LIBS)
  set(DUALRPC_PC_NAME ${target})
  configure_file(${PROJECT_SOURCE_DIR}/cmake/dualrpc-layer.pc.in
                 ${PROJECT_BINARY_DIR}/pkgconfig/${target}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${target}.pc
          DESTINATION ${DUALRPC_INSTALL_PKGCONFIGDIR})
  list(APPEND DUALRPC_PC_ALL_REQUIRES ${target})
endforeach()
string(REPLACE ";" ", " DUALRPC_PC_REQUIRES "${DUALRPC_PC_ALL_REQUIRES}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/dualrpc.pc.in
               ${PROJECT_BINARY_DIR}/pkgconfig/dualrpc.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/dualrpc.pc
        DESTINATION ${DUALRPC_INSTALL_PKGCONFIGDIR})
