# mnemo - plain Makefile (LMDB's shape): CC, OPT, W; out-of-tree objects under
# $(BUILD). Targets: all test demo bench check-asan check-tsan format
# format-check install uninstall clean.

CC     ?= cc
OPT    ?= -O2 -g
W      ?= -Wall -Wextra -Werror
CSTD   := -std=c11
SAN    ?=
BUILD  ?= build

CPPFLAGS := -D_GNU_SOURCE -Iinclude -I. -I$(BUILD)
CFLAGS   := $(CSTD) $(W) $(OPT) $(SAN) -pthread
LDFLAGS  := $(SAN) -pthread
LDLIBS   := -llmdb -lzstd -lprotobuf-c -luv -lcurl -lpthread -lm
# The tests' stand-in server (tests/support/standin.c) is on libmicrohttpd
# and jansson; the runtime library never links them (libmnemo-llm links
# jansson).
TEST_LDLIBS := -lcmocka -lmicrohttpd -ljansson
# The tool's host command (recovery/cmd_serve.c, serve_*.c) is on them too:
# the tool and the tests of libmnemo-tools.a link them, libmnemo never.
TOOL_LDLIBS := -lmicrohttpd -ljansson

# Debian packages the build needs (pkg-config names); scripts/install-deps
# installs them when one is missing. libuv and libcurl: the I/O thread
# (core/io.c); libmicrohttpd and jansson: the tests' stand-in server.
PKGS := lmdb libuv libcurl libprotobuf-c libzstd cmocka libmicrohttpd jansson \
	libnats

# protobuf-c code generated from schema/*.proto into $(BUILD)/schema.
PROTO     := $(wildcard schema/*.proto)
PROTO_C   := $(PROTO:%.proto=$(BUILD)/%.pb-c.c)
PROTO_H   := $(PROTO:%.proto=$(BUILD)/%.pb-c.h)
PROTO_OBJ := $(PROTO_C:.c=.o)

# The version, from include/mnemo.h: the shared library's soname carries
# the major (libmnemo.so.$(MN_MAJOR)).
MN_VERSION := $(shell sed -n 's/^\#define MN_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9][0-9]*\).*/\2/p' include/mnemo.h | paste -sd. -)
MN_MAJOR   := $(firstword $(subst ., ,$(MN_VERSION)))

# The runtime library (core/, storage/, the generated schema code), static
# and shared; the shared one's objects are built with -fPIC under $(BUILD)/pic.
LIB_SRC   := $(wildcard base/*.c core/*.c storage/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(PROTO_OBJ)
LIB       := $(BUILD)/libmnemo.a
PIC_OBJ   := $(LIB_OBJ:$(BUILD)/%=$(BUILD)/pic/%)
SONAME    := libmnemo.so.$(MN_MAJOR)
SOLIB     := $(BUILD)/libmnemo.so.$(MN_VERSION)

# libmnemo-llm (llm/, include/mnemo_llm.h): chat completions on the public
# API, on jansson; static and shared (libmnemo-llm.so.MAJOR, linked to
# libmnemo.so), its own pkg-config file (mnemo-llm.pc).
LLM_SRC     := $(wildcard llm/*.c)
LLM_OBJ     := $(LLM_SRC:%.c=$(BUILD)/%.o)
LLM_LIB     := $(BUILD)/libmnemo-llm.a
LLM_PIC_OBJ := $(LLM_OBJ:$(BUILD)/%=$(BUILD)/pic/%)
LLM_SONAME  := libmnemo-llm.so.$(MN_MAJOR)
LLM_SOLIB   := $(BUILD)/libmnemo-llm.so.$(MN_VERSION)
LLM_LDLIBS  := -ljansson
# The -fPIC objects in an archive too, for plugins of the tool (a kind's
# .so for `mnemo replay --plugin` links it with -ljansson; its mn_* calls
# resolve to the tool's own copy of the runtime).
LLM_PIC_LIB := $(BUILD)/pic/libmnemo-llm.a

# libmnemo-cluster (cluster/, include/mnemo_cluster.h): placement of actors
# over the nodes of a cluster on NATS JetStream (docs/cluster.md), on the
# NATS C client; static, linked into the tool (`mnemo cluster`) and the
# cluster tests. libmnemo never links libnats.
CLUSTER_SRC    := $(wildcard cluster/*.c)
CLUSTER_OBJ    := $(CLUSTER_SRC:%.c=$(BUILD)/%.o)
CLUSTER_LIB    := $(BUILD)/libmnemo-cluster.a
CLUSTER_LDLIBS := -lnats

# The tool's commands (recovery/): a library of their own, linked into the
# tool and into the tests that call them, never into libmnemo.
TOOLS_SRC := $(filter-out recovery/mnemo_cli.c,$(wildcard recovery/*.c))
TOOLS_OBJ := $(TOOLS_SRC:%.c=$(BUILD)/%.o)
# The operator page of `mnemo serve` (recovery/page/: HTML, CSS, JavaScript,
# no build step) is built into the tool: scripts/embed-page writes its bytes
# into a C file under $(BUILD)/gen, rewritten whenever a page file changes.
PAGE_FILES := $(sort $(wildcard recovery/page/*))
PAGE_C     := $(BUILD)/gen/serve_page_data.c
PAGE_OBJ   := $(PAGE_C:.c=.o)
TOOLS_OBJ  += $(PAGE_OBJ)
TOOLS_LIB := $(BUILD)/libmnemo-tools.a
TOOL      := $(BUILD)/mnemo

# tests/cluster/ needs a nats-server: `make test-cluster`, not `make test`.
CLUSTER_TEST_SRC := $(wildcard tests/cluster/test_*.c)
CLUSTER_TEST_BIN := $(CLUSTER_TEST_SRC:%.c=$(BUILD)/%)
TEST_SRC  := $(filter-out $(CLUSTER_TEST_SRC),$(wildcard tests/*/test_*.c))
TEST_BIN  := $(TEST_SRC:%.c=$(BUILD)/%)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
# Tests that call the tool's commands: those of tests/recovery/ and any
# other that includes a recovery/ header.
TOOLS_TEST_SRC := $(sort $(wildcard tests/recovery/test_*.c) \
	$(shell grep -l '^\#include "recovery/' $(TEST_SRC) /dev/null))
