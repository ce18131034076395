# Front door for newcomers; the build itself is CMake + CTest.
#   make run    install what the bus needs, build it (no tests), start it on 127.0.0.1:8080
#   make test   install the test tools too, build, run every test (unit + HTTP + package,
#               and the HTTP and client suites again on PostgreSQL: make test-postgres)
#   make asan   the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make deb    the Debian packages (intent-bus, libintentbus1, libintentbus-dev)
#   make bench  the seed's benchmark profiles (docs/BENCHMARKS.md)
#   make lint   clang-tidy and cppcheck;  make fuzz  the libFuzzer harnesses

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
JOBS       ?= $(shell nproc)

DEB_BUILD  ?= build-deb

.PHONY: all deps test-deps build run test test-postgres unit http asan bench install deb package-test systemd-test clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

# The bus alone: no unit tests (and no cmocka), as `make run` needs.
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Quiet: the compiler's output is shown only when the build fails.
run: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/build.log 2>&1 || \
	  { cat $(BUILD)/build.log; echo "make run: the build failed (log above)"; exit 1; }
	@$(BUILD)/intent-bus serve

# The black-box suites, each against the binary of the build under test.
PY_SUITES  = tests/http tests/compat tests/browser tests/cli sdk/python/tests tests/examples tests/cross
SANITIZERS = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

test: test-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure
	set -e; for suite in $(PY_SUITES); do \
	  INTENT_BUS_BIN=$(CURDIR)/$(BUILD)/intent-bus $(PYTHON) -m pytest -q -p no:cacheprovider $$suite; \
	done
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory package-test

# tests/http and the libintentbus tests against PostgreSQL: a throw-away
# cluster (scripts/pg-cluster.sh) in a temporary directory, a fresh database
# per server, the cluster stopped and removed whatever the outcome.
PG_SUITES = tests/http tests/cli tests/cross sdk/python/tests tests/examples
test-postgres: test-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	set -e; dir=$$(mktemp -d "$${TMPDIR:-/tmp}/intent-bus-pg.XXXXXX"); chmod 755 "$$dir"; \
	trap 'scripts/pg-cluster.sh stop "'"$$dir"'" || true; rm -rf "'"$$dir"'"' EXIT; \
	url=$$(scripts/pg-cluster.sh start "$$dir"); \
	INTENT_BUS_DATABASE_URL="$$url" ctest --test-dir $(BUILD) --output-on-failure -L 'client|postgres'; \
	for suite in $(PG_SUITES); do \
	  INTENT_BUS_DATABASE_URL="$$url" INTENT_BUS_PG_CLUSTER_DIR="$$dir" \
	  INTENT_BUS_BIN=$(CURDIR)/$(BUILD)/intent-bus \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $$suite; \
	done

asan: test-deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DINTENT_BUS_SANITIZE=ON -DBUILD_TESTING=ON >/dev/null
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

# Debian packages with Debian's hardening flags, in $(DEB_BUILD)/*.deb.
# CMake has no CPPFLAGS: dpkg-buildflags' two go into its C flags.
DEB_FLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
deb: test-deps
	rm -f $(DEB_BUILD)/*.deb
	cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	  -DBUILD_TESTING=OFF -DINTENT_BUS_PACKAGE=ON \
	  -DCMAKE_C_FLAGS="$$($(DEB_FLAGS) CFLAGS) $$($(DEB_FLAGS) CPPFLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$$($(DEB_FLAGS) LDFLAGS)" \
	  -DCMAKE_SHARED_LINKER_FLAGS="$$($(DEB_FLAGS) LDFLAGS)" >/dev/null
	cmake --build $(DEB_BUILD) -j $(JOBS)
	cd $(DEB_BUILD) && cpack -G DEB >/dev/null
	ls $(DEB_BUILD)/*.deb

# The packages installed on this machine, checked, run as their user and
# purged again (tests/package/; root, or sudo without a password).
package-test: deb
	tests/package/run.sh $(DEB_BUILD)

# The package under a real systemd, booted in systemd-nspawn (root; the first
# run debootstraps a minimal Debian 12; not part of `make test`).
systemd-test: deb
	tests/package/systemd_test.sh $(DEB_BUILD)


# libFuzzer harnesses (docs/FUZZING.md) under ASan + UBSan, FUZZ_SECONDS
# each; .ci/run uses `make fuzz FUZZ_SECONDS=45`.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZERS      = fuzz_validate fuzz_signature fuzz_query fuzz_basic_auth fuzz_client_response \
               fuzz_request
.PHONY: fuzz lint
# clang-tidy (.clang-tidy) and cppcheck over src/ and tests/fuzz/.
lint: test-deps
	scripts/lint.sh

fuzz: test-deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DINTENT_BUS_FUZZ=ON \
	  -DBUILD_TESTING=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)


clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEB_BUILD) $(FUZZ_BUILD)
