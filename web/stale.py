"""Is the committed bundle (mediaforged/http/static/) built from these sources? Exit 0 if so,
1 if it is stale or missing (``.ci/dev`` then runs ``npm ci && npm run build``). The digest is
the one stamp.mjs writes after each build: every input file's path and SHA-256, in order."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAMP = HERE.parent / "mediaforged" / "http" / "static" / "source.sha256"
INPUTS = ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src")


def source_digest(root: Path = HERE) -> str:
    files = []
    for name in INPUTS:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    outer = hashlib.sha256()
    for name in sorted(p.relative_to(root).as_posix() for p in files):
        inner = hashlib.sha256((root / name).read_bytes()).hexdigest()
        outer.update(f"{name}\0{inner}\n".encode())
    return outer.hexdigest()


def main() -> int:
    if not STAMP.exists() or not (STAMP.parent / "index.html").exists():
        print(f"the web bundle is missing ({STAMP.parent})")
        return 1
    if STAMP.read_text().strip() != source_digest():
        print("the web bundle is stale: web/ changed since it was built")
        return 1
    print("the web bundle is built from web/ as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