TOOLS_TEST_BIN := $(TOOLS_TEST_SRC:%.c=$(BUILD)/%)
# Tests of libmnemo-llm (tests/llm/).
LLM_TEST_BIN := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/llm/test_*.c))

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)
BENCH_SUPPORT_SRC := $(wildcard bench/support/*.c)
BENCH_SUPPORT_OBJ := $(BENCH_SUPPORT_SRC:%.c=$(BUILD)/%.o)

EXAMPLE_SRC := $(wildcard examples/*/*.c)
EXAMPLE_BIN := $(patsubst examples/%/,$(BUILD)/bin/%,$(sort $(dir $(EXAMPLE_SRC))))

DEPS_OK := $(BUILD)/.deps-ok

.PHONY: all test test-cluster test-browser demo desk bench bench-peers soak fuzz check-asan check-tsan \
	format format-check install uninstall clean deps examples

# Keep intermediate objects (tests, benchmarks) between runs.
.SECONDARY:

all: $(LIB) $(BUILD)/libmnemo.so $(TOOL) $(LLM_LIB) $(BUILD)/libmnemo-llm.so \
	$(LLM_PIC_LIB) $(CLUSTER_LIB)

# Dependencies: checked once per build dir; install-deps runs when pkg-config
# or protoc-c cannot find something.
$(DEPS_OK):
	@mkdir -p $(BUILD)
	@if ! command -v pkg-config >/dev/null 2>&1 || \
	    ! pkg-config --exists $(PKGS) || \
	    ! command -v protoc-c >/dev/null 2>&1 || \
	    ! command -v clang-format >/dev/null 2>&1; then \
		echo "make: build dependencies missing; running scripts/install-deps"; \
		./scripts/install-deps || exit 1; \
	fi
	@touch $@

deps: $(DEPS_OK)

