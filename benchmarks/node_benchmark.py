"""End-to-end benchmark of the detection node through a real ROS 2 graph (not a test).

The node runs in its own process; this process publishes 640x480 bgr8 frames
and receives the node's Detection2DArray messages. Two phases of
``--duration / 2`` seconds each:

* normal: one camera at half the model's throughput (no frame waits for another);
* overload: two cameras, each faster than the model (together about 2x what it can do).

Printed: end-to-end latency p50/p99 (image stamp -> Detection2DArray received
here), throughput, drop rate, the ratio of latency to the raw backend time of
the same model measured in this run, and the node's resident memory growth.
Targets: normal p50 <= 1.25 x raw, overload p99 <= 3 x raw, RSS growth < 5 %.

``--compare-tracking ROUNDS`` instead measures the normal phase with ``tracking`` off and on,
alternating node processes ROUNDS times, and prints both p50s and their ratio (target: within 5 %).

    .venv/bin/python benchmarks/node_benchmark.py [--duration 20] [--model M] [--threads 1]
    .venv/bin/python benchmarks/node_benchmark.py --duration 300   # the 5-minute memory check
    .venv/bin/python benchmarks/node_benchmark.py --compare-tracking 3 --duration 20
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
# Camera-sized images need a larger shared-memory segment (see the profile's comment).
os.environ.setdefault(
    "FASTDDS_DEFAULT_PROFILES_FILE", str(REPO_ROOT / "config" / "fastdds_large_images.xml")
)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

import psutil  # noqa: E402
import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor  # noqa: E402
from rclpy.qos import (  # noqa: E402
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,  # noqa: E402
)
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from yolox_ros.core.detector import Detector, DetectorConfig  # noqa: E402
from yolox_ros.ros.image_conversion import bgr_to_image_msg  # noqa: E402
from yolox_ros.ros.params import default_model_path  # noqa: E402

FALLBACK_MODEL = REPO_ROOT / "test" / "data" / "yolox_nano_c7.onnx"
FRAME_SOURCE = REPO_ROOT / "data" / "demo_sequence" / "frame_0015.jpg"
CAMERAS = ("cam0", "cam1")
WARM_UP_S = 2.0
OVERLOAD_RATE_FACTOR = 1.1  # each overload camera: this many times the model's throughput
RSS_SAMPLES = 4


@dataclass
class CameraLog:
    """Send and receive times of one camera's frames (ns), keyed by stamp."""

    sent: set[int] = field(default_factory=set)
    latencies_ns: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_detections(self, msg: Detection2DArray) -> None:
        received = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            if stamp in self.sent:
                self.latencies_ns.append(received - stamp)


def measure_raw_backend(model: Path, threads: int, frame: np.ndarray) -> tuple[float, float]:
    """Median seconds of ``backend.run`` alone and of ``Detector.detect`` on ``frame``."""
    detector = Detector(DetectorConfig(model, num_threads=threads))
    height, width = detector.input_size
    batch = np.zeros((1, 3, height, width), np.float32)
    run_times, detect_times = [], []
    for _ in range(5):
        detector.backend.run(batch)
    for _ in range(40):
        started = time.perf_counter()
        detector.backend.run(batch)
        run_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        detector.detect(frame)
        detect_times.append(time.perf_counter() - started)
    return float(np.median(run_times)), float(np.median(detect_times))


def publish_at(
    publisher, template: Image, rate_hz: float, stop: threading.Event, log: CameraLog
) -> None:
    """Publish ``template`` at ``rate_hz`` with fresh stamps until ``stop`` is set."""
    # Each camera's thread stamps its own copy: a shared header would be restamped
    # by the other camera between stamping and publishing.
    frame = copy.deepcopy(template)
    period_ns = int(1e9 / rate_hz)
    next_ns = time.time_ns()
    while not stop.is_set():
        now = time.time_ns()
        if now < next_ns:
            time.sleep((next_ns - now) / 1e9)
            continue
        frame.header.stamp.sec, frame.header.stamp.nanosec = divmod(now, 1_000_000_000)
        with log.lock:
            log.sent.add(now)
        publisher.publish(frame)
        next_ns += period_ns
        if next_ns < now:  # fell behind (machine busy): do not burst to catch up
            next_ns = now + period_ns


