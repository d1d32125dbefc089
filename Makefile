# Sluice: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
NPM ?= npm
NODE ?= node
# Debian packages the test suite talks to (real peers, not mocks).
DEB_PACKAGES := postfix swaks redis-server postfwd miltertest logrotate m4 curl php-cli bsd-mailx python3 systemd
# The operator console's tests drive Debian's chromium through playwright-core (which never downloads one).
DEB_PACKAGES += chromium
DEB_BINARIES := /usr/sbin/postfix /usr/bin/swaks /usr/bin/redis-server /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfwd1 /usr/bin/miltertest /usr/sbin/logrotate /usr/bin/m4 /usr/bin/curl /usr/bin/php /usr/bin/bsd-mailx /usr/bin/python3 /usr/bin/systemd-analyze
DEB_BINARIES += /usr/bin/chromium

.PHONY: run build deps system-deps lint typecheck test test-only test-soak bench clean example

# `make run` compiles src only (tests and benchmarks are their own TypeScript projects), and only
# when a source changed since the last compile: the stamp is newer than every file under src/.
SRC_INPUTS := $(shell find src -name '*.ts') src/tsconfig.json tsconfig.base.json
SRC_STAMP := dist/src/.compiled

# The operator console's page (dist/console) is bundled again only when its sources changed.
WEB_INPUTS := $(shell find web -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name 'tsconfig.json') src/http/console/shapes.ts
CONSOLE_STAMP := dist/console/index.html

run: $(SRC_STAMP) $(CONSOLE_STAMP)
	$(NODE) bin/sluice.js serve $(ARGS)

$(CONSOLE_STAMP): $(WEB_INPUTS) node_modules/.installed
	$(NODE) node_modules/typescript/bin/tsc -b web
	$(NODE) node_modules/typescript/bin/tsc -p web/console/tsconfig.json
	$(NODE) dist/web/build.js

$(SRC_STAMP): $(SRC_INPUTS) node_modules/.installed
	$(NODE) node_modules/typescript/bin/tsc -b src
	@touch $@

deps: node_modules/.installed

# `npm install` rather than `npm ci`: npm 11 leaves optional platform packages (Biome's binaries)
# out of the lock file and then refuses `npm ci`; `install` still honours the locked versions.
node_modules/.installed: package.json package-lock.json
	$(NPM) install --no-audit --no-fund
	@touch $@

# Everything: src, then test and bench (tsc -b: incremental, each project rebuilt only if it changed).
build: deps
	$(NPM) run --silent build
	@touch $(SRC_STAMP)

# Type-checking is part of every build (tsc -b cannot check without emitting in a composite project).
typecheck: build

lint: deps
	npx biome check .

# Installs the real peers when running as root (CI, fresh machines); otherwise says what is missing.
system-deps:
	@missing=""; for b in $(DEB_BINARIES); do [ -x $$b ] || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for:$$missing"; \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; \
	  else \
	    echo "missing:$$missing (run as root or install: $(DEB_PACKAGES))" >&2; exit 1; \
	  fi; \
	fi
	@# Sendmail conflicts with postfix as a package: its .debs are unpacked into .cache/sendmail.
	@sh test/harness/fetch-sendmail.sh $(CURDIR)/.cache/sendmail

test: system-deps build lint
	$(MAKE) --no-print-directory test-only

test-only:
	$(NPM) test

# The 100,000-message queue soak (not part of `make test`, which runs it with 2,000): prints the figures.
SOAK_MESSAGES ?= 100000
test-soak: system-deps build
	SLUICE_SOAK_MESSAGES=$(SOAK_MESSAGES) $(NODE) --test --test-timeout=7200000 dist/test/e2e/queue-soak.test.js

# Each benchmark runs Sluice and its reference side by side in one run and prints a markdown table.
# One line per benchmark, so adding one never conflicts with another.
BENCHES := bench-relay
BENCHES += bench-policy
BENCHES += bench-auth
BENCHES += bench-milter
BENCHES += bench-http
BENCHES += bench-tracking
BENCHES += bench-submission
BENCHES += bench-cli

.PHONY: $(BENCHES)
bench: $(BENCHES)

bench-relay: system-deps build
	bench/relay

bench-policy: system-deps build
	bench/policy

bench-auth: build
	bench/auth

bench-milter: system-deps build
	bench/milter

bench-http: system-deps build
	bench/http $(ARGS)

bench-tracking: build
	bench/tracking

bench-submission: system-deps build
	bench/submission $(ARGS)

bench-cli: build
	bench/cli $(ARGS)

example: build
	$(NPM) run --silent example

clean:
	rm -rf dist node_modules/.installed
