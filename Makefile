# Shortcuts; each goes through tools/dev.py, which needs only Python 3.11.
.PHONY: run test lint bench
run:
	python3 tools/dev.py up
test:
	python3 tools/dev.py test
lint:
	python3 tools/dev.py lint
bench:
	python3 tools/dev.py bench
