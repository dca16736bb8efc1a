# Sourced by scripts/run and scripts/test: make (once) and refresh the virtualenv.
# LIENTHONG_VENV picks another location; EXTRAS picks optional dependency groups.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${LIENTHONG_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtualenv in $VENV" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.lienthong-${EXTRAS:-base}"
WANT="$(cat pyproject.toml clients/python/pyproject.toml | sha256sum | cut -d' ' -f1) $ROOT"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing Lienthong${EXTRAS:+ [$EXTRAS]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
  # The Python client (clients/python) too: `lienthong send` and the client's tests use it.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}" \
    -e clients/python >&2
  echo "$WANT" > "$STAMP"
fi
