# amazon-ecs-agent (C) - build, test and release.
# Targets keep the seed's names: build (the seed's gobuild), static, test,
# test-in-docker, release (the default: the container image), clean.
# O=<dir> builds somewhere other than out/ (parallel builds); SAN=1 builds
# with AddressSanitizer + UndefinedBehaviorSanitizer.

O ?= out
Q ?= @
CC ?= gcc
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GITREV := $(shell git rev-parse --short=7 HEAD 2>/dev/null || echo UNKNOWN)
GITDIRTY := $(shell test -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo 1 || echo 0)
PKGS := libuv libcurl jansson libwebsockets openssl dbus-1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
	-DAGENT_VERSION='"$(VERSION)"' -DAGENT_GITREV='"$(GITREV)"' -DAGENT_GITDIRTY=$(GITDIRTY)
LDLIBS += $(PKG_LIBS) -lm

ifeq ($(FUZZ),1)
CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -Wno-unused-command-line-argument
endif

ifeq ($(SAN),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRCS := $(sort $(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
HELPER_SRCS := $(sort $(wildcard tests/unit/helpers/*.c))
INTEG_SRCS := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(O)/itests/%)
BENCH_BINS := $(O)/bench/engine_launch
IMAGE ?= amazon/amazon-ecs-agent:make
# The names users meet: upstream's Makefile tags the first, upstream's README
# promises the second for `make release`.
RELEASE_IMAGES ?= $(IMAGE) amazon/ecs-container-agent:make

.PHONY: demo all release deb build static test unit-tests integration-tests test-in-docker deps clean fuzz bench bench-bins

# The released image carries the static binary (packaging/STATIC.md), built
# in $(O)/release so that $(O)/amazon-ecs-agent stays the dynamic
# development build.
release:
	scripts/build-static.sh $(O)/release
	scripts/build-image.sh $(O)/release/amazon-ecs-agent-static $(RELEASE_IMAGES)

# The Debian package of the static agent (packaging/deb/build.sh).
deb:
	scripts/build-static.sh $(O)/release
	packaging/deb/build.sh $(O)/release/amazon-ecs-agent-static $(O)/deb

build: $(O)/amazon-ecs-agent

all: build $(UNIT_BINS) $(INTEG_BINS)

$(O)/obj/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(O)/libagent.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/amazon-ecs-agent: $(O)/obj/src/main.o $(O)/libagent.a
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: tests/unit/%.c $(HELPER_SRCS) $(O)/libagent.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(HELPER_SRCS) $(O)/libagent.a $(LDLIBS) -lcmocka

$(O)/itests/%: tests/integration/%.c $(HELPER_SRCS) $(O)/libagent.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itests/integration $(LDFLAGS) -o $@ $< $(HELPER_SRCS) $(O)/libagent.a $(LDLIBS) -lcmocka

# Benchmarks built on the library (bench/README.md); never run by `make test`.
bench-bins: $(BENCH_BINS)

$(O)/bench/engine_launch: bench/engine_launch.c $(HELPER_SRCS) $(O)/libagent.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itests/integration $(LDFLAGS) -o $@ $< $(HELPER_SRCS) $(O)/libagent.a $(LDLIBS) -lcmocka

static:
	scripts/build-static.sh $(O)

unit-tests: $(UNIT_BINS)
	scripts/run-unit.sh $(O) $(UNIT_BINS)

integration-tests: $(INTEG_BINS) build
	scripts/run-unit.sh $(O) $(INTEG_BINS)

# The one command that runs every tier (unit, sanitizer, integration, e2e).
test:
	scripts/test-all.sh

test-in-docker:
	scripts/test-in-docker.sh

deps:
	scripts/install-deps.sh

fuzz:
	scripts/fuzz.sh

bench:
	bench/run.sh

clean:
	rm -rf out

# The main job: agent + local control plane + a real task (README).
demo:
	scripts/demo.sh
