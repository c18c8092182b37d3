# dualrpc_generate(TARGET <target>
#                  PROTOS <file.proto>...
#                  [IMPORT_DIRS <dir>...]
#                  [OUT_DIR <dir>])
#
# Runs protoc-gen-dualrpc on each of PROTOS and adds the generated
# <name>.dualrpc.cc files to <target>; <target> gets OUT_DIR as a PUBLIC
# include directory and links dualrpc::rpc PUBLIC. For a proto whose path
# below its import directory is foo/bar.proto, the outputs are
# OUT_DIR/foo/bar.dualrpc.h and OUT_DIR/foo/bar.dualrpc.cc (always both;
# without services the header declares nothing).
#
# The generated code includes foo/bar.pb.h: generate the messages into the
# same OUT_DIR with protobuf_generate(), either in <target> itself or in a
# library that <target> links.
#
# IMPORT_DIRS are protoc's -I paths, searched in order; each proto must lie
# below one of them. Default: the current source directory. OUT_DIR defaults
# to ${CMAKE_CURRENT_BINARY_DIR}/gen. Relative PROTOS are taken from the
# current source directory.
#
# The plugin is dualrpc::protoc_gen_dualrpc: the in-tree executable while
# building dualrpc, the installed one (imported by dualrpcConfig.cmake) in a
# project that found dualrpc with find_package(dualrpc). OUT_DIR is a
# BUILD_INTERFACE include directory only: a project that installs <target>
# installs the generated headers and adds its own INSTALL_INTERFACE.
function(dualrpc_generate)
  cmake_parse_arguments(ARG "" "TARGET;OUT_DIR" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_PROTOS)
    message(FATAL_ERROR "dualrpc_generate: TARGET and PROTOS are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "dualrpc_generate: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_IMPORT_DIRS)
    set(ARG_IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT ARG_OUT_DIR)
    set(ARG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/gen)
  endif()
  file(MAKE_DIRECTORY ${ARG_OUT_DIR})

  set(import_flags)
  set(import_dirs)
  foreach(dir IN LISTS ARG_IMPORT_DIRS)
    get_filename_component(abs_dir ${dir} ABSOLUTE)
    list(APPEND import_dirs ${abs_dir})
    list(APPEND import_flags -I ${abs_dir})
  endforeach()

  # Named in generator expressions only: in dualrpc's own build the plugin is
  # defined after proto/ calls this function. The COMMAND's reference makes
  # the target-level dependency, DEPENDS the file-level one.
  set(plugin dualrpc::protoc_gen_dualrpc)

  set(generated_sources)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs_proto ${proto} ABSOLUTE)
    # The proto's name as protoc sees it: its path below the first import
    # directory that holds it.
    set(proto_name)
    foreach(dir IN LISTS import_dirs)
      file(RELATIVE_PATH relative ${dir} ${abs_proto})
      if(NOT relative MATCHES "^\\.\\./")
        set(proto_name ${relative})
        break()
      endif()
    endforeach()
    if(NOT proto_name)
      message(FATAL_ERROR
        "dualrpc_generate: ${abs_proto} is not below any of ${import_dirs}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem ${proto_name})
    set(header ${ARG_OUT_DIR}/${stem}.dualrpc.h)
    set(source ${ARG_OUT_DIR}/${stem}.dualrpc.cc)
    add_custom_command(
      OUTPUT ${header} ${source}
      COMMAND protobuf::protoc
              --plugin=protoc-gen-dualrpc=$<TARGET_FILE:${plugin}>
              --dualrpc_out=${ARG_OUT_DIR} ${import_flags} ${abs_proto}
      DEPENDS ${abs_proto} protobuf::protoc $<TARGET_FILE:${plugin}>
      COMMENT "protoc-gen-dualrpc ${proto_name}"
      VERBATIM)
    # The generated code is ours: hold it to the project's warning flags
    # (the messages' .pb.cc beside it are not).
    set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "-Wall;-Wextra")
    list(APPEND generated_sources ${header} ${source})
  endforeach()

  target_sources(${ARG_TARGET} PRIVATE ${generated_sources})
  target_include_directories(${ARG_TARGET} PUBLIC $<BUILD_INTERFACE:${ARG_OUT_DIR}>)
  target_link_libraries(${ARG_TARGET} PUBLIC dualrpc::rpc)
endfunction()
