"""Generate gRPC code from proto/ into libs/contracts (``make proto``; ``--check`` fails on drift)."""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
OUT = ROOT / "libs" / "contracts"


def generate(out: Path) -> list[Path]:
    protos = sorted(PROTO.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        *map(str, protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return protos


def main() -> None:
    check = "--check" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        generated = [p.relative_to(tmp) for p in Path(tmp).rglob("*") if p.is_file()]
        drift = [
            str(rel)
            for rel in generated
            if not (OUT / rel).exists() or not filecmp.cmp(Path(tmp) / rel, OUT / rel, shallow=False)
        ]
        if check:
            if drift:
                raise SystemExit("generated gRPC code is out of date; run `make proto`: " + ", ".join(drift))
            print("gRPC code is up to date")
            return
        for rel in generated:
            (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / rel, OUT / rel)
        print(f"generated {len(generated)} files")


if __name__ == "__main__":
    main()
