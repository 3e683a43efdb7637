# Linux i386 with Debian's cross gcc (gcc-i686-linux-gnu, libc6-i386). The
# tests run natively where the kernel runs 32-bit x86 programs, else under
# qemu-i386 (qemu-user): a kernel without IA32 emulation, as in some VMs,
# refuses them with "Exec format error". Probed once per build directory.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER i686-linux-gnu-gcc)
find_program(KEEL_CROSS_CXX i686-linux-gnu-g++)
if(KEEL_CROSS_CXX)
  set(CMAKE_CXX_COMPILER ${KEEL_CROSS_CXX})
endif()
set(CMAKE_FIND_ROOT_PATH /usr/i686-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

if(NOT DEFINED KEEL_I386_NATIVE)
  set(_keel_probe "${CMAKE_BINARY_DIR}/keel-i386-probe")
  file(WRITE "${_keel_probe}/p.c" "int main(void) { return 0; }\n")
  execute_process(COMMAND i686-linux-gnu-gcc p.c -o p WORKING_DIRECTORY "${_keel_probe}"
                  RESULT_VARIABLE _keel_cc OUTPUT_QUIET ERROR_QUIET)
  execute_process(COMMAND "${_keel_probe}/p" RESULT_VARIABLE _keel_run OUTPUT_QUIET ERROR_QUIET)
  file(REMOVE_RECURSE "${_keel_probe}")
  if(_keel_cc EQUAL 0 AND NOT _keel_run EQUAL 0)
    set(KEEL_I386_NATIVE OFF CACHE BOOL "i386 programs run natively here (else the tests run under qemu-i386)")
  else()
    set(KEEL_I386_NATIVE ON CACHE BOOL "i386 programs run natively here (else the tests run under qemu-i386)")
  endif()
endif()
if(NOT KEEL_I386_NATIVE)
  # not -L /usr/i686-linux-gnu: with the cross libc there, a fork under
  # qemu-i386 7.2 hangs; the host's /lib32 (libc6-i386) does not
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-i386)
endif()
