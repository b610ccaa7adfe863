#!/usr/bin/env python3
"""Fill a deploy template (the nginx site) from the environment file: `${DEPLOY_X}` / `${MEDFIX_X}` only.

    python3 deploy/cloud/render.py deploy/cloud/nginx/medfix.conf.template /etc/medfix/medfix.env \
        > /etc/nginx/sites-available/medfix

Why not envsubst: nginx's own `$variables` share its syntax, and a setting missing from the file would
silently become an empty string. Here only `${DEPLOY_*}` and `${MEDFIX_*}` are replaced, a missing one is an
error, and a line holding `${DEPLOY_API_PORT}` is written once per port of DEPLOY_API_PORTS (the upstream's
server lines, one per medfix-api@PORT unit). Variables in the process environment win over the file, so a
one-off `DEPLOY_HTTPS_PORT=8443 python3 render.py ...` works. Standard library only: runs with the system
python3 before any virtualenv exists.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{((?:DEPLOY|MEDFIX)_[A-Z0-9_]+)\}")
PER_PORT = "DEPLOY_API_PORT"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile reads them: # comments, blank lines, optional quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            raise ValueError(f"{path}:{number}: not KEY=value: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def render(template: str, values: dict[str, str]) -> str:
    """The template with its placeholders filled; KeyError names the first one values lacks."""
    ports = values.get("DEPLOY_API_PORTS", "").split()
    out: list[str] = []
    for line in template.splitlines(keepends=True):
        if "${" + PER_PORT + "}" in line:
            if not ports:
                raise KeyError("DEPLOY_API_PORTS (the API workers' ports, space separated)")
            out.extend(_fill(line, {**values, PER_PORT: port}) for port in ports)
        else:
            out.append(_fill(line, values))
    return "".join(out)


def _fill(line: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        return values[name]

    return PLACEHOLDER.sub(one, line)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__ or "")
        return 2
    values = read_env_file(Path(argv[2]))
    values.update({k: v for k, v in os.environ.items() if PLACEHOLDER.fullmatch("${" + k + "}")})
    try:
        sys.stdout.write(render(Path(argv[1]).read_text(encoding="utf-8"), values))
    except KeyError as missing:
        sys.stderr.write(f"render.py: {argv[2]} does not set {missing.args[0]}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
