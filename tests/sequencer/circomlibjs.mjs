// Answers questions with circomlibjs (circomlib's own JavaScript), so that the
// tests compare our Python against an implementation independent of it.
// One request a line on stdin, JSON {op: [args, ...]}; one answer a line on
// stdout, JSON {op: [answer, ...]}; it runs until stdin closes, so a test
// session pays for circomlibjs's start once. Field elements and scalars
// travel as decimal strings, byte strings as hex.
import { buildEddsa } from "circomlibjs";
import createBlakeHash from "blake-hash";
import readline from "readline";
// not among the package's exports: imported by path
import poseidonTables from "../../node_modules/circomlibjs/src/poseidon_constants.js";

const eddsa = await buildEddsa();
const babyJub = eddsa.babyJub;
const poseidon = eddsa.poseidon;
const F = babyJub.F;
const dec = (x) => F.toObject(x).toString();
const point = (p) => [dec(p[0]), dec(p[1])];
const toPoint = (p) => [F.e(BigInt(p[0])), F.e(BigInt(p[1]))];

const ops = {
    // width t -> {C: round constants, M: MDS matrix}
    poseidonTables: (t) => ({
        C: poseidonTables.C[t - 2].map((x) => BigInt(x).toString()),
        M: poseidonTables.M[t - 2].map((row) => row.map((x) => BigInt(x).toString())),
    }),
    poseidon: (inputs) => dec(poseidon(inputs.map(BigInt))),
    blake512: (hex) => createBlakeHash("blake512").update(Buffer.from(hex, "hex")).digest("hex"),
    add: ([p, q]) => point(babyJub.addPoint(toPoint(p), toPoint(q))),
    mul: ([p, e]) => point(babyJub.mulPointEscalar(toPoint(p), BigInt(e))),
    publicKey: (prvHex) => point(eddsa.prv2pub(Buffer.from(prvHex, "hex"))),
    sign: ([prvHex, message]) => {
        const sig = eddsa.signPoseidon(Buffer.from(prvHex, "hex"), F.e(BigInt(message)));
        return { R8: point(sig.R8), S: sig.S.toString() };
    },
    verify: ([message, sig, key]) =>
        eddsa.verifyPoseidon(
            F.e(BigInt(message)),
            { R8: toPoint(sig.R8), S: BigInt(sig.S) },
            toPoint(key),
        ),
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
    const answers = {};
    for (const [op, args] of Object.entries(JSON.parse(line))) answers[op] = args.map(ops[op]);
    process.stdout.write(JSON.stringify(answers) + "\n");
}
