#!/usr/bin/env bash
# Builds the frozen relay program (PyInstaller, packaging/relay.spec) into dist/relay/ and a
# compressed copy dist/relay-<version>-<platform>-<machine>.tar.gz, then prints the build time, the
# size on disk, the compressed size and the program's start time.
#
# Uses .venv (made by scripts/setup.sh) unless PYTHON names an interpreter that already has relay
# and PySide6 installed (the Windows and macOS CI jobs do that). PyInstaller is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then
  py=$PYTHON
else
  bash scripts/setup.sh
  py=.venv/bin/python
fi

if [ "$(uname -s)" = Linux ]; then
  # PyInstaller reads shared-library dependencies with objdump (binutils). The X11/Wayland helper
  # libraries Qt's xcb and wayland plugins load are bundled when the build machine has them, so the
  # program runs on desktops that lack them.
  needed=()
  command -v objdump >/dev/null 2>&1 || needed+=(binutils)
  if command -v dpkg >/dev/null 2>&1; then
    for pkg in libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libwayland-cursor0 libwayland-egl1; do
      dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
    done
  fi
  if [ ${#needed[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian packages: ${needed[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
    elif ! command -v objdump >/dev/null 2>&1; then
      echo "package: PyInstaller needs binutils (sudo apt-get install binutils)" >&2
      exit 1
    else
      echo "note: not bundled, so needed on the target desktop: ${needed[*]}" >&2
    fi
  fi
fi

if ! "$py" -c "import PyInstaller" >/dev/null 2>&1; then
  echo "installing PyInstaller"
  "$py" -m pip install -q "pyinstaller>=6.5"
fi

mkdir -p build
log=build/pyinstaller.log
echo "building dist/relay with PyInstaller (log: $log)"
started=$SECONDS
if ! "$py" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/relay.spec >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "package: the build failed; the whole log is in $log" >&2
  exit 1
fi
build_s=$((SECONDS - started))

case "$(uname -s)" in
  Darwin) bundle=relay.app; program=dist/relay.app/Contents/MacOS/relay ;;
  MINGW*|MSYS*|CYGWIN*) bundle=relay; program=dist/relay/relay.exe ;;
  *) bundle=relay; program=dist/relay/relay ;;
esac
name=$("$py" -c "import platform, sys, relay; print(f'relay-{relay.__version__}-{sys.platform}-{platform.machine().lower()}')")
archive=dist/$name.tar.gz
rm -f "$archive"
tar -C dist -czf "$archive" "$bundle"

"$program" --version >/dev/null  # a program that does not start is not a build
start_s=$("$py" - "$program" <<'EOF'
import statistics, subprocess, sys, time
runs = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "--version"], check=True, stdout=subprocess.DEVNULL)
    runs.append(time.perf_counter() - t)
print(f"{statistics.median(runs):.2f}")
EOF
)

disk_kb=$(du -sk "dist/$bundle" | cut -f1)
archive_bytes=$(wc -c <"$archive" | tr -d ' ')
echo "built $program in ${build_s} s"
echo "  size on disk:    $((disk_kb / 1024)) MB (dist/$bundle)"
echo "  compressed:      $((archive_bytes / 1048576)) MB ($archive)"
echo "  start (--version, median of 5): ${start_s} s"
