// Proves with snarkjs's Groth16, as `snarkjs groth16 fullprove` does, many inputs in one
// process: starting snarkjs once per proof costs about a second each.
// stdin: JSON {"wasm": path, "zkey": path, "jobs": [{"input": {...}, "proof": path,
// "public": path}, ...]}; writes each proof.json and public.json as the command line does.
import { writeFileSync, readFileSync } from "fs";
import * as snarkjs from "snarkjs";

const { wasm, zkey, jobs } = JSON.parse(readFileSync(0, "utf8"));
for (const job of jobs) {
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(job.input, wasm, zkey);
    writeFileSync(job.proof, JSON.stringify(proof, null, 1));
    writeFileSync(job.public, JSON.stringify(publicSignals, null, 1));
}
// snarkjs keeps its curve's worker threads alive; end the process rather than wait for them.
process.exit(0);
