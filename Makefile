# imcheck: PGXS build of the extension.
#   make && make install          build and install
#   make installcheck             pg_regress suite (needs a running cluster
#                                 configured for imsim; test/run does that)

MODULE_big = imcheck
OBJS = src/imcheck.o src/input.o src/settings.o src/credentials.o src/endpoints.o \
       src/engine.o src/multi.o src/call.o src/outcome.o src/apis.o src/ratelimit.o \
       src/stats.o src/table_check.o src/table_target.o \
       src/usersig.o src/protocol.o src/protocol_import.o src/protocol_online.o src/jsonscan.o
EXTENSION = imcheck
DATA = sql/imcheck--1.0.sql sql/imcheck--1.0--1.1.sql sql/imcheck--1.1--1.2.sql sql/imcheck--1.2--1.3.sql sql/imcheck--1.3--1.4.sql
PGFILEDESC = "imcheck - Tencent Cloud Chat account_check, multiaccount_import and query_online_status from SQL"

REGRESS = setup basic errors cancel tls privileges operations apis table
REGRESS_OPTS = --inputdir=. --outputdir=$(or $(IMCHECK_RESULTS_DIR),.)

PKG_DEPS = libcurl json-c openssl zlib
# Only the module's entry points leave imcheck.so (_PG_init, the magic
# block, the SQL-callable functions and their pg_finfo_ records: the ones
# PostgreSQL marks PGDLLEXPORT), not its internal names, which would share
# the backend's namespace.  16 and later compile modules so themselves; 15
# leaves PGDLLEXPORT empty on Linux, so it is given here (c.h keeps it).
PG_CPPFLAGS = -I$(srcdir)/src $(shell pkg-config --cflags $(PKG_DEPS)) -Wall -Wextra \
              -fvisibility=hidden '-DPGDLLEXPORT=__attribute__((visibility("default")))' \
              -fno-semantic-interposition \
              -Wno-unused-parameter -Wno-missing-field-initializers \
              -Wno-sign-compare
SHLIB_LINK = $(shell pkg-config --libs $(PKG_DEPS))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A VPATH build (pg_buildext builds in build-<major>/, debian/) puts the
# objects under src/ of the build directory.
ifdef VPATH
$(shell mkdir -p src)
endif

# PGXS tracks no header dependencies (Debian's PostgreSQL is built without
# --enable-depend): rebuild every object when any of our headers changes.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
