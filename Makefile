# auditctl: `make demo` runs the main job on sample_logs/, `make test` runs the checks (all but the
# slow end-to-end tests, in two processes); `make test-slow` runs those, and CI runs both.
# Both create the virtual environment and install the project on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO := .demo
AUDITCTL := AUDITCTL_CONFIG=$(DEMO)/config.yaml COLUMNS=200 $(BIN)/auditctl --db $(DEMO)/audit.duckdb

.PHONY: demo test test-slow lint docs bench bench-quick bench-large bench-sigma clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	printf 'signing_key: $(DEMO)/signing.key\nkey_name: auditctl-demo\naccess: {roles: {admin: {users: [%s]}, viewer: {groups: [%s]}}}\n' "$$(id -un)" "$$(id -gn)" > $(DEMO)/config.yaml
	$(AUDITCTL) ingest sample_logs
	@echo "--- a second ingest adds nothing (the registry remembers each file):"
	$(AUDITCTL) ingest sample_logs
	$(AUDITCTL) search --category user_management --category permission_change --format table
	$(AUDITCTL) search --category authentication --outcome failure --limit 15 --format table
	$(AUDITCTL) search --ip 185.220.101.0/24 --format table --limit 5
	$(AUDITCTL) stats --by category --format table
	$(AUDITCTL) stats --by parser --by outcome --format table
	@echo "--- anomaly checks over everything ingested (exit 3 would mean a finding at or above --fail-on):"
	$(AUDITCTL) check --until 2026-12-01 --format table
	$(AUDITCTL) findings --severity critical --format table
	@echo "--- the shipped SigmaHQ rules over the same events (Sigma findings name the rule's author):"
	$(AUDITCTL) check --no-builtin --sigma bundled --since 2000-01-01 --until 2026-12-01 --format table --limit 8
	$(AUDITCTL) rules validate src/auditctl/detect/sigma/pack | tail -3
	$(AUDITCTL) search --finding 1 --format table
	@echo "--- the review report over all sample data (Markdown here; HTML in $(DEMO)/review.html):"
	$(AUDITCTL) report --since 2024-01-01 --until 2026-12-01 --format md | head -40
	$(AUDITCTL) report --since 2024-01-01 --until 2026-12-01 --format html --output $(DEMO)/review.html
	@echo "--- integrity: verify, export the latest signed checkpoint, prove append-only, re-hash the sources:"
	$(AUDITCTL) verify --format table
	$(AUDITCTL) checkpoint --output $(DEMO)/latest.note
	$(AUDITCTL) verify --checkpoint $(DEMO)/latest.note --format table
	$(AUDITCTL) verify --sources --format table
	@echo "--- access levels: you are admin; a viewer sees tokens for authentication details; the self-audit trail:"
	$(AUDITCTL) access whoami --format table
	$(AUDITCTL) --role viewer search --category authentication --outcome failure --limit 5 --format table
	$(AUDITCTL) --role viewer verify || echo "(exit $$? above: verify needs the auditor role)"
	$(AUDITCTL) checkpoint > /dev/null
	$(AUDITCTL) search --parser auditctl --format table
	$(AUDITCTL) access check --format table

lint: $(STAMP)
	$(BIN)/ruff check src parsers tests bench
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --quiet

# Rewrite the generated pages (CLI reference, schema tables, rule pack, parser pages).
docs: $(STAMP)
	$(BIN)/python -m auditctl.docs

test: lint
	$(BIN)/pytest -n 2 -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -n 2 -m slow

# Sigma: SigmaHQ's rules/ tree is timed when SIGMAHQ_RULES names a checkout's rules/ folder.
bench: $(STAMP)
	$(BIN)/python bench/run.py --lines 1000000
	$(BIN)/python bench/sigma.py --events 1000000
	$(BIN)/python bench/intake.py --messages 200000

bench-large: $(STAMP)
	$(BIN)/python bench/large.py --lines 10000000
	$(BIN)/python bench/sigma.py --events 10000000

# the Sigma figures alone at 1M events, with the runner's old path (one query per rule) beside
bench-sigma: $(STAMP)
	$(BIN)/python bench/sigma.py --events 1000000 --per-rule

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --lines 100000
	$(BIN)/python bench/intake.py --messages 50000 --repeat 1 --end-to-end 20000

clean:
	rm -rf $(VENV) $(DEMO) site bench/out .pytest_cache .ruff_cache .mypy_cache
