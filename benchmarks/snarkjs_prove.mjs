// Times snarkjs's own Groth16 prover in one warm Node process, so the figure
// excludes Node's start-up: node snarkjs_prove.mjs ZKEY WTNS RUNS -> JSON list of seconds.
// snarkjs.groth16.prove reads the .zkey and .wtns files on every call, as
// `snarkjs groth16 prove` does; our timings include reading them too.
import { performance } from "node:perf_hooks";
import * as snarkjs from "snarkjs";

const [zkey, wtns, runs] = process.argv.slice(2);
const seconds = [];
for (let i = 0; i < Number(runs); i++) {
    const start = performance.now();
    await snarkjs.groth16.prove(zkey, wtns);
    seconds.push((performance.now() - start) / 1000);
}
console.log(JSON.stringify(seconds));
process.exit(0);
