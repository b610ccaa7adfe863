# medfix: `make run` starts the whole product on embedded defaults; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint venv assets system browser services messages clean

# The virtualenv is rebuilt whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[edge,cloud,dev]'
	touch $@

venv: $(VENV)/.installed

# Front-end packages come from the npm registry into node_modules/ (ignored by git).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.installed

# Debian's chromium drives the browser tests (Playwright never downloads a browser of its own);
# the CJK fonts make zh-CN pages readable in its screenshots.
BROWSER_DEBS := chromium fonts-noto-cjk
# ffmpeg converts WeChat voice notes (AMR, which browsers do not play) to MP3; see cloud/wechat/media.py.
MEDIA_DEBS := ffmpeg
# Tesseract reads nameplate photos (Chinese and English) to find the device on the backup-report page.
OCR_DEBS := tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng
# The service and monthly report PDFs embed a Chinese TrueType face (cloud/reports/pdf.py); the tests render
# them to PNG with poppler's pdftoppm to look at them.
REPORT_DEBS := fonts-wqy-microhei
PDF_TEST_DEBS := poppler-utils
# The production-like stack test (tests/deploy) puts Debian's nginx in front of the API workers, as
# deploy/cloud/nginx does, and makes its throw-away TLS certificates with openssl.
DEPLOY_TEST_DEBS := nginx openssl
# Debian packages are installed only when missing, and only as root (elsewhere the tests that need them skip).
define install_debs
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing: $$missing (sudo apt-get install $$missing) - what needs them is off or skipped"; \
	  fi; \
	fi
endef

# What the running product needs: voice conversion, nameplate OCR and the reports' font.
system:
	$(call install_debs,$(MEDIA_DEBS) $(OCR_DEBS) $(REPORT_DEBS))

browser:
	$(call install_debs,$(BROWSER_DEBS) $(MEDIA_DEBS) $(OCR_DEBS) $(REPORT_DEBS) $(PDF_TEST_DEBS) $(DEPLOY_TEST_DEBS))

# PostgreSQL, Redis and Mosquitto for the integration tests; started only when they are down.
services:
	@bash scripts/services.sh

run: venv assets system
	$(BIN)/medfix demo run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

# Two processes by default: the browser, subprocess and database tests wait as much as they compute, so two share
# two cores well. Each process takes whole files (--dist loadfile): module fixtures such as a seeded demo server
# are built once. Tests of different files may run at once: each uses databases, ports, MQTT topic roots and Redis
# keys of its own.
TEST_WORKERS ?= 2

# --durations: the slowest tests are named at the end of every run, so the suite's time can be kept in check.
test: venv assets browser services lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=30

# New UI texts from the templates, scripts and code into the gettext catalogs (cloud/locale; docs/i18n.md).
messages: venv
	$(BIN)/python -m cloud.i18n_catalogs

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache test-artifacts
