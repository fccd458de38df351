# Install rules and the CMake package. `cmake --install BUILD --prefix DIR` installs
#   DIR/include/dyndnn/                      public headers
#   DIR/<libdir>/libdyndnn*.a                dyndnn and its layers (format, engine, nn, hw, runtime)
#   DIR/bin/dyndnn                           the CLI (DYNDNN_BUILD_CLI)
#   DIR/bin/dyndnnd                          the hardware daemon (DYNDNN_BUILD_CLI)
#   DIR/lib/systemd/system/dyndnnd.service   its systemd unit
#   DIR/<libdir>/cmake/dyndnn/               dyndnnConfig.cmake, dyndnnConfigVersion.cmake, dyndnnTargets*.cmake
#   DIR/<DYNDNN_PYTHON_INSTALL_DIR>/dyndnn/  the Python package (DYNDNN_BUILD_PYTHON)
# and a consumer then uses find_package(dyndnn) with DIR on CMAKE_PREFIX_PATH, linking dyndnn::dyndnn (or
# dyndnn::hw, dyndnn::runtime; the CLI is the imported executable dyndnn::cli).
# Included from the top-level CMakeLists.txt when DYNDNN_INSTALL is ON (the default for a top-level build).
include(CMakePackageConfigHelpers)

set(DYNDNN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/dyndnn CACHE STRING
  "Where the CMake package files go, relative to the install prefix")
# Debian's layout: <prefix>/lib/python3/dist-packages (on sys.path for the prefix /usr; elsewhere use PYTHONPATH).
set(DYNDNN_PYTHON_INSTALL_DIR lib/python3/dist-packages CACHE STRING
  "Where the dyndnn Python package goes, relative to the install prefix")

# Exported as dyndnn::dyndnn, dyndnn::hw and dyndnn::runtime: the same names as the aliases of the build tree, so
# find_package and add_subdirectory consumers spell them alike.
set_target_properties(dyndnn_hw PROPERTIES EXPORT_NAME hw)
set_target_properties(dyndnn_runtime PROPERTIES EXPORT_NAME runtime)
# The layers under the api, in dyndnn's link interface (static libraries): installed so the link finds them.
set(_dyndnn_layers dyndnn_format dyndnn_engine dyndnn_nn dyndnn_daemon)
foreach(_t ${_dyndnn_layers})
  string(REPLACE "dyndnn_" "" _name ${_t})
  set_target_properties(${_t} PROPERTIES EXPORT_NAME ${_name})
endforeach()
# The targets' own $<INSTALL_INTERFACE:include> covers the default include directory.
if(NOT CMAKE_INSTALL_INCLUDEDIR STREQUAL "include")
  set(_dyndnn_includes INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()
install(TARGETS dyndnn ${_dyndnn_layers} dyndnn_hw dyndnn_runtime EXPORT dyndnnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  ${_dyndnn_includes})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/dyndnn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

# With BUILD_SHARED_LIBS the installed CLI and Python module find libdyndnn.so relative to themselves.
if(BUILD_SHARED_LIBS)
  file(RELATIVE_PATH _dyndnn_cli_to_lib /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
  file(RELATIVE_PATH _dyndnn_py_to_lib /${DYNDNN_PYTHON_INSTALL_DIR}/dyndnn /${CMAKE_INSTALL_LIBDIR})
endif()

if(TARGET dyndnn_cli)
  set_target_properties(dyndnn_cli PROPERTIES EXPORT_NAME cli)
  if(BUILD_SHARED_LIBS)
    set_target_properties(dyndnn_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_dyndnn_cli_to_lib}")
  endif()
  install(TARGETS dyndnn_cli EXPORT dyndnnTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET dyndnnd)
  install(TARGETS dyndnnd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  configure_file(${PROJECT_SOURCE_DIR}/src/daemon/dyndnnd.service.in ${PROJECT_BINARY_DIR}/dyndnnd.service @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/dyndnnd.service ${PROJECT_SOURCE_DIR}/src/daemon/dyndnnd-policy.json
          DESTINATION lib/systemd/system)
endif()

if(TARGET dyndnn_python)
  if(BUILD_SHARED_LIBS)
    set_target_properties(dyndnn_python PROPERTIES INSTALL_RPATH "$ORIGIN/${_dyndnn_py_to_lib}")
  endif()
  install(TARGETS dyndnn_python LIBRARY DESTINATION ${DYNDNN_PYTHON_INSTALL_DIR}/dyndnn)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/bindings/python/dyndnn/ DESTINATION ${DYNDNN_PYTHON_INSTALL_DIR}/dyndnn
    FILES_MATCHING PATTERN "*.py" PATTERN "*.pyi" PATTERN "py.typed" PATTERN "__pycache__" EXCLUDE)
endif()

# What the config file has to recreate: dyndnn's static libraries carry their private dependencies into the
# consumer's link ($<LINK_ONLY:...>), so fmt, nlohmann_json, Eigen, zlib and oneDNN must be findable there too.
# A namespaced target that dyndnnConfig.cmake.in does not find would break find_package(dyndnn): say so here.
set(_dyndnn_config_knows dyndnn:: Threads:: OpenMP:: fmt:: nlohmann_json:: Eigen3:: ZLIB::)
foreach(_t dyndnn ${_dyndnn_layers} dyndnn_hw dyndnn_runtime)
  get_target_property(_links ${_t} LINK_LIBRARIES)
  get_target_property(_ilinks ${_t} INTERFACE_LINK_LIBRARIES)
  string(REGEX MATCHALL "[A-Za-z0-9_.+-]+::" _namespaces "${_links};${_ilinks}")
  list(REMOVE_DUPLICATES _namespaces)
  foreach(_ns ${_namespaces})
    if(NOT _ns IN_LIST _dyndnn_config_knows)
      message(AUTHOR_WARNING "dyndnn: ${_t} links ${_ns}* targets, which cmake/dyndnnConfig.cmake.in does not "
                             "find_dependency(): consumers of the installed package will fail")
    endif()
  endforeach()
endforeach()

# PREFIX = ON and PREFIX_DIR = the library's folder when TARGET links the IMPORTED dependency (dyndnnConfig.cmake
# then finds it again by name there), else OFF and "".
function(dyndnn_config_dependency target imported library prefix)
  get_target_property(_links ${target} LINK_LIBRARIES)
  if("${imported}" IN_LIST _links)
    get_filename_component(_dir "${library}" DIRECTORY)
    set(${prefix} ON PARENT_SCOPE)
    set(${prefix}_DIR "${_dir}" PARENT_SCOPE)
  else()
    set(${prefix} OFF PARENT_SCOPE)
    set(${prefix}_DIR "" PARENT_SCOPE)
  endif()
endfunction()
dyndnn_config_dependency(dyndnn dyndnn::onednn "${DYNDNN_DNNL_LIBRARY}" DYNDNN_CONFIG_ONEDNN)
dyndnn_config_dependency(dyndnn_engine dyndnn::xnnpack "${DYNDNN_XNNPACK_LIBRARY}" DYNDNN_CONFIG_XNNPACK)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dyndnnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/dyndnnConfig.cmake
  INSTALL_DESTINATION ${DYNDNN_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dyndnnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(EXPORT dyndnnTargets NAMESPACE dyndnn:: DESTINATION ${DYNDNN_INSTALL_CMAKEDIR})
install(FILES ${PROJECT_BINARY_DIR}/dyndnnConfig.cmake ${PROJECT_BINARY_DIR}/dyndnnConfigVersion.cmake
  DESTINATION ${DYNDNN_INSTALL_CMAKEDIR})
