# mnemo - plain Makefile (LMDB's shape): CC, OPT, W; out-of-tree objects under
# $(BUILD). Targets: all test demo bench check-asan check-tsan format clean.

CC     ?= cc
OPT    ?= -O2 -g
W      ?= -Wall -Wextra -Werror
CSTD   := -std=c11
SAN    ?=
BUILD  ?= build

CPPFLAGS := -D_GNU_SOURCE -Iinclude -I. -I$(BUILD)
CFLAGS   := $(CSTD) $(W) $(OPT) $(SAN) -pthread
LDFLAGS  := $(SAN) -pthread
LDLIBS   := -llmdb -lzstd -lprotobuf-c -lpthread -lm
TEST_LDLIBS := -lcmocka

# Debian packages the build needs (pkg-config names); scripts/install-deps
# installs them when one is missing.
PKGS := lmdb libuv libprotobuf-c libzstd cmocka

# protobuf-c code generated from schema/*.proto into $(BUILD)/schema.
PROTO     := $(wildcard schema/*.proto)
PROTO_C   := $(PROTO:%.proto=$(BUILD)/%.pb-c.c)
PROTO_H   := $(PROTO:%.proto=$(BUILD)/%.pb-c.h)
PROTO_OBJ := $(PROTO_C:.c=.o)

LIB_SRC   := $(wildcard base/*.c core/*.c storage/*.c recovery/*.c)
LIB_SRC   := $(filter-out recovery/mnemo_cli.c,$(LIB_SRC))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(PROTO_OBJ)
LIB       := $(BUILD)/libmnemo.a
TOOL      := $(BUILD)/mnemo

TEST_SRC  := $(wildcard tests/*/test_*.c)
TEST_BIN  := $(TEST_SRC:%.c=$(BUILD)/%)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)
BENCH_SUPPORT_SRC := $(wildcard bench/support/*.c)
BENCH_SUPPORT_OBJ := $(BENCH_SUPPORT_SRC:%.c=$(BUILD)/%.o)

EXAMPLE_SRC := $(wildcard examples/*/*.c)
EXAMPLE_BIN := $(patsubst examples/%/,$(BUILD)/bin/%,$(sort $(dir $(EXAMPLE_SRC))))

DEPS_OK := $(BUILD)/.deps-ok

.PHONY: all test demo bench bench-peers soak fuzz check-asan check-tsan format clean deps examples

# Keep intermediate objects (tests, benchmarks) between runs.
.SECONDARY:

all: $(LIB) $(TOOL)

# Dependencies: checked once per build dir; install-deps runs when pkg-config
# or protoc-c cannot find something.
$(DEPS_OK):
	@mkdir -p $(BUILD)
	@if ! command -v pkg-config >/dev/null 2>&1 || \
	    ! pkg-config --exists $(PKGS) || \
	    ! command -v protoc-c >/dev/null 2>&1; then \
		echo "make: build dependencies missing; running scripts/install-deps"; \
		./scripts/install-deps || exit 1; \
	fi
	@touch $@

deps: $(DEPS_OK)

$(BUILD)/%.o: %.c | $(DEPS_OK) $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/schema/%.pb-c.c $(BUILD)/schema/%.pb-c.h: schema/%.proto | $(DEPS_OK)
	@mkdir -p $(BUILD)/schema
	protoc-c --proto_path=schema --c_out=$(BUILD)/schema $<

$(BUILD)/schema/%.pb-c.o: $(BUILD)/schema/%.pb-c.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# -rdynamic: plugins loaded by `mnemo replay` call the mn_* API, which the
# tool itself must export.
$(TOOL): $(BUILD)/recovery/mnemo_cli.o $(LIB)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/bin/%: $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(basename $$(wildcard examples/$$*/*.c)))) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

examples: $(EXAMPLE_BIN) $(BUILD)/bin/agents.so

test: all $(TEST_BIN)
	@BUILD=$(BUILD) ./tests/run $(TEST_BIN)

demo: all $(BUILD)/bin/agents $(BUILD)/bin/agents.so
	$(BUILD)/bin/agents $(DEMO_ARGS)

# The demo's kinds as a plugin of the tool (mnemo replay --plugin).
$(BUILD)/bin/agents.so: examples/agents/agents.c include/mnemo.h | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -o $@ $<

# Build output goes to stderr so that stdout carries only JSON lines.
bench:
	@$(MAKE) --no-print-directory all $(BENCH_BIN) >&2
	@BUILD=$(BUILD) ./bench/run $(BENCH_BIN)

# mnemo beside CAF and Erlang in the same run (installs the peers' Debian
# packages; not part of make test). docs/performance.md has the reading.
bench-peers:
	@$(MAKE) --no-print-directory all >&2
	@./bench/peers/run

# Crash soak (SIGKILL at hundreds of seeded points) and bounded fuzzing of
# the decoders the tool runs on untrusted bytes.
soak: all
	@./scripts/soak $(SOAK_ARGS)

fuzz: all
	@./scripts/fuzz $(FUZZ_ARGS)

# AddressSanitizer + UndefinedBehaviorSanitizer, and ThreadSanitizer: the
# whole test suite in a separate build dir.
check-asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" test

check-tsan:
	$(MAKE) BUILD=build/tsan OPT="-O1 -g" SAN="-fsanitize=thread" test

format:
	clang-format -i $(wildcard include/*.h core/*.[ch] storage/*.[ch] recovery/*.[ch] \
		tests/*/*.[ch] bench/*.[ch] bench/support/*.[ch] examples/*/*.[ch])

clean:
	rm -rf build

# Header dependencies of every object (written by -MMD).
-include $(LIB_OBJ:.o=.d) $(BUILD)/recovery/mnemo_cli.d \
	$(TEST_BIN:=.d) $(TEST_SUPPORT_OBJ:.o=.d) $(BENCH_BIN:=.d) \
	$(BENCH_SUPPORT_OBJ:.o=.d) $(EXAMPLE_SRC:%.c=$(BUILD)/%.d)
