.PHONY: install constraints test unit integration soak lint format run curves

install:            ## the package with the embedded model and every test tool
	python -m pip install -c constraints.txt -e '.[dev]'

constraints:        ## upgrade the pinned versions: newest allowed releases, the suite, new pins
	bash scripts/refresh_constraints.sh

test:               ## the full suite (unit + integration against the real model and servers)
	python -m pytest

unit:               ## fast tests on deterministic fakes only
	python -m pytest tests/unit

integration:        ## the real embedded model, a real llama.cpp server, langgraph dev
	python -m pytest tests/integration

soak:               ## 200 rounds of kill -9 at random moments during pool builds (~1.5 min)
	python -m pytest tests/soak --soak 200 -s

lint:
	ruff check . && ruff format --check .

format:
	ruff format . && ruff check --fix .

run:                ## one question on the embedded model
	langgraph-ttc run "What is 7 + 5?"

curves:             ## a small scaling curve on the embedded model
	langgraph-ttc curves --task rg:basic_arithmetic --size 20 --k-max 16 --out runs/curves

serve:              ## the OpenAI-compatible server (model name majority@8 etc.) on 127.0.0.1:8000
	langgraph-ttc serve
