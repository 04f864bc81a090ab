# Two entry points (see README): `make serve` and `make test`. Both install what they need first.
.PHONY: serve test install install-test lint bench

serve: install
	.venv/bin/mediaserver serve --pull-missing

test: install-test
	scripts/test.sh

install:
	scripts/install.sh

install-test:
	scripts/install.sh --test

lint: install-test
	.venv/bin/ruff check mediaserver tests benchmarks && .venv/bin/mypy --strict mediaserver

bench: install-test
	.venv/bin/python benchmarks/media_pipeline.py
