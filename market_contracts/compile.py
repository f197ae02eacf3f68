"""Compile the Solidity sources with solcjs (npm `solc`) through standard JSON, and generate the
contracts that come from other tools (Poseidon of 2, 3 and 5 inputs, from circomlibjs).

The artifacts are committed so that nothing needs Node at run time; `tests/market_contracts/
test_compile.py` rebuilds them and checks that the committed files match what they come from.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from market_contracts.errors import CompileError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
CONTRACTS_DIR = PACKAGE_DIR / "contracts"
ARTIFACTS_DIR = PACKAGE_DIR / "artifacts"
NODE_MODULES = REPO_ROOT / "node_modules"

SOLC_VERSION = "0.8.37"
# Settings are part of the artifact's identity: changing them changes every bytecode.
OPTIMIZER_RUNS = 200
EVM_VERSION = "cancun"

_SOLC_DRIVER = """
const solc = require(process.argv[1]);
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const fs = require('fs');
  const path = require('path');
  const root = process.argv[2];
  function findImports(p) {
    const candidate = path.join(root, p);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
    return { error: 'not found: ' + p };
  }
  process.stdout.write(solc.compile(input, { import: findImports }));
});
"""


def source_files() -> dict[str, Path]:
    """Our sources by their standard-JSON unit name (`contracts/X.sol`, `contracts/test/Y.sol`)."""
    return {
        path.relative_to(PACKAGE_DIR).as_posix(): path
        for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }


def standard_json_input() -> dict:
    sources = source_files()
    return {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "viaIR": False,
            # Only our own units: imported OpenZeppelin contracts get no artifacts of their own.
            "outputSelection": {name: {"*": ["abi", "evm.bytecode.object"]} for name in sources},
        },
    }


def run_solc(standard_input: dict) -> dict:
    solc_js = NODE_MODULES / "solc"
    if not solc_js.exists():
        raise CompileError(f"solc is not installed at {solc_js}; run `npm ci` (or `make setup`)")
    try:
        proc = subprocess.run(
            ["node", "-e", _SOLC_DRIVER, str(solc_js), str(NODE_MODULES)],
            input=json.dumps(standard_input), capture_output=True, text=True, check=True,
            cwd=PACKAGE_DIR,
        )
    except FileNotFoundError as exc:
        raise CompileError("node is not on PATH; install Node.js 20 or later") from exc
    except subprocess.CalledProcessError as exc:
        raise CompileError(f"solcjs failed: {exc.stderr.strip()}") from exc
    output = json.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise CompileError("\n".join(e["formattedMessage"] for e in errors))
    return output


def compile_all() -> dict[str, dict]:
    """Compile every source; return `{ContractName: {"abi", "bytecode", "source"}}`."""
    return _artifacts(run_solc(standard_json_input()))


def compile_source(unit_name: str, source: str) -> dict[str, dict]:
    """Compile one source held in memory (generated code, e.g. a Groth16 verifier) with the
    settings of our own sources; return artifacts as `compile_all` does."""
    standard_input = standard_json_input()
    standard_input["sources"] = {unit_name: {"content": source}}
    standard_input["settings"]["outputSelection"] = {
        unit_name: {"*": ["abi", "evm.bytecode.object"]}}
    return _artifacts(run_solc(standard_input))


#: The Poseidon contracts L1 needs, by number of inputs: 2 (width 3) for an L2 address
#: Poseidon(Ax, Ay) and the account tree's nodes (the Bridge's exits), 3 (width 4) for a leaf, a
#: signed message and the Rollup's data hash (docs/rollup.md, "dataHash"), 5 (width 6) for
#: EdDSA's challenge Poseidon(R8, A, m) (BabyJubJub.sol).
POSEIDON_INPUT_COUNTS = (2, 3, 5)


def poseidon_contract(n_inputs: int) -> str:
    """The artifact name of circomlibjs's Poseidon contract for `n_inputs` inputs (its width)."""
    return f"PoseidonT{n_inputs + 1}"


#: the Rollup's data hash (three inputs)
POSEIDON_CONTRACT = poseidon_contract(3)

# circomlibjs writes the EVM code directly (no Solidity exists for it): createCode(n) is the
# contract's creation code, generateABI(n) its `poseidon(uint256[n])` and `poseidon(bytes32[n])`.
_POSEIDON_DRIVER = """
import { poseidonContract } from "circomlibjs";
const n = Number(process.argv[1]);
process.stdout.write(JSON.stringify({
  abi: poseidonContract.generateABI(n), bytecode: poseidonContract.createCode(n)}));
"""


def generate_poseidon(n_inputs: int) -> dict:
    """The artifact of circomlibjs's Poseidon contract for `n_inputs` inputs, made with Node."""
    package = NODE_MODULES / "circomlibjs" / "package.json"
    if not package.exists():
        raise CompileError(f"circomlibjs is not installed at {package.parent}; run `npm ci`")
    version = json.loads(package.read_text())["version"]
    try:
        proc = subprocess.run(
            ["node", "--input-type=module", "-e", _POSEIDON_DRIVER, str(n_inputs)],
            capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        )
    except FileNotFoundError as exc:
        raise CompileError("node is not on PATH; install Node.js 20 or later") from exc
    except subprocess.CalledProcessError as exc:
        raise CompileError(f"circomlibjs's poseidon_gencontract failed: {exc.stderr.strip()}") from exc
    generated = json.loads(proc.stdout)
    return {
        "contractName": poseidon_contract(n_inputs),
        "generator": f"circomlibjs {version}: poseidonContract.createCode({n_inputs}) and "
                     f"generateABI({n_inputs}); generated, not compiled: no source",
        "abi": generated["abi"],
        "bytecode": generated["bytecode"],
    }


def build_all() -> dict[str, dict]:
    """Every committed artifact: the compiled sources and the generated Poseidon contracts."""
    return {**compile_all(),
            **{poseidon_contract(n): generate_poseidon(n) for n in POSEIDON_INPUT_COUNTS}}


def _artifacts(output: dict) -> dict[str, dict]:
    artifacts = {}
    for unit, contracts in output["contracts"].items():
        for name, data in contracts.items():
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": unit,
                "compiler": SOLC_VERSION,
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
            }
    return artifacts


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict]) -> list[Path]:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    for stale in ARTIFACTS_DIR.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    written = []
    for name, artifact in sorted(artifacts.items()):
        path = ARTIFACTS_DIR / f"{name}.json"
        path.write_text(render(artifact))
        written.append(path)
    return written


def load_artifact(name: str) -> dict:
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CompileError(f"no compiled artifact for {name} at {path}; run `make contracts`") from exc


if __name__ == "__main__":
    for written in write_artifacts(build_all()):
        print(written.relative_to(REPO_ROOT))
