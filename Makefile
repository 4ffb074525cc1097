# Entry points for developers and CI. `make test` is the README's test command:
# it creates the environments from nothing when needed, lints and runs the tests:
# all of them on ROS 2 Kilted (.venv), the ROS tests again on Jazzy (.venv-jazzy).
VENV ?= .venv
PY := $(VENV)/bin/python
JAZZY_VENV ?= .venv-jazzy
LINT_PATHS := yolox_ros test benchmarks launch scripts setup.py
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: env env-jazzy lint test test-kilted test-jazzy test-slow demo colcon bench clean

env:
	@bash scripts/setup_env.sh $(VENV) kilted

env-jazzy:
	@bash scripts/setup_env.sh $(JAZZY_VENV) jazzy

lint: env
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

test: lint test-kilted test-jazzy

test-kilted: env
	$(PY) -m pytest

# The ROS-free tests do not depend on the distribution: once (above) is enough.
test-jazzy: env-jazzy
	$(JAZZY_VENV)/bin/python -m pytest test/ros

# Training runs and other long checks (marked `slow`).
test-slow: env
	$(PY) -m pytest -m slow

demo: env
	@bash scripts/demo.sh

# Builds the package the way a ROS 2 workspace does, into build/ and install/.
colcon: env
	AMENT_PREFIX_PATH=$(abspath $(VENV)) $(VENV)/bin/colcon build --base-paths . --symlink-install

bench: env
	$(PY) -m benchmarks.detector_benchmark
	$(PY) benchmarks/node_benchmark.py

clean:
	rm -rf build install log .pytest_cache .ruff_cache out
