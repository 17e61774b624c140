# The two entry points of the README: `make demo` (the main job, embedded) and `make test`.
.PHONY: demo test setup services lint docs

demo:
	scripts/bootstrap.sh local-llm
	.venv/bin/reflectseq run examples/instructions.jsonl --out data/demo/reflection.jsonl --max-rounds 2

test: setup services
	scripts/test.sh $(PYTEST_ARGS)

setup:
	scripts/bootstrap.sh dev,train,local-llm

services:
	scripts/services.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

docs:
	.venv/bin/python scripts/generate_docs.py
