#!/usr/bin/env bash
# The demo (`make demo`): the detection node on the shipped traffic-sign model,
# the bundled drive sequence replayed as a camera, and a listener that prints
# each frame's detections and latency and saves the annotated frames.
# Runs for the length of the sequence, then stops everything.
#
# usage: scripts/demo.sh            environment variables: OUT (default out/demo),
#        RATE (images per second, default 5.0), MODEL (default: the shipped model),
#        SEQUENCE (image directory, default data/demo_sequence)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup_env.sh
PY=.venv/bin/python
OUT=${OUT:-out/demo}
RATE=${RATE:-5.0}
SEQUENCE=${SEQUENCE:-data/demo_sequence}
MODEL=${MODEL:-}

# Stay on this machine, in a domain of our own unless the caller chose one.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( $$ % 100 + 1 ))}
export PYTHONUNBUFFERED=1
# Large images need a bigger shared-memory segment; a profiles file already chosen wins.
# Fast DDS 3 (Kilted on) reads FASTDDS_DEFAULT_PROFILES_FILE; Fast DDS 2.x (Humble, Jazzy)
# reads FASTRTPS_DEFAULT_PROFILES_FILE, which Fast DDS 3 warns about at every start: it is
# set only when the environment's Fast DDS is 2.x.
PROFILES=${FASTDDS_DEFAULT_PROFILES_FILE:-${FASTRTPS_DEFAULT_PROFILES_FILE:-$ROOT/config/fastdds_large_images.xml}}
export FASTDDS_DEFAULT_PROFILES_FILE=$PROFILES
FASTDDS_MAJOR=$("$PY" -c 'import importlib.metadata as m; print(m.version("ros-fastdds").split(".")[0])' 2>/dev/null || echo 2)
if [ "$FASTDDS_MAJOR" -lt 3 ]; then export FASTRTPS_DEFAULT_PROFILES_FILE=$PROFILES; fi

FRAMES=$(find "$SEQUENCE" -maxdepth 1 -iregex '.*\.\(jpg\|jpeg\|png\|bmp\)' | wc -l)
if [ "$FRAMES" -eq 0 ]; then
  echo "demo: no images in $SEQUENCE" >&2
  exit 1
fi
if [ -z "$MODEL" ] && [ ! -f models/track_sign_nano.onnx ]; then
  echo "demo: the shipped model models/track_sign_nano.onnx is missing; set MODEL=path/to/model.onnx" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

echo "demo: $FRAMES frames from $SEQUENCE at $RATE Hz (ROS_DOMAIN_ID=$ROS_DOMAIN_ID)"
NODE_ARGS=(--ros-args -r __node:=yolox --params-file config/traffic_sign.yaml)
[ -n "$MODEL" ] && NODE_ARGS+=(-p "model_path:=$MODEL")
# The listener first: the node then meets it while starting up.
"$PY" -m yolox_ros.ros.demo_listener --ros-args -p "output_dir:=$OUT" -p "frames:=$FRAMES" &
LISTENER=$!
PIDS+=("$LISTENER")
"$PY" -m yolox_ros.ros.node "${NODE_ARGS[@]}" &
PIDS+=($!)

# The replay holds its first image until the node and the listener are subscribed,
# and exits after the last one.
"$PY" -m yolox_ros.ros.replay --ros-args -p "directory:=$SEQUENCE" -p "rate:=$RATE" \
  -p "wait_for_topics:=[detections, detections/image]"
wait "$LISTENER"
echo "demo: annotated frames in $OUT/"
