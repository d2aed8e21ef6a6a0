#!/usr/bin/env bash
# Make the peers' environment for benchmarks/compare.py: face_recognition (dlib) in its own
# virtual environment, .venv-peers/ at the repository root (git ignores it).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-peers
.venv-peers/bin/pip install -q -r benchmarks/peers/requirements.txt
.venv-peers/bin/pip install -q --no-deps face_recognition==1.3.0
.venv-peers/bin/python -c "import face_recognition; print('face_recognition', face_recognition.__version__, 'ready')"
