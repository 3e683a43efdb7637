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

# Into the system (no DESTDIR) the loader cache is refreshed, so a program
# linked with -lkeel runs at once; into a staging DESTDIR it is left to the
# machine the files end up on.
install: all
	DESTDIR="$(DESTDIR)" cmake --install build --prefix $(PREFIX)
	@if [ -n "$(DESTDIR)" ]; then \
	  echo "keel: installed under $(DESTDIR)$(PREFIX); once the files are in $(PREFIX), run ldconfig as root"; \
	elif [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ]; then \
	  ldconfig && echo "keel: ran ldconfig: programs linked with -lkeel find the new libkeel.so"; \
	elif [ "$$(uname -s)" = Linux ]; then \
	  echo "keel: not root, the loader cache is unchanged: run 'ldconfig' as root, or LD_LIBRARY_PATH=$(PREFIX)/lib"; \
	fi

clean:
	rm -rf build build-debug build-asan build-tsan build-i386 build-aarch64 build-win64 build-hardened build-hardened-* build-*.log
