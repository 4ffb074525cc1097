# Entry points for developers and CI. `make test` is the README's test command:
# it creates the environments from nothing when needed, lints and runs the tests:
# all of them on ROS 2 Kilted (.venv), the ROS tests again on Jazzy (.venv-jazzy),
# the ROS-free tests of what the node runs on Humble-era versions (.venv-humble).
VENV ?= .venv
PY := $(VENV)/bin/python
JAZZY_VENV ?= .venv-jazzy
HUMBLE_VENV ?= .venv-humble
LINT_PATHS := yolox_ros test benchmarks launch scripts setup.py
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: env env-jazzy env-humble lint test test-kilted test-jazzy test-humble test-slow demo colcon \
	bench clean

env:
	@bash scripts/setup_env.sh $(VENV) kilted

env-jazzy:
	@bash scripts/setup_env.sh $(JAZZY_VENV) jazzy

env-humble:
	@bash scripts/setup_env.sh $(HUMBLE_VENV) humble

lint: env
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

test: lint test-kilted test-jazzy test-humble

test-kilted: env
	$(PY) -m pytest

# The ROS-free tests do not depend on the distribution: once (above) is enough.
test-jazzy: env-jazzy
	$(JAZZY_VENV)/bin/python -m pytest test/ros

# Humble has no wheels: Python 3.10 with the oldest numpy/OpenCV/onnxruntime the package
# supports (requirements-humble.txt), no ROS, no torch. What the node runs (core, models,
# datasets, command lines) is tested there; the model and training need torch.
test-humble: env-humble
	$(HUMBLE_VENV)/bin/python -m pytest test --ignore=test/ros --ignore=test/model \
		--ignore=test/training

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
