"""Print the README's configuration table from the Settings class (the one source of truth)."""

from __future__ import annotations

from cloud.config import Settings


def main() -> None:
    """Print one Markdown row per setting."""
    print("| variable | default | meaning |")  # noqa: T201
    print("|---|---|---|")  # noqa: T201
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else "empty"
        print(f"| `MEDFIX_{name.upper()}` | `{default}` | {field.description} |")  # noqa: T201


if __name__ == "__main__":
    main()
