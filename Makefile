# Two commands: `make run` and `make test`. Everything else is a helper they call.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test venv test-deps lint bench native-smoke css clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(TEST_STAMP): requirements-test.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py $(ARGS)

test-deps: $(TEST_STAMP)
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "installing Debian chromium + chromium-driver for browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will be skipped"; }

test: test-deps
	$(BIN)/ruff check --output-format concise .
	$(BIN)/mypy services backend app components main.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check --output-format concise .

bench: $(TEST_STAMP)
	$(BIN)/python bench/run_all.py

native-smoke: $(STAMP)
	$(BIN)/pip install -q -r requirements-native.txt
	$(BIN)/python scripts/native_smoke.py

# app/static/tailwind.css is committed; regenerate it after changing Tailwind classes (needs npm, not for CI)
CSS_BUILD := .css-build
css:
	mkdir -p $(CSS_BUILD)
	npm install --no-save --silent --prefix $(CSS_BUILD) @tailwindcss/cli@4.1.13 tailwindcss@4.1.13
	sed "s#../../#$(CURDIR)/#g" app/static/tailwind.input.css > $(CSS_BUILD)/input.css
	$(CSS_BUILD)/node_modules/.bin/tailwindcss -i $(CSS_BUILD)/input.css -o app/static/tailwind.css --minify

clean:
	rm -rf $(VENV) .pytest_cache screenshots
