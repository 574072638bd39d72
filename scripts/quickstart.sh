#!/usr/bin/env bash
# From a fresh clone on Debian or Ubuntu: install what napari needs, then open the demo.
#
#   bash scripts/quickstart.sh                                 # coffee sample
#   bash scripts/quickstart.sh --sample immunohistochemistry   # a stained slide
#   bash scripts/quickstart.sh --install-only                  # install, do not open napari
#
# 1. Debian packages napari's Qt needs (OpenGL, xcb, fonts, python3-venv): only those
#    missing, with apt-get, as root or through sudo; otherwise it prints the command to run.
# 2. A virtual environment (.venv) with this package and napari[all] (PyQt6), editable,
#    so a `git pull` needs no reinstall; pip runs again only when pyproject.toml changed.
# 3. napari-kmeans-segment demo.
# Environment: PYTHON (default python3, 3.11 or newer), VENV (default .venv),
# EXTRA (default all; "test" installs the test tools with napari[qt] instead).
set -euo pipefail
cd "$(dirname "$0")/.."

install_only=0
demo_args=()
for arg in "$@"; do
  case $arg in
    --install-only) install_only=1 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) demo_args+=("$arg") ;;
  esac
done
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRA=${EXTRA:-all}
say() { printf '==> %s\n' "$*"; }
t0=$SECONDS

# -- 1. Debian packages ----------------------------------------------------------------------
# Shared libraries Qt 6 and napari's OpenGL canvas load, and the Debian package of each.
LIBS="libGL.so.1:libgl1 libEGL.so.1:libegl1 libglib-2.0.so.0:libglib2.0-0
libdbus-1.so.3:libdbus-1-3 libfontconfig.so.1:libfontconfig1 libxkbcommon.so.0:libxkbcommon0
libxkbcommon-x11.so.0:libxkbcommon-x11-0 libxcb-cursor.so.0:libxcb-cursor0
libxcb-icccm.so.4:libxcb-icccm4 libxcb-image.so.0:libxcb-image0
libxcb-keysyms.so.1:libxcb-keysyms1 libxcb-randr.so.0:libxcb-randr0
libxcb-render-util.so.0:libxcb-render-util0 libxcb-shape.so.0:libxcb-shape0
libxcb-xfixes.so.0:libxcb-xfixes0 libxcb-xinerama.so.0:libxcb-xinerama0
libxcb-xkb.so.1:libxcb-xkb1"
missing=()
if command -v dpkg-query > /dev/null; then
  # checked by library rather than package name: names differ between releases (t64)
  known=$( (ldconfig -p 2> /dev/null || /sbin/ldconfig -p) | awk '{print $1}')
  for pair in $LIBS; do
    grep -qxF "${pair%%:*}" <<< "$known" || missing+=("${pair##*:}")
  done
  dpkg-query -W -f='${Status}' libgl1-mesa-dri 2> /dev/null | grep -q "ok installed" \
    || missing+=(libgl1-mesa-dri)  # OpenGL drivers (software rendering included)
  if ! command -v "$PY" > /dev/null; then
    missing+=(python3 python3-venv)
  elif ! "$PY" -c "import ensurepip, venv" 2> /dev/null; then
    missing+=(python3-venv)  # Debian's python3 creates venvs only with this package
  fi
  if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
      sudo=()
    elif command -v sudo > /dev/null; then
      sudo=(sudo)
    else
      echo "Missing Debian packages and no sudo: ask an administrator to run" >&2
      echo "  apt-get install ${missing[*]}" >&2
      exit 1
    fi
    say "Installing Debian packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" > /dev/null
  else
    say "Debian packages: all present"
  fi
else
  say "Not a Debian system: skipping system packages (napari needs OpenGL and Qt's xcb libraries)"
fi

if ! "$PY" -c "import sys; sys.exit(sys.version_info < (3, 11))"; then
  echo "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); this" \
    "plugin needs 3.11 or newer. Run again with PYTHON=python3.11 (or newer)." >&2
  exit 1
fi

# -- 2. virtual environment ------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "Creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.napari-kmeans-segment-installed"
want="$EXTRA $(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
  say "Installing napari-kmeans-segment[$EXTRA] into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRA]"
  echo "$want" > "$stamp"
else
  say "$VENV is up to date"
fi
say "Installed in $((SECONDS - t0)) s"

# -- 3. the demo -----------------------------------------------------------------------------
if ((install_only)); then
  say "Open the demo with: $VENV/bin/napari-kmeans-segment demo"
  exit 0
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display here, so napari cannot open. On a desktop run:" >&2
  echo "  $VENV/bin/napari-kmeans-segment demo" >&2
  echo "To check that it starts on a headless machine: xvfb-run -a $VENV/bin/napari-kmeans-segment demo" >&2
  exit 1
fi
say "Opening napari (press Run in the K-means segmentation panel on the right)"
exec "$VENV/bin/napari-kmeans-segment" demo "${demo_args[@]}"
