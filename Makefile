# keel — thin front of the CMake build. See README.md.
#   make           optimised release build into build/ (libkeel.a, libkeel.so)
#   make test      every test on every target (tests/run_targets.sh)
#   make bench     the benchmarks
#   make install   PREFIX=/usr/local by default; DESTDIR honoured
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all test bench install clean

all:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build build -j $(JOBS)

test:
	bash tests/run_targets.sh

bench:
	bash bench/run.sh

install: all
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-i386 build-aarch64 build-win64 build-*.log
