# Finds LibTorch for both builds (CMakeLists.txt, and the probe behind binding.gyp), in this order:
#   1. LIBTORCH (the root of an unpacked LibTorch, CPU or CUDA) or Torch_DIR;
#   2. a Python that can `import torch` ($ENV{PYTHON}, else python3): torch.utils.cmake_prefix_path;
#   3. the system install (Debian/Ubuntu libtorch-dev).
# Defines the usual TORCH_* variables plus NEURAL_STYLE_TORCH_LINK_FILES: the shared libraries
# (as generator expressions) an addon links, NEURAL_STYLE_TORCH_HAS_CUDA,
# NEURAL_STYLE_CUDA_INCLUDE_DIRS (the CUDA toolkit headers LibTorch's CUDA headers include), and
# NEURAL_STYLE_CXX_STANDARD: the C++ standard this LibTorch's headers need.

if(DEFINED ENV{LIBTORCH})
  if(NOT EXISTS "$ENV{LIBTORCH}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "LIBTORCH=$ENV{LIBTORCH} is not an unpacked LibTorch: "
      "it has no share/cmake/Torch/TorchConfig.cmake")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "$ENV{LIBTORCH}")
elseif(NOT Torch_DIR AND NOT DEFINED ENV{Torch_DIR})
  if(DEFINED ENV{PYTHON})
    set(_ns_python "$ENV{PYTHON}")
  else()
    find_program(_ns_python NAMES python3 python)
  endif()
  if(_ns_python)
    execute_process(
      COMMAND "${_ns_python}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _ns_python_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _ns_python_status ERROR_QUIET)
    if(_ns_python_status EQUAL 0 AND IS_DIRECTORY "${_ns_python_prefix}/Torch")
      list(PREPEND CMAKE_PREFIX_PATH "${_ns_python_prefix}")
    endif()
  endif()
endif()

# TorchConfig finds its Caffe2 part with find_package(Caffe2 PATHS <its own folder>), and CMake
# tries its default prefixes before those PATHS: given Torch_DIR on a machine with libtorch-dev
# too, the system's Caffe2 targets would be linked with the other LibTorch's headers. (LIBTORCH
# and the Python's prefix are searched first, so only Torch_DIR needs this.)
if(NOT DEFINED ENV{LIBTORCH} AND NOT Caffe2_DIR)
  if(Torch_DIR)
    set(_ns_torch_dir "${Torch_DIR}")
  elseif(DEFINED ENV{Torch_DIR})
    set(_ns_torch_dir "$ENV{Torch_DIR}")
  endif()
  if(_ns_torch_dir AND EXISTS "${_ns_torch_dir}/../Caffe2/Caffe2Config.cmake")
    get_filename_component(Caffe2_DIR "${_ns_torch_dir}/../Caffe2" ABSOLUTE)
  endif()
endif()

find_package(Torch QUIET)
if(NOT Torch_FOUND)
  message(FATAL_ERROR
    "LibTorch was not found. Install it with `sudo apt-get install libtorch-dev` "
    "(Debian/Ubuntu), or set LIBTORCH to the root of an unpacked LibTorch, or Torch_DIR to "
    "its share/cmake/Torch folder.")
endif()
message(STATUS "LibTorch ${Torch_VERSION}: ${Torch_DIR}")

# LibTorch's headers refuse C++17 from 2.12 on (before, C++17 is what LibTorch itself was built as).
if(Torch_VERSION VERSION_GREATER_EQUAL 2.12)
  set(NEURAL_STYLE_CXX_STANDARD 20)
else()
  set(NEURAL_STYLE_CXX_STANDARD 17)
endif()

set(NEURAL_STYLE_TORCH_LINK_FILES "")
set(NEURAL_STYLE_TORCH_HAS_CUDA OFF)
foreach(_ns_lib torch torch_cpu c10 torch_cuda c10_cuda)
  if(TARGET ${_ns_lib})
    list(APPEND NEURAL_STYLE_TORCH_LINK_FILES "$<TARGET_FILE:${_ns_lib}>")
    if(_ns_lib MATCHES "cuda")
      set(NEURAL_STYLE_TORCH_HAS_CUDA ON)
    endif()
  endif()
endforeach()

# TorchConfig finds the CUDA toolkit for a CUDA LibTorch: with FindCUDAToolkit (2.x) or FindCUDA
# (1.x), whose variables land in this scope.
set(NEURAL_STYLE_CUDA_INCLUDE_DIRS "")
if(NEURAL_STYLE_TORCH_HAS_CUDA)
  list(APPEND NEURAL_STYLE_CUDA_INCLUDE_DIRS ${CUDAToolkit_INCLUDE_DIRS} ${CUDA_INCLUDE_DIRS})
  list(REMOVE_DUPLICATES NEURAL_STYLE_CUDA_INCLUDE_DIRS)
endif()
