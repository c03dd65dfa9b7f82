"""Copy /in/x to /out/y slowly: ``--megabytes`` of output written in steps over ``--seconds``, then the input's
files and a ``done`` marker holding the Run id. Says once, in the log, which Run ran it."""

import argparse
import os
import shutil
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=20)
parser.add_argument("--megabytes", type=int, default=4)
args = parser.parse_args()
run_id = os.environ.get("KNIT_RUN_ID", "?")
print(f"ran {run_id}", flush=True)
out = Path("/out/y")
steps = max(1, args.megabytes)
with open(out / "payload.bin", "wb") as payload:
    for step in range(steps):
        payload.write(os.urandom(1 << 20) if args.megabytes else b"")
        payload.flush()
        os.fsync(payload.fileno())
        print(f"step {step + 1}/{steps}", flush=True)
        time.sleep(args.seconds / steps)
for item in Path("/in/x").iterdir():
    if item.is_file():
        shutil.copy(item, out / item.name)
(out / "done").write_text(run_id)
print("finished", flush=True)
