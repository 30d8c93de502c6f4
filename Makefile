# `make run` and `make test` are the two commands of the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
RUN_HOME  ?= .mlfabric-run
PORT      ?= 8765

.PHONY: run test lint docs bench system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The install compiles the one C extension (setup.py), so the system packages come first.
$(STAMP): pyproject.toml setup.py src/mlfabric/storage/_fastfs.c | $(BIN)/python system-packages
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests need: gcc (builds the C loop of link clones; without it the
# install falls back to the Python loop and the test that checks the build fails),
# btrfs-progs (the btrfs driver's loop-mounted tests), postgresql (a private server the
# catalog tests start themselves), chromium (the dashboard's end-to-end tests drive it
# headless through Playwright), bubblewrap (members' jobs run confined in it), flite (the
# call-center corpus and the assistant's spoken replies), ffmpeg (the call-center app's
# MP3s), and rclone + fuse3 (edgebench's loopback network file system: SFTP served and
# FUSE-mounted).
system-packages:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v mkfs.btrfs >/dev/null 2>&1 || missing="$$missing btrfs-progs"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v flite >/dev/null 2>&1 || missing="$$missing flite"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v rclone >/dev/null 2>&1 || missing="$$missing rclone"; \
	command -v fusermount3 >/dev/null 2>&1 || missing="$$missing fuse3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing$$missing (needs root to install); those tests will fail"; fi; \
	fi

$(RUN_STAMP): pyproject.toml setup.py src/mlfabric/storage/_fastfs.c | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,workspaces]'
	touch $(RUN_STAMP)

# The platform on the embedded default: API + dashboard on 127.0.0.1 with a seeded demo
# (state in $(RUN_HOME), kept between runs); prints the dashboard URL, with the admin token
# on the first start only; `make run PORT=9000` serves on another port. No --admin-token:
# a token per start would pile up valid ones; `$(BIN)/mlfabric --home $(RUN_HOME) token
# create --admin` prints a new one any time. The README's tour works on the same home.
run: $(RUN_STAMP)
	$(BIN)/mlfabric --home $(RUN_HOME) --quiet init
	$(BIN)/mlfabric --home $(RUN_HOME) server start --demo --port $(PORT)

# ruff, then the import contracts of pyproject.toml ([tool.importlinter]): layers, no cycle,
# front ends and apps on the public API only.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools examples
	PYTHONPATH=tools/importlint $(BIN)/lint-imports --no-logo --no-cache

test: $(STAMP) system-packages lint
	$(BIN)/python -m pytest

# The documentation site (mkdocs.yml, docs/) into site/, offline and strict.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP)
	@command -v rclone >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null)
	@test -x bench/.work/dvc-venv/bin/dvc || (mkdir -p bench/.work && $(PYTHON) -m venv bench/.work/dvc-venv && bench/.work/dvc-venv/bin/pip install --quiet dvc==3.67.1)
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/transfer.py
	$(BIN)/python bench/volumes.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/rag.py
	$(BIN)/python bench/ray.py
	$(BIN)/python bench/privacy.py
	$(BIN)/python bench/assistant.py
	$(BIN)/python bench/callcenter.py
	$(BIN)/python bench/ctr.py
	$(BIN)/python bench/lanes.py
	$(BIN)/python bench/edgebench.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info test-artifacts site $(RUN_HOME)