$(BUILD)/pic/%.o: %.c | $(DEPS_OK) $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(BUILD)/pic/schema/%.pb-c.o: $(BUILD)/schema/%.pb-c.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

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

# The shared library exports the public API (mn_*) only
# (scripts/libmnemo.sym); libmnemo.so.MAJOR and libmnemo.so link to it.
$(SOLIB): $(PIC_OBJ) scripts/libmnemo.sym
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) \
		-Wl,--version-script=scripts/libmnemo.sym -o $@ $(PIC_OBJ) $(LDLIBS)

$(BUILD)/libmnemo.so: $(SOLIB)
	ln -sf $(notdir $(SOLIB)) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(LLM_LIB): $(LLM_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LLM_PIC_LIB): $(LLM_PIC_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Exports mn_llm_* only (scripts/libmnemo-llm.sym).
$(LLM_SOLIB): $(LLM_PIC_OBJ) scripts/libmnemo-llm.sym $(BUILD)/libmnemo.so
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LLM_SONAME) \
		-Wl,--version-script=scripts/libmnemo-llm.sym -o $@ \
		$(LLM_PIC_OBJ) -L$(BUILD) -lmnemo $(LLM_LDLIBS)

$(BUILD)/libmnemo-llm.so: $(LLM_SOLIB)
	ln -sf $(notdir $(LLM_SOLIB)) $(BUILD)/$(LLM_SONAME)
	ln -sf $(LLM_SONAME) $@