def run_phase(
    publishers, template, cameras: int, rate_hz: float, seconds: float, node: psutil.Process
) -> dict:
    """Publish from ``cameras`` cameras for ``seconds`` (after a warm-up) and summarise."""
    logs = [CameraLog() for _ in range(cameras)]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=publish_at, args=(publishers[i][0], template, rate_hz, stop, logs[i])
        )
        for i in range(cameras)
    ]
    for i in range(cameras):
        publishers[i][1].append(logs[i])  # the subscription callback feeds the active logs
    for thread in threads:
        thread.start()
    time.sleep(WARM_UP_S)
    for log in logs:
        with log.lock:
            log.sent.clear()
            log.latencies_ns.clear()
    rss = [node.memory_info().rss]  # RSS_SAMPLES + 1 evenly spaced samples
    for _ in range(RSS_SAMPLES):
        time.sleep(seconds / RSS_SAMPLES)
        rss.append(node.memory_info().rss)
    stop.set()
    for thread in threads:
        thread.join()
    time.sleep(0.5)  # the last answers
    for i in range(cameras):
        publishers[i][1].remove(logs[i])
    sent = sum(len(log.sent) for log in logs)
    latencies = np.array([v for log in logs for v in log.latencies_ns], np.float64) / 1e6
    return {
        "sent": sent,
        "received": latencies.size,
        "throughput": latencies.size / seconds,
        "drop_rate": 1 - latencies.size / max(sent, 1),
        "p50": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p99": float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
        "rss": rss,
    }


def start_node(model: Path, threads: int, tracking: bool, log_path: Path) -> subprocess.Popen:
    topics = "[" + ",".join(f"{camera}/image_raw" for camera in CAMERAS) + "]"
    command = [
        sys.executable, "-m", "yolox_ros.ros.node", "--ros-args",
        "-p", f"model_path:={model}", "-p", f"num_threads:={threads}",
        "-p", f"input_topics:={topics}", "-p", f"tracking:={str(tracking).lower()}",
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
        stderr=open(log_path, "w"),  # noqa: SIM115 - lives as long as the node
    )  # fmt: skip


def wait_for_node(node_process: subprocess.Popen, publishers, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while any(p.get_subscription_count() == 0 for p, _ in publishers):
        if node_process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the node did not start; see {log_path}")
        time.sleep(0.1)


def stop_node(node_process: subprocess.Popen) -> None:
    node_process.send_signal(signal.SIGINT)
    node_process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds, both phases")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--threads", type=int, default=1, help="backend threads (node and raw)")
    parser.add_argument(
        "--compare-tracking",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="normal phase with tracking off and on, ROUNDS node processes of each",
    )
    args = parser.parse_args()
    model = args.model or default_model_path()
    if not model.is_file():
        print(f"shipped model {model} not found: using the test model {FALLBACK_MODEL}")
        model = FALLBACK_MODEL

    frame = cv2.resize(cv2.imread(str(FRAME_SOURCE)), (640, 480))
    raw_s, detect_s = measure_raw_backend(model, args.threads, frame)
    print(f"model {model.name}, {args.threads} thread(s), domain {os.environ['ROS_DOMAIN_ID']}")
    print(f"raw backend.run p50 {raw_s * 1e3:.1f} ms; Detector.detect p50 {detect_s * 1e3:.1f} ms")

    log_dir = Path(tempfile.mkdtemp(prefix="node_benchmark_"))
    rclpy.init()
    executor = SingleThreadedExecutor()
    probe = rclpy.create_node("node_benchmark")
    executor.add_node(probe)
    publishers = []
    for camera in CAMERAS:
        active_logs: list[CameraLog] = []
        publisher = probe.create_publisher(Image, f"{camera}/image_raw", qos_profile_sensor_data)
        probe.create_subscription(
            Detection2DArray,
            f"{camera}/detections",
            lambda msg, logs=active_logs: [log.on_detections(msg) for log in logs],
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
        )
        publishers.append((publisher, active_logs))
    node_reports: dict[str, dict[str, str]] = {}  # latest diagnostics values per camera topic

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            node_reports[values.get("input_topic", status.name)] = values

    probe.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    spinner = threading.Thread(target=spin, args=(executor,), daemon=True)
    spinner.start()
    template = bgr_to_image_msg(frame, Image().header)
    template.header.frame_id = "camera"
    try:
        if args.compare_tracking:
            compare_tracking(args, model, detect_s, raw_s * 1e3, publishers, template, log_dir)
        else:
            run_both_phases(args, model, detect_s, raw_s * 1e3, publishers, template, log_dir,
                            node_reports)  # fmt: skip
    finally:
        executor.shutdown()
        rclpy.try_shutdown()
        # A spinning thread still alive at interpreter exit aborts in rclpy's C++ layer.
        spinner.join(timeout=10)


