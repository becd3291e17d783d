# What every installed Tessera library shares: a versioned soname, symbols hidden
# unless exported, a generated export header (EXPORT_HEADER_DIR/tessera/
# tessera_NAME_export.h) and its public include directories in the build tree and
# in the installed package. NAME is the CMake export name (Tessera::NAME).
function(tessera_library_defaults target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "NAME;EXPORT_HEADER_DIR" "")
  string(TOLOWER "${arg_NAME}" lower)
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${arg_NAME}
    OUTPUT_NAME tessera-${lower}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  generate_export_header(${target}
    BASE_NAME tessera_${lower}
    EXPORT_FILE_NAME ${arg_EXPORT_HEADER_DIR}/tessera/tessera_${lower}_export.h)
  target_include_directories(${target}
    PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<BUILD_INTERFACE:${arg_EXPORT_HEADER_DIR}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endfunction()
