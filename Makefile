# Front door for newcomers; the build itself is CMake + CTest.
#   make run    install dependencies, build, start the bus on 127.0.0.1:8080
#   make test   install dependencies, build, run every test (unit + HTTP)
#   make asan   the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench  the seed's benchmark profiles (docs/BENCHMARKS.md)
#   make lint   clang-tidy and cppcheck;  make fuzz  the libFuzzer harnesses

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
JOBS       ?= $(shell nproc)

.PHONY: all deps build run test unit http asan bench install clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/intent-bus serve

# The black-box suites, each against the binary of the build under test.
PY_SUITES  = tests/http tests/browser tests/cli sdk/python/tests tests/examples tests/cross
SANITIZERS = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

test: build
	ctest --test-dir $(BUILD) --output-on-failure
	set -e; for suite in $(PY_SUITES); do \
	  INTENT_BUS_BIN=$(CURDIR)/$(BUILD)/intent-bus $(PYTHON) -m pytest -q -p no:cacheprovider $$suite; \
	done

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DINTENT_BUS_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	$(SANITIZERS) ctest --test-dir $(ASAN_BUILD) --output-on-failure
	set -e; for suite in $(PY_SUITES); do \
	  $(SANITIZERS) INTENT_BUS_BIN=$(CURDIR)/$(ASAN_BUILD)/intent-bus \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $$suite; \
	done

bench: build
	for profile in light medium heavy extreme; do $(BUILD)/intent-bus bench $$profile; done
	for profile in heavy extreme; do $(BUILD)/intent-bus bench $$profile --long-poll; done

# libintentbus (header, shared + static library, pkg-config file);
# PREFIX=/usr/local by default.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# libFuzzer harnesses (docs/FUZZING.md) under ASan + UBSan, FUZZ_SECONDS
# each; .ci/run uses `make fuzz FUZZ_SECONDS=45`.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZERS      = fuzz_validate fuzz_signature fuzz_query fuzz_basic_auth fuzz_client_response
.PHONY: fuzz lint
# clang-tidy (.clang-tidy) and cppcheck over src/ and tests/fuzz/.
lint: deps
	scripts/lint.sh

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DINTENT_BUS_FUZZ=ON \
	  -DBUILD_TESTING=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
