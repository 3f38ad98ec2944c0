# The project's interface. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON_VERSION := $(shell cat .python-version)
BASE_PYTHON ?= $(shell pyenv which python 2>/dev/null || command -v python3.10)
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := models/assistant.tar.gz
CHROMIUM := /usr/bin/chromium
DEPLOY_TOOLS := /usr/bin/docker-compose /usr/sbin/haproxy
BROWSER_TOOLS := tests/browser
WIDGET := web/dist/practice-chat.js
WIDGET_SOURCES := web/build.mjs web/package-lock.json $(wildcard web/src/*)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TRAINING_INPUTS := config.yml domain.yml $(shell find data/nlu data/rules data/stories data/responses -name "*.yml")

export PYTHONPATH := $(CURDIR)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help setup train run shell test bench bench-load lint clean browser-deps review-password web deploy-deps cluster

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(VENV)/.installed build/spacy_en/config.cfg build/minilm build/mpnet/model.safetensors ## Python 3.10 venv (.python-version), pinned packages, offline language models

$(VENV)/.installed: requirements.lock
	@test -x "$(BASE_PYTHON)" || { echo "Python $(PYTHON_VERSION) not found (pyenv install $(PYTHON_VERSION))"; exit 1; }
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "pip==24.0"
	$(PY) -m pip install -q --no-deps -r requirements.lock
	touch $@

build/spacy_en/config.cfg build/minilm build/mpnet/model.safetensors: $(VENV)/.installed
	$(PY) -m assistant.build_models

train: setup $(MODEL) ## Train the model when data, domain or config changed

$(MODEL): $(TRAINING_INPUTS)
	$(RASA) train --domain domain.yml --data data --config config.yml --out models --fixed-model-name assistant
	@touch $@

run: train web ## Start the assistant (action server, Rasa with REST and socket.io), the review app and the chat widget demo page
	$(PY) -m assistant.launch

cluster: train deploy-deps ## Start the scale-out setup here: Rasa replicas and action servers behind HAProxy, on PostgreSQL, Redis and RabbitMQ (README)
	$(PY) -m assistant.cluster

shell: train ## Chat with the assistant in the terminal
	$(PY) -m assistant.launch --shell

test: train browser-deps deploy-deps web ## Validate the data, run the test stories and the pytest suite
	$(RASA) data validate --domain domain.yml --data data --config config.yml --fail-on-warnings
	eval "$$($(PY) -m assistant.service_environment)" && $(RASA) test core --stories tests/test_stories.yml --model $(MODEL) --endpoints endpoints.yml --fail-on-prediction-errors --out results/stories
	$(PY) -m pytest

bench: train ## Measure accuracy, crisis recall, training time and latency (bench/README.md)
	$(PY) -m bench.run

bench-load: train deploy-deps ## Load: 1, 10 and 50 visitors at once on one process, the cluster and rasa init's moodbot (bench/README.md, Load)
	$(PY) -m bench.load

lint: setup ## Check the Python code with ruff
	$(VENV)/bin/ruff check assistant actions review channels web tests bench rasa_sdk_plugins

review-password: setup ## Set the therapist's password for the review app (stores only an argon2 hash in var/)
	$(PY) -m review set-password

browser-deps: $(CHROMIUM) $(BROWSER_TOOLS)/node_modules/.package-lock.json ## Debian's Chromium and playwright-core for the browser tests (once)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

deploy-deps: $(DEPLOY_TOOLS) ## Debian's HAProxy (make cluster's load balancer) and docker-compose (checks deploy/) (once)

$(DEPLOY_TOOLS):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker-compose haproxy

$(BROWSER_TOOLS)/node_modules/.package-lock.json: $(BROWSER_TOOLS)/package.json $(BROWSER_TOOLS)/package-lock.json
	cd $(BROWSER_TOOLS) && npm ci --no-audit --no-fund
	@touch $@

web: $(WIDGET) ## Build the website chat widget into web/dist/ (npm packages once, then only when its sources change)

$(WIDGET): web/node_modules/.package-lock.json $(WIDGET_SOURCES)
	cd web && node build.mjs

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

clean: ## Remove trained models, results and build output (keeps the venv and var/)
	rm -rf models results build web/dist
