# Driver of the package.* tests (one ctest entry per mode): cmake -DMODE=... [-D...] -P run.cmake
#   MODE=install           cmake --install DYNDNN_BINARY_DIR --prefix WORK_DIR/prefix, check the layout, run the
#                          installed CLI on FIXTURE
#   MODE=find_package      configure, build and run tests/consumer/find_package against WORK_DIR/prefix
#   MODE=add_subdirectory  configure, build and run tests/consumer/add_subdirectory on DYNDNN_SOURCE_DIR
#   MODE=python            import the installed Python package from WORK_DIR/prefix and infer on FIXTURE
# Other variables: DYNDNN_SOURCE_DIR, DYNDNN_BINARY_DIR, WORK_DIR, FIXTURE, PYTHON, PYTHON_INSTALL_DIR,
# GENERATOR, MAKE_PROGRAM, CXX_COMPILER, CXX_LAUNCHER, BUILD_TYPE (what the calling build uses).
cmake_minimum_required(VERSION 3.18)

foreach(var MODE DYNDNN_SOURCE_DIR DYNDNN_BINARY_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: ${var} is not set")
  endif()
endforeach()
set(PREFIX ${WORK_DIR}/prefix)
set(CONSUMER_DIR ${CMAKE_CURRENT_LIST_DIR})
if(DEFINED ENV{CMAKE_BUILD_PARALLEL_LEVEL})
  set(JOBS $ENV{CMAKE_BUILD_PARALLEL_LEVEL})
else()
  set(JOBS 2)
endif()

string(TIMESTAMP _t0 "%s")
# run_step(NAME command...): runs the command, prints its output and how long it took; fails the test on error.
function(run_step name)
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(TIMESTAMP t1 "%s")
  math(EXPR dt "${t1} - ${t0}")
  list(JOIN ARGN " " cmd)
  message("---- ${name} (${dt} s): ${cmd}\n${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (${rc})")
  endif()
  set(STEP_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

function(expect_match regex text what)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: output does not match '${regex}'")
  endif()
endfunction()

# The consumer builds use the same generator, compiler, launcher (ccache) and build type as the calling build.
set(CONFIGURE_ARGS -G ${GENERATOR} -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(MAKE_PROGRAM)
  list(APPEND CONFIGURE_ARGS -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(CXX_LAUNCHER)
  list(APPEND CONFIGURE_ARGS -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
  # ccache caches compilations that use the precompiled ATen header only with this sloppiness.
  if(NOT DEFINED ENV{CCACHE_SLOPPINESS})
    set(ENV{CCACHE_SLOPPINESS} "pch_defines,time_macros,include_file_mtime,include_file_ctime")
  endif()
endif()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  run_step(install ${CMAKE_COMMAND} --install ${DYNDNN_BINARY_DIR} --prefix ${PREFIX})
  file(GLOB config ${PREFIX}/lib*/cmake/dyndnn/dyndnnConfig.cmake ${PREFIX}/lib*/*/cmake/dyndnn/dyndnnConfig.cmake)
  if(NOT config)
    message(FATAL_ERROR "no dyndnnConfig.cmake under ${PREFIX}")
  endif()
  get_filename_component(cmakedir ${config} DIRECTORY)
  foreach(f ${PREFIX}/include/dyndnn/dyndnn.hpp ${PREFIX}/include/dyndnn/hw/governor.hpp
            ${cmakedir}/dyndnnConfigVersion.cmake ${cmakedir}/dyndnnTargets.cmake)
    if(NOT EXISTS ${f})
      message(FATAL_ERROR "not installed: ${f}")
    endif()
  endforeach()
  # Nothing in the installed package may point back into the source or build tree.
  file(GLOB target_files ${cmakedir}/*.cmake)
  foreach(f ${target_files})
    file(READ ${f} text)
    foreach(tree ${DYNDNN_SOURCE_DIR} ${DYNDNN_BINARY_DIR})
      string(FIND "${text}" "${tree}" pos)
      if(NOT pos EQUAL -1)
        message(FATAL_ERROR "${f} refers to ${tree}")
      endif()
    endforeach()
  endforeach()
  if(EXISTS ${PREFIX}/bin/dyndnn AND FIXTURE)
    run_step(installed-cli ${PREFIX}/bin/dyndnn info ${FIXTURE})
    expect_match("checksum ok" "${STEP_OUTPUT}" "installed CLI")
  endif()

elseif(MODE STREQUAL "find_package")
  set(build ${WORK_DIR}/find_package)
  file(REMOVE_RECURSE ${build})
  run_step(configure ${CMAKE_COMMAND} -S ${CONSUMER_DIR}/find_package -B ${build} ${CONFIGURE_ARGS}
           -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  file(STRINGS ${build}/CMakeCache.txt dyndnn_dir REGEX "^dyndnn_DIR:")
  string(FIND "${dyndnn_dir}" "${PREFIX}/" pos)
  if(NOT pos GREATER -1)
    message(FATAL_ERROR "the consumer found dyndnn elsewhere: ${dyndnn_dir}")
  endif()
  run_step(build ${CMAKE_COMMAND} --build ${build} -j ${JOBS})
  run_step(run ${build}/app ${FIXTURE})
  expect_match("operating point [^:]+: logits 1x[0-9]+, class [0-9]+" "${STEP_OUTPUT}" "consumer")

elseif(MODE STREQUAL "add_subdirectory")
  # A fixed directory (under the build tree) so ccache hits on the next run; rebuilt from scratch every time.
  set(build ${WORK_DIR}/add_subdirectory)
  file(REMOVE_RECURSE ${build})
  run_step(configure ${CMAKE_COMMAND} -S ${CONSUMER_DIR}/add_subdirectory -B ${build} ${CONFIGURE_ARGS}
           -DDYNDNN_SOURCE_DIR=${DYNDNN_SOURCE_DIR})
  # As a subproject the options default to OFF.
  file(STRINGS ${build}/CMakeCache.txt options REGEX "^DYNDNN_(BUILD_[A-Z]+|INSTALL):BOOL=")
  foreach(opt ${options})
    if(NOT opt MATCHES "=OFF$")
      message(FATAL_ERROR "as a subproject dyndnn should default to OFF: ${opt}")
    endif()
  endforeach()
  run_step(build ${CMAKE_COMMAND} --build ${build} -j ${JOBS})
  # EXCLUDE_FROM_ALL: only what app links was built.
  foreach(f ${build}/dyndnn-build/dyndnn ${build}/dyndnn-build/python ${build}/dyndnn-build/tests)
    if(EXISTS ${f})
      message(FATAL_ERROR "built although the consumer does not need it: ${f}")
    endif()
  endforeach()
  run_step(run ${build}/app ${FIXTURE})
  expect_match("operating point [^:]+: logits 1x[0-9]+, class [0-9]+" "${STEP_OUTPUT}" "consumer")

elseif(MODE STREQUAL "python")
  file(TO_CMAKE_PATH "${PREFIX}/${PYTHON_INSTALL_DIR}" pydir)
  if(NOT EXISTS ${pydir}/dyndnn/__init__.py)
    message(FATAL_ERROR "the Python package is not installed under ${pydir}")
  endif()
  set(script "import os, sys, numpy as np, dyndnn
prefix = os.path.realpath(sys.argv[1])
assert os.path.realpath(dyndnn.__file__).startswith(prefix + os.sep), dyndnn.__file__
m = dyndnn.DynamicModel(sys.argv[2], threads=1)
op = m.operating_points[-1]['name']
m.set_subnet(op)
logits = m.infer(np.zeros((1, m.input_channels, 64, 64), np.float32))
print('dyndnn', dyndnn.__version__, 'from', dyndnn.__file__)
print('operating point', op, 'logits', 'x'.join(map(str, logits.shape)))
")
  run_step(import ${CMAKE_COMMAND} -E env --unset=PYTHONHOME PYTHONPATH=${pydir} PYTHONNOUSERSITE=1
           PYTHONDONTWRITEBYTECODE=1 ${PYTHON} -c "${script}" ${PREFIX} ${FIXTURE})
  expect_match("operating point [^ ]+ logits 1x[0-9]+" "${STEP_OUTPUT}" "python")

else()
  message(FATAL_ERROR "run.cmake: unknown MODE '${MODE}'")
endif()

string(TIMESTAMP _t1 "%s")
math(EXPR _dt "${_t1} - ${_t0}")
message("package.${MODE}: passed in ${_dt} s")
