"""Driving from predictions in the simulator, without ROS: the avoider alone (the baseline, same run)
against the avoider plus the stall guard (``ros_ssl.nodes.stall``), plus the obstacle memory
(``ros_ssl.nodes.obstacle_memory``), and plus both.

    python benchmarks/bench_avoid.py --worlds 8 --seconds 60 [--model runs/demo/model]

Each world is driven four times from its start pose, at the controller's 10 Hz with its default parameters,
on the simulator's drifting wheel odometry. Predictions come from simulator truth (a perfect detector:
every contact is the controller's), or with ``--model`` from that package on rendered camera frames
(about 30 ms a command on one core). Prints contacts per minute, the share of time wedged against a
surface (the simulator refuses the step and the wheels stall) and metres driven per minute.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ros_ssl.config import load_profile
from ros_ssl.nodes.sim_drive import DriveStats, Predict, drive


def model_predictor(path: str) -> Predict:
    from ros_ssl.edge import EdgeModel
    from ros_ssl.sim.robot import SimRobot

    model = EdgeModel(path, providers=["cpu"])

    def predict(robot: SimRobot) -> np.ndarray:
        return model.predict(robot.render_camera())
    return predict


def summary(name: str, runs: list[DriveStats]) -> tuple[float, float, float]:
    seconds = sum(r.seconds for r in runs)
    contacts = sum(r.contacts for r in runs) * 60 / seconds
    wedged = 100 * sum(r.wedged_s for r in runs) / seconds
    metres = sum(r.metres for r in runs) * 60 / seconds
    print(f"{name:28s} contacts/min {contacts:5.2f}   wedged {wedged:5.1f} %   driven {metres:5.2f} m/min   "
          f"(worlds with a contact: {sum(r.contacts > 0 for r in runs)}/{len(runs)})")
    return contacts, wedged, metres


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", type=int, default=8, help="worlds (generator seeds 1000, 1001, ...)")
    ap.add_argument("--seconds", type=float, default=60.0, help="driving time per world and controller")
    ap.add_argument("--model", help="model package: its predictions on rendered frames instead of truth")
    ap.add_argument("--profile", default="sim")
    args = ap.parse_args()
    profile = load_profile(args.profile)
    predict = model_predictor(args.model) if args.model else None
    source = f"model {args.model}" if args.model else "simulator truth (a perfect detector)"
    print(f"{args.worlds} worlds x {args.seconds:g} s, predictions from {source}")
    controllers = {"avoider alone (baseline)": (False, False), "avoider + stall": (False, True),
                   "avoider + memory": (True, False), "avoider + memory + stall": (True, True)}
    results = {}
    for name, (memory, stall) in controllers.items():
        start = time.perf_counter()
        runs = [drive(1000 + i, profile, args.seconds, memory, stall, predict) for i in range(args.worlds)]
        results[name] = summary(name, runs)
        print(f"{'':28s} ({time.perf_counter() - start:.0f} s wall)")
    c0, w0, m0 = results["avoider alone (baseline)"]
    for name, (c, w, m) in list(results.items())[1:]:
        print(f"{name} / baseline: contacts x{c / c0 if c0 else float('nan'):.2f}, "
              f"wedged x{w / w0 if w0 else float('nan'):.2f}, driven x{m / m0 if m0 else float('nan'):.2f}")


if __name__ == "__main__":
    main()
