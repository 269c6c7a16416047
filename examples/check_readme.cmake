# Every examples/*.cpp must appear in README.md verbatim, as a ```cpp block right after a
# line "<!-- example: NAME.cpp -->".
file(READ ${README} readme)
file(GLOB sources ${EXAMPLES}/*.cpp)
foreach(src ${sources})
  get_filename_component(name ${src} NAME)
  file(READ ${src} code)
  string(FIND "${readme}" "<!-- example: ${name} -->\n```cpp\n${code}```" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "README.md does not quote examples/${name} verbatim after <!-- example: ${name} -->")
  endif()
endforeach()
