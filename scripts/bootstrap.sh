#!/usr/bin/env bash
# Install everything kpatchkit needs on a fresh Debian machine, then run one job:
#   bootstrap.sh review   review the reference series on Debian's linux-source-6.1 (the default)
#   bootstrap.sh test     run the whole test suite (what .ci/run calls)
# Idempotent: packages already present and cached trees/builds are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
job=${1:-review}

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

mapfile -t pkgs < <(grep -v '^\s*#' scripts/debian-packages.txt | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  $sudo_cmd apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

python3 -m pip install -q -e ".[test]" >&2

case "$job" in
  review)
    shift || true
    kpatchkit tree add deb61 --from /usr/src/linux-source-6.1.tar.xz >&2
    exec kpatchkit review "${@:-../shared/fixtures/lore/series.mbox}" --tree deb61 -o reports/seed
    ;;
  test)
    shift || true
    set +e
    python3 -m pytest -p no:cacheprovider "$@"
    rc=$?
    # pytest's 5 means no test ran: that is a failure here, never a silent pass.
    [ $rc -eq 5 ] && echo "bootstrap: pytest collected no tests" >&2
    exit $rc
    ;;
  *)
    echo "usage: $0 review [SERIES] | test [pytest args]" >&2
    exit 2
    ;;
esac