def run_both_phases(args, model, detect_s, raw_ms, publishers, template, log_dir, node_reports):
    log_path = log_dir / "node.log"
    node_process = start_node(model, args.threads, False, log_path)
    try:
        wait_for_node(node_process, publishers, log_path)
        node_memory = psutil.Process(node_process.pid)
        normal_rate = 0.5 / detect_s
        normal = run_phase(publishers, template, 1, normal_rate, args.duration / 2, node_memory)
        normal_report = dict(node_reports.get("/cam0/image_raw", {}))
        overload_rate = OVERLOAD_RATE_FACTOR / detect_s
        overload = run_phase(publishers, template, 2, overload_rate, args.duration / 2, node_memory)
    finally:
        stop_node(node_process)

    print_phase(f"normal: 1 camera at {normal_rate:.1f} fps", normal, raw_ms)
    print(
        "  in the node (last 200 frames): stamp -> published p50 "
        f"{normal_report.get('latency_p50_ms')} ms, decode + detect p50 "
        f"{normal_report.get('inference_p50_ms')} ms"
    )
    print_phase(f"overload: 2 cameras at {overload_rate:.1f} fps each", overload, raw_ms)
    print(
        f"  p50 / raw {normal['p50'] / raw_ms:.2f} (target <= 1.25), "
        f"overload p99 / raw {overload['p99'] / raw_ms:.2f} (target <= 3)"
    )
    for name, stats in (("normal", normal), ("overload", overload)):
        rss = stats["rss"]
        print(
            f"node RSS over the {name} phase ({args.duration / 2:.0f} s): "
            + " -> ".join(f"{value / 2**20:.1f}" for value in rss)
            + f" MiB, {(rss[-1] - rss[0]) / rss[0] * 100:+.1f} % (target < 5 %)"
        )
    start, end = normal["rss"][0], overload["rss"][-1]
    print(f"node RSS over the run (second camera included): {(end - start) / start * 100:+.1f} %")


def compare_tracking(args, model, detect_s, raw_ms, publishers, template, log_dir) -> None:
    """The normal phase in alternating node processes, tracking off then on, ``ROUNDS`` times."""
    rate = 0.5 / detect_s
    p50s: dict[bool, list[float]] = {False: [], True: []}
    for round_index in range(args.compare_tracking):
        for tracking in (False, True):
            log_path = log_dir / f"node_{round_index}_{'on' if tracking else 'off'}.log"
            node_process = start_node(model, args.threads, tracking, log_path)
            try:
                wait_for_node(node_process, publishers, log_path)
                memory = psutil.Process(node_process.pid)
                stats = run_phase(publishers, template, 1, rate, args.duration / 2, memory)
            finally:
                stop_node(node_process)
            print_phase(f"round {round_index + 1}, tracking {tracking}", stats, raw_ms)
            p50s[tracking].append(stats["p50"])
    off, on = (float(np.median(p50s[tracking])) for tracking in (False, True))
    print(
        f"1 camera at {rate:.1f} fps, median of {args.compare_tracking} rounds: latency p50 "
        f"tracking off {off:.2f} ms, on {on:.2f} ms: on / off {on / off:.3f} (target <= 1.05)"
    )


def print_phase(title: str, stats: dict, raw_ms: float) -> None:
    print(
        f"{title}: sent {stats['sent']}, answered {stats['received']} "
        f"({stats['throughput']:.1f} fps), dropped {stats['drop_rate'] * 100:.0f} %, "
        f"latency p50 {stats['p50']:.1f} ms p99 {stats['p99']:.1f} ms "
        f"({stats['p50'] / raw_ms:.2f} / {stats['p99'] / raw_ms:.2f} x raw)"
    )


def spin(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass


if __name__ == "__main__":
    main()
