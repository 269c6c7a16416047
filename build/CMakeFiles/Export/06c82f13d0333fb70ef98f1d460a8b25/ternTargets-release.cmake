#----------------------------------------------------------------
# Generated CMake target import file for configuration "Release".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "tern::tern" for configuration "Release"
set_property(TARGET tern::tern APPEND PROPERTY IMPORTED_CONFIGURATIONS RELEASE)
set_target_properties(tern::tern PROPERTIES
  IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libtern.so.0.1.0"
  IMPORTED_SONAME_RELEASE "libtern.so.0"
  )

list(APPEND _cmake_import_check_targets tern::tern )
list(APPEND _cmake_import_check_files_for_tern::tern "${_IMPORT_PREFIX}/lib/libtern.so.0.1.0" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
