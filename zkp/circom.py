"""Compiling circom circuits into the .r1cs and .wasm the rest of zkp reads.

Uses a native `circom` on PATH when there is one, else the `circom2` npm
package (circom as wasm) from the repository's node_modules. circom2 can only
open files below its working directory, so it runs from the file system root
with root-relative paths; a native circom does not care.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from zkp.errors import CircuitCompileError

#: where `npm ci` put circom2 and circomlib; PROVERNET_NODE_MODULES overrides it
NODE_MODULES = Path(
    os.environ.get("PROVERNET_NODE_MODULES", Path(__file__).resolve().parents[1] / "node_modules")
)


@dataclass(frozen=True)
class CompiledCircuit:
    name: str
    r1cs: Path
    wasm: Path


def circom_command() -> list[str]:
    native = shutil.which("circom")
    if native:
        return [native]
    wasm_build = NODE_MODULES / ".bin" / "circom2"
    if wasm_build.exists() and shutil.which("node"):
        return [str(wasm_build)]
    raise CircuitCompileError(
        f"no circom compiler: neither `circom` on PATH nor {wasm_build} with node "
        "(run `make setup`, or `npm ci` in the repository)"
    )


def compile_circuit(
    source: str | os.PathLike, out_dir: str | os.PathLike, include: tuple[Path, ...] = (NODE_MODULES,),
    optimization: int = 1,
) -> CompiledCircuit:
    """Compile `source` into out_dir/NAME.r1cs and out_dir/NAME_js/NAME.wasm.

    `optimization` is circom's --O level: 2 also removes linear constraints, which makes the key
    smaller and proving cheaper, at a longer compile.
    """
    source, out = Path(source).resolve(), Path(out_dir).resolve()
    if not source.is_file():
        raise CircuitCompileError(f"{source}: no such circuit file")
    out.mkdir(parents=True, exist_ok=True)
    name = source.stem
    command = circom_command() + [_from_root(source), "--r1cs", "--wasm", f"--O{optimization}",
                                 "-o", _from_root(out)]
    for folder in include:
        command += ["-l", _from_root(folder.resolve())]
    done = subprocess.run(command, cwd="/", capture_output=True, text=True)
    if done.returncode != 0:
        report = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise CircuitCompileError(f"circom failed on {source}: " + " | ".join(report[-5:]))
    return CompiledCircuit(name, out / f"{name}.r1cs", out / f"{name}_js" / f"{name}.wasm")


def _from_root(path: Path) -> str:
    return path.relative_to(path.anchor).as_posix()
