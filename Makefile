# Switchboard. `make run` starts the whole system locally; `make test` runs
# every test with the race detector.
GO        ?= go
BIN       := bin
DB        ?= var/switchboard.db
# STORE=postgres://… keeps history in PostgreSQL instead of the SQLite file DB.
STORE     ?=
RELAY_STORE := $(if $(STORE),--store '$(STORE)',--db $(DB))
ADDR      ?= 127.0.0.1:8080
RELAY_URL := ws://$(ADDR)
GOFLAGS_TEST ?= -race -count=1 -timeout 20m
# make cluster: three relays on one NATS (started here with nats-server
# if none answers at CLUSTER_NATS) and one PostgreSQL schema.
CLUSTER_NATS  ?= nats://127.0.0.1:4222
CLUSTER_PG    ?= postgres://postgres@127.0.0.1:5432/test
CLUSTER_STORE := $(CLUSTER_PG)?search_path=switchboard_cluster
CLUSTER_ADDRS := 127.0.0.1:8081 127.0.0.1:8082 127.0.0.1:8083

.PHONY: all build web run cluster test fuzz cross bench bench-ab awareness lint fmt clean

all: build

build: web
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# Browser assets: xterm.js from npm (pinned by web/package-lock.json),
# copied into web/vendor, which is committed (commit it after a change).
# The relay embeds web/src and web/vendor as they are, so go build and
# go install need no Node; a test fails if web/vendor is stale.
web:
	@if ! command -v npm >/dev/null 2>&1; then echo "npm not found: the committed web/vendor is used as it is"; \
	 elif [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; fi

# Relay with its SQLite file, one local agent, then the dashboard. The relay
# and agent stop when the dashboard exits. On first start the relay writes
# an admin token to var/admin.token; the agent gets a token of its own,
# bound to it. Before the TUI takes the terminal, a one-time link that signs
# a browser in to the page is printed (? in the TUI makes another).
run: build
	@mkdir -p var
	@$(BIN)/relay --addr $(ADDR) $(RELAY_STORE) --log-level warn 2>>var/relay.log & echo $$! > var/relay.pid; \
	 trap 'kill $$(cat var/agent.pid) $$(cat var/relay.pid) 2>/dev/null' EXIT INT TERM; \
	 for i in $$(seq 100); do [ -s var/admin.token ] && curl -fsS http://$(ADDR)/healthz >/dev/null 2>&1 && break; sleep 0.1; done; \
	 [ -s var/agent.token ] || $(BIN)/relay token create $(RELAY_STORE) --role agent --name local-agent-$$(date +%s) --out var/agent.token; \
	 $(BIN)/agent --relay $(RELAY_URL) --token-file var/agent.token --name local --label env=dev --log-level warn 2>>var/agent.log & echo $$! > var/agent.pid; \
	 link=$$($(BIN)/relay signin-link $(RELAY_STORE) --url http://$(ADDR) 2>/dev/null); \
	 printf '\nSwitchboard runs at http://%s/\n  Sign a browser in with this link (it works once, for 10 minutes):\n    %s\n  or with the admin token in var/admin.token. In the TUI, ? shows a fresh link.\n\n' '$(ADDR)' "$$link"; \
	 sleep 2; SWITCHBOARD_RELAY=$(RELAY_URL) SWITCHBOARD_TOKEN_FILE=var/admin.token $(BIN)/tui

# Three relays, NATS, PostgreSQL, two agents and the TUI, on this machine
# (README, "Several relays"). Quitting the TUI stops what it started.
cluster: build
	@mkdir -p var/cluster
	@psql -q '$(CLUSTER_PG)' -c 'CREATE SCHEMA IF NOT EXISTS switchboard_cluster' >/dev/null
	@pids=""; trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	 hostport=$$(echo '$(CLUSTER_NATS)' | sed 's|^nats://||'); \
	 if ! (exec 3<>/dev/tcp/$${hostport%:*}/$${hostport##*:}) 2>/dev/null; then \
	   command -v nats-server >/dev/null || { echo "no NATS at $(CLUSTER_NATS) and no nats-server to start"; exit 1; }; \
	   nats-server -js -a $${hostport%:*} -p $${hostport##*:} -sd var/cluster/nats 2>>var/cluster/nats.log & pids="$$pids $$!"; sleep 1; \
	 fi; \
	 for t in admin:admin agent:agent-a agent:agent-b; do \
	   [ -s var/cluster/$${t#*:}.token ] || $(BIN)/relay token create --store '$(CLUSTER_STORE)' --role $${t%%:*} \
	     --name cluster-$${t#*:}-$$(date +%s) --out var/cluster/$${t#*:}.token || exit 1; \
	 done; \
	 n=0; urls=""; for addr in $(CLUSTER_ADDRS); do n=$$((n+1)); urls="$$urls,ws://$$addr"; \
	   $(BIN)/relay --addr $$addr --store '$(CLUSTER_STORE)' --cluster $(CLUSTER_NATS) --relay-id r$$n \
	     --cluster-prefix switchboard_demo --log-level warn 2>>var/cluster/relay-r$$n.log & pids="$$pids $$!"; \
	 done; urls=$${urls#,}; \
	 for addr in $(CLUSTER_ADDRS); do for i in $$(seq 100); do curl -fsS http://$$addr/healthz >/dev/null 2>&1 && break; sleep 0.1; done; done; \
	 $(BIN)/agent --relay $$urls --token-file var/cluster/agent-a.token --name cluster-a --state-dir var/cluster/agent-a \
	   --log-level warn 2>>var/cluster/agent-a.log & pids="$$pids $$!"; \
	 $(BIN)/agent --relay $$(echo $$urls | cut -d, -f2),$$(echo $$urls | cut -d, -f3),$$(echo $$urls | cut -d, -f1) \
	   --token-file var/cluster/agent-b.token --name cluster-b --state-dir var/cluster/agent-b \
	   --log-level warn 2>>var/cluster/agent-b.log & pids="$$pids $$!"; \
	 printf '\nThree relays: %s (logs in var/cluster). Agent cluster-a is on the first, cluster-b on the second;\nthe TUI is on the third. Browsers: the admin token is in var/cluster/admin.token.\n\n' '$(CLUSTER_ADDRS)'; \
	 sleep 2; SWITCHBOARD_RELAY=ws://$(lastword $(CLUSTER_ADDRS)) SWITCHBOARD_TOKEN_FILE=var/cluster/admin.token $(BIN)/tui

test: web
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test $(GOFLAGS_TEST) ./...
	$(MAKE) --no-print-directory fuzz cross

# The programs build for other systems too: relay, TUI and agent for macOS
# and FreeBSD; relay and TUI for Windows (the agent needs Unix PTYs).
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/...
	GOOS=freebsd GOARCH=amd64 $(GO) build -o /dev/null ./cmd/...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/relay ./cmd/tui

# A short fuzz of message decoding and of the relay's dashboard endpoint;
# the seed corpora also run in every plain `go test`. Counted in inputs,
# not seconds: Go 1.26's fuzz coordinator can fail a run with "context
# deadline exceeded" when a -fuzztime duration ends mid-input
# (go.dev/issue/75804, fixed in Go 1.27); a count sets no deadline.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 300000x ./internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzDashboardMessages$$' -fuzztime 10000x ./internal/relay

# The fault suite alone (make test runs it too): real relay and agent
# processes killed, cut off, flooded and starved of disk. Needs root, for
# the storage scenario's loop-device mounts. Results: docs/reliability.md.
chaos:
	$(GO) test $(GOFLAGS_TEST) -v ./internal/chaos/

# Every load scenario (S1-S6) against the real relay, S1-S3 again over
# TLS, then the Go benchmarks; results, command line and machine go to
# docs/benchmarks.md.
bench: build
	@mkdir -p var
	$(GO) test -p 1 -run '^$$' -bench . -benchmem ./... > var/gobench.txt || { cat var/gobench.txt; exit 1; }
	$(BIN)/swbench --tls --out docs/benchmarks.md --gobench var/gobench.txt

# A/B: the relay before the transport/hub/session layering (AB_OLD, built
# from a temporary git worktree, never committed) against this tree's
# bin/relay: S1, S2 and S3 over ws:// and wss://, on one then the other,
# the order swapped each round; prints each relay's medians and whether
# the new relay's meet the targets. AB_FLAGS adds swbench flags (--only S3).
AB_OLD    ?= 6213ca2
AB_ROUNDS ?= 3
bench-ab: build
	@mkdir -p var
	@src=$$(mktemp -d) && git worktree add --detach $$src/relay $(AB_OLD) >/dev/null && \
	 (cd $$src/relay && $(GO) build -o $(CURDIR)/var/relay-old ./cmd/relay); st=$$?; \
	 git worktree remove --force $$src/relay; rm -rf $$src; exit $$st
	$(BIN)/swbench --tls --ab-old var/relay-old --ab-new $(BIN)/relay --ab-rounds $(AB_ROUNDS) $(AB_FLAGS)

# The awareness scenarios ten times, without -race; the measured table
# goes into docs/awareness.md.
awareness: web
	SWITCHBOARD_AWARENESS_RUNS=10 SWITCHBOARD_AWARENESS_DOC=$(CURDIR)/docs/awareness.md \
		$(GO) test -count=1 -timeout 30m -run '^TestAwarenessScenarios$$' -v ./internal/e2e/

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) var
