"""Run every benchmark in this folder, one after the other (`make bench`)."""

import subprocess
import sys
from pathlib import Path

for script in ('backend_throughput.py', 'events_service.py', 'live_e2e.py'):  # live_e2e: ~15 min, Chromium
    print(f'== {script}', flush=True)
    subprocess.run([sys.executable, str(Path(__file__).parent / script)], check=True)