$(CLUSTER_LIB): $(CLUSTER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(PAGE_C): $(PAGE_FILES) scripts/embed-page
	@mkdir -p $(dir $@)
	./scripts/embed-page $@ $(PAGE_FILES)

$(PAGE_OBJ): $(PAGE_C) | $(DEPS_OK) $(PROTO_H)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(TOOLS_LIB): $(TOOLS_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Plugins loaded by `mnemo replay` call the mn_* API, which the tool itself
# must contain and export: the whole runtime library goes in (not only what
# the commands use), and -rdynamic exports it.
# libmnemo-llm: `dump` and `stats` count the tokens of chat-completion
# replies (recovery/tokens.h). libmnemo-cluster: `mnemo cluster`.
$(TOOL): $(BUILD)/recovery/mnemo_cli.o $(TOOLS_LIB) $(LLM_LIB) $(CLUSTER_LIB) $(LIB)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $(BUILD)/recovery/mnemo_cli.o \
		$(TOOLS_LIB) $(LLM_LIB) $(CLUSTER_LIB) -Wl,--whole-archive $(LIB) \
		-Wl,--no-whole-archive $(TOOL_LDLIBS) $(LLM_LDLIBS) \
		$(CLUSTER_LDLIBS) $(LDLIBS)

$(TOOLS_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(TOOLS_LIB) $(LLM_LIB) $(CLUSTER_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS) $(LLM_LDLIBS) $(CLUSTER_LDLIBS) $(LDLIBS)

$(CLUSTER_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(CLUSTER_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS) $(CLUSTER_LDLIBS) $(LDLIBS)

$(LLM_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LLM_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS) $(LLM_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS) $(LDLIBS)

# The stand-in server as a program (tests/tools/standin_server.c): for the
# benchmarks, the crash harness and by hand (docs/calls.md).
STANDIN_SERVER := $(BUILD)/tests/tools/standin-server
$(STANDIN_SERVER): $(BUILD)/tests/tools/standin_server.o $(BUILD)/tests/support/standin.o
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# bench/calls runs the stand-in program as a child (no libmicrohttpd here).
$(BUILD)/bench/calls: $(BUILD)/tests/support/standin_proc.o

# bench/serve drives `mnemo serve` (the tool, with the kind of
# tests/recovery/plugin_serve.c as a plugin) with wrk, beside a bare
# libmicrohttpd server of its own.
SERVE_PLUGIN := $(BUILD)/bench/serve-tally.so
$(SERVE_PLUGIN): tests/recovery/plugin_serve.c include/mnemo.h | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -o $@ $<

$(BUILD)/bench/serve: $(BUILD)/bench/serve.o $(BENCH_SUPPORT_OBJ) \
		$(BUILD)/tests/support/serve_proc.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lmicrohttpd $(LDLIBS)

# Examples link libmnemo-llm too (only what they use of it is pulled in).
.SECONDEXPANSION:
$(BUILD)/bin/%: $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(basename $$(wildcard examples/$$*/*.c)))) $(LLM_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LLM_LDLIBS) $(LDLIBS)

examples: $(EXAMPLE_BIN) $(BUILD)/bin/agents.so $(BUILD)/bin/support-desk.so

# The suites, then the layering check and the install test (an install
# into a temporary prefix, examples/hello built there with pkg-config).
test: all $(TEST_BIN) $(STANDIN_SERVER) $(BUILD)/bin/support-desk \
		$(BUILD)/bin/support-desk.so
	@BUILD=$(BUILD) ./scripts/check-layers
	@BUILD=$(BUILD) ./tests/run $(TEST_BIN)
	@BUILD=$(BUILD) CC="$(CC)" SAN="$(SAN)" ./scripts/test-install

# The cluster suites (tests/cluster/): each starts its own nats-server
# (scripts/nats-test-server: loopback, a kernel-picked port, a temporary
# store) and stops it; they skip, saying so, when nats-server is missing
# and cannot be installed (scripts/install-deps --cluster).
test-cluster: $(CLUSTER_TEST_BIN) $(TOOL)
	@command -v nats-server >/dev/null 2>&1 || ./scripts/install-deps --cluster || \
		echo "test-cluster: nats-server not installable; the suites will skip"
	@BUILD=$(BUILD) TEST_TIMEOUT=120 ./tests/run $(CLUSTER_TEST_BIN)

# The operator page in a real browser (Debian's chromium, headless, driven
# over the DevTools protocol by tests/browser/operator.mjs on Node.js):
# scripts/test-browser installs chromium when it is missing (install-deps
# --browser) and saves a screenshot to $(BUILD)/test-browser/operator.png.
test-browser: $(TOOL) $(BUILD)/bin/agents.so
	@BUILD=$(BUILD) ./scripts/test-browser

demo: all $(BUILD)/bin/agents $(BUILD)/bin/agents.so
	$(BUILD)/bin/agents $(DEMO_ARGS)

# The demo's kinds as a plugin of the tool (mnemo replay --plugin).
$(BUILD)/bin/agents.so: examples/agents/agents.c include/mnemo.h | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -o $@ $<

# The support desk (examples/support-desk/, the second demo): built by the
# example rule; it runs the stand-in server program as a child. Its kinds
# alone, with libmnemo-llm, are a plugin of the tool.
$(BUILD)/bin/support-desk.so: examples/support-desk/kinds.c \
		examples/support-desk/desk.h include/mnemo.h include/mnemo_llm.h \
		$(LLM_PIC_LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -o $@ \
		examples/support-desk/kinds.c $(LLM_PIC_LIB) $(LLM_LDLIBS)

desk: all $(BUILD)/bin/support-desk $(BUILD)/bin/support-desk.so $(STANDIN_SERVER)
	$(BUILD)/bin/support-desk $(DESK_ARGS)

# Build output goes to stderr so that stdout carries only JSON lines. The
# calls benchmark runs the stand-in server as a program; the serve
# benchmark runs the tool with a plugin.
bench:
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(STANDIN_SERVER) \
		$(SERVE_PLUGIN) >&2
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

# The sources clang-format holds to .clang-format: `make format` rewrites
# them, `make format-check` fails on the first that is not formatted.
FORMAT_SRC := $(wildcard include/*.h base/*.[ch] core/*.[ch] storage/*.[ch] llm/*.[ch] cluster/*.[ch] \
	recovery/*.[ch] tests/*/*.[ch] bench/*.[ch] bench/support/*.[ch] \
	bench/peers/mnemo/*.[ch] fuzz/*.[ch] examples/*/*.[ch])

format: | $(DEPS_OK)
	clang-format -i $(FORMAT_SRC)

format-check: | $(DEPS_OK)
	clang-format --dry-run -Werror $(FORMAT_SRC)

# make install PREFIX=/usr/local DESTDIR=: the headers, the libraries
# (libmnemo and libmnemo-llm, static and shared, with the soname and
# development links), the tool, mnemo.pc, mnemo-llm.pc and mnemo.1.
# make uninstall removes exactly those files.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PCDIR      ?= $(LIBDIR)/pkgconfig
INSTALL    ?= install

INSTALLED := $(BINDIR)/mnemo $(INCLUDEDIR)/mnemo.h $(LIBDIR)/libmnemo.a \
	$(LIBDIR)/$(notdir $(SOLIB)) $(LIBDIR)/$(SONAME) $(LIBDIR)/libmnemo.so \
	$(PCDIR)/mnemo.pc $(MANDIR)/man1/mnemo.1 \
	$(INCLUDEDIR)/mnemo_llm.h $(LIBDIR)/libmnemo-llm.a \
	$(LIBDIR)/$(notdir $(LLM_SOLIB)) $(LIBDIR)/$(LLM_SONAME) \
	$(LIBDIR)/libmnemo-llm.so $(PCDIR)/mnemo-llm.pc

$(BUILD)/mnemo.pc: scripts/mnemo.pc.in include/mnemo.h Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(MN_VERSION)|g' \
		-e 's|@PKGS@|$(filter-out cmocka libmicrohttpd jansson libcurl,$(PKGS))|g' $< > $@
	@echo "$(PREFIX)" > $(BUILD)/mnemo.pc.prefix

$(BUILD)/mnemo-llm.pc: scripts/mnemo-llm.pc.in include/mnemo.h Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(MN_VERSION)|g' $< > $@

# Regenerated whenever the prefix differs from the last one written.
ifneq ($(shell cat $(BUILD)/mnemo.pc.prefix 2>/dev/null),$(PREFIX))
.PHONY: $(BUILD)/mnemo.pc $(BUILD)/mnemo-llm.pc
endif

install: all $(BUILD)/mnemo.pc $(BUILD)/mnemo-llm.pc
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/mnemo
	$(INSTALL) -m 644 include/mnemo.h $(DESTDIR)$(INCLUDEDIR)/mnemo.h
	$(INSTALL) -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libmnemo.a
	$(INSTALL) -m 755 $(SOLIB) $(DESTDIR)$(LIBDIR)/$(notdir $(SOLIB))
	ln -sf $(notdir $(SOLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmnemo.so
	$(INSTALL) -m 644 $(BUILD)/mnemo.pc $(DESTDIR)$(PCDIR)/mnemo.pc
	$(INSTALL) -m 644 docs/mnemo.1 $(DESTDIR)$(MANDIR)/man1/mnemo.1
	$(INSTALL) -m 644 include/mnemo_llm.h $(DESTDIR)$(INCLUDEDIR)/mnemo_llm.h
	$(INSTALL) -m 644 $(LLM_LIB) $(DESTDIR)$(LIBDIR)/libmnemo-llm.a
	$(INSTALL) -m 755 $(LLM_SOLIB) $(DESTDIR)$(LIBDIR)/$(notdir $(LLM_SOLIB))
	ln -sf $(notdir $(LLM_SOLIB)) $(DESTDIR)$(LIBDIR)/$(LLM_SONAME)
	ln -sf $(LLM_SONAME) $(DESTDIR)$(LIBDIR)/libmnemo-llm.so
	$(INSTALL) -m 644 $(BUILD)/mnemo-llm.pc $(DESTDIR)$(PCDIR)/mnemo-llm.pc

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

clean:
	rm -rf build

# Header dependencies of every object (written by -MMD).
-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(TOOLS_OBJ:.o=.d) \
	$(LLM_OBJ:.o=.d) $(LLM_PIC_OBJ:.o=.d) \
	$(BUILD)/recovery/mnemo_cli.d $(PAGE_OBJ:.o=.d) \
	$(TEST_BIN:=.d) $(TEST_SUPPORT_OBJ:.o=.d) $(BENCH_BIN:=.d) \
	$(BUILD)/tests/tools/standin_server.d \
	$(BENCH_SUPPORT_OBJ:.o=.d) $(EXAMPLE_SRC:%.c=$(BUILD)/%.d)
