"""Training under tf.distribute (translator.distribution), against one device."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_training import TINY, history, tiny_args

from translator import train as train_cli

_MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from translator.config import load_config
    from translator.training import TrainOptions, train
    overrides = json.loads(sys.argv[2])
    config = load_config("dates", overrides)
    result = {}
    for name, distribute in (("single", None), ("mirrored", "mirrored")):
        summary = train(config, f"{sys.argv[1]}/{name}", TrainOptions(distribute=distribute,
                                                                        verbose=0))
        lines = open(f"{sys.argv[1]}/{name}/metrics.jsonl").read().splitlines()
        result[name] = {"losses": [json.loads(line)["loss"] for line in lines],
                        "replicas": summary["replicas"], "steps": summary["steps"]}
    print("RESULT " + json.dumps(result))
    """
)


def test_mirrored_strategy_on_two_cpu_devices_matches_single_device(tmp_path):
    # Unbucketed, 640 pairs = 20 full batches: both runs see exactly the same batches.
    overrides = [*TINY, "train.epochs=2", "train.bucket=false"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _MIRRORED, str(tmp_path), json.dumps(overrides)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["single"]["replicas"] == 1 and result["mirrored"]["replicas"] == 2
    assert result["single"]["steps"] == result["mirrored"]["steps"] == 40
    np.testing.assert_allclose(result["mirrored"]["losses"], result["single"]["losses"], rtol=1e-2)


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_two_local_workers_match_single_device(tmp_path):
    overrides = [*TINY, "train.epochs=2", "train.bucket=false"]
    single = tmp_path / "single"
    assert train_cli.main(tiny_args(single, "train.epochs=2", "train.bucket=false")) == 0
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CONFIG": tf_config, "TF_CPP_MIN_LOG_LEVEL": "2"}
        args = ["--config", "dates", "--output", str(tmp_path / "multi"), "--quiet"]
        for item in overrides:
            args += ["--set", item]
        args += ["--distribute", "multiworker"]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "translator.train", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs[0][-3000:] + outputs[1][-3000:]
    multi = [r["loss"] for r in history(tmp_path / "multi")]
    np.testing.assert_allclose(multi, [r["loss"] for r in history(single)], rtol=1e-2)
