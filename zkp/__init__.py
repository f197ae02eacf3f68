"""The proof system: circom artifact formats, witness calculation, Groth16, and the interface the
nodes use for any proof system (`zkp.system`).

Imports nothing else of provernet's, so the prover can be used on its own.
"""
