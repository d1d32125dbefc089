# Sluice: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
NPM ?= npm
NODE ?= node
# Debian packages the test suite talks to (real peers, not mocks).
DEB_PACKAGES := postfix swaks redis-server postfwd miltertest logrotate m4 php-cli bsd-mailx python3 systemd
DEB_BINARIES := /usr/sbin/postfix /usr/bin/swaks /usr/bin/redis-server /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfwd1 /usr/bin/miltertest /usr/sbin/logrotate /usr/bin/m4 /usr/bin/php /usr/bin/bsd-mailx /usr/bin/python3 /usr/bin/systemd-analyze

.PHONY: run build deps system-deps lint typecheck test test-only test-soak bench clean example

run: build
	$(NODE) bin/sluice.js serve $(ARGS)

deps: node_modules/.installed

# `npm install` rather than `npm ci`: npm 11 leaves optional platform packages (Biome's binaries)
# out of the lock file and then refuses `npm ci`; `install` still honours the locked versions.
node_modules/.installed: package.json package-lock.json
	$(NPM) install --no-audit --no-fund
	@touch $@

build: deps
	$(NPM) run --silent build

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

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

example: build
	$(NPM) run --silent example

clean:
	rm -rf dist node_modules/.installed
