// Signs messages with circomlibjs's EdDSA-Poseidon so that the tests get
// valid signatures from an implementation independent of ours.
// stdin: JSON [[privateKeyHex, message], ...]; stdout: JSON list of the
// eddsa.circom inputs, one per message.
import { buildEddsa } from "circomlibjs";
import { readFileSync } from "fs";

const eddsa = await buildEddsa();
const F = eddsa.babyJub.F;
const requests = JSON.parse(readFileSync(0, "utf8"));
const inputs = requests.map(([prvHex, message]) => {
    const prv = Buffer.from(prvHex, "hex");
    const A = eddsa.prv2pub(prv);
    const sig = eddsa.signPoseidon(prv, F.e(BigInt(message)));
    return {
        Ax: F.toObject(A[0]).toString(),
        Ay: F.toObject(A[1]).toString(),
        S: sig.S.toString(),
        R8x: F.toObject(sig.R8[0]).toString(),
        R8y: F.toObject(sig.R8[1]).toString(),
        M: BigInt(message).toString(),
    };
});
process.stdout.write(JSON.stringify(inputs));
