# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RASA := .venv/bin/rasa
PY := .venv/bin/python

.PHONY: help venv model train run test lint validate export-training bench token

help:
	@echo "make run              start Redis, the action server and Rasa with the handoff channel"
	@echo "make test             the whole test suite (what CI runs)"
	@echo "make train            train the model if the data changed"
	@echo "make export-training  write the agents' examples to data/nlu/agent_examples.yml"
	@echo "make token            print an agent token"
	@echo "make bench            measure the system; writes docs/benchmarks.md (about 40 minutes)"

venv:
	@scripts/bootstrap-venv.sh

model train: venv
	@scripts/ensure-model.sh >/dev/null

run: venv
	@scripts/run.sh

test: venv
	@scripts/test.sh

bench:
	@scripts/bootstrap-venv.sh
	@scripts/ensure-redis.sh >/dev/null
	@scripts/ensure-model.sh >/dev/null
	@$(PY) -m bench

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

validate: venv
	$(RASA) data validate --fail-on-warnings

export-training: venv
	$(PY) -m channels.handoff export-training --out data/nlu/agent_examples.yml

token: venv
	@$(PY) -m channels.handoff token --agent $${AGENT:-agent1} --role $${ROLE:-agent}
